"""What a clip is before anything is stylized: where its shots start, and its one colour map.

Both need the input frames and the settings only, never the network: the shot pass that lets
shots render side by side (:mod:`stylemotion.video.shots`) runs on the inputs alone, and the render
loop (:class:`stylemotion.video.ClipStylizer`) asks the same questions frame by frame.

Images are ``(1, 3, H, W)`` float in [0, 1] at the run's frame size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from ..engine.color import apply_palette_map, color_stats, mix_stats, palette_map
from .flow import FlowConfig, FlowEstimator
from ..settings.sections import Settings
from ..engine.temporal import CutRule, consistency, histogram_distance

Flows = tuple[torch.Tensor, torch.Tensor]  # (flow x -> prev, flow prev -> x), each (1, 2, H, W)


@dataclass
class Comparison:
    """An input frame against the previous one used."""

    cut: bool  # it starts a new shot
    hist: float  # colour histogram distance
    reliable: float  # share of pixels whose flow from the previous frame is reliable
    flows: Flows
    mask: torch.Tensor  # (1, 1, H, W) consistency of the flow to the previous frame


class ShotDetector:
    """Where shots start: the settings' ``video.cuts`` (``auto``: :class:`~stylemotion.temporal.CutRule`
    on colour and flow; ``none``; or input frame numbers). ``flow`` None (per-frame stylization,
    which needs no flow): every frame is a shot of its own."""

    def __init__(self, s: Settings, flow: FlowEstimator | None) -> None:
        self.v, self.flow, self.rule = s.video, flow, CutRule()
        self.listed = None if s.video.cuts in ("auto", "none") else frozenset(int(c) for c in s.video.cuts.split(","))

    @classmethod
    def for_run(cls, s: Settings) -> "ShotDetector":
        """The detector a render of ``s`` uses (with its flow estimator where the run warps frames)."""
        return cls(s, FlowEstimator(FlowConfig(s.video.flow, s.video.flow_quality)) if s.video.init == "warped" else None)

    def is_cut(self, src: int, hist: float, reliable: float) -> bool:
        """Whether input frame ``src`` starts a new shot (given the previous used frame)."""
        if self.listed is not None:
            return any(src - self.v.every < c <= src for c in self.listed)
        return self.v.cuts == "auto" and self.rule(hist, reliable)

    def compare(self, prev: torch.Tensor, x: torch.Tensor, src: int) -> Comparison:
        """Input frame ``src`` (x) against the previous used one (needs the flow)."""
        assert self.flow is not None, "per-frame runs compare no frames"
        flows = self.flow.pair(x, prev)
        mask = consistency(*flows)
        hist, reliable = histogram_distance(x, prev), float(mask.mean())
        return Comparison(self.is_cut(src, hist, reliable), hist, reliable, flows, mask)

    def shot_starts(self, source: Iterable[tuple[int, torch.Tensor]]) -> list[int]:
        """The output frames that start a shot (0 first): a pass over the inputs alone that makes
        the same test the render makes."""
        starts, prev = [], None
        for t, (src, x) in enumerate(source):
            if prev is None or self.flow is None or self.compare(prev, x, src).cut:
                starts.append(t)
            prev = x
        return starts


class ClipPalette:
    """A shot's one colour map toward the pooled colours of every painting in the playlist, fitted
    once (on the shot's first frame) and applied to every frame of the shot, so colours never pump."""

    def __init__(self, styles: Sequence[torch.Tensor], strength: float) -> None:
        uniq = list({id(st): st for st in styles}.values())
        self.strength = strength
        self.target = mix_stats([color_stats(st) for st in uniq], [1.0] * len(uniq)) if strength > 0 else None

    def fit(self, x: torch.Tensor) -> torch.Tensor | None:
        """The map (1, 3, 4) fitted on frame ``x``; None with no palette."""
        return palette_map(x, *self.target).float() if self.target is not None else None

    def apply(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Frame ``x`` recoloured by the map ``m``, ``strength`` of the way."""
        return torch.lerp(x, apply_palette_map(x, m), self.strength)
