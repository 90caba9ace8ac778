"""Shots side by side: a three-shot clip rendered one shot after another, with --workers 2, and
with --ray auto; wall time of each and whether the frame PNGs are byte-identical.

    python benchmarks/video_shots.py
"""

import filecmp
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402
from tests.clips import cut_frames, write_clip  # noqa: E402
from tests.conftest import SAMPLES  # noqa: E402
d = Path("bench_out/shots"); d.mkdir(parents=True, exist_ok=True)
clip = cut_frames(12, 128, at=4)
clip = clip[:8] + [torch.flip(f, dims=[-1]).roll(9, dims=-2) * 0.6 for f in clip[8:]]
src = write_clip(d / "three.mp4", clip, fps=12)
base = [sys.executable, "-m", "stylemotion", "video", str(src), "--style", str(SAMPLES / "the_scream.jpg"), "--size", "128", "--overwrite"]
times = {}
for name, extra in (("seq", []), ("pool", ["--workers", "2"]), ("ray", ["--ray", "auto"])):
    t0 = time.perf_counter()
    p = subprocess.run(base + extra + ["-o", str(d / f"{name}.mp4")], capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[1]))
    times[name] = time.perf_counter() - t0
    print(name, f"{times[name]:.1f} s", p.returncode, [l for l in p.stderr.splitlines() if "shots" in l or "error" in l][:2], flush=True)
for name in ("pool", "ray"):
    same = all(filecmp.cmp(d / f"seq_frames/frame_{t:05d}.png", d / f"{name}_frames/frame_{t:05d}.png", shallow=False) for t in range(12))
    print(name, "identical PNGs to sequential:", same)
