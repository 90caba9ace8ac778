"""Does the regeneration's objective prefer the photo? Where it does not, no optimizer can help.

    python benchmarks/regen_objective.py [--photos P ...] [--size 192] [--layer relu5_1] [--seed 0]
        [--iterations 500] [--metrics ../shared/eval/metrics.py] [--device auto] [--threads N]

``stylemotion reconstruct PHOTO --layer relu5_1 --size 192`` minimizes one objective at its final
level: the layer's activations against the photo's, plus an L1 TV prior
(:func:`stylemotion.superres.reconstruct_objective`). This runs that final level from three starts
and prints where each ends, in the objective's loss and in edge structure against the photo
(``../shared/eval/metrics.py``, its own VGG16):

* ``photo``: the photo itself (structure 1 at the start);
* ``blur16``: the photo shrunk to 16 px on its long side and enlarged back (about the structure
  the 0.45 target asks for);
* ``noise``: the command's own run (the whole pyramid from faint noise, seed ``--seed``).

If the photo's start ends at a loss no lower than the noise start's while its structure falls,
the objective cannot tell the photo from what the noise start finds: more iterations or restarts
chase a lower loss that does not mean a more recognizable picture. Colours are matched to the
photo (``colors = "photo"``) before measuring, as the command does.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from stylemotion.engine.backbone import load_backbone, pick_device
from stylemotion.engine.color import match_color
from stylemotion.io.images import load_image, resize_long_side, to_tensor
from stylemotion.engine.optimize import StyleEngine, Targets, resize
from stylemotion.settings.presets import SAMPLES_DIR
from stylemotion.stills.superres import (RECONSTRUCT_OPTIM, RECONSTRUCT_POOLING, RECONSTRUCT_STYLE, ReconstructConfig,
                                  reconstruct, reconstruct_objective)

from quality import load_metrics  # benchmarks/ is on sys.path when this runs as a script

PHOTOS = ("chelsea.png", "woman-with-hat-matisse.jpg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", nargs="+", default=[str(SAMPLES_DIR / p) for p in PHOTOS])
    ap.add_argument("--size", type=int, default=192, help="long side, as reconstruct --size")
    ap.add_argument("--layer", default="relu5_1")
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise start")
    ap.add_argument("--iterations", type=int, default=RECONSTRUCT_OPTIM.iterations, help="final-level iterations")
    ap.add_argument("--metrics", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "metrics.py")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="CPU threads for torch")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    m = load_metrics(args.metrics)
    engine = StyleEngine(load_backbone(pooling=RECONSTRUCT_POOLING, device=pick_device(args.device)), RECONSTRUCT_STYLE)
    eng, prior = reconstruct_objective(engine, args.layer)
    optim = replace(RECONSTRUCT_OPTIM, iterations=args.iterations, seed=args.seed)
    print(f"{'photo':28s} {'start':7s} {'structure at start':>18s} {'at end':>7s} {'loss at end':>11s} {'time':>6s}")
    for path in args.photos:
        image = to_tensor(resize_long_side(load_image(path), args.size))
        hw = (int(image.shape[-2]), int(image.shape[-1]))
        ref = m.load(path, like=(hw[1], hw[0]))

        def score(x: torch.Tensor, matched: bool = False) -> float:
            """Structure of x as the command would save it: the photo's colours, then clamped."""
            y = x.cpu() if matched else match_color(x.cpu(), image, "yiq")
            return float(m.structure(y.clamp(0, 1), ref))

        small = (max(1, round(hw[0] * 16 / max(hw))), max(1, round(hw[1] * 16 / max(hw))))
        starts = {"photo": image, "blur16": resize(resize(image, small), hw).clamp(0, 1)}
        targets = Targets(eng.content_targets(image.to(eng.device)), {})
        for name, start in starts.items():
            t0 = time.perf_counter()
            res = eng.optimize(start.clone().to(eng.device), targets, optim, args.iterations, extra=prior)
            print(f"{Path(path).name:28s} {name:7s} {score(start):18.3f} {score(res.image):7.3f} {res.loss:11.4f} "
                  f"{time.perf_counter() - t0:5.0f}s", flush=True)
        t0 = time.perf_counter()
        r = reconstruct(engine, image, args.layer, optim, cfg=ReconstructConfig())
        print(f"{Path(path).name:28s} {'noise':7s} {'':>18s} {score(r.image, matched=True):7.3f} {r.loss:11.4f} "
              f"{time.perf_counter() - t0:5.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
