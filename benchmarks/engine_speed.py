"""Engine speed, side by side in one process: seconds per iteration against the machine's limits.

    python benchmarks/engine_speed.py                                # CPU, 384 px, fp32 and bf16
    python benchmarks/engine_speed.py --device cuda --sizes 512 1024 --precision auto fp32
    python benchmarks/engine_speed.py --set content_layers=relu3_2,relu4_2   # another engine beside the defaults

Rows, each timed after a discarded warm-up, at every size and precision:

* bare conv: one 3x3 conv (256 -> 256 channels at 64x64), forward only: the machine's conv speed;
* plain loop: VGG forward to relu5_1 + backward to the pixels, nothing else (the floor);
* reference loop: what neural-style-pt does, written from its description: torch's ``LBFGS``
  (history 100), one ``step`` call with ``max_iter=N``, content at relu4_2 + Gram style at the
  five relu*_1 layers, plain MSE losses, and no read of the loss until the end;
* engine (same work): ``StyleEngine`` with the reference's layers, no pyramid, tol 0;
* engine (defaults): ``StyleEngine`` with this release's loss (three content layers, TV).

The engine's rows are (run(N + 2) - run(2)) / N, so that the level's set-up and the final
evaluation are not counted as iteration time. FLOPs are counted from layer shapes (2 per
multiply-add, forward + input-gradient backward).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Callable

import torch
import torch.nn.functional as F

from stylemotion import losses
from stylemotion.backbone import DEFAULT_POOLING, PRECISIONS, VGGFeatures, conv_flops, load_backbone, pick_device
from stylemotion.optimize import OptimConfig, StyleConfig, StyleEngine, Targets

from quality import parse_sets  # benchmarks/ is on sys.path when this runs as a script

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timeit(fn: Callable[[], None], iters: int, dev: torch.device) -> float:
    fn()  # warm-up (allocator, oneDNN primitive cache, cuDNN autotuning)
    fn()
    sync(dev)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(dev)
    return (time.perf_counter() - t) / iters


def reference_run(backbone: VGGFeatures, x0: torch.Tensor, content: torch.Tensor, style: torch.Tensor, n: int) -> None:
    """neural-style-pt's loop: one LBFGS.step(max_iter=n), the loss never read."""
    with torch.no_grad():
        ct = backbone(content, ["relu4_2"])["relu4_2"].float()
        sf = backbone(style, STYLE_LAYERS)
        st = {k: losses.gram(v) for k, v in sf.items()}
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=n, tolerance_grad=-1, tolerance_change=-1, history_size=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        f = backbone(x, ("relu4_2", *STYLE_LAYERS))
        loss = 5.0 * F.mse_loss(f["relu4_2"].float(), ct)
        for k in STYLE_LAYERS:
            loss = loss + 100.0 * F.mse_loss(losses.gram(f[k]), st[k])
        loss.backward()
        return loss

    opt.step(closure)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[384])
    ap.add_argument("--iters", type=int, default=8, help="timed iterations per row")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pooling", default=None, help="max or avg (default: the package default)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="also time an engine with this StyleConfig override, beside the defaults (repeatable)")
    ap.add_argument("--precision", nargs="+", default=None, choices=list(PRECISIONS),
                    help="timed side by side (default: fp32 and bf16 on the CPU, auto and fp32 on CUDA)")
    args = ap.parse_args()
    dev = pick_device(args.device)
    precisions = args.precision or (["fp32", "bf16"] if dev.type == "cpu" else ["auto", "fp32"])
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"pooling {args.pooling or DEFAULT_POOLING}, {args.iters} timed iterations per row")

    w = torch.randn(256, 256, 3, 3, device=dev) * 0.01
    xc = torch.randn(1, 256, 64, 64, device=dev).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        s = timeit(lambda: F.conv2d(xc, w, padding=1), args.iters * 4, dev)
    print(f"bare 3x3 conv 256->256 @64x64, fp32: {2 * 256 * 256 * 9 * 64 * 64 / s / 1e9:.1f} GFLOP/s")

    same_work = StyleConfig(content_layers=("relu4_2",), style_layers=STYLE_LAYERS, style_layer_weights=(1.0,) * 5, tv_weight=0.0)
    for precision in precisions:
        backbone = load_backbone("vgg16-hed", args.pooling or DEFAULT_POOLING, device=dev, precision=precision)
        engines = {"engine (same work)": StyleEngine(backbone, same_work), "engine (defaults)": StyleEngine(backbone)}
        if args.set:
            so, _ = parse_sets(args.set)
            engines["engine " + ",".join(args.set)] = StyleEngine(backbone, dataclasses.replace(StyleConfig(), **so))
        for size in args.sizes:
            g = torch.Generator().manual_seed(0)
            img = torch.rand(1, 3, size, size, generator=g).to(dev)
            style_img = torch.rand(1, 3, size, size, generator=g).to(dev)
            flops = 2 * conv_flops(backbone, size, size, "relu5_1")
            rows: dict[str, float] = {}

            def plain() -> None:
                xi = img.clone().requires_grad_(True)
                backbone(xi, ["relu5_1"])["relu5_1"].float().sum().backward()

            rows["plain loop (VGG fwd+bwd)"] = timeit(plain, args.iters, dev)

            def ref(n: int) -> float:
                sync(dev)
                t = time.perf_counter()
                reference_run(backbone, img, img, style_img, n)
                sync(dev)
                return time.perf_counter() - t

            ref(2)
            rows["reference loop (neural-style-pt)"] = (ref(args.iters + 2) - ref(2)) / args.iters
            for label, engine in engines.items():
                targets = Targets(engine.content_targets(img), engine.style_targets([style_img], None, (size, size)))

                def run(n: int) -> float:
                    sync(dev)
                    t = time.perf_counter()
                    engine.optimize(img, targets, OptimConfig(iterations=n, tol=0, pyramid_min=0))
                    sync(dev)
                    return time.perf_counter() - t

                run(2)  # pays the first-call costs
                rows[label] = (run(args.iters + 2) - run(2)) / args.iters
            base, refs = rows["plain loop (VGG fwd+bwd)"], rows["reference loop (neural-style-pt)"]
            print(f"\n{size}x{size}, precision {precision} ({flops / 1e9:.1f} GFLOP per iteration)")
            for label, sec in rows.items():
                print(f"  {label:34s} {sec * 1e3:9.1f} ms/it  {flops / sec / 1e9:7.1f} GFLOP/s  "
                      f"{sec / base:5.2f}x plain  {refs / sec:5.2f}x the reference's speed")
            if dev.type == "cuda":
                print(f"  peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB")
                torch.cuda.reset_peak_memory_stats(dev)


if __name__ == "__main__":
    main()
