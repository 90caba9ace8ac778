"""Do the same renders give the same frames, byte for byte? For refactors that must not change
a pixel: record the SHA-256 of every PNG a set of small renders writes, then check a later tree
against the record.

    python benchmarks/same_frames.py record benchmarks/same_frames.json   # before the change
    python benchmarks/same_frames.py check benchmarks/same_frames.json    # after it

The renders: the shipped deepdream-like, spiral, loop (16 frames: it closes over 12) and drift presets at 48 px, a `video` of a
clip with a cut (made here with PyAV, two shots) in one pass and in three (`--passes 3`), a `study` cell and an `image`, all in fp32 on
one CPU thread. Bytes depend on the CPU's kernels and the torch build: a record is only valid on
the machine kind and torch it names (it says which), so record and check on the same machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
S = ROOT / "samples"
COMMON = ["--precision", "fp32", "--threads", "1"]


def renders(work: Path) -> dict[str, list[str]]:
    """name -> stylemotion command line (outputs under ``work``)."""
    anim = ["--size", "48", "--content", str(S / "rocket.jpg"), *COMMON]
    return {
        "deepdream-like": ["zoom", "--preset", "deepdream-like", "--frames", "5", *anim, "-o", str(work / "dd.mp4")],
        "spiral": ["zoom", "--preset", "spiral", "--frames", "5", *anim, "-o", str(work / "spiral.mp4")],
        "loop": ["zoom", "--preset", "loop", "--frames", "16", *anim, "-o", str(work / "loop.mp4")],
        "drift": ["drift", "--preset", "drift", "--frames", "5", "--size", "48", "--content", str(S / "chelsea.png"), *COMMON,
                  "-o", str(work / "drift.mp4")],
        "video": ["video", str(work / "cut.mp4"), "--style", str(S / "starry_night.jpg"), "--size", "48",
                  "--set", "run.first_iterations=12", "--set", "run.iterations=6", *COMMON, "-o", str(work / "video.mp4")],
        "video-passes": ["video", str(work / "cut.mp4"), "--style", str(S / "starry_night.jpg"), "--size", "48", "--passes", "3",
                         "--set", "run.first_iterations=12", "--set", "run.iterations=6", *COMMON, "-o", str(work / "video3.mp4")],
        "image": ["image", str(S / "chelsea.png"), "--style", str(S / "the_scream.jpg"), "--size", "64", *COMMON,
                  "-o", str(work / "image.png")],
        "study": ["study", "--content", str(S / "astronaut.png"), "--style", str(S / "starry_night.jpg"), "--size", "40",
                  "--set", "style.style_weight=10", "--set", "optim.iterations=20", "--cell-threads", "1", "-o", str(work / "study")],
    }


def make_clip(path: Path) -> None:
    """8 frames: a pan over the astronaut, a hard cut at frame 4 to a pan over the cat."""
    import av
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(S / "astronaut.png").convert("RGB").resize((96, 96)))
    c = np.asarray(Image.open(S / "chelsea.png").convert("RGB").resize((128, 84)))
    frames = [a[20:68, 4 + 3 * t:4 + 3 * t + 64] for t in range(4)] + [c[10:58, 4 + 3 * t:4 + 3 * t + 64] for t in range(4)]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"crf": "12"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def hashes(work: Path) -> dict[str, dict[str, str]]:
    work.mkdir(parents=True, exist_ok=True)
    make_clip(work / "cut.mp4")
    got: dict[str, dict[str, str]] = {}
    for name, args in renders(work).items():
        print(f"{name}: stylemotion {' '.join(args[:3])} ...", flush=True)
        p = subprocess.run([sys.executable, "-m", "stylemotion", *args], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{name} failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    for name, pattern in (("deepdream-like", "dd_frames/*.png"), ("spiral", "spiral_frames/*.png"), ("loop", "loop_frames/*.png"),
                          ("drift", "drift_frames/*.png"), ("video", "video_frames/*.png"), ("video-passes", "video3_frames/*.png"), ("image", "image.png"),
                          ("study", "study/cells/*.png")):
        files = sorted(work.glob(pattern))
        if not files:
            raise SystemExit(f"{name}: no PNGs match {pattern}")
        got[name] = {str(f.relative_to(work)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    return got


def machine() -> dict[str, str]:
    import torch

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else platform.machine()
    return {"torch": torch.__version__, "cpu": isa, "python": platform.python_version()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["record", "check"])
    ap.add_argument("record_file", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-frames-") as tmp:
        got = hashes(Path(tmp))
    if args.action == "record":
        args.record_file.write_text(json.dumps({"machine": machine(), "renders": got}, indent=1, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in got.values())} PNGs of {len(got)} renders in {args.record_file}")
        return 0
    rec = json.loads(args.record_file.read_text())
    if rec["machine"] != machine():
        print(f"note: recorded on {rec['machine']}, checking on {machine()}: bytes may differ for that reason alone")
    bad = 0
    for name, files in rec["renders"].items():
        now = got.get(name, {})
        if name == "study":  # a cell's file name hashes its inputs' absolute paths: compare the bytes alone
            files, now = {h: h for h in files.values()}, {h: h for h in now.values()}
        diff = [f for f in files if now.get(f) != files[f]] + [f for f in now if f not in files]
        print(f"{name:15s} {len(files):3d} PNGs  {'same' if not diff else f'DIFFERENT: {diff[:3]}'}")
        bad += bool(diff)
    print("PASS: every frame is the same, byte for byte" if not bad else f"FAIL: {bad} renders differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
