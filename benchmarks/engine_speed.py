"""Engine speed: seconds per iteration and achieved GFLOP/s, against plain conv throughput.

    python benchmarks/engine_speed.py [--sizes 256 512] [--iters 10] [--device cpu]
    python benchmarks/engine_speed.py --set content_layers=relu3_2,relu4_2 --set tv_weight=2   # beside the defaults
    python benchmarks/engine_speed.py --device cuda --precision auto fp32   # bf16 autocast beside fp32

FLOPs are counted from layer shapes: 2 per multiply-add for every conv up to the deepest layer
used (relu5_1 with the default layers), forward plus the input-gradient backward (the same
count again; weight gradients are never computed). Three figures, measured side by side:

* bare conv: one 3x3 conv (256 -> 256 channels at 64x64), forward only: the machine's conv speed;
* plain loop: VGG forward to relu5_1 + backward to the pixels, nothing else;
* engine: a full StyleEngine iteration (content + Gram style + TV losses, L-BFGS step, clamp).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
import torch.nn.functional as F

from stylemotion.backbone import DEFAULT_POOLING, PRECISIONS, conv_flops, load_backbone, pick_device
from stylemotion.optimize import OptimConfig, StyleConfig, StyleEngine, Targets

from quality import parse_sets  # benchmarks/ is on sys.path when this runs as a script


def timeit(fn, iters: int, device: torch.device) -> float:
    fn()  # warm-up (allocator, oneDNN primitive cache)
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pooling", default=None, help="max or avg (default: the package default)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="also time an engine with this StyleConfig override, beside the defaults (repeatable)")
    ap.add_argument("--precision", nargs="+", default=["auto"], choices=list(PRECISIONS),
                    help="CUDA arithmetic; several are timed side by side (default auto = bf16)")
    args = ap.parse_args()
    dev = pick_device(args.device)
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    w = torch.randn(256, 256, 3, 3, device=dev) * 0.01
    x = torch.randn(1, 256, 64, 64, device=dev)
    with torch.no_grad():
        s = timeit(lambda: F.conv2d(x, w, padding=1), args.iters * 4, dev)
    bare = 2 * 256 * 256 * 9 * 64 * 64 / s / 1e9
    print(f"bare 3x3 conv 256->256 @64x64: {bare:.1f} GFLOP/s")

    engines = {}
    for precision in args.precision:
        backbone = load_backbone("vgg16-hed", args.pooling or DEFAULT_POOLING, device=dev, precision=precision)
        tag = f"{precision} " if len(args.precision) > 1 else ""
        engines[f"{tag}defaults"] = StyleEngine(backbone)
        if args.set:
            so, _ = parse_sets(args.set)
            engines[tag + ",".join(args.set)] = StyleEngine(backbone, dataclasses.replace(StyleConfig(), **so))
    print(f"pooling {backbone.pooling}, style loss {StyleEngine(backbone).style.style_loss}")
    for size in args.sizes:
        img = torch.rand(1, 3, size, size, device=dev)
        style_img = torch.rand(1, 3, size, size)
        for label, engine in engines.items():
            backbone = engine.backbone
            layers = engine.style.style_layers
            deepest = max(list(layers) + list(engine.style.content_layers), key=backbone.depth)
            flops = 2 * conv_flops(backbone, size, size, deepest)

            def plain() -> None:
                xi = img.clone().requires_grad_(True)
                feats = backbone(xi, [deepest])
                feats[deepest].sum().backward()

            targets = Targets(engine.content_targets(img), engine.style_targets([style_img], None, (size, size)))
            x0 = img.clone()

            # one engine.optimize call per iteration would rebuild L-BFGS; time a short and a long run
            # and divide the difference, after a discarded run that pays the first-call costs (cuDNN
            # autotuning, allocator growth): timing that one made the 256 px figure negative on a GPU
            def run(iterations: int) -> float:
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                t = time.perf_counter()
                engine.optimize(x0, targets, OptimConfig(iterations=iterations, tol=0))
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                return time.perf_counter() - t

            n = args.iters
            run(2)
            s_engine = (run(n + 2) - run(2)) / n
            s_plain = timeit(plain, n, dev)
            gf_plain, gf_engine = flops / s_plain / 1e9, flops / s_engine / 1e9
            print(
                f"{size}x{size} [{label}]: {flops / 1e9:.1f} GFLOP/iter | plain loop {s_plain:.3f} s/it = {gf_plain:.1f} GFLOP/s | "
                f"engine {s_engine:.3f} s/it = {gf_engine:.1f} GFLOP/s = {100 * gf_engine / bare:.0f}% of bare conv, "
                f"{100 * gf_engine / gf_plain:.0f}% of plain loop"
            )


if __name__ == "__main__":
    main()
