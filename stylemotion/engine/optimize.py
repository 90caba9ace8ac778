"""One image's style-transfer optimization (Gatys et al.), and the coarse-to-fine pyramid.

Pieces, composed in one loop:

* :class:`StyleConfig` — which layers, which weights (the loss).
* :class:`~stylemotion.config.OptimConfig` — which optimizer, how long, early stop, init, seed
  (a leaf module, read by the loop too).
* :class:`StyleEngine` — holds the backbone; turns images into targets (content activations,
  blended Gram matrices) and targets into an :class:`~stylemotion.terms.Objective` (a list of
  loss-term modules), then runs :meth:`StyleEngine.optimize` as often as needed. Callers that
  animate keep one engine and its targets for a whole run.
* The iteration loop keeps the loss on the device and reads it back every ``report_every``
  iterations (:mod:`stylemotion.engine.loop`); L-BFGS is :mod:`stylemotion.engine.lbfgs`, which never asks the host.
* :func:`stylize` — the single-image entry point: pyramid, init, original colors.

Images are (1, 3, H, W) float32 RGB in [0, 1]. Nothing here prints; progress goes to a callback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from . import losses
from .backbone import VGGFeatures
from .color import color_stats, match_palette, mix_stats, original_colors
from ..errors import UserError
from .config import OptimConfig, StyleConfig  # noqa: F401 - the engine's callers import its configs from here too
from .loop import Callback, OptimResult, report_interval, run_level
from .terms import RGB, BatchObjective, ContentTerm, GramStyleTerm, Objective, SlicedStyleTerm, Term, TVTerm, W2StyleTerm

@dataclass
class Targets:
    """What the loss compares against. Either part may be empty (no content / no style)."""

    content: dict[str, torch.Tensor] = field(default_factory=dict)  # layer -> (1, C, H, W)
    # layer -> fp32 (1, C, C) Gram, or (1, C+1, C+1) mean-Gram for the w2 loss (see losses.mean_gram)
    style: dict[str, torch.Tensor] = field(default_factory=dict)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, C, H, W) images in [0, 1] to (h, w): antialiased bicubic down, bilinear up.

    Downsampling is bicubic with antialiasing (close to PIL's Lanczos): a bilinear (triangle)
    filter blurs a painting enough to change its relu4/relu5 Gram statistics by 3-7% at 128-256 px,
    so the style targets were those of a softer painting.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if size[0] < x.shape[-2] or size[1] < x.shape[-1]:
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def scaled_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so that max(h, w) == long_side, at least 1 pixel each."""
    s = long_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def fit_style(style: torch.Tensor, long_side: int) -> torch.Tensor:
    """Downscale (never upscale) a (1, 3, H, W) style image to the long side a run needs, with the
    same filter the engine uses: a playlist keeps small copies, not full-resolution ones."""
    h, w = style.shape[-2:]
    if max(h, w) <= long_side:
        return style
    return resize(style, scaled_size(h, w, long_side)).contiguous()


