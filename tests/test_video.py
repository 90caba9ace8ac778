"""The clip loop and ``stylemotion video``: consistency, frame range, audio, resume."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
from PIL import Image
import pytest
import torch

from stylemotion.engine.color import apply_palette_map, color_stats, match_palette
from stylemotion.io.decode import decode_frames, probe_video
from stylemotion.errors import UserError
from stylemotion.video.flow import FlowEstimator
from stylemotion.engine.optimize import StyleEngine
from stylemotion.settings.playlist import Entry
from stylemotion.settings.schedule import Schedule
from stylemotion.settings.sections import Settings, from_dict, validate
from stylemotion.engine.temporal import consistency, warping_error
from stylemotion.video.clip import ClipState, ClipStylizer

from .clips import cut_frames, kill_when_written, pan_frames, write_clip, write_vfr_clip
from .conftest import SAMPLES, sample


def settings(frames: int, **video) -> Settings:
    s = Settings()
    s.run.mode, s.run.frames, s.run.first_iterations, s.run.iterations = "video", frames, 12, Schedule.parse("6")
    s.optim.tol = 0.0
    s.playlist = [Entry(str(SAMPLES / "starry_night.jpg"), 1000, 0)]
    s.video = replace(s.video, **video)
    validate(s)
    return s


def lai(outs, clip):
    est = FlowEstimator()
    errs = []
    for t in range(len(outs) - 1):
        f, b = est.pair(clip[t], clip[t + 1])
        errs.append(warping_error(outs[t], outs[t + 1], f, consistency(f, b)))
    return sum(errs) / len(errs)


def test_temporal_loss_cuts_flicker_against_per_frame(backbone, starry96):
    clip = pan_frames(5, 64)
    hw = tuple(clip[0].shape[-2:])
    engine = StyleEngine(backbone)
    per = [f.image for f in ClipStylizer(settings(5, init="content"), engine, [starry96], hw).frames(enumerate(clip))]
    frames = list(ClipStylizer(settings(5), engine, [starry96], hw).frames(enumerate(clip)))
    tmp = [f.image for f in frames]
    assert [f.index for f in frames] == list(range(5)) and all(f.image.shape == (1, 3, *hw) for f in frames)
    assert frames[1].params["reliable"] > 0.8 and frames[0].params["flow_seconds"] == 0.0
    assert lai(tmp, clip) < lai(per, clip) / 3
    # and it is still stylized: far from the input frames
    assert (tmp[-1] - clip[-1]).abs().mean() > 0.05


def test_clip_resume_from_state_gives_the_same_frames(backbone, starry96):
    clip = pan_frames(4, 48)
    hw = tuple(clip[0].shape[-2:])
    s = settings(4, long_term=(1, 2))
    full = list(ClipStylizer(s, StyleEngine(backbone), [starry96], hw).frames(enumerate(clip)))
    state = ClipState.from_tensors(2, full[1].state.tensors())
    assert sorted(state.outputs) == [1, 2]
    again = list(ClipStylizer(s, StyleEngine(backbone), [starry96], hw).frames(((i, clip[i]) for i in range(2, 4)), state))
    assert [f.index for f in again] == [2, 3]
    for a, b in zip(again, full[2:]):
        assert torch.equal(a.image, b.image)


def test_video_command_keeps_rate_range_and_audio(tmp_path):
    from stylemotion.cli import main

    clip = write_clip(tmp_path / "clip.mp4", pan_frames(8, 64), fps=12, audio=True)
    out = tmp_path / "out.mp4"
    code = main(["video", str(clip), "--style", str(SAMPLES / "the_scream.jpg"), "-o", str(out), "--size", "48",
                 "--start", "2", "--end", "8", "--every", "2", "--set", "run.first_iterations=4", "--set", "run.iterations=2",
                 "--palette", "1"])
    assert code == 0
    assert json.loads((tmp_path / "out.json").read_text())["settings"]["video"]["palette"] == 1.0
    info = probe_video(out)
    assert info.frames == 3 and float(info.fps) == pytest.approx(6.0) and info.audio == "aac"
    assert info.width == 48
    assert len(list((tmp_path / "out_frames").glob("frame_*.png"))) == 3
    lines = (tmp_path / "out_params.jsonl").read_text().splitlines()
    assert [int(x.split('"source": ')[1].split(",")[0]) for x in lines] == [2, 4, 6]
    # each frame's style, content and temporal terms: the report's curves along the shot
    recs = [json.loads(x) for x in lines]
    assert all(r["style_term"] > 0 and r["content_term"] > 0 for r in recs)
    assert "temporal_term" not in recs[0] and all(r["temporal_term"] >= 0 for r in recs[1:])
    assert "<h3>style_term</h3>" in (tmp_path / "out_report.html").read_text()
    import av

    with av.open(str(out)) as c:  # the audio covers the used range (3 frames at 6 fps = 0.5 s), not the whole clip
        a = c.streams.audio[0]
        dur = sum(p.duration or 0 for p in c.demux(a)) * float(a.time_base)
    assert 0.3 < dur < 0.75


def test_killed_video_render_resumes_identically(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", pan_frames(6, 64))
    args = [str(clip), "--style", str(SAMPLES / "starry_night.jpg"), "--size", "48", "--long-term", "1,2",
            "--set", "run.first_iterations=10", "--set", "run.iterations=5", "--threads", "1"]
    # the resumed process would default to 2 threads: it must take the stored 1, since the thread
    # count changes the float sums (this is what broke byte-identical resume before)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}

    def run(*extra):
        return subprocess.Popen([sys.executable, "-m", "stylemotion", "video", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env if "--resume" in extra else None)

    p = run(*args, "-o", str(tmp_path / "full.mp4"))
    assert p.wait(timeout=300) == 0, p.stderr.read()
    p = run(*args, "-o", str(tmp_path / "part.mp4"))
    kill_when_written(p, tmp_path / "part_frames" / "frame_00003.png")
    assert (tmp_path / "part_frames" / "state.safetensors").exists() and not (tmp_path / "part.mp4").exists()
    p = run("--resume", "-o", str(tmp_path / "part.mp4"))
    assert p.wait(timeout=300) == 0, p.stderr.read()
    for i in range(6):
        name = f"frame_{i:05d}.png"
        assert (tmp_path / "full_frames" / name).read_bytes() == (tmp_path / "part_frames" / name).read_bytes(), name
    # the frames are the render's result and match byte for byte (above); the H.264 streams made
    # from them may not: with this PyAV/x264 the same PNG frames, fed in the same order, encoded
    # to different streams in different processes. So the videos are held to codec noise, and
    # each decoded frame must be closer to its own rendered frame than to any other
    a, b = decode_frames(tmp_path / "full.mp4"), decode_frames(tmp_path / "part.mp4")
    assert len(a) == len(b) == 6
    pngs = [np.asarray(Image.open(tmp_path / "full_frames" / f"frame_{i:05d}.png").convert("RGB")).astype(float) for i in range(6)]
    for i, (x, y) in enumerate(zip(a, b)):
        assert np.abs(x.astype(float) - y).mean() < 4, i
        dists = [np.abs(y.astype(float) - q).mean() for q in pngs]
        assert int(np.argmin(dists)) == i, (i, dists)


def test_palette_is_one_colour_map_per_shot_and_survives_resume(backbone, starry96):
    # frames with different colours: a map per frame would give each the painting's mean colour
    clip = pan_frames(4, 48)
    clip[2] = (clip[2] * 0.5 + 0.4).clamp(0, 1)  # a brighter, flatter frame mid-clip
    hw = tuple(clip[0].shape[-2:])
    s = settings(4, palette=1.0, cuts="none")
    s.run.first_iterations, s.run.iterations = 0, Schedule.parse("0")  # zero iterations: frame 0 is the recoloured input
    frames = list(ClipStylizer(s, StyleEngine(backbone), [starry96], hw).frames(enumerate(clip)))
    pal = frames[0].state.palette
    assert pal is not None and pal.shape == (1, 3, 4)
    assert all(torch.equal(f.state.palette, pal) for f in frames)
    assert torch.allclose(frames[0].image, match_palette(clip[0], *color_stats(starry96)), atol=1e-5)
    # the bright frame goes through frame 0's map, so it keeps its own brightness offset
    assert float(apply_palette_map(clip[2], pal).mean()) > float(frames[0].image.mean()) + 0.05
    # per-frame mode stylizes every frame as `image` does: each frame recoloured by its own map
    per = list(ClipStylizer(replace_video(s, init="content"), StyleEngine(backbone), [starry96], hw).frames(enumerate(clip)))
    for f, x in zip(per, clip):
        assert torch.allclose(f.image, match_palette(x, *color_stats(starry96)), atol=1e-5)
    # half strength: half way between the input and its map, per pixel
    half = list(ClipStylizer(replace_video(s, init="content", palette=0.5), StyleEngine(backbone), [starry96], hw).frames(enumerate(clip[:2])))
    own = half[1].state.palette
    assert torch.allclose(half[1].image, torch.lerp(clip[1], apply_palette_map(clip[1], own), 0.5), atol=1e-5)
    # resume: the map comes from the saved state, not from the first frame after the resume
    state = ClipState.from_tensors(2, frames[1].state.tensors())
    again = list(ClipStylizer(s, StyleEngine(backbone), [starry96], hw).frames(((i, clip[i]) for i in range(2, 4)), state))
    for a, b in zip(again, frames[2:]):
        assert torch.equal(a.image, b.image) and torch.equal(a.state.palette, pal)
    # a cut: the new shot gets a map fitted on its own first frame, held through the shot
    cut = cut_frames(5, 48, at=3)
    sc = settings(5, palette=1.0)
    sc.run.first_iterations, sc.run.iterations = 0, Schedule.parse("0")
    shot_frames = list(ClipStylizer(sc, StyleEngine(backbone), [starry96], hw).frames(enumerate(cut)))
    maps = [f.state.palette for f in shot_frames]
    assert [f.params.get("cut", False) for f in shot_frames] == [False, False, False, True, False]
    assert torch.equal(maps[0], maps[2]) and torch.equal(maps[3], maps[4]) and not torch.allclose(maps[2], maps[3])
    assert torch.allclose(shot_frames[3].image, match_palette(cut[3], *color_stats(starry96)), atol=1e-5)
    # off by default, and the range is checked
    assert Settings().video.palette == 0.0
    with pytest.raises(UserError, match=r"video.palette.*1.5"):
        from_dict({"run": {"mode": "video"}, "video": {"palette": 1.5}}, "shared.toml")
    with pytest.raises(ValueError, match="palette map"):
        ClipState.from_tensors(1, {"palette": torch.zeros(3, 4)})


def replace_video(s: Settings, **video) -> Settings:
    out = replace(s, video=replace(s.video, **video))
    validate(out)
    return out


def test_a_cut_starts_a_new_shot_like_frame_zero(backbone, starry96):
    """After a hard cut the frame starts from its own input with the first frame's iterations and
    no temporal term, nothing of the old shot is carried; --cuts none keeps the old behaviour, and
    a listed cut gives the same frames as the detected one."""
    clip = cut_frames(6, 64, at=3)
    hw = tuple(clip[0].shape[-2:])
    engine = StyleEngine(backbone)
    auto = list(ClipStylizer(settings(6, long_term=(1, 2)), engine, [starry96], hw).frames(enumerate(clip)))
    assert [bool(f.params.get("cut")) for f in auto] == [False, False, False, True, False, False]
    assert auto[3].iterations == 12 and auto[3].params["temporal_weight"] > 0  # first_iterations
    assert auto[4].iterations < 12 and auto[4].params["reliable"] > 0.8
    assert sorted(auto[3].state.outputs) == [1]  # the old shot is not held by the long-term lags
    assert sorted(auto[4].state.outputs) == [1, 2]
    per = list(ClipStylizer(settings(6, init="content"), engine, [starry96], hw).frames(enumerate(clip)))
    none = list(ClipStylizer(settings(6, cuts="none"), engine, [starry96], hw).frames(enumerate(clip)))
    assert not any(f.params.get("cut") for f in none)
    # the new shot's first frame: as close to per-frame stylization as frame 0 is; the uncut run
    # starts it from the old shot
    d_auto = float((auto[3].image - per[3].image).abs().mean())
    d_none = float((none[3].image - per[3].image).abs().mean())
    assert d_auto < d_none / 2, (d_auto, d_none)
    listed = list(ClipStylizer(settings(6, long_term=(1, 2), cuts="3"), engine, [starry96], hw).frames(enumerate(clip)))
    assert all(torch.equal(a.image, b.image) for a, b in zip(auto, listed))
    # resume after the cut: byte-identical
    state = ClipState.from_tensors(4, auto[3].state.tensors())
    again = list(ClipStylizer(settings(6, long_term=(1, 2)), engine, [starry96], hw).frames(((i, clip[i]) for i in range(4, 6)), state))
    assert all(torch.equal(a.image, b.image) for a, b in zip(again, auto[4:]))


def test_a_variable_frame_rate_clip_renders_at_a_constant_rate_in_sync(tmp_path, capsys):
    """Phone clips have variable frame rates: the clip is resampled while decoding to its average
    rate (nearest frame in time), its duration kept within one frame and its audio with it."""
    import av

    from stylemotion.cli import main

    flat = [torch.full((1, 3, 32, 48), i / 8) for i in range(6)]  # frame i is grey level i/8
    clip = write_vfr_clip(tmp_path / "vfr.mp4", flat, [0, 100, 200, 500, 600, 1000], 1.0)  # at 0 .. 0.83 s
    info = probe_video(clip)
    assert info.variable and float(info.fps) == pytest.approx(6.0) and info.duration == pytest.approx(1.0)
    out = tmp_path / "out.mp4"
    code = main(["video", str(clip), "--style", str(SAMPLES / "the_scream.jpg"), "-o", str(out), "--size", "32",
                 "--set", "run.first_iterations=0", "--set", "run.iterations=0", "--palette", "0"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "variable frame rate (frame intervals 83 to 333 ms)" in err and "resampled to 6 fps" in err
    got = probe_video(out)
    assert got.frames == 6 and float(got.fps) == pytest.approx(6.0)
    assert abs(got.duration - info.duration) <= 1 / 6 + 1e-6
    # zero iterations: each output frame is the input frame nearest to k / 6 s
    greys = [round(float(to_tensor_png(p).mean()) * 8) for p in sorted((tmp_path / "out_frames").glob("frame_*.png"))]
    assert greys == [0, 2, 3, 4, 4, 5]
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        audio = sum(p.duration or 0 for p in c.demux(a)) * float(a.time_base)
    assert abs(audio - got.duration) < 1 / 6 + 0.03  # in sync: as long as the video, within a frame


def to_tensor_png(path):
    from stylemotion.io.images import load_image, to_tensor

    return to_tensor(load_image(path))


def test_shots_side_by_side_give_the_frames_of_a_sequential_render(tmp_path, capsys):
    """A three-shot clip rendered with --workers 2 and with --ray auto: the same PNGs, bit for bit,
    as the sequential render, and the same cut records in the log."""
    from stylemotion.cli import main

    clip = cut_frames(6, 48, at=2)
    clip = clip[:4] + [torch.flip(f, dims=[-1]).roll(7, dims=-2) * 0.6 for f in clip[4:]]  # a third shot from frame 4
    src = write_clip(tmp_path / "three.mp4", clip, fps=12)
    base = ["video", str(src), "--style", str(SAMPLES / "the_scream.jpg"), "--size", "48", "--set", "run.first_iterations=4",
            "--set", "run.iterations=2", "--threads", "1"]
    outs = {}
    for name, extra in (("seq", []), ("pool", ["--workers", "2"]), ("ray", ["--ray", "auto"])):
        if name == "ray":
            pytest.importorskip("ray")
        out = tmp_path / f"{name}.mp4"
        assert main(base + extra + ["-o", str(out)]) == 0, capsys.readouterr().err
        err = capsys.readouterr().err
        if name != "seq":
            assert "3 shots on" in err, err
        outs[name] = out
    cuts = [[json.loads(x).get("cut", False) for x in (tmp_path / f"{n}_params.jsonl").read_text().splitlines()] for n in outs]
    assert cuts[0] == [False, False, True, False, True, False] and all(c == cuts[0] for c in cuts)
    for name in ("pool", "ray"):
        if name not in outs:
            continue
        for t in range(6):
            a = (tmp_path / "seq_frames" / f"frame_{t:05d}.png").read_bytes()
            assert (tmp_path / f"{name}_frames" / f"frame_{t:05d}.png").read_bytes() == a, (name, t)


def test_real_footage_one_shot_and_a_cut_into_it():
    """Real frames (Big Buck Bunny, CC BY 3.0: the bunny leaves its burrow, moving and uncovering
    background): no cut is found in the shot, and a hard cut to a photo pan is found where it is.
    The shot pass needs the inputs and the settings only: no network."""
    from stylemotion.video.cuts import ShotDetector
    from stylemotion.video.clip import clip_source

    bbb = str(SAMPLES / "bbb_excerpt.mp4")
    real = [x for _, x in clip_source(bbb, 0, 12, 1, (72, 128))]
    shots = ShotDetector.for_run(settings(18))
    assert shots.shot_starts(enumerate(real)) == [0]
    cat = sample("chelsea.png", 256)[..., 10:82, :]
    spliced = real + [cat[..., 4 * t: 4 * t + 128].contiguous() for t in range(6)]
    assert shots.shot_starts(enumerate(spliced)) == [0, 12]
    # the bunny's motion leaves pixels the flow cannot explain: those start from the input frame
    c = shots.compare(real[5], real[6], 6)
    assert not c.cut and c.hist < 0.1 and 0.5 < c.reliable < 1.0 and c.mask.shape == (1, 1, 72, 128)
    # per-frame stylization has no flow: every frame is a shot of its own
    assert ShotDetector.for_run(settings(18, init="content")).shot_starts(enumerate(real[:3])) == [0, 1, 2]


def test_a_settled_frame_stops_early_and_a_frame_with_new_content_does_not(backbone, starry96):
    # frames 0-2 of a still shot, then the camera pans 8 px a frame: new content enters on the right
    pan = pan_frames(4, 64, 8)
    clip = [pan[0], pan[0], pan[0], pan[1], pan[2], pan[3]]
    s = settings(6)
    s.run.first_iterations, s.run.iterations = 150, Schedule.parse("40")
    s.optim.tol = 1e-3  # the frame loops' default
    frames = list(ClipStylizer(s, StyleEngine(backbone), [starry96], clip[0].shape[-2:]).frames(enumerate(clip)))
    log = [f.params for f in frames]
    assert all(p["stop"] in ("settled", "limit") for p in log)
    # the still frames start from a finished picture: their loss has settled within a few iterations
    for p in log[1:3]:
        assert p["stop"] == "settled" and p["iterations"] < 20, p
    # each panned frame must paint its new strip from the input: it runs to its ceiling
    for p in log[3:]:
        assert p["stop"] == "limit" and p["iterations"] >= 40, p


@pytest.mark.parametrize("kind", ["portrait", "hdr", "broken"])
def test_phone_footage_renders_upright_in_range_and_to_its_break(tmp_path, capsys, kind):
    """``stylemotion video`` on what phones record: a portrait clip stored landscape with a display
    matrix renders upright at its aspect, an HLG clip renders with its colours (one note line), a
    recording that breaks off renders up to its break with one warning line."""
    from stylemotion.cli import main

    from .clips import set_display_rotation, to_uint8, truncate, write_format_clip, write_hdr_clip

    big = to_uint8(sample("astronaut.png", 96))
    upright = [np.ascontiguousarray(np.roll(big[8:72, 24:72], 2 * i, axis=1)) for i in range(8)]  # 48x64 portrait
    if kind == "portrait":
        clip = set_display_rotation(write_format_clip(tmp_path / "in.mp4", [np.rot90(p).copy() for p in upright], options={"crf": "12"}), 90)
    elif kind == "hdr":
        upright = [np.ascontiguousarray(np.rot90(p)) for p in upright]  # landscape
        clip = write_hdr_clip(tmp_path / "in.mp4", upright, "hlg")
    else:
        clip = truncate(write_format_clip(tmp_path / "in.mkv", upright, options={"x264-params": "keyint=1", "crf": "12"}), 0.6)
    out = tmp_path / "out.mp4"
    code = main(["video", str(clip), "--style", str(SAMPLES / "the_scream.jpg"), "-o", str(out), "--size", "64",
                 "--set", "run.first_iterations=0", "--set", "run.iterations=0", "--palette", "0"])
    err = capsys.readouterr().err
    assert code == 0, err
    pngs = sorted((tmp_path / "out_frames").glob("frame_*.png"))
    first = np.asarray(Image.open(pngs[0]).convert("RGB"))
    assert first.shape == upright[0].shape  # zero iterations: the output is the input picture as seen
    assert np.abs(first.astype(int) - upright[0]).mean() < 6
    lines = [x for x in err.splitlines() if x.startswith(("note:", "warning:"))]
    if kind == "portrait":
        assert any("display matrix turns it 90 degrees clockwise; it is rendered upright, 48x64" in x for x in lines), err
        assert probe_video(out).width == 48 and probe_video(out).height == 64
    elif kind == "hdr":
        assert any("is HDR (yuv420p10le, HLG, BT.2020); tone-mapped to SDR" in x for x in lines), err
    else:
        [warning] = [x for x in lines if x.startswith("warning:")]
        assert "breaks off" in warning and f"the {len(pngs)} frames that decode" in warning
        assert 2 <= len(pngs) < 8 and probe_video(out).frames == len(pngs)


def test_multi_pass_refines_each_shot_both_ways_and_resumes(backbone, starry96):
    """Ruder et al.'s multi-pass: each shot's frames come out in order after passes backward and
    forward over the shot; a frame's iterations count every pass; nothing crosses a cut; a resume
    at a shot's end gives the same frames; per-frame mode has no flow and ignores it."""
    clip = cut_frames(6, 48, at=3)
    hw = tuple(clip[0].shape[-2:])
    engine = StyleEngine(backbone)
    one = list(ClipStylizer(settings(6), engine, [starry96], hw).frames(enumerate(clip)))
    s3 = settings(6, passes=3)
    st = ClipStylizer(s3, engine, [starry96], hw)
    three = list(st.frames(enumerate(clip)))
    assert [f.index for f in three] == list(range(6))
    assert [bool(f.params.get("cut")) for f in three] == [False, False, False, True, False, False]
    assert all(f.params["passes"] == 3 for f in three)
    # every frame is refined once per pass except where a pass starts (no neighbour that way):
    # pass 2 (backward) starts at a shot's last frame, pass 3 (forward) at its first
    extra = [f.iterations - g.iterations for f, g in zip(three, one)]
    assert extra == [6, 12, 6, 6, 12, 6], extra
    assert st.iterations_at(1) == 6 * 3 and st.iterations_at(0) == ClipStylizer(settings(6), engine, [starry96], hw).iterations_at(0) + 12
    # the forward pass is the one-pass render; the passes move every frame, and hold it to its
    # neighbours: the shot's steps are no less consistent than the one-pass render's
    for f, g in zip(three, one):
        assert not torch.equal(f.image, g.image)
    assert lai([f.image for f in three[:3]], clip[:3]) < 1.1 * lai([f.image for f in one[:3]], clip[:3])
    # the states point at the refined outputs; resuming after the first shot gives the same second shot
    assert torch.equal(three[2].state.outputs[1], three[2].image)
    state = ClipState.from_tensors(3, three[2].state.tensors())
    again = list(ClipStylizer(s3, engine, [starry96], hw).frames(((i, clip[i]) for i in range(3, 6)), state))
    assert all(torch.equal(a.image, b.image) for a, b in zip(again, three[3:]))
    # per-frame mode: no flow, one pass
    per = ClipStylizer(settings(6, init="content", passes=3), engine, [starry96], hw)
    assert per.passes == 1
    with pytest.raises(UserError, match=r"video.passes.*16"):
        from_dict({"run": {"mode": "video"}, "video": {"passes": 16}}, "shared.toml")


def test_a_shots_first_frame_stops_as_image_does_whatever_the_later_frames_tol(backbone, starry96):
    """The first frame of a shot is `image`'s picture: image's pyramid and stop rule, even where the
    run's optim.tol (for the warm-started frames) is 0 = never stop."""
    clip = pan_frames(2, 48)
    hw = tuple(clip[0].shape[-2:])
    s = settings(2)
    s.run.first_iterations = 300
    assert s.optim.tol == 0.0
    st = ClipStylizer(s, StyleEngine(backbone), [starry96], hw)
    frames = list(st.frames(enumerate(clip)))
    assert frames[0].params["stop"] == "settled" and frames[0].iterations < st.iterations_at(0)
    # the later frame runs its full count (tol 0): its schedule's, or the first frame's x its unreliable share
    assert frames[1].iterations == max(6, round(300 * (1 - frames[1].params["reliable"])))
