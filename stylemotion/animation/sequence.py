"""The frame loop: a generator of frames that touches no files.

For frame t > 0: warp the previous output (zoom about a center, rotate, translate), use it as
the new content image (feedback), pick the style target from the playlist, and optimize
warm-started from the warped frame. The backbone and every style's Gram targets are built
once for the whole run. Everything needed to continue after an interruption is in
:class:`SeqState`, yielded with each frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch

from ..engine.color import match_color
from .effects import FrameEffects
from .framestyle import FrameStyler
from .keyplan import KeyPlan
from ..engine.loop import Progress
from .motion import MotionPath
from ..engine.optimize import StyleEngine, resize, scaled_size
from ..settings.playlist import Entry, label_at, weights_at
from ..settings.sections import Settings
from .warp import warp, warp_image


@dataclass
class SeqState:
    """Resumable state after a finished frame."""

    next_frame: int = 0
    prev: Optional[torch.Tensor] = None  # (1, 3, H, W) last optimized (key) output, full precision
    color_ref: Optional[torch.Tensor] = None  # (1, 3, H, W) frame 0: colour coherence and loop target
    adam: Optional[dict[str, torch.Tensor]] = None  # carried Adam moments
    rng: torch.Tensor = field(default_factory=lambda: torch.Generator().manual_seed(0).get_state())
    prev_index: int = -1  # frame index of ``prev`` (next_frame - 1 unless cadence skips frames)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat dict for safetensors (every tensor its own copy: no shared storage)."""
        out = {"rng": self.rng.clone(), "prev_index": torch.tensor([self.prev_index], dtype=torch.int64)}
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
        prev_index = int(t["prev_index"].reshape(-1)[0]) if "prev_index" in t else next_frame - 1
        return cls(next_frame, t.get("prev"), t.get("color_ref"), adam or None, t["rng"], prev_index)


@dataclass
class Frame:
    index: int
    image: torch.Tensor  # (1, 3, H, W) on CPU
    label: str  # dominant style name
    iterations: int
    loss: float
    state: SeqState
    params: dict = field(default_factory=dict)  # resolved schedule values etc. (the per-frame log)
    key: bool = True  # optimized (False: an in-between frame of cadence > 1)


