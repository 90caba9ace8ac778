"""Affine warps of image tensors: pure math, no state.

Convention: images ``(B, 3, H, W)``; matrices ``theta`` are ``(B, 2, 3)`` in the normalized
coordinates of :func:`torch.nn.functional.affine_grid` (align_corners=False): they map a pixel
of the *output* to where it samples the *input*, x and y in [-1, 1]. Matrices are built in
pixel-proportional units, so a rotation stays a rotation on non-square frames.

Motion per frame: ``zoom`` > 1 moves the camera in (content grows about ``center``), ``angle``
in degrees turns the content counter-clockwise, ``tx``/``ty`` move the content right/down in
pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BORDERS = {"reflect": "reflection", "replicate": "border", "zeros": "zeros"}


def motion_matrix(
    zoom: float,
    angle: float,
    tx: float,
    ty: float,
    size: tuple[int, int],
    center: tuple[float, float] = (0.0, 0.0),
) -> torch.Tensor:
    """(1, 2, 3) float64 theta for one frame's motion on an (H, W) = ``size`` image.

    ``center`` is the fixed point of zoom and rotation, in normalized coords ([-1, 1], (0, 0) is
    the middle).
    """
    if zoom <= 0 or not math.isfinite(zoom):
        raise ValueError(f"zoom must be > 0, got {zoom}")
    h, w = size
    s = torch.tensor([[w / 2.0, 0.0], [0.0, h / 2.0]], dtype=torch.float64)  # normalized -> pixels
    a = math.radians(angle)
    # Output pixel p samples input c + R(a) (p - c) / zoom - t  (pixel units; with y down, R(a) here
    # turns the content counter-clockwise on screen).
    r = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
    m = torch.linalg.inv(s) @ (r / zoom) @ s  # linear part in normalized coords
    c = torch.tensor(center, dtype=torch.float64)
    t = torch.tensor([tx / (w / 2.0), ty / (h / 2.0)], dtype=torch.float64)
    offset = c - m @ c - m @ t
    return torch.cat([m, offset[:, None]], dim=1)[None]


def _unit(k: int, axis: int) -> float:
    """A uniform number in [0, 1) from (k, axis) alone (splitmix64): no state to save for --resume."""
    z = (k * 2 + axis + 1) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


def dither_offset(k: int, amplitude: float) -> tuple[float, float]:
    """(dx, dy) in pixels, each uniform in [-amplitude, amplitude] and independent from frame to
    frame: where frame k's content sits off its nominal path. Frame 0 is never moved.

    Independent draws matter: the resampling phase a frame gets is the *difference* of two
    offsets (see :func:`dithered_shift`), and the differences of an evenly spread sequence (R2,
    golden ratio) are all alike. With amplitude 0.5 the phase is spread over a whole pixel."""
    if k <= 0 or amplitude == 0:
        return 0.0, 0.0
    return (_unit(k, 0) - 0.5) * 2 * amplitude, (_unit(k, 1) - 0.5) * 2 * amplitude


def dithered_shift(zoom: float, angle: float, prev: tuple[float, float], cur: tuple[float, float]) -> tuple[float, float]:
    """Extra (tx, ty) in pixels for one frame's motion so that content that sat ``prev`` off its
    nominal path before the motion sits ``cur`` off it after: cur - L prev, with L the motion's
    linear part (zoom and turn) in pixels.

    Why: a zoom resamples every frame at the same sub-pixel phases, which blur some rows and columns
    less than others (about +-10% of the detail at 1.03x, in bands of period 1/(zoom-1) px, sharpest
    on the row and column through the fixed point). The pattern stands still while the content flows
    through it, and the optimizer re-sharpens what survives: a cross at the zoom centre and a faint
    grid grow over many frames. Moving the content a bounded sub-pixel amount, differently every
    frame, changes the phases every frame, so on average every pixel is blurred alike."""
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    # forward linear part zoom * R(a)^T (motion_matrix samples through R(a) / zoom)
    lx = zoom * (c * prev[0] + s * prev[1])
    ly = zoom * (-s * prev[0] + c * prev[1])
    return cur[0] - lx, cur[1] - ly


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """theta of "warp by a, then by b": sampling through b's then a's mapping. (B, 2, 3) each."""
    def full(m: torch.Tensor) -> torch.Tensor:
        bottom = torch.tensor([0.0, 0.0, 1.0], dtype=m.dtype, device=m.device).expand(m.shape[0], 1, 3)
        return torch.cat([m, bottom], dim=1)

    return (full(a) @ full(b))[:, :2]


def invert(theta: torch.Tensor) -> torch.Tensor:
    """theta of the inverse motion: warp(warp(x, theta), invert(theta)) == x where both are defined."""
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=theta.dtype, device=theta.device).expand(theta.shape[0], 1, 3)
    return torch.linalg.inv(torch.cat([theta, bottom], dim=1))[:, :2]


def fractional(theta: torch.Tensor, a: float) -> torch.Tensor:
    """theta to the power ``a`` in [0, 1]: the part of one frame's motion done after a fraction
    ``a`` of the frame, so that ``compose(fractional(th, a), fractional(th, 1 - a)) == th``.
    (1, 2, 3) float64. The linear part (a zoom and a turn, in pixel-proportional units) goes by the
    eigen-decomposition, principal branch (turns under 180 degrees per frame); the offset keeps the
    motion's fixed point fixed: b_a = (I - A^a) (I - A)^-1 b, or ``a b`` for a pure shift."""
    th = theta.to(torch.float64)
    if th.shape != (1, 2, 3):
        raise ValueError(f"fractional expects theta (1, 2, 3), got {tuple(theta.shape)}")
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {a}")
    lin, off = th[0, :, :2], th[0, :, 2]
    vals, vecs = torch.linalg.eig(lin)
    lin_a = (vecs @ torch.diag(vals ** a) @ torch.linalg.inv(vecs)).real
    eye = torch.eye(2, dtype=torch.float64)
    if abs(float(torch.linalg.det(eye - lin))) < 1e-12:
        off_a = a * off
    else:
        off_a = (eye - lin_a) @ torch.linalg.solve(eye - lin, off)
    return torch.cat([lin_a, off_a[:, None]], dim=1)[None]


