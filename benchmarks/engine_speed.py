"""Engine speed, side by side in one process: seconds per iteration against the machine's limits.

    python benchmarks/engine_speed.py                                # CPU, 384 px, fp32 and bf16
    python benchmarks/engine_speed.py --device cuda --sizes 512 1024 --precision auto fp32
    python benchmarks/engine_speed.py --set content_layers=relu3_2,relu4_2   # another engine beside the defaults

Rows, each timed after a discarded warm-up, at every size and precision:

* bare conv: one 3x3 conv (256 -> 256 channels at 64x64), forward only: the machine's conv speed;
* plain loop: VGG forward to relu5_1 + backward to the pixels, nothing else (the floor);
* reference loop: what neural-style-pt does, written from its description: torch's ``LBFGS``
  (history 100), one ``step`` call with ``max_iter=N``, content at relu4_2 + Gram style at the
  five relu*_1 layers (its textbook Gram: features flattened to (C, H*W) times their transpose),
  plain MSE losses, and no read of the loss until the end; on the same network as the engine;
* engine (same work): ``StyleEngine`` with the reference's layers, no pyramid, tol 0;
* engine (defaults): ``StyleEngine`` with this release's loss (three content layers, TV).

Every row is a call of N iterations (``--iters``), the set-up of a level (the optimizer's buffers,
the final evaluation) included; targets are computed once outside. The rows take turns for
``--rounds`` rounds and each reports its median. FLOPs are counted from layer shapes (2 per
multiply-add, forward + input-gradient backward).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Callable

import torch
import torch.nn.functional as F

from stylemotion.engine.backbone import DEFAULT_POOLING, PRECISIONS, VGGFeatures, conv_flops, load_backbone, pick_device
from stylemotion.runtime.estimate import sync, timed
from stylemotion.engine.optimize import OptimConfig, StyleConfig, StyleEngine, Targets

from quality import parse_sets  # benchmarks/ is on sys.path when this runs as a script

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def timeit(fn: Callable[[], None], iters: int, dev: torch.device) -> float:
    fn()  # warm-up (allocator, oneDNN primitive cache, cuDNN autotuning)
    fn()
    return timed(lambda: [fn() for _ in range(iters)], dev) / iters


def textbook_gram(feat: torch.Tensor) -> torch.Tensor:
    """neural-style-pt's GramMatrix: features flattened to (C, H*W), times their transpose."""
    b, c, h, w = feat.shape
    f = feat.float().reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


