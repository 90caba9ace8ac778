"""Temporal consistency for video, pure math (Ruder et al. 2016; Lai et al. 2018).

Images are ``(B, 3, H, W)`` in [0, 1]; flows ``(B, 2, H, W)`` in pixels with ``flow(a -> b)``
meaning ``a[p] ~ b[p + flow(p)]`` (see :mod:`stylemotion.video.flow`); masks ``(B, 1, H, W)`` in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F


def _check(x: torch.Tensor, flow: torch.Tensor) -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W), got {tuple(flow.shape)}")
    if x.dim() != 4 or x.shape[0] != flow.shape[0] or x.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"image {tuple(x.shape)} and flow {tuple(flow.shape)} differ in batch or size")


def warp_flow(x: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``x`` at ``p + flow(p)`` (``mode``: bilinear or bicubic, edges replicated): with
    ``flow(t -> t-1)`` this carries frame t-1's pixels to where they are in frame t."""
    _check(x, flow)
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype, device=flow.device),
                            torch.arange(w, dtype=flow.dtype, device=flow.device), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="border", align_corners=True)


def carry(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """An earlier output (B, 3, H, W) carried along ``flow`` to this frame: the start image and the
    temporal loss's target of a frame loop. Bicubic (Keys, a = -0.75), clamped to [0, 1]: each
    frame is carried from the one before, so the resampling compounds over a shot. At a half-pixel
    offset bilinear sampling keeps 50% of a 3-pixel period's contrast and 71% of a 4-pixel one's,
    bicubic 78% and 97%, every frame. On a 30-frame pan the last frames kept 0.88 of the first's
    sharpness with bilinear sampling, 0.96 with bicubic (docs/measurements.md)."""
    return warp_flow(image, flow, "bicubic").clamp(0, 1)


def inside(flow: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): 1 where ``p + flow(p)`` lands inside the frame (else the pixel is new)."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device), torch.arange(w, device=flow.device), indexing="ij")
    x1, y1 = xs + flow[:, 0], ys + flow[:, 1]
    return ((x1 >= 0) & (x1 <= w - 1) & (y1 >= 0) & (y1 <= h - 1)).unsqueeze(1).float()


def consistency(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """Reliability of ``backward = flow(t -> t-1)`` per pixel of frame t: (B, 1, H, W) in {0, 1}.

    Ruder et al.'s consistencyChecker (after Sundaram et al. 2010): a pixel is unreliable where
    following the backward flow and then the forward flow ``flow(t-1 -> t)`` does not come back
    (disocclusion: |b + f|^2 > 0.01 (|b|^2 + |f|^2) + 0.5), on motion boundaries
    (|grad b_x|^2 + |grad b_y|^2 > 0.01 |b|^2 + 0.002), or where it leaves the frame.
    """
    _check(backward, forward)
    f_at = warp_flow(forward, backward)  # forward flow sampled where each pixel came from
    s = backward + f_at
    occluded = (s**2).sum(1, keepdim=True) > 0.01 * ((backward**2).sum(1, keepdim=True) + (f_at**2).sum(1, keepdim=True)) + 0.5
    gx = F.pad(backward[..., :, 1:] - backward[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(backward[..., 1:, :] - backward[..., :-1, :], (0, 0, 0, 1))
    grad2 = (gx**2 + gy**2).sum(1, keepdim=True)
    boundary = grad2 > 0.01 * (backward**2).sum(1, keepdim=True) + 0.002
    return (~(occluded | boundary)).float() * inside(backward)


def long_term_weights(masks: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Ruder et al.'s long-term weights, nearest frame first: each farther frame only counts where
    no nearer one is reliable, c_j = max(c_j - sum_{k<j} c_k, 0)."""
    out: list[torch.Tensor] = []
    acc = None
    for m in masks:
        out.append(m if acc is None else (m - acc).clamp_min(0))
        acc = m.clone() if acc is None else acc + m
    return out


def temporal_loss(x: torch.Tensor, targets: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Sum over (warped earlier output, weight mask) of mean_p c(p) |x(p) - warped(p)|^2 (Ruder's
    1/D normalization, D = pixels x channels); 0 with no targets."""
    total = x.new_zeros(())
    for warped, mask in targets:
        total = total + (mask * (x - warped) ** 2).mean()
    return total


def warping_error(a: torch.Tensor, b: torch.Tensor, flow_ab: torch.Tensor, mask: torch.Tensor) -> float:
    """Lai et al. 2018's warping error between consecutive outputs ``a`` (t) and ``b`` (t+1): ``b``
    warped back to t by the *input's* flow(t -> t+1), masked MSE over reliable pixels."""
    back = warp_flow(b, flow_ab)
    m = mask.expand_as(a)
    return float(((m * (a - back) ** 2).sum() / m.sum().clamp_min(1.0)).item())


def histogram_distance(a: torch.Tensor, b: torch.Tensor, bins: int = 16) -> float:
    """How different the colours of two frames are: the total-variation distance between their
    per-channel histograms, averaged over R, G, B; in [0, 1] (0: the same colours). A pan or a
    moving object changes it little (most pixels keep their colours); a cut to another scene
    changes it a lot."""
    if a.dim() != 4 or a.shape[:2] != (1, 3) or b.shape != a.shape:
        raise ValueError(f"expected two (1, 3, H, W) frames of one size, got {tuple(a.shape)} and {tuple(b.shape)}")
    d = 0.0
    for c in range(3):
        ha = torch.histc(a[0, c].float().clamp(0, 1), bins, 0, 1)
        hb = torch.histc(b[0, c].float().clamp(0, 1), bins, 0, 1)
        d += 0.5 * float((ha / ha.sum() - hb / hb.sum()).abs().sum())
    return d / 3


@dataclass(frozen=True)
class CutRule:
    """When frame t starts a new shot, from its colour histogram distance to frame t-1 and the
    share of its pixels whose flow from t-1 is reliable. Either alone misfires: a fast pan or a
    large moving object lowers the reliable share without a cut, and two shots of one place can
    share their colours; a cut moves both. Thresholds chosen with benchmarks/video_cuts.py."""

    hist: float = 0.5  # a colour change this large is a cut whatever the flow says
    hist_with_flow: float = 0.1  # a smaller colour change is a cut when the flow also fails:
    reliable: float = 0.3  # fewer reliable pixels than this

    def __call__(self, hist: float, reliable: float) -> bool:
        return hist >= self.hist or (hist >= self.hist_with_flow and reliable < self.reliable)


def fill_unreliable(warped: torch.Tensor, fresh: torch.Tensor, mask: torch.Tensor, soften: int = 5) -> torch.Tensor:
    """The start image of a frame: ``warped`` (the previous output carried by the flow) where the
    flow is reliable, ``fresh`` (the input frame) where it is not: disoccluded pixels and content
    entering from an edge start as the picture they show instead of the warp's smeared border. The
    mask (B, 1, H, W) is softened over ``soften`` px so no seam is left to optimize away."""
    _check(warped, torch.zeros_like(warped[:, :2]))
    m = mask.float()
    if soften > 1:
        m = F.avg_pool2d(m, soften, stride=1, padding=soften // 2, count_include_pad=False)
        m = torch.minimum(m, mask.float())  # only shrink the reliable region: never smear into it
    return fresh + m * (warped - fresh)