class StyleEngine:
    """Backbone + loss definition. Build targets once, optimize many times.

    The loss is an :class:`~stylemotion.terms.Objective`: a list of term modules built from the
    :class:`StyleConfig` and a :class:`Targets` (:meth:`objective`). A frame loop keeps one
    objective and changes its terms' weights and targets in place between frames; the engine's
    settings are never replaced, so an interrupted run leaves nothing changed behind.
    """

    def __init__(self, backbone: VGGFeatures, style: StyleConfig | None = None) -> None:
        self.backbone = backbone
        self.style = style or StyleConfig()
        self.style.check(backbone)
        self.device = next(backbone.parameters()).device

    def with_style(self, style: StyleConfig) -> "StyleEngine":
        """Same backbone (not copied), other loss settings."""
        return StyleEngine(self.backbone, style)

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone(content.to(self.device), self.style.content_layers)
        return {k: v.float() for k, v in feats.items()}

    @torch.no_grad()
    def style_grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """Style targets of one style image at the size it is given: Grams, mean-Grams for w2, or
        feature and pixel samples (1, C, N) for sw."""
        feats = self.backbone(style.to(self.device), self.style.style_layers)
        if self.style.style_loss == "sw":  # the distributions themselves, pixels included
            return {**{k: losses.sw_sample(v) for k, v in feats.items()}, RGB: losses.sw_sample(style.to(self.device))}
        stat = losses.mean_gram if self.style.style_loss == "w2" else losses.gram
        return {k: stat(v) for k, v in feats.items()}

    def blend(self, targets: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
        """One style target from several (from :meth:`style_grams`): the mixture's statistics."""
        mix = losses.blend_samples if self.style.style_loss == "sw" else losses.blend_grams
        return {k: mix([t[k] for t in targets], list(weights)) for k in targets[0]}

    def style_targets(
        self, styles: Sequence[torch.Tensor], weights: Sequence[float] | None, out_hw: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """Blend the Grams of several style images, each resized to style_scale * the output's long side."""
        if not styles:
            return {}
        weights = list(weights) if weights is not None else [1.0] * len(styles)
        if len(weights) != len(styles):
            raise UserError(f"{len(weights)} blend weights for {len(styles)} style images; give one per style")
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not sum(weights) > 0:
            raise UserError(f"blend weights must be >= 0 with a positive sum, got {weights}")
        long_side = max(8, round(self.style.style_scale * max(out_hw)))
        grams = [self.style_grams(resize(s, scaled_size(s.shape[-2], s.shape[-1], long_side))) for s in styles]
        return self.blend(grams, weights)

    def objective(self, targets: Targets, extra: Sequence[Term] = (), scheduled: bool = False) -> Objective:
        """The loss of ``targets`` under this engine's settings, plus ``extra`` terms.

        A content or style term is there when it has targets and a weight above 0 (``scheduled``:
        whenever it has targets, since a schedule may raise its weight later), and TV when its
        weight is above 0; their weights start at the settings' values.
        """
        sc = self.style
        terms: list[Term] = []
        if targets.content and (scheduled or sc.content_weight > 0):
            terms.append(ContentTerm(targets.content, sc.content_weight))
        if targets.style and (scheduled or sc.style_weight > 0):
            cls = {"w2": W2StyleTerm, "sw": SlicedStyleTerm}.get(sc.style_loss, GramStyleTerm)
            terms.append(cls(targets.style, dict(zip(sc.style_layers, sc.style_layer_weights)), sc.style_weight))
        if sc.tv_weight > 0:
            terms.append(TVTerm(sc.tv_weight))
        terms += list(extra)
        if not terms:
            raise UserError("nothing to optimize: no content or style targets and no TV; give a style image or a content weight")
        return Objective(self.backbone, terms).to(self.device)

    def optimize(
        self,
        init: torch.Tensor,
        targets: Targets | Objective | Sequence[Targets] | BatchObjective,
        optim: OptimConfig,
        iterations: int | None = None,
        callback: Callback | None = None,
        level: tuple[int, int] = (0, 1),
        extra: Sequence[Term] = (),
        adam_state: Mapping[str, torch.Tensor] | None = None,
        report_every: int | None = None,
    ) -> OptimResult:
        """Optimize pixels starting from ``init`` (1, 3, H, W). Returns the best image seen.

        ``targets`` is a :class:`Targets` (the engine builds the objective, with ``extra`` terms)
        or a ready :class:`Objective`. A batch: ``init`` (B, 3, H, W) with a sequence of B
        :class:`Targets` (or a :class:`BatchObjective`) optimizes B independent images through one
        network pass per iteration; the loss is the sum of theirs, and one L-BFGS runs on the whole
        batch (so an item's pixels differ slightly from a run of its own). ``adam_state``
        warm-starts Adam's moments (same shape as the image); the result carries the final moments
        so that a frame sequencer can pass them on. The host reads the loss every ``report_every``
        iterations (default: loop.REPORT_EVERY), which is when the callback, the early stop and the
        divergence checks run. If the loss goes non-finite or explodes, the run restarts from
        ``init`` with smaller steps (:func:`stylemotion.engine.loop.run_level`); if that fails too, :class:`Diverged`.
        """
        objective: Objective | BatchObjective
        if isinstance(targets, (Objective, BatchObjective)):
            objective = targets
        elif isinstance(targets, Targets):
            objective = self.objective(targets, extra)
        else:
            objective = BatchObjective([self.objective(t, extra) for t in targets])
        batch = len(objective) if isinstance(objective, BatchObjective) else 1
        if init.dim() != 4 or tuple(init.shape[:2]) != (batch, 3):
            raise ValueError(f"init must be ({batch}, 3, H, W) for {batch} target set(s), got {tuple(init.shape)}")
        n = optim.iterations if iterations is None else iterations
        return run_level(objective, optim, self.device, init, n, report_interval(self.device, report_every), callback, level, adam_state)


def pyramid_sizes(h: int, w: int, min_side: int, step: float = 2.0) -> list[tuple[int, int]]:
    """Sizes from coarse to fine, dividing (h, w) by ``step`` while the long side stays >= min_side."""
    sizes = [(h, w)]
    if min_side <= 0:
        return sizes
    k = 1
    while max(h, w) / step**k >= min_side * (1 - 1e-9):  # 512 / sqrt(2)^4 is 127.99999...
        f = step**k
        sizes.insert(0, (max(1, round(h / f)), max(1, round(w / f))))
        k += 1
    return sizes


def level_iterations(n_final: int, levels: int, factor: float) -> list[int]:
    """Iterations per level, coarse to fine: the finest gets n_final, each coarser ``factor`` times more."""
    return [max(1, round(n_final * factor ** (levels - 1 - i))) if n_final > 0 else 0 for i in range(levels)]


@dataclass(frozen=True)
class Pyramid:
    """The coarse-to-fine levels of one image's optimization, computed once: sizes (h, w) and
    iteration ceilings, coarse first (the finest gets ``optim.iterations``, each coarser level
    ``pyramid_iter_factor`` times more)."""

    sizes: tuple[tuple[int, int], ...]
    iterations: tuple[int, ...]

    @classmethod
    def of(cls, hw: tuple[int, int], optim: OptimConfig, iterations: int | None = None) -> "Pyramid":
        """The pyramid of an (h, w) output; ``iterations`` at full size (default ``optim.iterations``)."""
        sizes = pyramid_sizes(int(hw[0]), int(hw[1]), optim.pyramid_min, optim.pyramid_step)
        n = optim.iterations if iterations is None else iterations
        return cls(tuple(sizes), tuple(level_iterations(n, len(sizes), optim.pyramid_iter_factor)))

    @property
    def total(self) -> int:
        """Iterations of all levels (a ceiling: each level stops when it settles)."""
        return sum(self.iterations)

    def levels(self) -> list[tuple[tuple[int, int], int]]:
        """(size, iterations) per level, coarse first."""
        return list(zip(self.sizes, self.iterations))


def make_init(kind: str, content: torch.Tensor | None, hw: tuple[int, int], seed: int, image: torch.Tensor | None = None) -> torch.Tensor:
    """Starting image (1, 3, h, w): the content, uniform noise from ``seed``, or a given image."""
    if kind == "content":
        if content is None:
            raise UserError("init 'content' needs a content image; use init noise or image")
        return resize(content, hw)
    if kind == "image":
        if image is None:
            raise UserError("init 'image' needs an init image (--init-image)")
        return resize(image, hw)
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, *hw), generator=g)


