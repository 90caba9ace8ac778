"""Deforum's per-frame controls on a warped frame of a zoom or drift: colour coherence, contrast,
unsharp mask and noise (the math is :mod:`stylemotion.animation.fx`), each a schedule of the frame number.

Images are ``(1, 3, H, W)`` float in [0, 1].
"""

from __future__ import annotations

import torch

from . import fx
from ..settings.sections import Settings

SCHEDULED = ("contrast", "unsharp_amount", "unsharp_kernel", "unsharp_sigma", "unsharp_threshold", "noise")


class FrameEffects:
    """The [fx] section of a run. ``color_reference`` (1, 3, H, W), if given, replaces frame 0 as
    the colour-coherence target."""

    def __init__(self, s: Settings, color_reference: torch.Tensor | None = None) -> None:
        self.f = s.fx
        self.color_reference = color_reference
        self.at = {k: s.schedule("fx", k) for k in SCHEDULED}

    def values(self, t: int) -> dict:
        """Frame t's resolved values, for the parameter log."""
        return {k: self.at[k](t) for k in self.at}

    def prepare(self, warped: torch.Tensor, t: int, gen: torch.Generator, color_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(content target, start image) of frame t from the warped previous output."""
        f = self.f
        x = warped
        if f.color_coherence != "none":
            x = fx.color_coherence(x, self.color_reference if self.color_reference is not None else color_ref, f.color_coherence)
        x = fx.contrast(x, self.at["contrast"](t))
        kernel = max(1, int(round(self.at["unsharp_kernel"](t)))) | 1  # odd
        x = fx.unsharp_mask(x, kernel, self.at["unsharp_sigma"](t), self.at["unsharp_amount"](t), self.at["unsharp_threshold"](t), f.unsharp_fine_sigma)
        # noise only on the start image: the content target stays clean, so the optimizer is free
        # to grow the noise into new detail rather than being held to it
        init = fx.add_noise(x, self.at["noise"](t), gen, f.noise_type, f.noise_octaves, f.noise_persistence)
        return x, init
