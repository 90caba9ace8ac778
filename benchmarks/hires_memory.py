"""Peak memory of patch optimization on a canvas far larger than one optimization fits.

    python benchmarks/hires_memory.py [--canvas 4096] [--patch 256] [--steps 12] [--scales 1 2 4]

Runs --steps patches on the canvas (a full render needs a few hundred; memory does not grow
with steps) and prints seconds per patch and the process's peak resident memory, next to what a
single whole-canvas optimization would need for its activations alone.
"""

from __future__ import annotations

import argparse
import resource
import time

from stylemotion.engine.backbone import load_backbone
from stylemotion.io.images import load_image, save_image, to_tensor
from stylemotion.engine.optimize import OptimConfig, StyleEngine
from stylemotion.stills.patches import PatchConfig, PatchRenderer
from stylemotion.settings.presets import SAMPLES_DIR


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--canvas", type=int, default=4096)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    engine = StyleEngine(load_backbone())
    content = to_tensor(load_image(SAMPLES_DIR / "astronaut.png"))
    style = to_tensor(load_image(SAMPLES_DIR / "starry_night.jpg"))
    print(f"after loading: peak RSS {peak_mb():.0f} MB")
    cfg = PatchConfig(canvas=args.canvas, patch=args.patch, steps=args.steps, iterations=10, scales=tuple(args.scales))
    t = time.perf_counter()
    r = PatchRenderer(engine, content, style, cfg, OptimConfig(tol=0, pyramid_min=0))
    print(f"canvas {r.hw[1]}x{r.hw[0]} ready (global style targets for scales {args.scales}) in {time.perf_counter() - t:.1f} s, peak RSS {peak_mb():.0f} MB")
    t = time.perf_counter()
    for _ in r.steps():
        pass
    dt = (time.perf_counter() - t) / args.steps
    # activations of VGG16 up to relu5_1 at the full canvas, fp32, forward only (backward doubles it)
    h, w = r.hw
    acts = sum(c * (h >> i) * (w >> i) * n * 2 for i, (c, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 1)])) * 4 / 2**30
    print(f"{args.steps} patches: {dt:.2f} s per patch; peak RSS {peak_mb():.0f} MB "
          f"(a whole-canvas optimization would hold about {acts:.0f} GiB of activations)")
    print(f"auto steps for this canvas (2 passes per scale): {PatchRenderer(engine, content, style, PatchConfig(canvas=args.canvas, patch=args.patch, scales=tuple(args.scales), style_mode='localized'), OptimConfig()).total_steps}")
    if args.out:
        save_image(r.canvas, args.out)


if __name__ == "__main__":
    main()
