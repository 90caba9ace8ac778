"""The camera's path through a zoom or drift: frame t's affine warp from frame t-1, from the
settings' [motion] schedules (zoom, angle, tx, ty, the centre and the sub-pixel dither), and the
in-between frames a cadence > 1 fills in along it. Pure: no network, no optimization.

Images are ``(1, 3, H, W)`` float in [0, 1]; warps are ``(1, 2, 3)`` affine matrices
(:mod:`stylemotion.animation.warp`).
"""

from __future__ import annotations

import torch

from ..settings.sections import Settings
from .warp import compose, dither_offset, dithered_shift, fractional, identity, invert, motion_matrix, valid_mask, warp_image


def step_theta(zoom: float, angle: float, tx: float, ty: float, t: int, frames: int, dither: float,
               hw: tuple[int, int], center: tuple[float, float]) -> torch.Tensor:
    """Motion from frame t-1 to frame t (1, 2, 3) of a run of ``frames`` frames at ``hw``, from that
    frame's resolved zoom, angle and shift (px at ``hw``) and the run's dither amplitude."""
    # frame `frames` is the loop's wrap-around back to frame 0, which is never dithered
    cur = dither_offset(t, dither) if t < frames else (0.0, 0.0)
    dx, dy = dithered_shift(zoom, angle, dither_offset(t - 1, dither), cur)
    return motion_matrix(zoom, angle, tx + dx, ty + dy, hw, center)


class MotionPath:
    """The warps of a run at frame size ``hw`` (h, w)."""

    def __init__(self, s: Settings, hw: tuple[int, int]) -> None:
        self.m, self.frames, self.hw = s.motion, s.run.frames, hw
        self.zoom, self.angle = s.schedule("motion", "zoom"), s.schedule("motion", "angle")
        self.tx, self.ty = s.schedule("motion", "tx"), s.schedule("motion", "ty")

    def theta(self, t: int) -> torch.Tensor:
        """Motion from frame t-1 to frame t, (1, 2, 3)."""
        m = self.m
        return step_theta(self.zoom(t), self.angle(t), self.tx(t), self.ty(t), t, self.frames, m.dither, self.hw, (m.center_x, m.center_y))

    def between(self, a: int, b: int) -> torch.Tensor:
        """Motion from frame a to frame b >= a: theta(a+1) then ... then theta(b)."""
        th = identity()
        for t in range(a + 1, b + 1):
            th = compose(th, self.theta(t))
        return th

    def values(self, t: int) -> dict:
        """Frame t's resolved motion, for the parameter log."""
        p = {"zoom": self.zoom(t), "angle": self.angle(t), "tx": self.tx(t), "ty": self.ty(t)}
        if self.m.dither > 0:  # where this frame's content sits off its nominal path, px
            p["dither"] = [round(v, 4) for v in dither_offset(t, self.m.dither)]
        return p

    def toward_start(self, first: torch.Tensor, t: int, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        """A looping run's pull at frame t back to its first frame ``first``: (target, mask), the
        first frame seen through the remaining motion backwards (the frame that leads into it) and
        where it is defined, times ``weight``."""
        back = invert(self.between(t, self.frames))
        mask = valid_mask(back, self.hw).to(first.dtype) * weight
        return warp_image(first, back, self.m.border), mask

    def in_between(self, prev: torch.Tensor, key: torch.Tensor, k0: int, k1: int, j: int) -> torch.Tensor:
        """Frame j between key frames k0 < j < k1 (images ``prev`` and ``key``): the last key warped
        forward and the new key warped back along the exact motion, blended by position; where the
        backward warp falls outside the new key (zooming out), the forward warp alone fills in."""
        a = (j - k0) / (k1 - k0)
        fwd = warp_image(prev, self.between(k0, j), self.m.border)
        back_theta = invert(self.between(j, k1))
        back = warp_image(key, back_theta, self.m.border)
        mask = valid_mask(back_theta, self.hw).to(key.dtype)
        return fwd + a * mask * (back - fwd)



def tween(a: torch.Tensor, b: torch.Tensor | None, theta: torch.Tensor, frac: float, border: str = "reflect") -> torch.Tensor:
    """The picture a fraction ``frac`` (0 < frac < 1) of the way from one frame (image ``a``) to
    the next (image ``b``, the same shape), ``theta`` (1, 2, 3) being the next frame's motion:
    ``a`` carried forward by that part of the motion and ``b`` carried back by the rest, blended
    by position; where the backward warp falls outside ``b`` (zooming out), the forward warp alone.
    With ``b`` None (after the last frame), ``a`` carried forward alone: the motion goes on."""
    fwd = warp_image(a, fractional(theta, frac), border)
    if b is None:
        return fwd
    back_theta = invert(fractional(theta, 1.0 - frac))
    back = warp_image(b, back_theta, border)
    mask = valid_mask(back_theta, (a.shape[-2], a.shape[-1])).to(a.dtype)
    return fwd + frac * mask * (back - fwd)
