"""Color operations on (B, 3, H, W) RGB tensors in [0, 1]: pure functions.

* ``original_colors``: keep the luminance of the stylized image and the chroma (YIQ's I and Q)
  of the content image, the "luminance-only transfer" of Gatys et al. (2016).
* ``match_color``: pull an image's colors to a reference, by per-channel mean/std (in RGB or
  YIQ) or by per-channel histogram matching; used to stop long animations drifting darker or
  greyer, and to give a top-layer regeneration its photo's colours.
* ``match_palette``: move an image's colours to a painting's by the linear map that gives them the
  painting's mean and 3x3 covariance (the colour transfer of Gatys et al., "Controlling Perceptual
  Factors in Neural Style Transfer", 2017, used here the other way round: photo -> painting).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
COLOR_MATCH_MODES = ("none", "meanstd", "histogram", "yiq")
PALETTE_RIDGE = 1e-4  # added to the photo's colour variances: a flat photo is not blown up into noise


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
    if mode in ("meanstd", "yiq"):
        # yiq: the same per channel in YIQ. Luminance (Y) only moves by an affine map, so every
        # edge keeps its place and relative strength, whatever the chroma does
        a, b = (rgb_to_yiq(x), rgb_to_yiq(ref)) if mode == "yiq" else (x, ref)
        am, asd = a.mean((2, 3), keepdim=True), a.std((2, 3), keepdim=True)
        bm, bsd = b.mean((2, 3), keepdim=True), b.std((2, 3), keepdim=True)
        out = (a - am) / (asd + 1e-5) * bsd + bm
        return (yiq_to_rgb(out) if mode == "yiq" else out).clamp(0, 1)
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


def color_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) -> pixel colour mean (B, 3) and covariance (B, 3, 3), in float64."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"color_stats expects (B, 3, H, W), got {tuple(x.shape)}")
    f = x.double().flatten(2)  # (B, 3, N)
    mean = f.mean(-1)
    d = f - mean[..., None]
    return mean, d @ d.transpose(1, 2) / f.shape[-1]


def mix_stats(stats: list[tuple[torch.Tensor, torch.Tensor]], weights: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of a mixture of colour distributions (weights normalized to sum 1)."""
    if len(stats) != len(weights) or not stats:
        raise ValueError(f"{len(stats)} colour statistics vs {len(weights)} weights")
    total = float(sum(weights))
    mean = sum(m * (w / total) for (m, _), w in zip(stats, weights))
    second = sum((c + m[:, :, None] * m[:, None, :]) * (w / total) for (m, c), w in zip(stats, weights))
    return mean, second - mean[:, :, None] * mean[:, None, :]  # type: ignore[return-value,operator]


def _sym_pow(a: torch.Tensor, p: float) -> torch.Tensor:
    """a^p for symmetric PSD (B, 3, 3) matrices, eigenvalues floored at 1e-12."""
    vals, vecs = torch.linalg.eigh(a)
    return vecs @ torch.diag_embed(vals.clamp_min(1e-12) ** p) @ vecs.transpose(-2, -1)


def palette_map(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """The linear colour map that gives the pixels of ``x`` (B, 3, H, W) the colour ``mean`` (B, 3)
    and covariance ``cov`` (B, 3, 3): x' = C_t^1/2 C_x^-1/2 (x - m_x) + m_t, as (B, 3, 4) = [A | b]
    in float64 (x' = A x + b). Fitted once, it can be applied to other frames
    (:func:`apply_palette_map`), so a whole clip gets one map and no flicker."""
    m_x, c_x = color_stats(x)
    if mean.shape != m_x.shape or cov.shape != c_x.shape:
        raise ValueError(f"target statistics {tuple(mean.shape)}, {tuple(cov.shape)} do not fit images {tuple(x.shape)}")
    eye = torch.eye(3, dtype=torch.float64, device=x.device)
    a = _sym_pow(cov.double().to(x.device), 0.5) @ _sym_pow(c_x + PALETTE_RIDGE * eye, -0.5)  # (B, 3, 3)
    b = mean.double().to(x.device) - (a @ m_x[..., None])[..., 0]
    return torch.cat([a, b[..., None]], dim=-1)


def apply_palette_map(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``x`` (B, 3, H, W) through the colour map ``m`` (B, 3, 4) = [A | b], clamped to [0, 1]."""
    if x.dim() != 4 or x.shape[1] != 3 or m.shape != (x.shape[0], 3, 4):
        raise ValueError(f"apply_palette_map expects (B, 3, H, W) images and a (B, 3, 4) map, got {tuple(x.shape)}, {tuple(m.shape)}")
    m = m.double().to(x.device)
    out = m[..., :3] @ x.double().flatten(2) + m[..., 3:]
    return out.reshape(x.shape).clamp(0, 1).to(x.dtype)


def match_palette(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Map the colours of ``x`` (B, 3, H, W) linearly so that their mean and covariance become
    ``mean`` (B, 3) and ``cov`` (B, 3, 3): x' = C_t^1/2 C_x^-1/2 (x - m_x) + m_t, clamped to [0, 1].

    Pixels keep their order of brightness along every colour direction, so edges and layout stay;
    only the palette moves. (Gatys et al. 2017 use the same map from the painting to the photo.)
    """
    return apply_palette_map(x, palette_map(x, mean, cov))
