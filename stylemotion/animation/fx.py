"""Per-frame image controls for feedback animations: pure functions on (B, 3, H, W) in [0, 1].

A feedback zoom resamples every frame (bicubic upsampling when zooming in), so it loses a little
high-frequency detail per frame, and a few warm-started iterations do not win it back: over
hundreds of frames the video softens. Deforum keeps its loops alive with four per-frame controls,
applied to the warped frame *before* it is re-stylized, in this order:

1. colour coherence: match the colours of frame 0 (or a given image), by histogram in RGB, LAB
   or HSV (our own sort-based matching, the same algorithm as scikit-image's
   ``match_histograms``, done in torch so no extra dependency and no float64 round trip);
2. contrast: scale around the frame's mean (Deforum multiplies the pixel values, which changes
   brightness too; here 1.0 is a no-op and the mean is kept);
3. anti-blur: unsharp mask (kernel, sigma, amount, threshold), as Deforum's ``unsharp_mask``;
4. noise: uniform or Perlin (octaves, persistence), from a seeded generator so that resume
   gives identical frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..engine.color import match_color
from ..settings.choices import COHERENCE_SPACES, NOISE_TYPES



def _check(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) images, got {tuple(x.shape)}")


# --- colour spaces ---------------------------------------------------------------------------

_RGB2XYZ = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> CIE L*a*b* (D65): L in [0, 100], a/b about [-110, 110]."""
    _check(x)
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055).pow(2.4), x / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB2XYZ.to(x), lin) / _WHITE.to(x).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12).pow(1 / 3), 7.787 * xyz + 16 / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) -> sRGB (B, 3, H, W), clamped to [0, 1]."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 0.206893, f.pow(3), (f - 16 / 116) / 7.787) * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB2XYZ).to(lab), xyz).clamp(0, 1)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12).pow(1 / 2.4) - 0.055, 12.92 * lin).clamp(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB (B, 3, H, W) in [0, 1] -> HSV, each channel in [0, 1] (hue in turns)."""
    _check(x)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    v, _ = x.max(1)
    c = v - x.min(1).values
    s = torch.where(v > 0, c / v.clamp_min(1e-12), torch.zeros_like(v))
    cc = c.clamp_min(1e-12)
    h = torch.where(v == r, ((g - b) / cc) % 6, torch.where(v == g, (b - r) / cc + 2, (r - g) / cc + 4))
    h = torch.where(c > 0, h / 6, torch.zeros_like(h))
    return torch.stack([h, s, v], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV (hue in turns) -> RGB (B, 3, H, W) in [0, 1]."""
    h, s, v = hsv[:, 0] % 1.0, hsv[:, 1].clamp(0, 1), hsv[:, 2].clamp(0, 1)
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], dim=1)
    return (v[:, None] - v[:, None] * s[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))).clamp(0, 1)


def color_coherence(x: torch.Tensor, ref: torch.Tensor, space: str = "lab") -> torch.Tensor:
    """Histogram-match every channel of ``x`` to ``ref`` in RGB, LAB or HSV; returns RGB in [0, 1].

    LAB separates lightness from colour, so a frame keeps its light/dark layout while its palette
    is pulled back to the reference's: the mode that drifts least in long zooms.
    """
    _check(x)
    _check(ref)
    if space == "rgb":
        return match_color(x, ref, "histogram")
    if space == "lab":
        return lab_to_rgb(match_color(rgb_to_lab(x), rgb_to_lab(ref), "histogram"))
    if space == "hsv":
        return hsv_to_rgb(match_color(rgb_to_hsv(x), rgb_to_hsv(ref), "histogram"))
    raise ValueError(f"colour coherence space {space!r} is not one of {', '.join(COHERENCE_SPACES)}")


# --- contrast, sharpening, noise -------------------------------------------------------------


def contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Scale each image's deviation from its mean grey by ``factor`` (1 = unchanged), clamped."""
    _check(x)
    if factor == 1.0:
        return x
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, kernel: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, reflect-padded. ``kernel`` odd >= 1 (0 = derive it from sigma)."""
    if kernel <= 0:
        kernel = 2 * math.ceil(3 * sigma) + 1
    if kernel % 2 == 0:
        raise ValueError(f"blur kernel must be odd, got {kernel}")
    if kernel == 1 or sigma <= 0:
        return x
    r = kernel // 2
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, 0, 0), mode="reflect" if x.shape[-1] > r else "replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, r, r), mode="reflect" if x.shape[-2] > r else "replicate")
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def unsharp_mask(
    x: torch.Tensor,
    kernel: int = 5,
    sigma: float = 1.0,
    amount: float = 0.0,
    threshold: float = 0.0,
    fine_sigma: float = 0.0,
) -> torch.Tensor:
    """x + amount * detail, left unchanged where |detail| < threshold (per pixel, any channel).

    ``fine_sigma`` = 0 is Deforum's unsharp mask, detail = x - blur(x, sigma). With fine_sigma > 0
    the detail is blur(x, fine_sigma) - blur(x, sigma): the pixel-level band is not boosted.
    Departure from Deforum, and why: in a zoom the bicubic resampling attenuates the finest band
    everywhere except along rows and columns where it samples at whole pixels; there a plain
    unsharp mask gains (1 + amount) per frame, and after 20 frames those lines carry 2-pixel
    black-and-white stripes. Leaving that band alone (0.8 px) keeps the loop stable.
    """
    _check(x)
    if amount == 0:
        return x
    blurred = gaussian_blur(x, int(kernel), float(sigma))
    fine = gaussian_blur(x, 2 * math.ceil(3 * fine_sigma) + 1, fine_sigma) if fine_sigma > 0 else x
    detail = fine - blurred
    out = x + amount * detail
    if threshold > 0:
        keep = detail.abs().amax(dim=1, keepdim=True) < threshold
        out = torch.where(keep, x, out)
    return out.clamp(0, 1)


def perlin(shape: tuple[int, int], generator: torch.Generator, octaves: int = 4, persistence: float = 0.5, base: int = 4) -> torch.Tensor:
    """Fractal Perlin noise (H, W) in about [-1, 1]: ``octaves`` layers, the first with a ``base`` x base
    lattice, each next one with twice the frequency and ``persistence`` times the amplitude."""
    h, w = shape
    out = torch.zeros(h, w)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        res = base * 2**o
        ry, rx = max(1, round(res * h / max(h, w))), max(1, round(res * w / max(h, w)))
        angles = torch.rand(ry + 1, rx + 1, generator=generator) * 2 * math.pi
        gx, gy = torch.cos(angles), torch.sin(angles)
        ys = torch.linspace(0, ry, h + 1)[:-1] + 0.5 * ry / h
        xs = torch.linspace(0, rx, w + 1)[:-1] + 0.5 * rx / w
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        y0, x0 = y.floor().long().clamp(max=ry - 1), x.floor().long().clamp(max=rx - 1)
        fy, fx = y - y0, x - x0

        def dot(dy: int, dx: int) -> torch.Tensor:
            return gx[y0 + dy, x0 + dx] * (fx - dx) + gy[y0 + dy, x0 + dx] * (fy - dy)

        sy, sx = fy * fy * fy * (fy * (fy * 6 - 15) + 10), fx * fx * fx * (fx * (fx * 6 - 15) + 10)  # quintic fade
        top = dot(0, 0) + sx * (dot(0, 1) - dot(0, 0))
        bottom = dot(1, 0) + sx * (dot(1, 1) - dot(1, 0))
        out += amp * (top + sy * (bottom - top))
        norm += amp
        amp *= persistence
    return out * (math.sqrt(2) / norm)


def add_noise(
    x: torch.Tensor,
    amount: float,
    generator: torch.Generator,
    kind: str = "uniform",
    octaves: int = 4,
    persistence: float = 0.5,
) -> torch.Tensor:
    """x + amount * noise (zero mean, about [-1, 1], per channel), clamped.

    Noise is drawn from ``generator``, whose state the sequencer saves with every frame, so a
    resumed render draws the same noise. Amount 0 returns x and draws nothing.
    """
    _check(x)
    if amount == 0:
        return x
    b, c, h, w = x.shape
    if kind == "uniform":
        n = torch.rand((b, c, h, w), generator=generator) * 2 - 1
    elif kind == "perlin":
        n = torch.stack([torch.stack([perlin((h, w), generator, octaves, persistence) for _ in range(c)]) for _ in range(b)])
    else:
        raise ValueError(f"noise type {kind!r} is not one of {', '.join(NOISE_TYPES)}")
    return (x + amount * n.to(x)).clamp(0, 1)
