"""The frame loop: a generator of frames that touches no files.

For frame t > 0: warp the previous output (zoom about a center, rotate, translate), use it as
the new content image (feedback), pick the style target from the playlist, and optimize
warm-started from the warped frame. The backbone and every style's Gram targets are built
once for the whole run. Everything needed to continue after an interruption is in
:class:`SeqState`, yielded with each frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Optional

import torch

from . import losses
from .color import match_color
from .optimize import OptimConfig, Progress, StyleEngine, Targets, make_init, resize, scaled_size
from .playlist import Entry, label_at, weights_at
from .presets import Settings
from .warp import motion_matrix, warp, warp_image


@dataclass
class SeqState:
    """Resumable state after a finished frame."""

    next_frame: int = 0
    prev: Optional[torch.Tensor] = None  # (1, 3, H, W) last output, full precision
    color_ref: Optional[torch.Tensor] = None  # (1, 3, H, W) frame 0, for color coherence
    adam: Optional[dict[str, torch.Tensor]] = None  # carried Adam moments
    rng: torch.Tensor = field(default_factory=lambda: torch.Generator().manual_seed(0).get_state())

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat dict for safetensors (every tensor its own copy: no shared storage)."""
        out = {"rng": self.rng.clone()}
        if self.prev is not None:
            out["prev"] = self.prev.clone().contiguous()
        if self.color_ref is not None:
            out["color_ref"] = self.color_ref.clone().contiguous()
        for k, v in (self.adam or {}).items():
            out[f"adam.{k}"] = v.clone().contiguous() if v.dim() else v.reshape(1).clone()
        return out

    @classmethod
    def from_tensors(cls, next_frame: int, t: dict[str, torch.Tensor]) -> "SeqState":
        adam = {k[5:]: (v.reshape(()) if k == "adam.step" else v) for k, v in t.items() if k.startswith("adam.")}
        return cls(next_frame, t.get("prev"), t.get("color_ref"), adam or None, t["rng"])


@dataclass
class Frame:
    index: int
    image: torch.Tensor  # (1, 3, H, W) on CPU
    label: str  # dominant style name
    iterations: int
    loss: float
    state: SeqState


def frame_size(content_hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Output (h, w): long side ``long_side``, both even (H.264 needs even sizes)."""
    h, w = scaled_size(*content_hw, long_side)
    return max(2, h // 2 * 2), max(2, w // 2 * 2)


class Sequencer:
    """Renders frames for validated :class:`Settings` with already loaded images."""

    def __init__(self, settings: Settings, engine: StyleEngine, content: torch.Tensor, styles: list[torch.Tensor]) -> None:
        s = settings
        if len(styles) != len(s.playlist):
            raise ValueError(f"{len(styles)} style images for {len(s.playlist)} playlist entries")
        self.s = s
        self.hw = frame_size((content.shape[-2], content.shape[-1]), s.run.size)
        self.content = resize(content, self.hw)
        self.base_style = engine.style
        self.engine = engine
        self.zoom, self.angle = s.schedule("motion", "zoom"), s.schedule("motion", "angle")
        self.tx, self.ty = s.schedule("motion", "tx"), s.schedule("motion", "ty")
        self.iters = s.schedule("run", "iterations")
        self.cw, self.sw = s.schedule("style", "content_weight"), s.schedule("style", "style_weight")
        # Gram targets of every playlist style at this frame size: computed once for the run
        self.grams = [engine.style_targets([st], None, self.hw) for st in styles]
        self.playlist: list[Entry] = s.playlist

    def theta(self, t: int) -> torch.Tensor:
        m = self.s.motion
        return motion_matrix(self.zoom(t), self.angle(t), self.tx(t), self.ty(t), self.hw, (m.center_x, m.center_y))

    def style_targets(self, t: int) -> dict[str, torch.Tensor]:
        mix = weights_at(self.playlist, t)
        return {k: losses.blend_grams([self.grams[i][k] for i, _ in mix], [w for _, w in mix]) for k in self.grams[0]}

    def frames(self, state: SeqState | None = None, on_progress: Callable[[int, Progress], None] | None = None) -> Iterator[Frame]:
        """Yield frames from ``state.next_frame`` to the end. Deterministic on CPU for a given state."""
        s = self.s
        state = state or SeqState(rng=torch.Generator().manual_seed(s.run.seed).get_state())
        gen = torch.Generator()
        gen.set_state(state.rng)
        optim = OptimConfig(optimizer=s.optim.optimizer, lr=s.optim.lr, tol=s.optim.tol, seed=s.run.seed, pyramid_min=0)
        dev = self.engine.device
        for t in range(state.next_frame, s.run.frames):
            self.engine.style = replace(self.base_style, content_weight=self.cw(t), style_weight=self.sw(t))
            adam = state.adam if s.optim.carry_moments else None
            if t == 0 or state.prev is None:
                content = self.content
                init = make_init("content", content, self.hw, s.run.seed)
                n = s.run.first_iterations
            else:
                theta = self.theta(t)
                content = warp_image(state.prev, theta, s.motion.border)
                init = content
                n = round(self.iters(t))
                if adam is not None:  # the moments move with the pixels they belong to
                    adam = dict(adam)
                    adam["exp_avg"] = warp(adam["exp_avg"], theta, "replicate", "bilinear")
                    adam["exp_avg_sq"] = warp(adam["exp_avg_sq"], theta, "replicate", "bilinear").clamp_min(0)
            targets = Targets(self.engine.content_targets(content.to(dev)), self.style_targets(t))
            cb = (lambda p, t=t: on_progress(t, p)) if on_progress else None
            res = self.engine.optimize(init.to(dev), targets, optim, n, cb, adam_state=adam)
            out = res.image.cpu()
            color_ref = state.color_ref if state.color_ref is not None else out
            if t > 0 and s.run.color_coherence != "none":
                out = match_color(out, color_ref, s.run.color_coherence)
            state = SeqState(t + 1, out, color_ref, res.adam_state if s.optim.carry_moments else None, gen.get_state())
            yield Frame(t, out, label_at(self.playlist, t), res.iterations, res.loss, state)
        self.engine.style = self.base_style
