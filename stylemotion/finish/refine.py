"""One chunk of a finish: the draft's frames made large, one after the other.

Each finished frame x (1, 3, H, W) minimizes, with the draft's own engine settings at the new size:
  * the style term: the painting's Gram statistics at the finished size (the draft's style mix
    and weights at that frame, from its log), which is what adds the strokes a small draft lacks;
  * the content term on the upscaled draft frame (the draft's layers and weight);
  * consistency: x shrunk to the draft's size against the draft frame (pixel MSE): the draft's
    composition, colours and motion stay;
  * temporal: x against the previous finished frame carried by the draft's exact motion, its low
    frequencies replaced by the new draft frame's, where the draft itself did not change between
    the two frames: the added detail moves with the picture instead of shimmering.
A chunk's first frame starts from the upscaled draft; each later one from that carried frame.
Departs from style super-resolution (:mod:`stylemotion.stills.superres`) in the temporal term, and
in using the draft's style layers and weights rather than fine layers alone: the finish renders
the draft's look at a larger size, not an upscaled photo.

Images are ``(1, 3, H, W)`` float in [0, 1]; the draft's at (h, w).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..animation.framestyle import FrameStyler
from ..animation.sequence import frame_size
from ..animation.warp import valid_mask, warp_image
from ..engine.loop import Progress
from ..engine.optimize import StyleEngine
from ..engine.temporal import carry, consistency
from ..video.flow import FlowConfig, FlowEstimator
from ..engine.terms import TemporalTerm
from ..stills.superres import LowResTerm, downsample, psnr
from .chunks import Chunk
from .config import FinishConfig
from .draft import Draft

# where the draft changed by more than this (mean |RGB difference| of the draft frame against the
# previous one carried by the motion, 3x3 average) the previous finished frame is not held at
# all: new detail emerged there, or a new style arrived (a drift)
CHANGED = 0.15


def upscale(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bicubic upscale of a draft frame (1, 3, h, w) -> (1, 3, *hw), clamped."""
    return F.interpolate(x, size=hw, mode="bicubic", align_corners=False).clamp(0, 1)


