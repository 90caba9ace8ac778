"""The frame loop and resume: an interrupted, resumed render equals an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stylemotion.encode import decode_frames, probe, read_metadata
from stylemotion.optimize import StyleEngine
from stylemotion.presets import load_preset
from stylemotion.sequence import SeqState, Sequencer

from .conftest import SAMPLES

PRESET = """
[run]
content = "{content}"
frames = 6
size = 64
first_iterations = 12
iterations = "4"
fps = 6
[motion]
zoom = "1.05"
angle = "2"
[optim]
optimizer = "{optimizer}"
tol = 0
carry_moments = {carry}
[[playlist]]
style = "{s1}"
hold = 2
[[playlist]]
style = "{s2}"
hold = 2
crossfade = 1
"""


def write_preset(tmp_path: Path, optimizer="lbfgs", carry="false") -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(PRESET.format(content=SAMPLES / "chelsea.png", s1=SAMPLES / "starry_night.jpg", s2=SAMPLES / "the_scream.jpg",
                               optimizer=optimizer, carry=carry))
    return p


def test_sequencer_feeds_back_and_keeps_targets(backbone, tmp_path, cat64, starry96, scream96):
    s = load_preset(str(write_preset(tmp_path, "adam", "true")))
    seq = Sequencer(s, StyleEngine(backbone), cat64, [starry96, scream96])
    grams = seq.grams
    frames = list(seq.frames())
    assert [f.index for f in frames] == list(range(6))
    assert seq.grams is grams  # targets built once, not per frame
    assert all(f.image.shape == (1, 3, 42, 64) for f in frames)  # even sizes
    assert [f.label for f in frames] == ["starry_night", "starry_night", "the_scream", "the_scream", "starry_night", "starry_night"]
    assert frames[-1].state.adam is not None and frames[-1].state.adam["exp_avg"].shape == (1, 3, 42, 64)
    # consecutive frames differ (motion) but stay related (feedback, not a new image each time)
    d = [(a.image - b.image).abs().mean().item() for a, b in zip(frames, frames[1:])]
    assert all(0.005 < x < 0.25 for x in d), d
    # resuming from a saved state gives the same frames as the uninterrupted loop
    state = SeqState.from_tensors(3, frames[2].state.tensors())
    again = list(Sequencer(s, StyleEngine(backbone), cat64, [starry96, scream96]).frames(state))
    assert [f.index for f in again] == [3, 4, 5]
    for a, b in zip(again, frames[3:]):
        assert torch.equal(a.image, b.image)


def render(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "stylemotion", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_render_resumes_to_identical_video(tmp_path, sig):
    preset = write_preset(tmp_path)
    full = tmp_path / "full.mp4"
    proc = render(["zoom", "--preset", preset, "-o", full])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    part = tmp_path / "part.mp4"
    proc = render(["zoom", "--preset", preset, "-o", part])
    target = tmp_path / "part_frames" / "frame_00002.png"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert not part.exists()  # never a truncated video under the final name
    if sig == signal.SIGINT:
        assert "--resume" in err and "Traceback" not in err
    state = tmp_path / "part_frames" / "state.safetensors"
    assert state.exists()
    proc = render(["zoom", "--resume", "-o", part])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    a, b = decode_frames(full), decode_frames(part)
    assert len(a) == len(b) == 6
    for fa, fb in zip(a, b):
        assert np.array_equal(fa, fb)
    for i in range(6):
        name = f"frame_{i:05d}.png"
        assert (tmp_path / "full_frames" / name).read_bytes() == (tmp_path / "part_frames" / name).read_bytes()
    assert not state.exists()  # finished: nothing left to resume


def test_cli_zoom_outputs_and_inspect(tmp_path, capsys):
    from stylemotion.cli import main

    preset = write_preset(tmp_path)
    out = tmp_path / "z.webm"
    assert main(["zoom", "--preset", str(preset), "-o", str(out), "--frames", "3", "--set", "run.first_iterations=3"]) == 0
    n, w, h, fps = probe(out)
    assert (n, w, h) == (3, 64, 42) and abs(fps - 6) < 0.01
    assert read_metadata(out)["run"]["frames"] == 3
    assert len(list((tmp_path / "z_frames").glob("frame_*.png"))) == 3
    capsys.readouterr()
    assert main(["inspect", str(out), "--toml"]) == 0
    toml = capsys.readouterr().out
    (tmp_path / "again.toml").write_text(toml)
    assert load_preset(str(tmp_path / "again.toml")).run.frames == 3  # reusable as a preset
    # a second render over an unfinished one is refused unless --resume/--overwrite
    (tmp_path / "z_frames" / "state.safetensors").write_bytes(b"x")
    assert main(["zoom", "--preset", str(preset), "-o", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_cli_drift_writes_montage(tmp_path, capsys):
    from PIL import Image

    from stylemotion.cli import main

    out = tmp_path / "d.gif"
    code = main(["drift", "--content", str(SAMPLES / "coffee.png"), "--style", str(SAMPLES / "starry_night.jpg"),
                 "--style", str(SAMPLES / "the_scream.jpg"), "--hold", "1", "--frames", "4", "--size", "48",
                 "--set", "run.first_iterations=3", "--set", "run.iterations=2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert probe(out)[0] == 4
    sheet = Image.open(tmp_path / "d_montage.png")
    assert sheet.width > 48 * 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["zoom", "--preset", "nope"], "unknown preset 'nope'"),
        (["zoom", "--set", "motion.zoom=9"], "motion.zoom is 9 at frame 0"),
        (["zoom", "--set", "run.frames=0"], "run.frames: 0 is outside"),
        (["zoom", "--content", "missing.jpg", "--frames", "1"], "content image file not found"),
        (["zoom", "-o", "x.avi"], "unknown extension '.avi'"),
        (["zoom", "--resume", "-o", "never.mp4"], "nothing to resume"),
        (["inspect", "nothing.mp4"], "video file not found"),
    ],
)
def test_cli_animation_errors(tmp_path, monkeypatch, capsys, args, message):
    from stylemotion.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.glob("*.mp4"))


def test_montage_step_shows_every_style():
    from stylemotion.cli_anim import montage_step

    assert montage_step(64, 4) == 5  # 64 // 16 = 4 would show only one style of four
    assert montage_step(40, 4) == 3  # 2 would show two of four
    assert montage_step(10, 4) == 1