def warp_moments(adam: dict[str, torch.Tensor], theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Adam's moments moved with the pixels they belong to by the warp ``theta`` (1, 2, 3)."""
    adam = dict(adam)
    adam["exp_avg"] = warp(adam["exp_avg"], theta, "replicate", "bilinear")
    adam["exp_avg_sq"] = warp(adam["exp_avg_sq"], theta, "replicate", "bilinear").clamp_min(0)
    return adam


def frame_size(content_hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Output (h, w): long side ``long_side``, both even (H.264 needs even sizes)."""
    h, w = scaled_size(*content_hw, long_side)
    return max(2, h // 2 * 2), max(2, w // 2 * 2)


class Sequencer:
    """The zoom and drift loop: renders frames for validated :class:`Settings` with already loaded
    images, tying together the camera's path (:class:`~stylemotion.motion.MotionPath`), the key-frame
    plan (:class:`~stylemotion.keyplan.KeyPlan`), the per-frame effects
    (:class:`~stylemotion.effects.FrameEffects`) and the frame styler.

    ``color_reference`` (1, 3, h, w), if given, replaces frame 0 as the colour-coherence target.
    """

    def __init__(
        self,
        settings: Settings,
        engine: StyleEngine | None,
        content: torch.Tensor,
        styles: list[torch.Tensor],
        color_reference: torch.Tensor | None = None,
        styles_needed: bool = True,
    ) -> None:
        """``engine`` may be None only with ``styles_needed=False``: the motion preview moves pixels
        and never optimizes, so it needs no network."""
        s = settings
        if engine is None and styles_needed:
            raise ValueError("a Sequencer that optimizes needs an engine")
        if styles_needed and len(styles) != len(s.playlist):
            raise ValueError(f"{len(styles)} style images for {len(s.playlist)} playlist entries")
        self.s = s
        self.hw = frame_size((content.shape[-2], content.shape[-1]), s.run.size)
        self.content = resize(content, self.hw)
        self.styler = FrameStyler(s, engine, styles, self.hw) if styles_needed and engine is not None else None
        self.path = MotionPath(s, self.hw)
        self.plan = KeyPlan(s)
        self.effects = FrameEffects(s, resize(color_reference, self.hw) if color_reference is not None else None)
        self.content_weight, self.style_weight = s.schedule("style", "content_weight"), s.schedule("style", "style_weight")
        self.playlist: list[Entry] = s.playlist

    def key_frames(self) -> list[int]:
        """The frames that are optimized (the render's plan asks)."""
        return self.plan.key_frames()

    def iterations_at(self, t: int) -> int:
        """Optimizer iterations frame t gets (0 for an in-between frame)."""
        return self.plan.iterations_at(t)

    def params(self, t: int, key: bool) -> dict:
        """Resolved per-frame values, for the parameter log."""
        mix = weights_at(self.playlist, t)
        p = {"frame": t, "key": key, **self.path.values(t), "content_weight": self.content_weight(t), "style_weight": self.style_weight(t),
             "styles": {Path(self.playlist[i].style).stem: round(w, 4) for i, w in mix}, **self.effects.values(t)}
        if self.s.run.loop:
            p["loop_weight"] = self.plan.loop_weight(t)
        return p

    def frames(
        self,
        state: SeqState | None = None,
        on_progress: Callable[[int, Progress], None] | None = None,
        optimize: bool = True,
    ) -> Iterator[Frame]:
        """Yield frames from ``state.next_frame`` to the end. Deterministic on CPU for a given state.

        With ``optimize=False`` the motion and per-frame controls run alone (a motion preview).
        """
        n = self.s.run.frames
        state = state or SeqState(rng=torch.Generator().manual_seed(self.s.run.seed).get_state())
        while state.next_frame < n:
            gen = torch.Generator()
            gen.set_state(state.rng)
            k0 = -1 if state.prev is None else state.prev_index
            k1 = 0 if state.prev is None else self.plan.next_key(k0)
            t0 = time.perf_counter()
            out, iters, loss, adam, stop = self._render_key(k1, k0, state, gen, on_progress, optimize)
            color_ref = state.color_ref if state.color_ref is not None else out
            key_state = SeqState(k1 + 1, out, color_ref, adam, gen.get_state(), k1)
            secs = time.perf_counter() - t0
            for j in range(state.next_frame, k1):  # in-between frames (cadence > 1)
                img = self.path.in_between(state.prev, out, k0, k1, j)
                params = {**self.params(j, False), "iterations": 0, "loss": float("nan")}
                yield Frame(j, img, label_at(self.playlist, j), 0, float("nan"), replace(state, next_frame=j + 1), params, False)
            p = self.params(k1, True)
            p.update(iterations=iters, loss=loss, seconds=round(secs, 3))
            if stop:
                p["stop"] = stop  # "settled" early or ran to the "limit"
            state = key_state
            yield Frame(k1, out, label_at(self.playlist, k1), iters, loss, state, p, True)

    def _render_key(
        self,
        t: int,
        prev_t: int,
        state: SeqState,
        gen: torch.Generator,
        on_progress: Callable[[int, Progress], None] | None,
        optimize: bool,
    ) -> tuple[torch.Tensor, int, float, Optional[dict[str, torch.Tensor]], str]:
        """Optimize key frame t from the output of key frame prev_t: (image, iterations, loss, adam,
        why it stopped; "" when nothing was optimized)."""
        s = self.s
        adam = state.adam if s.optim.carry_moments else None
        loop_target = None
        if state.prev is None:
            content = init = self.content
            n = s.run.first_iterations
        else:
            theta = self.path.between(prev_t, t)
            warped = warp_image(state.prev, theta, s.motion.border)
            content, init = self.effects.prepare(warped, t, gen, state.color_ref)
            n = round(self.plan.iters(t))
            w = self.plan.loop_weight(t)
            if w > 0:  # pulled toward frame 0 where it is defined, ever more strongly to the end
                target, mask = loop_target = self.path.toward_start(state.color_ref, t, w)
                content = content + mask * (target - content)
                init = init + mask * (target - init)
            if adam is not None:
                adam = warp_moments(adam, theta)
        if not optimize or self.styler is None:
            return init.cpu(), 0, float("nan"), None, ""
        obj = self.styler.objective(t, content, {"content": self.content_weight(t), "style": self.style_weight(t)})
        res = self.styler.optimize(t, init, obj, n, on_progress, adam)
        out = res.image.cpu()
        if state.prev is not None and s.run.color_coherence != "none":
            out = match_color(out, state.color_ref, s.run.color_coherence)
        if loop_target is not None:
            target, mask = loop_target
            out = out + mask * (target - out)
        return out, res.iterations, res.loss, res.adam_state if s.optim.carry_moments else None, res.stop
