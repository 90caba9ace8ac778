"""Where a clip's shots start and its one colour map: inputs and settings only, no network."""

from dataclasses import replace

import torch

from stylemotion.engine.color import color_stats
from stylemotion.video.cuts import ClipPalette, ShotDetector
from stylemotion.settings.sections import Settings

from .clips import cut_frames
from .conftest import sample


def video_settings(**video) -> Settings:
    s = Settings()
    s.run.mode = "video"
    s.video = replace(s.video, **video)
    return s


def test_listed_cuts_name_the_first_input_frame_of_a_shot():
    shots = ShotDetector(video_settings(cuts="5,9", every=2), None)
    assert [src for src in range(0, 12, 2) if shots.is_cut(src, 0.0, 1.0)] == [6, 10]  # 5 is skipped over: 6 starts it
    assert not ShotDetector(video_settings(cuts="none"), None).is_cut(4, 0.9, 0.0)


def test_auto_cuts_find_the_cut_of_a_clip():
    clip = cut_frames(6, 64, at=3)
    assert ShotDetector.for_run(video_settings()).shot_starts(enumerate(clip)) == [0, 3]


def test_the_clip_palette_is_one_map_toward_the_paintings():
    starry = sample("starry_night.jpg", 64)
    frame = sample("chelsea.png", 64)
    assert ClipPalette([starry], 0.0).fit(frame) is None
    pal = ClipPalette([starry, starry], 1.0)  # the same painting twice counts once
    m = pal.fit(frame)
    assert m.shape == (1, 3, 4)
    mean_to = color_stats(pal.apply(frame, m))[0]
    assert torch.allclose(mean_to, color_stats(starry)[0], atol=0.03)
    half = ClipPalette([starry], 0.5).apply(frame, m)
    assert torch.allclose(half, (frame + pal.apply(frame, m)) / 2, atol=1e-6)
