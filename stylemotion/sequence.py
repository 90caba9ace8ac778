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

from . import fx
from .color import match_color
from .framestyle import FrameStyler
from .loop import Progress
from .optimize import StyleEngine, resize, scaled_size
from .playlist import Entry, label_at, weights_at
from .settings import Settings
from .warp import compose, dither_offset, dithered_shift, identity, invert, motion_matrix, valid_mask, warp, warp_image


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


def frame_size(content_hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Output (h, w): long side ``long_side``, both even (H.264 needs even sizes)."""
    h, w = scaled_size(*content_hw, long_side)
    return max(2, h // 2 * 2), max(2, w // 2 * 2)


class Sequencer:
    """Renders frames for validated :class:`Settings` with already loaded images.

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
        self.color_reference = resize(color_reference, self.hw) if color_reference is not None else None
        self.engine = engine
        self.styler = FrameStyler(s, engine, styles, self.hw) if styles_needed and engine is not None else None
        self.zoom, self.angle = s.schedule("motion", "zoom"), s.schedule("motion", "angle")
        self.tx, self.ty = s.schedule("motion", "tx"), s.schedule("motion", "ty")
        self.iters = s.schedule("run", "iterations")
        self.cw, self.sw = s.schedule("style", "content_weight"), s.schedule("style", "style_weight")
        self.fx = {k: s.schedule("fx", k) for k in ("contrast", "unsharp_amount", "unsharp_kernel", "unsharp_sigma", "unsharp_threshold", "noise")}
        self.playlist: list[Entry] = s.playlist
        n, c = s.run.frames, s.run.cadence
        self._keys = sorted(set(range(0, n, c)) | {n - 1})  # computed once: asked about every frame
        self._key_set = set(self._keys)

    def theta(self, t: int) -> torch.Tensor:
        """Motion from frame t-1 to frame t, (1, 2, 3)."""
        m = self.s.motion
        z, a = self.zoom(t), self.angle(t)
        # frame `frames` is the loop's wrap-around back to frame 0, which is never dithered
        cur = dither_offset(t, m.dither) if t < self.s.run.frames else (0.0, 0.0)
        dx, dy = dithered_shift(z, a, dither_offset(t - 1, m.dither), cur)
        return motion_matrix(z, a, self.tx(t) + dx, self.ty(t) + dy, self.hw, (m.center_x, m.center_y))

    def motion(self, a: int, b: int) -> torch.Tensor:
        """Motion from frame a to frame b >= a: theta(a+1) then ... then theta(b)."""
        th = identity()
        for t in range(a + 1, b + 1):
            th = compose(th, self.theta(t))
        return th

    def key_frames(self) -> list[int]:
        """The frames that are optimized: every ``cadence``-th, and always the first and last."""
        return list(self._keys)

    def iterations_at(self, t: int) -> int:
        """Optimizer iterations frame t gets (0 for an in-between frame)."""
        if t == 0:
            return self.s.run.first_iterations
        return round(self.iters(t)) if t in self._key_set else 0

    def loop_weight(self, t: int) -> float:
        """How far frame t is pulled back toward frame 0 (0 = not at all, 1 at the last frame)."""
        r = self.s.run
        if not r.loop or t == 0:
            return 0.0
        first = r.frames - r.loop_frames
        return max(0.0, (t - first + 1) / r.loop_frames)

    def prepare(self, warped: torch.Tensor, t: int, gen: torch.Generator, color_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Deforum's per-frame controls on a warped frame: (content target, start image)."""
        f = self.s.fx
        x = warped
        if f.color_coherence != "none":
            x = fx.color_coherence(x, self.color_reference if self.color_reference is not None else color_ref, f.color_coherence)
        x = fx.contrast(x, self.fx["contrast"](t))
        kernel = max(1, int(round(self.fx["unsharp_kernel"](t)))) | 1  # odd
        x = fx.unsharp_mask(x, kernel, self.fx["unsharp_sigma"](t), self.fx["unsharp_amount"](t), self.fx["unsharp_threshold"](t), f.unsharp_fine_sigma)
        # noise only on the start image: the content target stays clean, so the optimizer is free
        # to grow the noise into new detail rather than being held to it
        init = fx.add_noise(x, self.fx["noise"](t), gen, f.noise_type, f.noise_octaves, f.noise_persistence)
        return x, init

    def params(self, t: int, key: bool) -> dict:
        """Resolved per-frame values, for the parameter log."""
        mix = weights_at(self.playlist, t)
        p = {"frame": t, "key": key, "zoom": self.zoom(t), "angle": self.angle(t), "tx": self.tx(t), "ty": self.ty(t),
             "content_weight": self.cw(t), "style_weight": self.sw(t),
             "styles": {Path(self.playlist[i].style).stem: round(w, 4) for i, w in mix}}
        p.update({k: self.fx[k](t) for k in self.fx})
        if self.s.motion.dither > 0:  # where this frame's content sits off its nominal path, px
            p["dither"] = [round(v, 4) for v in dither_offset(t, self.s.motion.dither)]
        if self.s.run.loop:
            p["loop_weight"] = self.loop_weight(t)
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
        s = self.s
        n = s.run.frames
        state = state or SeqState(rng=torch.Generator().manual_seed(s.run.seed).get_state())
        keys = self.key_frames()
        while state.next_frame < n:
            gen = torch.Generator()
            gen.set_state(state.rng)
            if state.prev is None:
                k0, k1 = -1, 0
            else:
                k0 = state.prev_index
                k1 = next(k for k in keys if k > k0)
            t0 = time.perf_counter()
            out, iters, loss, adam, stop = self._render_key(k1, k0, state, gen, on_progress, optimize)
            color_ref = state.color_ref if state.color_ref is not None else out
            key_state = SeqState(k1 + 1, out, color_ref, adam, gen.get_state(), k1)
            secs = time.perf_counter() - t0
            # in-between frames (cadence > 1): the last key warped forward and the new key warped
            # back with the exact affine motion, blended by position; where the backward warp falls
            # outside the new key (zooming out), the forward warp alone fills in
            for j in range(state.next_frame, k1):
                a = (j - k0) / (k1 - k0)
                fwd = warp_image(state.prev, self.motion(k0, j), s.motion.border)
                back_theta = invert(self.motion(j, k1))
                back = warp_image(out, back_theta, s.motion.border)
                mask = valid_mask(back_theta, self.hw).to(out.dtype)
                img = fwd + a * mask * (back - fwd)
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
            theta = self.motion(prev_t, t)
            warped = warp_image(state.prev, theta, s.motion.border)
            content, init = self.prepare(warped, t, gen, state.color_ref)
            n = round(self.iters(t))
            w = self.loop_weight(t)
            if w > 0:
                # the frame that leads into frame 0: frame 0 seen through the remaining motion
                # backwards; pulled toward it where it is defined, ever more strongly to the end
                back = invert(self.motion(t, s.run.frames))
                mask = valid_mask(back, self.hw).to(init.dtype) * w
                target = warp_image(state.color_ref, back, s.motion.border)
                loop_target = (target, mask)
                content = content + mask * (target - content)
                init = init + mask * (target - init)
            if adam is not None:  # the moments move with the pixels they belong to
                adam = dict(adam)
                adam["exp_avg"] = warp(adam["exp_avg"], theta, "replicate", "bilinear")
                adam["exp_avg_sq"] = warp(adam["exp_avg_sq"], theta, "replicate", "bilinear").clamp_min(0)
        if not optimize or self.styler is None:
            return init.cpu(), 0, float("nan"), None, ""
        obj = self.styler.objective(t, content, {"content": self.cw(t), "style": self.sw(t)})
        res = self.styler.optimize(t, init, obj, n, on_progress, adam)
        out = res.image.cpu()
        if state.prev is not None and s.run.color_coherence != "none":
            out = match_color(out, state.color_ref, s.run.color_coherence)
        if loop_target is not None:
            target, mask = loop_target
            out = out + mask * (target - out)
        return out, res.iterations, res.loss, res.adam_state if s.optim.carry_moments else None, res.stop
