"""Finish: chunks and seams, fractional motion and in-betweens, the draft reader's refusals, and the
command end to end at tiny sizes (32 px drafts finished to 64 px) with the real backbone."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
import torch.nn.functional as F

from stylemotion.animation.motion import tween
from stylemotion.animation.warp import compose, fractional, identity, motion_matrix, warp_image
from stylemotion.cli import main
from stylemotion.errors import UserError
from stylemotion.finish import refine
from stylemotion.finish.chunks import Chunk, joined, needed, plan_chunks, seam_weight
from stylemotion.finish.config import FinishConfig
from stylemotion.finish.draft import open_draft
from stylemotion.io.images import load_image, save_image, to_tensor
from stylemotion.stills.superres import downsample, psnr

from .conftest import SAMPLES

# ---- chunks: pure ----


def test_chunks_cover_the_frames_with_leads_and_no_tiny_tail():
    cs = plan_chunks(50, 12, 3)
    assert [(c.start, c.end, c.lead) for c in cs] == [(0, 12, 0), (12, 24, 3), (24, 36, 3), (36, 50, 3)]
    assert [(c.start, c.end) for c in plan_chunks(26, 12, 3)] == [(0, 12), (12, 26)]  # a 2-frame tail joins the last chunk
    assert [(c.start, c.end) for c in plan_chunks(5, 12, 3)] == [(0, 5)]
    assert [seam_weight(cs[1], j) for j in (9, 10, 11)] == [0.25, 0.5, 0.75]
    with pytest.raises(ValueError):
        seam_weight(cs[1], 12)
    assert needed(cs, 0) == cs and needed(cs, 24) == cs[2:] and needed(cs, 23) == cs[1:]


def test_joined_gives_every_frame_once_in_order_whatever_order_chunks_finish():
    cs = plan_chunks(40, 10, 2)
    for seed in range(5):
        order = list(cs)
        random.Random(seed).shuffle(order)
        done = ((c, {j: (c.index, j) for j in range(c.first, c.end)}) for c in order)
        out = list(joined(done, cs, lambda a, b, w: ("mix", a, b, w)))
        assert [j for j, _, _ in out] == list(range(40))
        assert out[8][1] == ("mix", (0, 8), (1, 8), 1 / 3) and out[9][1] == ("mix", (0, 9), (1, 9), 2 / 3)
        assert out[10][1] == (1, 10) and out[7][1] == (0, 7)


# ---- fractional motion and in-betweens ----


def test_fractional_steps_compose_to_the_whole_motion():
    th = motion_matrix(1.03, 0.8, 1.5, -2.0, (90, 160), (0.1, -0.2))
    for a in (0.25, 0.5, 0.7):
        assert torch.allclose(compose(fractional(th, a), fractional(th, 1 - a)), th, atol=1e-12)
    assert torch.allclose(fractional(th, 0.0), identity(), atol=1e-12) and torch.allclose(fractional(th, 1.0), th, atol=1e-12)
    shift = motion_matrix(1.0, 0.0, 4.0, 2.0, (90, 160))
    assert torch.allclose(fractional(shift, 0.5)[..., 2], shift[..., 2] / 2, atol=1e-12)  # a pure shift: half the shift
    half = fractional(motion_matrix(1.04, 0.0, 0.0, 0.0, (90, 160)), 0.5)
    assert abs(1 / float(half[0, 0, 0]) - 1.04**0.5) < 1e-9  # half the zoom, in the zoom's own measure
    with pytest.raises(ValueError):
        fractional(th, 1.5)


def test_tween_lies_on_the_motion_between_two_frames(cat64):
    th = motion_matrix(1.05, 2.0, 1.0, 0.0, tuple(cat64.shape[-2:]))
    nxt = warp_image(cat64, th)
    mid = tween(cat64, nxt, th, 0.5)
    exact = warp_image(cat64, fractional(th, 0.5))
    assert float((mid - exact).abs().mean()) < 0.02  # both neighbours carried to the half step agree with it
    naive = 0.5 * (cat64 + nxt)  # a crossfade is what an interpolator without the motion gives
    assert float((naive - exact).abs().mean()) > 2 * float((mid - exact).abs().mean())
    assert torch.equal(tween(cat64, None, th, 0.5), warp_image(cat64, fractional(th, 0.5)))


# ---- the finisher's pieces ----


def test_carried_detail_takes_the_draft_low_frequencies_and_keeps_the_detail(cat64):
    big = F.interpolate(cat64, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    draft = (cat64 * 0.7 + 0.15)  # the draft changed its tone
    out = refine.carried_detail(big, draft)
    assert psnr(downsample(out, tuple(draft.shape[-2:])), draft) > psnr(downsample(big, tuple(draft.shape[-2:])), draft) + 10
    hp = lambda x: x - F.avg_pool2d(x, 5, 1, 2, count_include_pad=False)  # noqa: E731
    assert F.cosine_similarity(hp(out).flatten(), hp(big).flatten(), dim=0) > 0.8  # the fine detail is the carried frame's


def test_stayed_is_zero_where_the_draft_changed(cat64):
    changed = cat64.clone()
    left = changed[..., :, :20]
    changed[..., :, :20] = torch.where(left > 0.5, left - 0.4, left + 0.4)  # every pixel there moved by 0.4
    m = refine.stayed(changed, cat64, identity(), "reflect")
    assert float(m[..., :, 24:].min()) > 0.99 and float(m[..., 4:-4, 2:16].max()) < 0.05


def test_config_refuses_bad_values():
    for bad in ({"chunk": 1}, {"overlap": 5, "chunk": 4}, {"iterations": -1}, {"temporal_weight": float("nan")}, {"precision": "fp8"}):
        with pytest.raises(UserError):
            FinishConfig(**bad).check()


# ---- the command, end to end ----


def _preset(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(f"""
[run]
mode = "zoom"
content = "{SAMPLES / 'chelsea.png'}"
frames = 6
fps = 6
size = 32
first_iterations = 8
iterations = "3"
precision = "fp32"
[motion]
zoom = "1.04"
angle = "1.0"
dither = 0.5
[style]
style_weight = "5"
[[playlist]]
style = "{SAMPLES / 'starry_night.jpg'}"
hold = 3
[[playlist]]
style = "{SAMPLES / 'the_scream.jpg'}"
hold = 3
""")
    return p


@pytest.fixture(scope="module")
def draft(tmp_path_factory):
    d = tmp_path_factory.mktemp("draft")
    assert main(["zoom", "--preset", str(_preset(d)), "-o", str(d / "draft.mp4"), "--threads", "2"]) == 0
    return d / "draft.mp4"


FAST = ["--size", "64", "--chunk", "3", "--overlap", "1", "--iterations", "2", "--first-iterations", "4", "--threads", "2"]


def pngs(folder):
    return [p.read_bytes() for p in sorted(folder.glob("frame_*.png"))]


@pytest.fixture(scope="module")
def finished(draft, tmp_path_factory):
    out = tmp_path_factory.mktemp("fin") / "fin.mp4"
    assert main(["finish", str(draft), *FAST, "-o", str(out)]) == 0
    return out


def test_finish_keeps_the_draft_and_writes_what_a_render_writes(draft, finished):
    frames = sorted(finished.with_name("fin_frames").glob("frame_*.png"))
    assert len(frames) == 6
    d = open_draft(draft)
    for t, f in enumerate(frames):
        x = to_tensor(load_image(f))
        assert x.shape[-2:] == (40, 64)
        assert psnr(downsample(x, d.hw), d.frame(t)) > 25  # the draft's picture, larger
    recs = [json.loads(x) for x in finished.with_name("fin_params.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in recs] == list(range(6)) and all(r["seconds"] > 0 for r in recs)
    assert [r["chunk"] for r in recs] == [0, 0, 1, 1, 1, 1] and recs[2]["seam"] == 0.5  # frame 2 is the seam's crossfade
    assert recs[2]["iterations"] == 2 + 4 and recs[0]["iterations"] == 4
    meta = json.loads(finished.with_suffix(".json").read_text())
    assert meta["finish"]["config"]["size"] == 64 and meta["settings"]["run"]["size"] == 64
    assert not (finished.with_name("fin_frames") / "state.safetensors").exists()
    assert finished.with_name("fin_report.html").is_file()
    with pytest.raises(UserError, match="itself a finish"):
        open_draft(finished)


def test_workers_give_the_same_frames(draft, finished, tmp_path):
    out = tmp_path / "w2.mp4"
    assert main(["finish", str(draft), *FAST, "--workers", "2", "-o", str(out)]) == 0
    assert pngs(out.with_name("w2_frames")) == pngs(finished.with_name("fin_frames"))


def test_resume_after_an_interruption_gives_the_same_frames(draft, finished, tmp_path, monkeypatch):
    out = tmp_path / "r.mp4"
    real = refine.Finisher.frames
    calls = {"n": 0}

    def stop_at_the_fourth(self, *a, **k):
        for f in real(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == 4:
                raise KeyboardInterrupt
            yield f

    monkeypatch.setattr(refine.Finisher, "frames", stop_at_the_fourth)
    assert main(["finish", str(draft), *FAST, "-o", str(out)]) == 130
    monkeypatch.setattr(refine.Finisher, "frames", real)
    assert (tmp_path / "r_frames" / "state.safetensors").is_file()
    assert main(["finish", "--resume", "-o", str(out), "--size", "96"]) != 0  # a changed knob is refused
    assert main(["finish", "--resume", "-o", str(out)]) == 0
    assert pngs(tmp_path / "r_frames") == pngs(finished.with_name("fin_frames"))


def test_fps_doubles_the_frames_along_the_motion(draft, tmp_path):
    out = tmp_path / "f.mp4"
    assert main(["finish", str(draft), *FAST, "--fps", "12", "-o", str(out)]) == 0
    imgs = [to_tensor(load_image(p)) for p in sorted((tmp_path / "f_frames").glob("frame_*.png"))]
    assert len(imgs) == 12
    steps = [float((a - b).abs().mean()) for a, b in zip(imgs, imgs[1:])]
    assert max(steps) < 2.5 * (sum(steps) / len(steps)), steps  # no judder
    recs = [json.loads(x) for x in (tmp_path / "f_params.jsonl").read_text().splitlines()]
    assert [r["key"] for r in recs[:4]] == [True, False, True, False] and recs[1]["draft_frame"] == 0.5
    assert main(["finish", str(draft), *FAST, "--fps", "10", "-o", str(tmp_path / "g.mp4")]) != 0  # not a multiple of 6


def test_bad_drafts_are_one_line_each(draft, tmp_path, capsys):
    def err(*argv):
        assert main(["finish", *map(str, argv)]) != 0
        return capsys.readouterr().err.strip()

    photo = tmp_path / "photo.mp4"
    shutil.copy(SAMPLES / "bbb_excerpt.mp4", photo)
    assert "not a stylemotion render" in err(photo, "--size", 64)
    assert "larger than its draft" in err(draft, "--size", 32)
    assert "give --size" in err(draft)
    copy = tmp_path / "d.mp4"
    shutil.copy(draft, copy)
    assert "is gone" in err(copy, "--size", 64)
    shutil.copytree(draft.with_name("draft_frames"), tmp_path / "d_frames")
    shutil.copy(draft.with_name("draft_params.jsonl"), tmp_path / "d_params.jsonl")
    x = to_tensor(load_image(tmp_path / "d_frames" / "frame_00003.png"))
    save_image(1.0 - x, tmp_path / "d_frames" / "frame_00003.png")
    line = err(copy, "--size", 64)
    assert "frame_00003.png is not frame 3" in line and "altered" in line
    (tmp_path / "d_frames" / "frame_00003.png").unlink()
    assert "frame_00003.png is missing" in err(copy, "--size", 64)
    for line in (err(copy, "--size", 64), err(photo, "--size", 64)):
        assert "\n" not in line and "Traceback" not in line
    assert "-o" in err(draft, "--size", 64, "-o", draft)  # never over the draft
