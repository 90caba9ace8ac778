"""Zoom-movie figures: sharpness over time, frame-to-frame step, loop wrap-around, cadence speed-up.

    python benchmarks/zoom_alive.py                                  # deepdream-like, 256 px, 48 frames
    python benchmarks/zoom_alive.py --preset spiral --size 192 --frames 36
    python benchmarks/zoom_alive.py --set fx.unsharp_amount=0 --set fx.noise=0   # the controls off
    python benchmarks/zoom_alive.py --cadence 1 3                    # speed and consistency per cadence
    python benchmarks/zoom_alive.py --loop                           # wrap-around of a --loop render

Each configuration is rendered with the real CLI (``stylemotion zoom``) into ``--out`` and then
measured with the same definitions as ``../shared/eval/metrics.py``: sharpness = mean |Laplacian|
of the grey frames (last quarter / frame 0), step = mean |frame t - frame t-1|, wrap = |last ->
first| / median step, centre rows / columns = the cross index of the last quarter (line energy
through the zoom centre over the median row's / column's; 1 = no cross). For cadence the step is split into key-to-key and in-between steps, so the
consistency cost of the in-between frames is visible.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stylemotion.io.decode import decode_frames


def laplacian(frame: np.ndarray) -> float:
    g = torch.from_numpy(frame.astype(np.float32) / 255).permute(2, 0, 1)[None]
    g = (g * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    return F.conv2d(g, k)[..., 1:-1, 1:-1].abs().mean().item()


def centre_lines(frame: np.ndarray) -> tuple[float, float]:
    """Cross index of one frame: line energy (|second difference| across rows, and across columns,
    over the middle half) of the 6 rows and columns through the centre, over the median row's and
    column's. About 1 when the centre is like the rest; a cross at a zoom's fixed point lifts it."""
    g = frame.astype(float) @ np.array([0.299, 0.587, 0.114]) / 255
    h, w = g.shape
    rows = np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2)[:, w // 4: 3 * w // 4].mean(1)  # rows 1 .. h-2
    cols = np.abs(g[:, 1:-1] - (g[:, :-2] + g[:, 2:]) / 2)[h // 4: 3 * h // 4].mean(0)
    cy, cx = h // 2 - 1, w // 2 - 1
    return float(rows[cy - 3:cy + 3].max() / np.median(rows)), float(cols[cx - 3:cx + 3].max() / np.median(cols))


def measure(video: Path, log: Path) -> dict:
    frames = decode_frames(video)
    sharp = [laplacian(f) for f in frames]
    q = max(1, len(sharp) // 4)
    steps = [np.abs(frames[i].astype(float) - frames[i - 1].astype(float)).mean() / 255 for i in range(1, len(frames))]
    wrap = np.abs(frames[0].astype(float) - frames[-1].astype(float)).mean() / 255
    keys = [json.loads(line)["key"] for line in log.read_text().splitlines() if line.strip()]
    into_key = [s for s, k in zip(steps, keys[1:]) if k]
    into_between = [s for s, k in zip(steps, keys[1:]) if not k]
    cross = np.array([centre_lines(f) for f in frames[-q:]])
    return {
        "sharp_first": sharp[0], "sharp_last": float(np.mean(sharp[-q:])), "sharp_ratio": float(np.mean(sharp[-q:]) / max(sharp[0], 1e-9)),
        "mean_step": float(np.mean(steps)), "median_step": float(np.median(steps)), "wrap_ratio": float(wrap / max(np.median(steps), 1e-9)),
        "step_into_key": float(np.mean(into_key)) if into_key else float("nan"),
        "step_into_between": float(np.mean(into_between)) if into_between else float("nan"),
        "centre_rows": float(cross[:, 0].mean()), "centre_cols": float(cross[:, 1].mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="deepdream-like")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--cadence", type=int, nargs="+", default=[1])
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", type=Path, default=Path("/tmp/stylemotion-zoom-bench"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{args.preset} {args.size}px {args.frames} frames, overrides {args.set or 'none'}")
    print(f"{'cadence':>7} {'s/frame':>8} {'sharp_ratio':>11} {'mean_step':>9} {'into_key':>8} {'between':>8} {'wrap_ratio':>10} {'centre_rows':>11} {'centre_cols':>11}")
    for cad in args.cadence:
        video = args.out / f"zoom_c{cad}{'_loop' if args.loop else ''}{args.tag}.mp4"
        cmd = [sys.executable, "-m", "stylemotion", "zoom", "--preset", args.preset, "--size", str(args.size),
               "--frames", str(args.frames), "--cadence", str(cad), "-o", str(video), "--overwrite"]
        cmd += ["--loop"] * args.loop + [a for s in args.set for a in ("--set", s)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.perf_counter() - t
        if proc.returncode != 0:
            sys.exit(f"render failed: {proc.stderr.strip().splitlines()[-1]}")
        m = measure(video, video.with_name(video.stem + "_params.jsonl"))
        print(f"{cad:>7} {secs / args.frames:>8.2f} {m['sharp_ratio']:>11.3f} {m['mean_step']:>9.4f} "
              f"{m['step_into_key']:>8.4f} {m['step_into_between']:>8.4f} {m['wrap_ratio']:>10.2f} {m['centre_rows']:>11.2f} {m['centre_cols']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
