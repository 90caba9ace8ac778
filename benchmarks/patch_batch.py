"""Hires patches one at a time against batches of patches, side by side in one process.

    python benchmarks/patch_batch.py                          # CPU: 64, 128 and 256 px patches
    python benchmarks/patch_batch.py --device cuda --patches 256 512 --batches 1 4 8

For every patch size, a ``hires`` render of the cat in The Starry Night (global style, scale 1,
content start) runs with each ``--batches`` value; the configurations take turns for
``--rounds`` rounds and each reports its median seconds per patch, the gain over batch 1, the
peak GPU memory (CUDA), and the Gram style distance of the finished canvas to the painting (so a
faster batch is seen not to buy its speed with a worse result). The canvas is four patches on a
side, so a batch of up to four fits on it without overlaps.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from stylemotion.engine import losses
from stylemotion.engine.backbone import load_backbone, pick_device
from stylemotion.runtime.estimate import sync
from stylemotion.io.images import load_image, resize_long_side, to_tensor
from stylemotion.engine.optimize import OptimConfig, StyleEngine, resize
from stylemotion.stills.patches import PatchConfig, PatchRenderer

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def render(engine: StyleEngine, content: torch.Tensor, style: torch.Tensor, cfg: PatchConfig, dev: torch.device) -> tuple[float, torch.Tensor]:
    """Seconds per patch (the Gram set-up excluded) and the finished canvas."""
    r = PatchRenderer(engine, content, style, cfg, OptimConfig())
    sync(dev)
    t0 = time.perf_counter()
    for _ in r.steps():
        pass
    sync(dev)
    return (time.perf_counter() - t0) / r.total_steps, r.canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches", type=int, nargs="+", default=[64, 128, 256], help="patch sides, px")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--steps", type=int, default=8, help="patches per render")
    ap.add_argument("--iterations", type=int, default=10, help="iterations per patch")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="CPU threads for torch")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    engine = StyleEngine(load_backbone(device=dev))
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}; {args.steps} patches of "
          f"{args.iterations} iterations per render, {args.rounds} rounds, medians")
    for patch in args.patches:
        content = to_tensor(resize_long_side(load_image(SAMPLES / "chelsea.png"), patch * 4))
        style = to_tensor(resize_long_side(load_image(SAMPLES / "starry_night.jpg"), patch * 4))
        target = engine.style_grams(resize(style, tuple(content.shape[-2:])).to(dev))
        cfgs = {b: PatchConfig(canvas=patch * 4, patch=patch, steps=args.steps, iterations=args.iterations, init="content", batch=b)
                for b in args.batches}
        times: dict[int, list[float]] = {b: [] for b in cfgs}
        canvases: dict[int, torch.Tensor] = {}
        peaks: dict[int, float] = {}
        render(engine, content, style, cfgs[args.batches[0]], dev)  # warm-up (allocator, oneDNN/cuDNN plans)
        for _ in range(args.rounds):
            for b, cfg in cfgs.items():
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                sec, canvases[b] = render(engine, content, style, cfg, dev)
                times[b].append(sec)
                if dev.type == "cuda":
                    peaks[b] = torch.cuda.max_memory_allocated(dev) / 2**30
        print(f"\npatch {patch} px (canvas {patch * 4} px)")
        base = sorted(times[args.batches[0]])[len(times[args.batches[0]]) // 2]
        for b in cfgs:
            sec = sorted(times[b])[len(times[b]) // 2]
            g = engine.style_grams(canvases[b].to(dev))
            dist = sum(float(losses.relative_mse(g[k], target[k])) for k in g)
            mem = f"  peak {peaks[b]:.2f} GiB" if b in peaks else ""
            print(f"  batch {b}: {sec:7.3f} s/patch  {base / sec:5.2f}x batch {args.batches[0]}'s speed  style distance {dist:.4f}{mem}", flush=True)


if __name__ == "__main__":
    main()
