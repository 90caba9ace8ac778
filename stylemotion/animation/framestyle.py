"""What every frame loop shares (:mod:`stylemotion.animation.sequence`, :mod:`stylemotion.video.clip`): the
playlist's style targets, computed once per run, and one objective per run whose terms' weights
and targets each frame updates in place.

Images are ``(1, 3, H, W)`` float in [0, 1] at the run's frame size ``hw``.
"""

from __future__ import annotations

from dataclasses import replace
import os
from typing import Callable, Mapping, Sequence

import torch

from ..engine.loop import OptimResult, Progress
from ..engine.optimize import OptimConfig, Pyramid, StyleEngine, Targets, stylize
from ..settings.playlist import weights_at
from ..engine.factory import BackboneSpec, EngineCache, build_engine, load_styles, style_long_side
from ..settings.sections import Settings, style_config
from ..engine.terms import Objective, Term


def frame_objective(engine: StyleEngine, obj: Objective | None, targets: Targets, weights: Mapping[str, float],
                    extra: Sequence[Term] = ()) -> Objective:
    """A frame loop's objective: built on the first frame (with ``extra``), then updated in place:
    new content and style targets, and per-frame ``weights`` by term name. Targets must keep their
    layers from frame to frame (they do: the settings fix them)."""
    if obj is None:
        obj = engine.objective(targets, extra, scheduled=True)
    else:
        for name, new in (("content", targets.content), ("style", targets.style)):
            term = obj.term(name)
            if term is not None:
                term.set_targets(new)  # type: ignore[operator]
    for name, w in weights.items():
        obj.set_weight(name, w)
    return obj


class FrameStyler:
    """Optimizes one frame of a run at a time with the run's engine and playlist."""

    def __init__(self, s: Settings, engine: StyleEngine, styles: Sequence[torch.Tensor], hw: tuple[int, int]) -> None:
        if len(styles) != len(s.playlist):
            raise ValueError(f"{len(styles)} style images for {len(s.playlist)} playlist entries")
        self.engine, self.playlist, self.styles, self.hw = engine, list(s.playlist), list(styles), hw
        # style targets (Grams, mean-Grams or sliced-Wasserstein samples, as the loss needs) of
        # every playlist entry at the frame size, computed once for the run (once per distinct
        # image: a playlist may list the same painting many times)
        by_id: dict[int, dict[str, torch.Tensor]] = {}
        for st in styles:
            if id(st) not in by_id:
                by_id[id(st)] = engine.style_targets([st], None, hw)
        self.entry_targets = [by_id[id(st)] for st in styles]
        # one level per frame: the warm start already holds the large-scale structure
        self.optim = OptimConfig(optimizer=s.optim.optimizer, lr=s.optim.lr, tol=s.optim.tol, seed=s.run.seed, pyramid_min=0)
        self._objective: Objective | None = None  # built on the first frame, then updated in place

    def style_targets(self, t: int) -> dict[str, torch.Tensor]:
        """The playlist's style at frame t (crossfades blend the Gram matrices)."""
        mix = weights_at(self.playlist, t)
        return self.engine.blend([self.entry_targets[i] for i, _ in mix], [w for _, w in mix])

    def objective(self, t: int, content: torch.Tensor, weights: Mapping[str, float], extra: Sequence[Term] = ()) -> Objective:
        """The run's objective, set for frame t: ``content`` (1, 3, H, W) and the weights by term name."""
        dev = self.engine.device
        targets = Targets(self.engine.content_targets(content.to(dev)), self.style_targets(t))
        self._objective = frame_objective(self.engine, self._objective, targets, weights, list(extra))
        return self._objective

    def optimize(self, t: int, init: torch.Tensor, objective: Objective, iterations: int,
                 on_progress: Callable[[int, Progress], None] | None, adam_state: dict | None = None) -> OptimResult:
        """Optimize frame t from ``init`` (1, 3, H, W); progress is reported with the frame number."""
        cb = (lambda p: on_progress(t, p)) if on_progress else None
        return self.engine.optimize(init.to(self.engine.device), objective, self.optim, iterations, cb, adam_state=adam_state)

    def first_frame_iterations(self, iterations: int) -> int:
        """What :meth:`first_frame` runs in all: ``iterations`` at full size, more at the coarse levels."""
        return Pyramid.of(self.hw, replace(self.optim, pyramid_min=OptimConfig.pyramid_min), iterations).total

    def first_frame(self, t: int, content: torch.Tensor, iterations: int, weights: Mapping[str, float],
                    on_progress: Callable[[int, Progress], None] | None) -> tuple[torch.Tensor, int, float]:
        """Frame t of a new shot (nothing before it to start from), stylized as ``stylemotion image``
        stylizes a photo: coarse to fine from ``content`` (1, 3, H, W), ``iterations`` at full size.
        The coarse levels carry the painting's large strokes that one level at full size does not
        reach. ``weights``: this frame's content and style weights. Returns (image on CPU,
        iterations run, last loss)."""
        mix = weights_at(self.playlist, t)
        styles, blend = [self.styles[i] for i, _ in mix], [w for _, w in mix]

        def targets(hw: tuple[int, int]) -> dict[str, torch.Tensor]:
            return self.style_targets(t) if tuple(hw) == tuple(self.hw) else self.engine.style_targets(styles, blend, hw)

        seen = {"iterations": 0, "loss": float("nan")}

        def cb(p: Progress) -> None:
            seen["iterations"] += p.advanced
            seen["loss"] = p.loss
            if on_progress:
                on_progress(t, p)

        # image's pyramid and image's stop rule (each level ends when its loss has settled): the
        # run's optim.tol is for the warm-started frames after it. The colours are the caller's
        # (one palette map per shot): none added here
        optim = replace(self.optim, iterations=iterations, pyramid_min=OptimConfig.pyramid_min, palette=0.0, init="content",
                        tol=OptimConfig.tol, coarse_tol=OptimConfig.coarse_tol)
        engine = self.engine.with_style(replace(self.engine.style, content_weight=weights["content"], style_weight=weights["style"]))
        image = stylize(engine, content, styles, optim, blend=blend, callback=cb, style_targets=targets)
        return image, seen["iterations"], seen["loss"]


def backbone_spec(s: Settings, weights: str | os.PathLike | None = None) -> BackboneSpec:
    """The network a zoom, drift or video run names in its [run] section."""
    return BackboneSpec(s.run.backbone, s.run.pooling, os.fspath(weights) if weights else None, s.run.precision)


def run_engine(s: Settings, device: torch.device | str, cache: EngineCache | None = None,
               weights: str | os.PathLike | None = None) -> tuple[StyleEngine, list[torch.Tensor]]:
    """A frame loop's engine and its playlist's style images (one per entry, at the size the run
    needs). The images are read first: a missing painting is reported before the network loads."""
    cache = cache or EngineCache()
    long_side = style_long_side(s.run.size, s.style.style_scale)
    styles = load_styles([e.style for e in s.playlist], long_side, cache, "playlist style")
    return build_engine(backbone_spec(s, weights), style_config(s), device, cache), styles
