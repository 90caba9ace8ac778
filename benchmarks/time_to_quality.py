"""Time to a finished picture: the default ``image`` against neural-style-pt's recipe, same CPU.

    python benchmarks/time_to_quality.py                              # 4 pairs at 256 and 384 px
    python benchmarks/time_to_quality.py --sizes 256 --pairs summer_palace:starry_night
    python benchmarks/time_to_quality.py --ref-iterations 200        # time 200, scale to 1000 (stated)

Rows, each run timed alone (one after the other, never two at once):

* **reference**: neural-style-pt's default recipe: 1000 L-BFGS iterations at the output size, no
  pyramid, content relu4_2 + Gram style at the five relu*_1 layers, from noise (the reference
  loop of ``benchmarks/engine_speed.py``), in fp32 on the same network; timed once per size,
  since its cost per iteration does not depend on the picture. ``--ref-iterations N`` times N
  iterations and scales the time to 1000 (the loop has no early stop, so its time is linear);
  the printout says so.
* **before**: the previous release's schedule (200 iterations at full size, 2x more per coarser
  level, early stop at a relative change of 1e-4 per iteration), fp32: today's quality.
* **default**: the current defaults, in fp32 and (where the CPU has native bf16) in bf16.

Each output is scored with the workplace's independent tool (``../shared/eval/metrics.py``):
style ratio (lower = more of the painting) and structure (edge correlation with the photo).
Printed: seconds, the reference's time over the run's, the iterations per pyramid level, and
both scores beside the "before" row's. Images go to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from stylemotion.engine.backbone import DEFAULT_POOLING, cpu_has_native_bf16, load_backbone, pick_device
from stylemotion.runtime.estimate import sync
from stylemotion.io.images import load_image, resize_long_side, save_image, to_tensor
from stylemotion.engine.optimize import OptimConfig, StyleConfig, StyleEngine, make_init, stylize

from engine_speed import reference_run, reference_targets  # benchmarks/ is on sys.path as a script
from quality import PAINTINGS, PHOTOS, ROOT, SAMPLES, load_metrics, parse_sets

# Photos held out from every tuning first, then two tuned ones; paintings all four.
PAIRS = ["summer_palace:starry_night", "grace_hopper:the_scream", "coffee:matisse", "rocket:shipwreck"]
# The previous release's schedule: a fixed count with a tight early stop.
BEFORE = {"iterations": 200, "tol": 1e-4, "coarse_tol": 1e-4, "pyramid_iter_factor": 2.0}


def score(metrics, path: Path, photo: Path, painting: Path) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    x = metrics.load(str(path))
    like = (x.shape[3], x.shape[2])
    c = metrics.load(str(photo), like=like)
    s = metrics.load(str(painting), size=max(like))
    return metrics.style_dist(x, s) / metrics.style_dist(c, s), metrics.structure(x, c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated photo:painting")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 384])
    ap.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=None,
                    help="the default's precisions (default: fp32, and bf16 where the CPU has it natively)")
    ap.add_argument("--ref-iterations", type=int, default=1000, help="time this many reference iterations, scaled to 1000")
    ap.add_argument("--no-before", action="store_true", help="skip the previous release's schedule")
    ap.add_argument("--set", action="append", default=[], help="key=value override of the default row (screens)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the reference runs there too, in fp32)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/stylemotion-ttq"))
    ap.add_argument("--metrics", type=Path, default=ROOT.parent / "shared" / "eval" / "metrics.py")
    args = ap.parse_args()
    # without the measuring tool (a device machine has no shared/), the times alone
    metrics = load_metrics(args.metrics) if args.metrics.is_file() else None
    if metrics is None:
        print(f"note: {args.metrics} not found: times only, no scores")
    dev = pick_device(args.device)
    native = dev.type == "cuda" or cpu_has_native_bf16()
    precisions = args.precisions or (["fp32", "bf16"] if native else ["fp32"])
    so, oo = parse_sets(args.set)
    args.out.mkdir(parents=True, exist_ok=True)
    backbones = {p: load_backbone("vgg16-hed", DEFAULT_POOLING, device=dev, precision=p) for p in {"fp32", *precisions}}
    print(f"{dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {native}; "
          f"default overrides: {so | oo or 'none'}")
    pairs = [p for p in args.pairs.split(",") if p]
    for size in args.sizes:
        # the reference, timed once per size (its cost per iteration is the same for every picture)
        photo, painting = pairs[0].split(":")
        content = to_tensor(resize_long_side(load_image(SAMPLES / PHOTOS[photo]), size))
        style = to_tensor(resize_long_side(load_image(SAMPLES / PAINTINGS[painting]), size))
        bb = backbones["fp32"]
        ct, st = reference_targets(bb, content.to(dev), style.to(dev))
        x0 = make_init("noise", None, tuple(content.shape[-2:]), 0).to(dev)
        reference_run(bb, x0, ct, st, 2)  # warm-up
        sync(dev)
        t = time.perf_counter()
        reference_run(bb, x0, ct, st, args.ref_iterations)
        sync(dev)
        ref = (time.perf_counter() - t) * 1000 / args.ref_iterations
        scaled = "" if args.ref_iterations == 1000 else f" ({args.ref_iterations} iterations timed, scaled to 1000)"
        print(f"\n{size} px: reference (neural-style-pt, 1000 L-BFGS iterations, fp32): {ref:.1f} s{scaled}")
        print(f"  {'pair':<28} {'run':<13} {'seconds':>7} {'ref/run':>7} {'style_ratio':>11} {'structure':>9}  iterations per level")
        for pair in pairs:
            photo, painting = pair.split(":")
            cpath, spath = SAMPLES / PHOTOS[photo], SAMPLES / PAINTINGS[painting]
            content = to_tensor(resize_long_side(load_image(cpath), size))
            style = to_tensor(load_image(spath))
            runs = [] if args.no_before else [("before fp32", "fp32", {k: v for k, v in BEFORE.items()}, {})]
            runs += [(f"default {p}", p, oo, so) for p in precisions]
            before = None
            for label, precision, optim_over, style_over in runs:
                optim = dataclasses.replace(OptimConfig(), **optim_over)
                engine = StyleEngine(backbones[precision], dataclasses.replace(StyleConfig(), **style_over))
                ran: dict[int, int] = {}

                def count(p, ran=ran) -> None:  # type: ignore[no-untyped-def]
                    ran[p.level] = ran.get(p.level, 0) + p.advanced

                t = time.perf_counter()
                out = stylize(engine, content, [style], optim, callback=count)
                secs = time.perf_counter() - t
                path = args.out / f"{photo}-{painting}-{size}-{label.replace(' ', '_')}.png"
                save_image(out, path)
                ratio, structure = score(metrics, path, cpath, spath) if metrics else (float("nan"), float("nan"))
                vs = "" if before is None else f"  (before: {before[0]:.4f} / {before[1]:.3f}; style x{ratio / before[0]:.2f}, structure {structure - before[1]:+.3f})"
                if label.startswith("before"):
                    before = (ratio, structure)
                print(f"  {pair:<28} {label:<13} {secs:>7.1f} {ref / secs:>6.2f}x {ratio:>11.4f} {structure:>9.3f}  "
                      f"{'+'.join(str(ran[k]) for k in sorted(ran))}{vs}", flush=True)


if __name__ == "__main__":
    main()
