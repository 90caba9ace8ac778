"""--estimate: the cost model's arithmetic, and every rendering command's estimate writing nothing."""

import subprocess
import sys

import pytest
import torch

from stylemotion.runtime import estimate
from stylemotion.runtime.estimate import Cost, fit, fitting_size, frames_estimate, image_estimate, probe_frames

from .clips import pan_frames, write_clip
from .conftest import SAMPLES
from .test_sequence import write_preset


class FakeClock:
    """perf_counter that advances by the given steps, one per call."""

    def __init__(self, steps):
        self.t, self.steps = 0.0, list(steps)

    def __call__(self):
        self.t += self.steps.pop(0) if self.steps else 0.0
        return self.t


def test_the_cost_line_through_two_probes():
    c = fit(1.0, 1.0 + 3 * 0.25)  # 1 iteration: 1 s; 4 iterations: 1.75 s
    assert c.per_iteration == pytest.approx(0.25) and c.fixed == pytest.approx(0.75)
    assert c(100) == pytest.approx(25.75)
    assert fit(1.0, 0.9).per_iteration == 0.0  # noise that runs backwards costs nothing, never less


def test_frame_probe_reads_frames_1_and_2(monkeypatch):
    # frame 0 (warm-up) takes 9 s, frame 1 (1 iteration) 2 s, frame 2 (4 iterations) 3.5 s
    monkeypatch.setattr(estimate.time, "perf_counter", FakeClock([9.0, 2.0, 3.5]))
    c = probe_frames(iter([0, 1, 2]), torch.device("cpu"))
    assert c.per_iteration == pytest.approx(0.5) and c.fixed == pytest.approx(1.5)
    with pytest.raises(ValueError, match="expected 3"):
        probe_frames(iter([0, 1]), torch.device("cpu"))


def test_estimates_add_up():
    meter = estimate.Meter(torch.device("cpu"))
    e = image_estimate([((64, 64), 400), ((128, 128), 200)], [Cost(0.1, 0.01), Cost(0.2, 0.04)], 3.0, meter, tail=0.5)
    assert e.seconds == pytest.approx(3.0 + 0.1 + 4.0 + 0.2 + 8.0 + 0.5) and e.iterations == 600
    assert e.peak_bytes > 10 * 2**20 and e.memory_kind == "resident memory"
    f = frames_estimate([150, 20, 20], Cost(0.5, 0.1), 2.0, meter, 0.05, (96, 128), in_between=2)
    assert f.seconds == pytest.approx(2.0 + 1.5 + 19.0 + 5 * 0.05) and f.iterations == 190
    # the suggested size scales the growing part of the peak with the pixel count
    # (2 GiB of room for 8 GiB of growth: half the side, and 10% below it for safety)
    assert fitting_size(1024, peak=9 * 2**30, free=3 * 2**30, base=1 * 2**30) == 448


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "stylemotion", *map(str, args), "--threads", "1"], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def estimate_line(p) -> str:
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("estimate for")]
    assert len(lines) == 1, p.stdout
    return lines[0]


def test_every_rendering_command_estimates_and_writes_nothing(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cat, starry = SAMPLES / "chelsea.png", SAMPLES / "starry_night.jpg"
    preset = write_preset(tmp_path)
    clip = write_clip(tmp_path / "pan.mp4", pan_frames(5, 64, 3))
    commands = {
        "image": ["image", cat, "--style", starry, "--size", 48, "--iterations", 20, "-o", "x.png"],
        "zoom": ["zoom", "--preset", preset, "--frames", 5, "-o", "z.mp4"],
        "video": ["video", clip, "--style", starry, "--size", 48, "-o", "v.mp4"],
        "hires": ["hires", cat, "--style", starry, "--canvas", 96, "--patch", 48, "--steps", 4, "--iterations", 10, "-o", "h.png"],
        "study": ["study", "--content", cat, "--style", starry, "--size", 40, "--set", "optim.iterations=5,10", "-o", "st"],
    }
    for name, cmd in commands.items():
        line = estimate_line(run(*cmd, "--estimate", cwd=work))
        assert "at most" in line and "a ceiling of" in line and "iterations" in line and "GiB" in line, (name, line)
    assert list(work.iterdir()) == []  # an estimate writes nothing


def test_estimate_counts_the_schedule(tmp_path):
    preset = write_preset(tmp_path)
    a = estimate_line(run("zoom", "--preset", preset, "--frames", 4, "-o", "z.mp4", "--estimate", cwd=tmp_path))
    b = estimate_line(run("zoom", "--preset", preset, "--frames", 8, "-o", "z.mp4", "--estimate", cwd=tmp_path))
    count = lambda line: int(line.split("(a ceiling of ")[1].split(" iterations")[0])  # noqa: E731
    assert (count(a), count(b)) == (12 + 3 * 4, 12 + 7 * 4)  # the preset: first_iterations 12, then "4" per frame
    p = run("zoom", "--preset", preset, "--frames", 4, "-o", "z.mp4", "--estimate", "--preview-motion", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("error: --estimate and --preview-motion")