@torch.no_grad()
def reference_targets(backbone: VGGFeatures, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The reference loop's targets (computed once, outside the timed loop, as the engine's are)."""
    ct = backbone(content, ["relu4_2"])["relu4_2"].float()
    return ct, {k: textbook_gram(v) for k, v in backbone(style, STYLE_LAYERS).items()}


def reference_run(backbone: VGGFeatures, x0: torch.Tensor, ct: torch.Tensor, st: dict, n: int) -> None:
    """neural-style-pt's loop: one LBFGS.step(max_iter=n), the loss never read."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=n, tolerance_grad=-1, tolerance_change=-1, history_size=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        f = backbone(x, ("relu4_2", *STYLE_LAYERS))
        loss = 5.0 * F.mse_loss(f["relu4_2"].float(), ct)
        for k in STYLE_LAYERS:
            loss = loss + 100.0 * F.mse_loss(textbook_gram(f[k]), st[k])
        loss.backward()
        return loss

    opt.step(closure)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[384])
    ap.add_argument("--iters", type=int, default=10, help="iterations per timed call")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of timed calls (each row reports its median)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pooling", default=None, help="max or avg (default: the package default)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="also time an engine with this StyleConfig override, beside the defaults (repeatable)")
    ap.add_argument("--precision", nargs="+", default=None, choices=list(PRECISIONS),
                    help="timed side by side (default: fp32 and bf16 on the CPU, auto and fp32 on CUDA)")
    ap.add_argument("--zoom", nargs="+", default=None, metavar="SIZE",
                    help="also time the deepdream-like zoom per frame at these frame sizes, e.g. 512 1920x1080")
    ap.add_argument("--zoom-frames", type=int, default=6, help="frames per zoom timing (the first is not counted)")
    args = ap.parse_args()
    dev = pick_device(args.device)
    precisions = args.precision or (["fp32", "bf16"] if dev.type == "cpu" else ["auto", "fp32"])
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"pooling {args.pooling or DEFAULT_POOLING}, {args.rounds} rounds of {args.iters} iterations per row, medians")

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
            runs: dict[str, Callable[[int], object]] = {}

            def plain(n: int) -> None:
                for _ in range(n):
                    xi = img.clone().requires_grad_(True)
                    backbone(xi, ["relu5_1"])["relu5_1"].float().sum().backward()

            runs["plain loop (VGG fwd+bwd)"] = plain
            ct, st = reference_targets(backbone, img, style_img)
            runs["reference loop (neural-style-pt)"] = lambda n: reference_run(backbone, img, ct, st, n)
            for label, engine in engines.items():
                targets = Targets(engine.content_targets(img), engine.style_targets([style_img], None, (size, size)))
                runs[label] = (lambda e, t: lambda n: e.optimize(img, t, OptimConfig(iterations=n, tol=0, pyramid_min=0)))(engine, targets)
            for fn in runs.values():  # first-call costs (cuDNN autotuning, allocator growth, oneDNN primitives)
                fn(2)
            # the rows take turns, round after round, and each reports its median: a machine whose
            # speed drifts (other jobs, clocks) then slows every row alike
            samples: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(args.rounds):
                for label, fn in runs.items():
                    samples[label].append(timed(lambda: fn(args.iters), dev) / args.iters)
            rows = {k: sorted(v)[len(v) // 2] for k, v in samples.items()}
            base, refs = rows["plain loop (VGG fwd+bwd)"], rows["reference loop (neural-style-pt)"]
            print(f"\n{size}x{size}, precision {precision} ({flops / 1e9:.1f} GFLOP per iteration)")
            for label, sec in rows.items():
                print(f"  {label:34s} {sec * 1e3:9.1f} ms/it  {flops / sec / 1e9:7.1f} GFLOP/s  "
                      f"{sec / base:5.2f}x plain  {refs / sec:5.2f}x the reference's speed")
            if dev.type == "cuda":
                print(f"  peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB")
                torch.cuda.reset_peak_memory_stats(dev)


    for spec in args.zoom or []:
        zoom_speed(spec, args.zoom_frames, dev)


def zoom_speed(spec: str, frames: int, dev: torch.device) -> None:
    """Seconds per frame of ``zoom --preset deepdream-like`` at a frame size "512" (long side, the
    rocket's aspect) or "WxH" (the photo resized to that aspect), after the first frame."""
    from stylemotion.io.images import load_image, to_tensor
    from stylemotion.engine.optimize import fit_style, resize
    from stylemotion.settings.presets import load_preset
    from stylemotion.settings.sections import style_config
    from stylemotion.animation.sequence import Sequencer

    s = load_preset("deepdream-like")
    content = to_tensor(load_image(s.run.content, "content image"))
    if "x" in spec:
        w, h = (int(v) for v in spec.split("x"))
        content = resize(content, (h, w))
        s.run.size = max(w, h)
    else:
        s.run.size = int(spec)
    s.run.frames, s.run.device = frames, str(dev)
    backbone = load_backbone(s.run.backbone, s.run.pooling, device=dev, precision=s.run.precision)
    styles = [fit_style(to_tensor(load_image(e.style, "style image")), s.run.size) for e in s.playlist]
    seq = Sequencer(s, StyleEngine(backbone, style_config(s)), content, styles)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    stamps = []
    for f in seq.frames():
        sync(dev)
        stamps.append((time.perf_counter(), f.iterations))
    steps = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    h, w = seq.hw
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB" if dev.type == "cuda" else ""
    print(f"\nzoom --preset deepdream-like at {w}x{h} on {dev.type}: {sorted(steps)[len(steps) // 2]:.3f} s per frame "
          f"(median of frames 1-{len(steps)}, {stamps[-1][1]} iterations each){peak}")


if __name__ == "__main__":
    main()
