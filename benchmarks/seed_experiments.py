"""The seed's remix and top-layer regeneration on photos they were not tuned on.

    python benchmarks/seed_experiments.py [--photos P ...] [--seeds 3] [--canvas 256] [--size 192]
        [--metrics ../shared/eval/metrics.py] [--sheets docs/] [--only remix|regen] [--coarse-levels N]

The defaults were chosen on coffee.png and astronaut.png; the photos here are others:
summer_palace.jpg, grace_hopper.jpg, chelsea.png, rocket.jpg and the painted portrait
woman-with-hat-matisse.jpg (samples/CREDITS.md). Both modes run with the commands' own defaults
(``stylemotion remix PHOTO --canvas 256`` and ``stylemotion reconstruct PHOTO --layer relu5_1
--size 192``), through the library, and are measured with the independent tool in
``../shared/eval/metrics.py`` (its own VGG16):

* remix: Gram style distance to its photo, as a fraction of the smallest distance any other
  benchmark photo has to it ("unrelated"; target <= 0.15); the colour mean and standard deviation
  per channel against the photo's (targets: within 0.05; within 25%).
* regeneration from relu5_1: edge structure against the photo (target >= 0.45 averaged over the
  seeds), and its colour mean against the photo's.

Contact sheets: ``seed_remix.jpg`` (photo | remix) and ``seed_regen.jpg`` (photo | one image per
seed) in --sheets. On this project's 2-core CPU a remix takes about 2 minutes and a regeneration
about 4; the whole run about an hour.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path


import torch

from stylemotion.engine.backbone import DEFAULT_POOLING, load_backbone, pick_device
from stylemotion.io.images import grid_sheet, load_image, resize_long_side, save_image, to_pil, to_tensor
from stylemotion.engine.optimize import OptimConfig, StyleEngine
from stylemotion.stills.patches import REMIX, REMIX_STYLE, PatchRenderer
from stylemotion.settings.presets import SAMPLES_DIR
from stylemotion.stills.superres import RECONSTRUCT_OPTIM, RECONSTRUCT_POOLING, RECONSTRUCT_STYLE, ReconstructConfig, reconstruct

from quality import load_metrics  # benchmarks/ is on sys.path when this runs as a script

PHOTOS = ("summer_palace.jpg", "grace_hopper.jpg", "chelsea.png", "rocket.jpg", "woman-with-hat-matisse.jpg")


def colour(m, out: Path, photo: Path) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Per-channel |mean difference| and std ratio of ``out`` against ``photo`` (pixels in [0, 1])."""
    x, p = m.load(str(out)), m.load(str(photo))
    dm = (x.mean((0, 2, 3)) - p.mean((0, 2, 3))).abs().tolist()
    sr = (x.std((0, 2, 3)) / p.std((0, 2, 3))).tolist()
    return dm, sr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", nargs="+", default=[str(SAMPLES_DIR / p) for p in PHOTOS])
    ap.add_argument("--seeds", type=int, default=3, help="regeneration seeds per photo")
    ap.add_argument("--canvas", type=int, default=256, help="remix canvas long side")
    ap.add_argument("--size", type=int, default=192, help="regeneration long side")
    ap.add_argument("--layer", default="relu5_1")
    ap.add_argument("--coarse-levels", type=int, default=ReconstructConfig.coarse_levels,
                    help="regeneration: also match the layer at this many coarser levels' sizes (the command's --coarse-levels)")
    ap.add_argument("--metrics", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "metrics.py")
    ap.add_argument("--sheets", type=Path, default=Path("docs"))
    ap.add_argument("--work", type=Path, default=Path("seed_experiments_out"), help="where the images go")
    ap.add_argument("--only", choices=["remix", "regen"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="CPU threads for torch")
    ap.add_argument("--reuse", action="store_true", help="measure images already in --work instead of rendering them again")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    m = load_metrics(args.metrics)
    photos = [Path(p) for p in args.photos]
    args.work.mkdir(parents=True, exist_ok=True)
    args.sheets.mkdir(parents=True, exist_ok=True)
    dev = pick_device(args.device)
    tiles: dict[tuple[int, int], object] = {}

    if args.only != "regen":
        if len(photos) < 2:
            sys.exit("error: the remix needs at least two photos (each one's 'unrelated' reference is another)")
        engine = StyleEngine(load_backbone(pooling=DEFAULT_POOLING, device=dev), REMIX_STYLE)
        pc = replace(REMIX, canvas=args.canvas)
        print(f"remix: canvas {args.canvas}, patch {pc.patch}, scales {pc.scales}, {pc.iterations} iterations per patch, init {pc.init}")
        print(f"{'photo':28s} {'ratio':>6s} {'d_photo':>8s} {'d_unrel':>8s} {'|dmean| max':>11s} {'std ratio (r,g,b)':>20s} {'time':>6s}")
        for i, photo in enumerate(photos):
            out = args.work / f"remix_{photo.stem}.png"
            t0 = time.perf_counter()
            reused = args.reuse and out.exists()
            if not reused:
                r = PatchRenderer(engine, None, to_tensor(load_image(photo)), pc, OptimConfig())  # the command's optimizer settings
                for _ in r.steps():
                    pass
                save_image(r.canvas, out)
            dt = time.perf_counter() - t0
            x = m.load(str(out))
            side = max(x.shape[2:])
            ref = m.load(str(photo), size=side)
            d = m.style_dist(x, ref)
            du = min(m.style_dist(m.load(str(o), size=side), ref) for o in photos if o != photo)
            dm, sr = colour(m, out, photo)
            ok = d / du <= 0.15 and max(dm) <= 0.05 and all(0.75 <= v <= 1.25 for v in sr)
            print(f"{photo.name:28s} {d / du:6.3f} {d:8.4f} {du:8.4f} {max(dm):11.3f} {' '.join(f'{v:.2f}' for v in sr):>20s} {'reused' if reused else f'{dt:5.0f}s':>6s} {'pass' if ok else 'FAIL'}", flush=True)
            tiles[(i, 0)] = resize_long_side(load_image(photo), 256)
            tiles[(i, 1)] = load_image(out)
        sheet = grid_sheet(tiles, [p.stem for p in photos], ["photo", f"remix {args.canvas}"], tile=256)
        sheet.save(args.sheets / "seed_remix.jpg", quality=88)
        print(f"wrote {args.sheets / 'seed_remix.jpg'}")

    if args.only != "remix":
        tiles = {}
        engine = StyleEngine(load_backbone(pooling=RECONSTRUCT_POOLING, device=dev), RECONSTRUCT_STYLE)
        optim = RECONSTRUCT_OPTIM
        rc = ReconstructConfig(coarse_levels=args.coarse_levels)
        print(f"\nregeneration from {args.layer} at {args.size} px, seeds 0-{args.seeds - 1}, {optim.iterations} final iterations")
        print(f"{'photo':28s} {'structure per seed':>24s} {'mean':>6s} {'|dmean| max':>11s} {'std ratios':>10s} {'time':>6s}")
        for i, photo in enumerate(photos):
            image = to_tensor(resize_long_side(load_image(photo), args.size))
            scores, dms, srs = [], [], []
            reused = args.reuse and all((args.work / f"regen_{photo.stem}_s{seed}.png").exists() for seed in range(args.seeds))
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                out = args.work / f"regen_{photo.stem}_s{seed}.png"
                if not (args.reuse and out.exists()):
                    save_image(reconstruct(engine, image, args.layer, replace(optim, seed=seed), cfg=rc).image, out)
                x = m.load(str(out))
                scores.append(m.structure(x, m.load(str(photo), like=(x.shape[3], x.shape[2]))))
                dm, sr = colour(m, out, photo)
                dms.append(max(dm))
                srs += sr
                tiles[(i, seed + 1)] = load_image(out)
            dt = (time.perf_counter() - t0) / args.seeds
            mean = sum(scores) / len(scores)
            print(f"{photo.name:28s} {' '.join(f'{s:.3f}' for s in scores):>24s} {mean:6.3f} {max(dms):11.3f} {min(srs):.2f}-{max(srs):.2f} {'reused' if reused else f'{dt:5.0f}s':>6s} {'pass' if mean >= 0.45 else 'FAIL'}", flush=True)
            tiles[(i, 0)] = to_pil(image)
        sheet = grid_sheet(tiles, [p.stem for p in photos], ["photo"] + [f"seed {s}" for s in range(args.seeds)], tile=192)
        sheet.save(args.sheets / "seed_regen.jpg", quality=88)
        print(f"wrote {args.sheets / 'seed_regen.jpg'}")


if __name__ == "__main__":
    main()
