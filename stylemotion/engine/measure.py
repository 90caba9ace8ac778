"""Image measurements used by the guards, the benchmarks and the tests: pure functions.

Images are (B, 3, H, W) float in [0, 1]; every function returns a (B,) tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def grey(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) luma."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W), got {tuple(x.shape)}")
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def high_freq_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the luma and its 3x3 binomial blur: fine grain, per image.

    The stripe/grain artifact of Gram-based transfer (period 2-3 px) lives almost entirely in this
    band; painted strokes and photo edges carry much less of it per pixel.
    """
    g = grey(x.float())
    k1 = torch.tensor([1.0, 2.0, 1.0], device=g.device) / 4
    k = (k1[:, None] * k1[None, :]).view(1, 1, 3, 3)
    blur = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k)
    return (g - blur).pow(2).mean(dim=(1, 2, 3))


def top_band(x: torch.Tensor, rows: int = 3, ref: int = 12) -> torch.Tensor:
    """Mean luma of the top ``rows`` rows minus that of the ``ref`` rows below them (bright band > 0)."""
    g = grey(x.float())
    if g.shape[-2] < rows + ref:
        raise ValueError(f"image of height {g.shape[-2]} is too short for top_band({rows}, {ref})")
    return g[..., :rows, :].mean(dim=(1, 2, 3)) - g[..., rows : rows + ref, :].mean(dim=(1, 2, 3))


def laplacian_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute Laplacian of the luma, per image: how much fine detail an image has (the
    upscale report compares it with the bicubic image's)."""
    k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], device=x.device).view(1, 1, 3, 3)
    g = grey(x.float())
    return F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k).abs().mean(dim=(1, 2, 3))