def identity(batch: int = 1) -> torch.Tensor:
    """(B, 2, 3) float64 theta of no motion."""
    return torch.eye(3, dtype=torch.float64)[:2].expand(batch, 2, 3).clone()


def warp(img: torch.Tensor, theta: torch.Tensor, border: str = "reflect", mode: str = "bicubic") -> torch.Tensor:
    """Resample ``img`` (B, C, H, W) through ``theta`` (B or 1, 2, 3); result clamped to [0, 1] for images."""
    if img.dim() != 4:
        raise ValueError(f"warp expects (B, C, H, W), got {tuple(img.shape)}")
    if theta.dim() != 3 or theta.shape[1:] != (2, 3):
        raise ValueError(f"theta must be (B, 2, 3), got {tuple(theta.shape)}")
    if border not in BORDERS:
        raise ValueError(f"border {border!r} is not one of {', '.join(BORDERS)}")
    b = img.shape[0]
    grid = F.affine_grid(theta.to(img.dtype if img.is_floating_point() else torch.float32).expand(b, 2, 3), list(img.shape), align_corners=False)
    out = F.grid_sample(img, grid.to(img.device), mode=mode, padding_mode=BORDERS[border], align_corners=False)
    return out


def warp_image(img: torch.Tensor, theta: torch.Tensor, border: str = "reflect") -> torch.Tensor:
    """Bicubic warp of an image in [0, 1], clamped (bicubic overshoots at edges)."""
    return warp(img, theta, border, "bicubic").clamp(0, 1)


def valid_mask(theta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, H, W) bool: output pixels whose sample lies inside the input (no border fill)."""
    h, w = size
    grid = F.affine_grid(theta.float(), [theta.shape[0], 1, h, w], align_corners=False)
    # a pixel centre at the outermost row is at +-(1 - 1/n); allow half a pixel beyond
    lim_x, lim_y = 1.0, 1.0
    inside = (grid[..., 0].abs() <= lim_x) & (grid[..., 1].abs() <= lim_y)
    return inside[:, None]
