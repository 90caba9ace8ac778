"""How one image is optimized: a leaf of the package (it imports nothing of it but the error type),
read by the engine (:mod:`stylemotion.optimize`), its iteration loop (:mod:`stylemotion.loop`) and
everything that configures them."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "image")


@dataclass
class OptimConfig:
    """How one image is optimized."""

    optimizer: str = "lbfgs"  # lbfgs: best quality per iteration; adam: cheaper steps, carries state across frames
    iterations: int = 200  # at the final pyramid level (coarser levels get more, they are cheap)
    lr: float = 0.02  # Adam step on [0,1] pixels; L-BFGS uses its own curvature scaling
    # Each pyramid level stops when its loss has settled: when it moves by less than this fraction
    # of itself per iteration (over 10 iterations; loop.should_stop); ``iterations`` is the ceiling.
    # 0 = never: every level runs its full count
    tol: float = 2e-3
    # the same rule on the coarser pyramid levels; None = tol / 4. They are cheap (a quarter of the
    # pixels per halving) and the big strokes they settle carry over to the final level, so they
    # run to a tighter rule
    coarse_tol: float | None = None
    init: str = "content"  # content | noise | image (the image is passed to stylize)
    seed: int = 0  # noise init and anything random: same seed, same pixels on CPU
    pyramid_min: int = 128  # coarse-to-fine: start at this long side (halving from the target); 0 = off
    pyramid_iter_factor: float = 2.0  # each coarser level gets this many times the next level's iterations (< 1: fewer)
    pyramid_step: float = 2.0  # size ratio between pyramid levels (crowsonkb uses sqrt(2))
    # exponential moving average of the iterates, returned instead of the last one (crowsonkb's
    # avg_decay): averages away the step-to-step pixel jitter; 0 = off
    avg_decay: float = 0.0
    original_colors: bool = False  # keep the content's colors, transfer luminance only
    # how far the photo is recoloured toward the painting's colour mean and covariance before the
    # transfer (0 = its own colours, 1 = the painting's), so the content loss stops holding the
    # photo's palette against the style (chelsea + The Scream: style ratio 0.053 -> 0.017 at 0.5,
    # the cat + Shipwreck 0.0234 -> 0.0146 at 1). The full palette once cost the rocket's towers
    # (structure 0.49 -> 0.40); the relu2_2 content layer now holds them. Ignored with original_colors.
    palette: float = 1.0

    def level_tol(self, coarse: bool) -> float:
        """The early-stop tolerance of a coarse pyramid level or of the final one."""
        if not coarse:
            return self.tol
        return self.tol / 4 if self.coarse_tol is None else self.coarse_tol

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if not (0 <= self.palette <= 1):
            raise UserError(f"palette must be in [0, 1] (0 = the photo's colours, 1 = the painting's), got {self.palette}")
        if self.init not in INITS:
            raise UserError(f"init {self.init!r} is not one of {', '.join(INITS)}")
        if not (0 <= self.iterations <= 100_000):
            raise UserError(f"iterations must be in [0, 100000], got {self.iterations}")
        if not (0 < self.lr <= 1):
            raise UserError(f"lr must be in (0, 1], got {self.lr}")
        if not (0 <= self.tol < 1):
            raise UserError(f"tol must be in [0, 1), got {self.tol}")
        if self.coarse_tol is not None and not (0 <= self.coarse_tol < 1):
            raise UserError(f"coarse_tol must be in [0, 1), got {self.coarse_tol}")
        if self.pyramid_min < 0:
            raise UserError(f"pyramid_min must be >= 0 (0 turns the pyramid off), got {self.pyramid_min}")
        if not (1.1 <= self.pyramid_step <= 4):
            raise UserError(f"pyramid_step must be in [1.1, 4], got {self.pyramid_step}")
        if not (0 <= self.avg_decay < 1):
            raise UserError(f"avg_decay must be in [0, 1), got {self.avg_decay}")
        if not (0.25 <= self.pyramid_iter_factor <= 8):
            raise UserError(f"pyramid_iter_factor must be in [0.25, 8], got {self.pyramid_iter_factor}")
