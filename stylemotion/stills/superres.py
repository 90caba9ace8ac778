"""Style super-resolution and top-layer regeneration: two small uses of the engine.

Upscale: the output x (scale * the low-res size) is optimized so that
  * its downsample matches the low-res input (pixel-space consistency, :func:`consistency_loss`),
  * its texture statistics (Grams) come from a high-resolution image of a similar subject,
  * a light content term at a high layer keeps it near the bicubic upscale's layout.
Reconstruct: content loss from one high layer only, starting from noise; the optimization
itself is the show.
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..engine.backbone import VGGFeatures
from ..engine.color import match_color
from ..errors import UserError
from ..engine.loop import Callback
from ..engine.losses import content_loss
from ..engine.optimize import OptimConfig, Pyramid, StyleConfig, StyleEngine, Targets, resize
from ..engine.terms import Features, Term, TVL1Term


def downsample(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Area-like antialiased downsample (B, 3, H, W) -> (B, 3, h, w): the camera model."""
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=True)


def consistency_loss(x: torch.Tensor, lowres: torch.Tensor) -> torch.Tensor:
    """Mean squared error between downsample(x) and the low-res image, in [0,1]^2 units."""
    return (downsample(x, tuple(lowres.shape[-2:])) - lowres).pow(2).mean()


class LowResTerm(Term):
    """:func:`consistency_loss` to the low-res input (1, 3, h, w) as a loss term."""

    name = "consistency"

    def __init__(self, lowres: torch.Tensor, weight: float = 1.0) -> None:
        super().__init__(weight)
        self.lowres = lowres.detach().float()

    def set_target(self, lowres: torch.Tensor) -> None:
        """A new low-res image to match (a frame loop keeps one term)."""
        self.lowres = lowres.detach().float()

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return consistency_loss(x, self.lowres)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.float() - b.float()).pow(2).mean().clamp_min(1e-12)
    return float(10 * torch.log10(1.0 / mse))


@dataclass
class UpscaleConfig:
    scale: int = 4  # output = scale * input size
    consistency_weight: float = 2000.0  # pixel MSE is ~1e-4 when close: a large weight holds it there
    style_weight: float = 1.0  # texture from the high-res style image
    content_weight: float = 0.2  # layout from the bicubic upscale at a high layer
    content_layers: tuple[str, ...] = ("relu4_2",)  # high only: low layers would copy the bicubic blur
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")  # fine texture is what upscaling lacks
    tv_weight: float = 0.5
    input_shrink: int = 1  # shrink the input by this factor first (makes a low-res test input from a photo)

    def check(self) -> None:
        if not (2 <= self.scale <= 16):
            raise UserError(f"scale must be in [2, 16], got {self.scale}")
        if not (1 <= self.input_shrink <= 64):
            raise UserError(f"input_shrink must be in [1, 64], got {self.input_shrink}")
        for n in ("consistency_weight", "style_weight", "content_weight", "tv_weight"):
            v = getattr(self, n)
            if not (math.isfinite(v) and v >= 0):
                raise UserError(f"upscale.{n} must be a finite number >= 0, got {v}")


