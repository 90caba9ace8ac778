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