def to_palette(content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float] | None = None,
               strength: float = 1.0) -> torch.Tensor:
    """``content`` (1, 3, H, W) recoloured toward the colour mean and covariance of the styles' blend:
    ``strength`` 1 gives it their statistics, 0.5 goes half way (a pixel blend with the photo)."""
    if not styles or strength <= 0:
        return content
    weights = list(blend) if blend is not None else [1.0] * len(styles)
    if len(weights) != len(styles) or not sum(weights) > 0:
        return content  # StyleEngine.style_targets names the bad blend right after
    target = mix_stats([color_stats(s) for s in styles], weights)
    matched = match_palette(content, *target)
    return matched if strength >= 1 else torch.lerp(content, matched, strength)


def stylize(
    engine: StyleEngine,
    content: torch.Tensor | None,
    styles: Sequence[torch.Tensor],
    optim: OptimConfig,
    out_hw: tuple[int, int] | None = None,
    blend: Sequence[float] | None = None,
    init_image: torch.Tensor | None = None,
    callback: Callback | None = None,
    style_targets: Callable[[tuple[int, int]], dict[str, torch.Tensor]] | None = None,
    report_every: int | None = None,
) -> torch.Tensor:
    """Single-image style transfer with the coarse-to-fine pyramid. Returns (1, 3, H, W) on CPU.

    ``content`` (1, 3, H, W) sets the output size unless ``out_hw`` is given; with no content,
    ``out_hw`` is required and only the style (and TV) losses apply. ``style_targets(hw)``, if
    given, supplies each level's style targets (computed once elsewhere and shared, as a study does)
    instead of computing them from ``styles``. ``optim.palette`` > 0 first recolours the content
    toward the styles' colours (:func:`to_palette`); it is both the start and the content target.
    """
    optim.check()
    if out_hw is None:
        if content is None:
            raise UserError("with no content image, give an output size")
        out_hw = (content.shape[-2], content.shape[-1])
    if min(out_hw) < 16:
        raise UserError(f"output size {out_hw[1]}x{out_hw[0]} is too small; the shorter side must be at least 16 pixels")
    original = content
    if content is not None and optim.palette > 0 and not optim.original_colors:
        content = to_palette(content, styles, blend, optim.palette)
    pyramid = Pyramid.of(out_hw, optim)
    sizes = pyramid.sizes
    x: torch.Tensor | None = None
    for i, (hw, n) in enumerate(pyramid.levels()):
        c = resize(content, hw).to(engine.device) if content is not None else None
        st = style_targets(hw) if style_targets is not None else engine.style_targets(styles, blend, hw)
        targets = Targets(engine.content_targets(c) if c is not None else {}, st)
        start = make_init(optim.init, c, hw, optim.seed, init_image) if x is None else resize(x, hw)
        level_optim = optim if i == len(sizes) - 1 else replace(optim, tol=optim.level_tol(coarse=True))
        x = engine.optimize(start.to(engine.device), targets, level_optim, n, callback, (i, len(sizes)), report_every=report_every).image
    assert x is not None
    if optim.original_colors and original is not None:
        x = original_colors(x, original.to(x.device))
    return x.detach().cpu()