def upscale(
    engine: StyleEngine,
    lowres: torch.Tensor,
    style: torch.Tensor,
    cfg: UpscaleConfig,
    optim: OptimConfig,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, bicubic baseline), both (1, 3, scale*h, scale*w) on CPU."""
    cfg.check()
    optim.check()
    h, w = lowres.shape[-2:]
    hw = (h * cfg.scale, w * cfg.scale)
    bicubic = F.interpolate(lowres, size=hw, mode="bicubic", align_corners=False).clamp(0, 1)
    sc = StyleConfig(
        content_layers=cfg.content_layers, style_layers=cfg.style_layers, style_layer_weights=(1.0,) * len(cfg.style_layers),
        content_weight=cfg.content_weight, style_weight=cfg.style_weight, tv_weight=cfg.tv_weight,
        style_scale=engine.style.style_scale,
    )
    eng = engine.with_style(sc)
    dev = eng.device
    targets = Targets(eng.content_targets(bicubic.to(dev)), eng.style_targets([style], None, hw))
    extra = [LowResTerm(lowres.to(dev), cfg.consistency_weight)]
    res = eng.optimize(bicubic.to(dev), targets, optim, optim.iterations, callback, extra=extra)
    return res.image.cpu(), bicubic


# ``stylemotion reconstruct`` without a preset; measured in docs/measurements.md.
# Coarse to fine from 48 px in sqrt(2) steps; most iterations go to the final level (over seeds, a
# lower final loss gave a more recognizable result), coarser levels 0.75x each; no early stop.
RECONSTRUCT_OPTIM = OptimConfig(iterations=500, tol=0.0, pyramid_min=48, pyramid_step=2**0.5, pyramid_iter_factor=0.75)
# TV 20 (the prior's weight 1, see :func:`reconstruct`): high layers leave fine noise unconstrained
RECONSTRUCT_STYLE = StyleConfig(tv_weight=20.0)
# max pooling: on the astronaut at 192 px, edge structure 0.39 against 0.30 with avg
RECONSTRUCT_POOLING = "max"
RECONSTRUCT_COLORS = ("photo", "free")


class CoarseLevelsTerm(Term):
    """The layer's activations of x (1, 3, H, W) resized to coarser sizes, against the photo's at
    those sizes: mean relative squared error over the sizes. One extra network pass per size."""

    name = "coarse"

    def __init__(self, backbone: VGGFeatures, layer: str, sizes: list[tuple[int, int]], targets: list[torch.Tensor],
                 weight: float = 1.0) -> None:
        super().__init__(weight)
        if not sizes or len(sizes) != len(targets):
            raise ValueError(f"CoarseLevelsTerm needs one target per size, got {len(sizes)} sizes and {len(targets)} targets")
        # a tuple, not an attribute: the backbone belongs to the engine's objective, and registering
        # it here too would list its weights twice
        self._net = (backbone,)
        self.layer = layer
        self.sizes = [tuple(s) for s in sizes]
        self.targets = [t.detach().float() for t in targets]

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        net = self._net[0]
        total = sum(content_loss(net(resize(x, s), (self.layer,))[self.layer], t) for s, t in zip(self.sizes, self.targets))
        return total / len(self.sizes)


@dataclass
class ReconstructConfig:
    # full runs from different starting noise (seeds seed, seed+1, ...); the one with the lowest
    # final loss is kept. Over seeds the final loss ranked the results almost in order of edge
    # structure against the photo (docs/measurements.md), so N restarts buy a more recognizable result for N x time
    restarts: int = 1
    # photo: the result's luminance and chroma (YIQ) get the photo's mean and standard deviation
    # (6 numbers, no layout; match_color "yiq"). relu5_1 barely encodes colour: without this the
    # result is a lilac-grey haze with arbitrary purple and green blotches. Luminance moves by an
    # affine map only, so the edges stay as the layer gave them (a full 3x3 colour-covariance map
    # amplifies the blotches into edges). free: no colour information beyond the layer
    colors: str = "photo"
    # each pyramid level also matches the layer at this many coarser levels' sizes (x resized down,
    # against the photo's activations at those sizes), so the layout the coarse levels found holds
    # while finer levels add detail. Off by default: it helps some photos and hurts others, for
    # about 1.6x the time (docs/measurements.md)
    coarse_levels: int = 0

    def check(self) -> None:
        if not (1 <= self.restarts <= 64):
            raise UserError(f"reconstruct.restarts must be in [1, 64], got {self.restarts}")
        if not (0 <= self.coarse_levels <= 8):
            raise UserError(f"reconstruct.coarse_levels must be in [0, 8], got {self.coarse_levels}")
        if self.colors not in RECONSTRUCT_COLORS:
            raise UserError(f"reconstruct.colors {self.colors!r} is not one of {', '.join(RECONSTRUCT_COLORS)}")


@dataclass
class ReconstructResult:
    image: torch.Tensor  # (1, 3, H, W) on CPU
    loss: float  # final loss of the kept run
    restart: int  # which run was kept, 0-based (its seed is optim.seed + restart)
    losses: list[float]  # final loss of every run


def reconstruct_objective(engine: StyleEngine, layer: str) -> tuple[StyleEngine, list[Term]]:
    """The objective every level of :func:`reconstruct` minimizes: an engine that matches ``layer``
    alone, and the prior (L1 TV of weight ``engine.style.tv_weight / 20``; none at 0)."""
    engine.backbone.check_layers([layer], "layer")
    sc = StyleConfig(content_layers=(layer,), style_layers=(), style_layer_weights=(), content_weight=1.0,
                     style_weight=0.0, tv_weight=0.0)
    tv = engine.style.tv_weight / 20.0
    return engine.with_style(sc), ([TVL1Term(tv)] if tv > 0 else [])


def reconstruct(
    engine: StyleEngine,
    image: torch.Tensor,
    layer: str,
    optim: OptimConfig,
    callback: Callback | None = None,
    cfg: ReconstructConfig | None = None,
    on_restart: Callable[[int, int], None] | None = None,
    report_every: int | None = None,
) -> ReconstructResult:
    """Rebuild ``image`` (1, 3, H, W) from one layer's activations alone.

    Departure from a plain inversion (which from relu5_1 ends as grey texture): a natural-image
    prior, as in Mahendran & Vedaldi and Tyka's regenerations. The optimization runs coarse to fine
    (``optim.pyramid_min``, steps of ``optim.pyramid_step``): at a small size one relu5_1 cell covers
    much of the picture, so the layout settles first and finer levels only add detail. It starts
    from flat grey plus faint noise (no photo information at all), and an edge-preserving (L1)
    TV smooths what the high layer leaves unconstrained while keeping the outlines it implies;
    squared TV smeared them (edge structure against the photo 0.39 -> 0.49 on the astronaut,
    0.33 -> 0.39 on the cat at 192 px, seed 0). Its weight is ``engine.style.tv_weight / 20``, so
    the command's default ``--tv-weight 20`` gives weight 1. Only the target activations are taken
    from the photo: at every pyramid level, those of the photo resized to that level. The result
    varies with the seed of the starting noise; runs that reached a lower final loss were more
    recognizable, which is why the command spends most iterations at the final level and why
    ``cfg.restarts`` keeps the lowest-loss run. With ``cfg.colors == "photo"`` each run's image
    takes the photo's luminance and chroma means and spreads (:func:`color.match_color` "yiq").
    With ``cfg.coarse_levels`` N > 0, each level after the first also matches the layer's
    activations of the image resized to the N coarser levels' sizes (:class:`CoarseLevelsTerm`,
    the same weight as the level's own), so the layout they found is held while detail is added.
    ``on_restart(k, kept)`` is called before run k (k >= 1) with the index of the best run so far,
    so a caller can drop what it holds of the others.
    """
    cfg = cfg or ReconstructConfig()
    cfg.check()
    optim.check()
    eng, prior = reconstruct_objective(engine, layer)
    hw = (int(image.shape[-2]), int(image.shape[-1]))
    pyramid = Pyramid.of(hw, optim)
    sizes, iters = pyramid.sizes, pyramid.iterations
    targets = [Targets(eng.content_targets(resize(image, size).to(eng.device)), {}) for size in sizes]
    extras = []  # per level: the prior, and the coarser levels' targets
    for i in range(len(sizes)):
        lo = max(0, i - cfg.coarse_levels)
        coarse = [CoarseLevelsTerm(eng.backbone, layer, sizes[lo:i], [t.content[layer] for t in targets[lo:i]])] if i > lo else []
        extras.append(prior + coarse)
    kept = -1  # index of the best run so far
    best: torch.Tensor | None = None
    finals: list[float] = []
    for k in range(cfg.restarts):
        if on_restart is not None and k > 0:
            on_restart(k, kept)
        g = torch.Generator().manual_seed(optim.seed + k)
        x = 0.5 + 0.05 * (torch.rand((1, 3, *sizes[0]), generator=g) - 0.5)
        loss = math.inf
        for i, (size, n) in enumerate(zip(sizes, iters)):
            res = eng.optimize(resize(x, size).to(eng.device), targets[i], optim, n, callback, (i, len(sizes)), extra=extras[i],
                               report_every=report_every)
            x, loss = res.image, res.loss
        if cfg.colors == "photo":
            x = match_color(x, image.to(x.device), "yiq")
        finals.append(loss)
        if kept < 0 or loss < finals[kept]:  # ties keep the earlier run
            kept, best = k, x.cpu()
    assert best is not None  # cfg.check() guarantees at least one run
    return ReconstructResult(best, finals[kept], kept, finals)