def unchanged(draft: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
    """(1, 1, h, w) in [0, 1]: how far the draft frame is the one before carried to it (1 where it
    did not change, 0 where it changed by CHANGED or more)."""
    diff = F.avg_pool2d((draft - carried).abs().mean(1, keepdim=True), 3, 1, 1, count_include_pad=False)
    return (1.0 - diff / CHANGED).clamp(0, 1)


def stayed(draft: torch.Tensor, before: torch.Tensor, theta: torch.Tensor, border: str) -> torch.Tensor:
    """:func:`unchanged` under an affine motion ``theta``, 0 where the pixel came from outside."""
    return unchanged(draft, warp_image(before, theta, border)) * valid_mask(theta, tuple(draft.shape[-2:])).to(draft.dtype)


def flow_stayed(draft: torch.Tensor, before: torch.Tensor, back: torch.Tensor, reliable: torch.Tensor) -> torch.Tensor:
    """:func:`unchanged` along a clip's flow ``back`` (1, 2, H, W: frame t -> t-1, px at the finished
    size), the draft frames carried at their own size; times the flow's ``reliable`` (1, 1, H, W)."""
    h, w = draft.shape[-2:]
    small = F.interpolate(back, size=(h, w), mode="bilinear", align_corners=False)
    small = small * torch.tensor([w / back.shape[-1], h / back.shape[-2]], dtype=back.dtype).view(1, 2, 1, 1)
    m = unchanged(draft, carry(before, small))
    return F.interpolate(m, size=tuple(back.shape[-2:]), mode="bilinear", align_corners=False) * reliable


def carried_detail(carried: torch.Tensor, draft: torch.Tensor) -> torch.Tensor:
    """The previous finished frame carried to this one (1, 3, H, W), its low frequencies replaced by
    the draft frame's (1, 3, h, w): its detail where the new draft frame puts the picture."""
    low = downsample(carried, tuple(draft.shape[-2:]))
    fix = F.interpolate(draft - low, size=tuple(carried.shape[-2:]), mode="bilinear", align_corners=False)
    return (carried + fix).clamp(0, 1)


@dataclass
class Finished:
    """One finished frame of a chunk."""

    index: int
    image: torch.Tensor  # (1, 3, H, W) on CPU
    iterations: int
    params: dict = field(default_factory=dict)


class _DraftStyler(FrameStyler):
    """The frame styler with the draft's logged style mix at each frame (a song-driven playlist
    is followed without the song)."""

    def __init__(self, draft: Draft, engine: StyleEngine, styles: Sequence[torch.Tensor], hw: tuple[int, int]) -> None:
        super().__init__(draft.settings, engine, styles, hw)
        self.draft = draft

    def style_targets(self, t: int) -> dict[str, torch.Tensor]:
        mix = self.draft.mix(t)
        return self.engine.blend([self.entry_targets[i] for i, _ in mix], [w for _, w in mix])


class Finisher:
    """Finishes chunks of one draft at ``cfg.size`` with one engine (built for that size)."""

    def __init__(self, draft: Draft, engine: StyleEngine, styles: Sequence[torch.Tensor], cfg: FinishConfig) -> None:
        self.draft, self.cfg = draft, cfg
        self.hw = frame_size(draft.hw, cfg.size)
        self.styler = _DraftStyler(draft, engine, styles, self.hw)
        self.border = draft.settings.motion.border
        v = draft.settings.video
        self.flow = FlowEstimator(FlowConfig(v.flow, v.flow_quality)) if draft.mode == "video" else None

    def fresh(self, chunk: Chunk, j: int) -> bool:
        """Frame j starts from the upscaled draft: a chunk's first frame, or a clip's cut."""
        return j == chunk.first or (self.draft.mode == "video" and self.draft.cut(j))

    def iterations(self, chunk: Chunk, j: int) -> int:
        """What frame j of ``chunk`` is given."""
        return self.cfg.first_iterations if self.fresh(chunk, j) else self.cfg.iterations

    def _carried(self, j: int, prev: torch.Tensor, frames: dict[int, torch.Tensor],
                 content: dict[int, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The previous finished frame carried to frame j (1, 3, H, W) and where it is held (1, 1, H, W)."""
        d = frames[j]
        if self.flow is not None and content is not None:
            back, fwd = self.flow.pair(content[j], content[j - 1])  # frame j -> j-1 and back, at the finished size
            return carry(prev, back), flow_stayed(d, frames[j - 1], back, consistency(back, fwd))
        theta = self.draft.theta(j)
        mask = F.interpolate(stayed(d, frames[j - 1], theta, self.border), size=self.hw, mode="bilinear", align_corners=False)
        return warp_image(prev, theta, self.border), mask

    def render(self, chunk: Chunk, frames: dict[int, torch.Tensor], on_progress: Callable[[int, Progress], None] | None = None,
               content: dict[int, torch.Tensor] | None = None) -> dict[int, Finished]:
        """The chunk's frames ``chunk.first .. chunk.end - 1``, from the draft's frames there
        (``frames``: index -> (1, 3, h, w)) and, for a video draft, the clip's frames at the finished
        size (``content``). A pure function of its inputs: chunks run anywhere."""
        return {f.index: f for f in self.frames(chunk, frames, on_progress, content=content)}

    def frames(self, chunk: Chunk, frames: dict[int, torch.Tensor], on_progress: Callable[[int, Progress], None] | None = None,
               iterations: Callable[[int], int] | None = None, content: dict[int, torch.Tensor] | None = None) -> Iterator[Finished]:
        """:meth:`render` one frame at a time; ``iterations(j)`` replaces the plan's (a probe)."""
        cfg, dev = self.cfg, self.styler.engine.device
        prev: torch.Tensor | None = None
        for j in range(chunk.first, chunk.end):
            t0 = time.perf_counter()
            d = frames[j]
            up = upscale(d, self.hw)
            extra = [LowResTerm(d.to(dev)), TemporalTerm([])]
            weights = {**self.draft.weights(j), "consistency": cfg.consistency_weight, "temporal": 0.0}
            weights["style"] *= cfg.style_gain
            held = 0.0
            if prev is not None and self.fresh(chunk, j):
                prev = None  # a cut: nothing before it is held
            if prev is None:
                init = up
            else:
                carried, mask = self._carried(j, prev, frames, content)
                init = carried_detail(carried, d)
                weights["temporal"] = cfg.temporal_weight
                held = float(mask.mean())
            # a clip's own frame at the new size is the content (a zoom's is its draft, upscaled)
            obj = self.styler.objective(j, content[j] if content is not None else up, weights, extra)
            obj.term("consistency").set_target(d.to(dev))  # type: ignore[union-attr]
            obj.term("temporal").set_targets([(init.to(dev), mask.to(dev))] if prev is not None else [])  # type: ignore[union-attr]
            n = iterations(j) if iterations is not None else self.iterations(chunk, j)
            res = self.styler.optimize(j, init, obj, n, on_progress)
            img = res.image.cpu()
            _, parts = obj.evaluate(res.image)
            params = {"frame": j, "chunk": chunk.index, "iterations": res.iterations, "loss": res.loss,
                      "seconds": round(time.perf_counter() - t0, 3), "held": round(held, 4),
                      "psnr_draft": round(psnr(downsample(img, self.draft.hw), d), 3),
                      **{f"{k}_term": round(v, 6) for k, v in parts.items()}}
            yield Finished(j, img, res.iterations, params)
            prev = img


def frames_u8(draft: Draft, a: int, b: int) -> dict[int, torch.Tensor]:
    """The draft's frames a..b-1 as uint8 (1, 3, h, w): what a chunk task carries to its worker."""
    return {t: (draft.frame(t) * 255).round().to(torch.uint8) for t in range(a, b)}


def as_float(frames: dict[int, Any]) -> dict[int, torch.Tensor]:
    return {t: f.float().div(255.0) for t, f in frames.items()}
