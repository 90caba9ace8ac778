"""Color operations on (B, 3, H, W) RGB tensors in [0, 1]: pure functions.

* ``original_colors``: keep the luminance of the stylized image and the chroma (YIQ's I and Q)
  of the content image, the "luminance-only transfer" of Gatys et al. (2016).
* ``match_color``: pull an image's colors to a reference, by per-channel mean/std or by
  per-channel histogram matching; used to stop long animations drifting darker or greyer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
COLOR_MATCH_MODES = ("none", "meanstd", "histogram")


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ."""
    return torch.einsum("ij,bjhw->bihw", _RGB2YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB2YIQ).to(x), x)


def original_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylized`` with the I/Q chroma of ``content`` (resized to match), clamped."""
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    s, c = rgb_to_yiq(stylized), rgb_to_yiq(content)
    return yiq_to_rgb(torch.cat([s[:, :1], c[:, 1:]], dim=1)).clamp(0, 1)


def match_color(x: torch.Tensor, ref: torch.Tensor, mode: str = "meanstd") -> torch.Tensor:
    """Match the per-channel color statistics of ``x`` (B, 3, H, W) to ``ref`` (B, 3, H', W')."""
    if mode == "none":
        return x
    if mode == "meanstd":
        xm, xs = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True)
        rm, rs = ref.mean((2, 3), keepdim=True), ref.std((2, 3), keepdim=True)
        return ((x - xm) / (xs + 1e-5) * rs + rm).clamp(0, 1)
    if mode == "histogram":
        b, c, h, w = x.shape
        flat = x.reshape(b, c, -1)
        order = flat.argsort(dim=-1)
        ref_sorted = ref.reshape(ref.shape[0], c, -1).sort(dim=-1).values
        # sample the reference quantiles at the ranks of x's pixels
        q = torch.linspace(0, ref_sorted.shape[-1] - 1, flat.shape[-1], device=x.device).round().long()
        out = torch.empty_like(flat)
        out.scatter_(-1, order, ref_sorted[..., q].expand(b, c, -1))
        return out.reshape(b, c, h, w)
    raise ValueError(f"color match mode {mode!r} is not one of {', '.join(COLOR_MATCH_MODES)}")
