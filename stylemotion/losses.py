"""Loss terms: pure functions on tensors, always computed in fp32.

Departure from Gatys et al. (2016): every term is *relative* — divided by the squared norm of
its target — so per-layer weights mean the same thing at every layer and image size, and the
default weights stay meaningful when you change the size or the backbone. Gram matrices are
normalized by the number of positions (H*W) so they describe texture statistics independent of
image size; they are computed in fp32 because fp16 Grams overflow.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def gram(feat: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) activations -> (B, C, C) Gram matrix / (H*W), in fp32."""
    if feat.dim() != 4:
        raise ValueError(f"gram expects (B, C, H, W), got {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    f = feat.float().reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def relative_mse(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||x - target||^2 / ||target||^2 (scalar, fp32). Shapes must match."""
    if x.shape != target.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} vs target {tuple(target.shape)}")
    x = x.float()
    target = target.float()
    return (x - target).pow(2).sum() / (target.pow(2).sum() + EPS)


def content_loss(feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error between activations (B, C, H, W)."""
    return relative_mse(feat, target)


def style_loss(feat: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Relative squared error between the Gram of ``feat`` (B, C, H, W) and ``target_gram`` (B, C, C)."""
    return relative_mse(gram(feat), target_gram)


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Total variation (mean squared neighbour difference) of (B, 3, H, W) images in [0, 1]."""
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    return dx.float().pow(2).mean() + dy.float().pow(2).mean()


def blend_grams(grams: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted mean of Gram matrices (weights are normalized to sum to 1)."""
    if len(grams) != len(weights) or not grams:
        raise ValueError(f"{len(grams)} grams vs {len(weights)} weights")
    total = float(sum(weights))
    return sum(g * (w / total) for g, w in zip(grams, weights))  # type: ignore[return-value]
