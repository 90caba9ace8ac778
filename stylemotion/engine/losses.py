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


class _Gram(torch.autograd.Function):
    """G = X^T X / n for X the (B, n, C) positions-by-channels view of (B, C, H, W) features.

    Two departures from ``bmm(F, F^T)`` on a (B, C, n) reshape, both for speed (the Grams of
    relu1_1 at 384 px cost a fifth of an iteration on a CPU): the backbone's features are
    channels_last, where (B, n, C) is a view and (B, C, n) a copy; and the backward is one product,
    X (dG + dG^T) / n, where autograd's bmm backward makes two (one per operand, both X).
    """

    @staticmethod
    def forward(ctx, feat: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        b, c, h, w = feat.shape
        x = feat.permute(0, 2, 3, 1).reshape(b, h * w, c)
        ctx.save_for_backward(x)
        ctx.shape = (b, c, h, w)
        return torch.bmm(x.transpose(1, 2), x) / (h * w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        b, c, h, w = ctx.shape
        # scale the (C, C) factor, not the (n, C) product: one division of C*C numbers, not n*C
        dx = torch.bmm(x, (grad + grad.transpose(1, 2)) / (h * w))
        return dx.reshape(b, h, w, c).permute(0, 3, 1, 2)


def gram(feat: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) activations -> (B, C, C) Gram matrix / (H*W), in fp32."""
    if feat.dim() != 4:
        raise ValueError(f"gram expects (B, C, H, W), got {tuple(feat.shape)}")
    return _Gram.apply(feat.float())


def mean_gram(feat: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C+1, C+1): the Gram of the features with a constant-1 channel appended.

    It packs the uncentered second moment G (top-left C x C), the mean (last column) and 1 (corner)
    into one matrix, so that blending several styles' matrices linearly gives the exact statistics
    of their mixture, and tiles average like Grams. :func:`w2_loss` reads mean and covariance
    from it.
    """
    if feat.dim() != 4:
        raise ValueError(f"mean_gram expects (B, C, H, W), got {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    f = (feat if feat.dtype == torch.float64 else feat.float()).reshape(b, c, h * w)
    f = torch.cat([f, f.new_ones(b, 1, h * w)], dim=1)
    return torch.bmm(f, f.transpose(1, 2)) / (h * w)


def split_mean_gram(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C+1, C+1) from :func:`mean_gram` -> mean (B, C) and covariance (B, C, C)."""
    mean = m[:, :-1, -1]
    cov = m[:, :-1, :-1] - mean[:, :, None] * mean[:, None, :]
    return mean, cov


class _SqrtmPSD(torch.autograd.Function):
    """Square root of a symmetric PSD matrix (B, C, C) by eigendecomposition.

    The backward solves the Sylvester equation S dX + dX S = dA in the eigenbasis; its
    denominators s_i + s_j stay positive even where eigenvalues repeat, unlike the generic
    eigh backward (1 / (s_i - s_j)), which is what made W2 style losses unstable.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        vals, vecs = torch.linalg.eigh(a)
        sq = vals.clamp_min(0).sqrt()
        ctx.save_for_backward(sq, vecs)
        return vecs @ torch.diag_embed(sq) @ vecs.transpose(-2, -1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        sq, vecs = ctx.saved_tensors
        g = vecs.transpose(-2, -1) @ grad @ vecs
        g = (g + g.transpose(-2, -1)) / 2
        denom = (sq[..., :, None] + sq[..., None, :]).clamp_min(1e-6)
        return vecs @ (g / denom) @ vecs.transpose(-2, -1)


def sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """Principal square root of symmetric PSD matrices (B, C, C), differentiable."""
    if a.dim() != 3 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"sqrtm_psd expects (B, C, C), got {tuple(a.shape)}")
    return _SqrtmPSD.apply(a)


def _ridge(cov: torch.Tensor) -> torch.Tensor:
    """1e-5 x the mean variance on the diagonal, (B, C, C)."""
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    return 1e-5 * cov.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None] * eye


def w2_target_sqrt(target: torch.Tensor) -> torch.Tensor:
    """S_t^1/2 (B, C, C, float64) of a :func:`mean_gram` target, ridged as in :func:`w2_loss`."""
    cov = split_mean_gram(target.double())[1]
    return sqrtm_psd(cov + _ridge(cov))


def w2_loss(feat: torch.Tensor, target: torch.Tensor, target_sqrt: torch.Tensor | None = None) -> torch.Tensor:
    """Relative squared 2-Wasserstein distance between Gaussians fitted to features and target.

    W2^2 = |mu - mu_t|^2 + tr(S + S_t - 2 (S_t^1/2 S S_t^1/2)^1/2) (Gaussian optimal transport, as in
    crowsonkb/style-transfer-pytorch), divided by the target's second moment |mu_t|^2 + tr S_t so
    its weight means the same at every layer. ``target`` is a :func:`mean_gram` matrix (B, C+1, C+1);
    ``target_sqrt`` (B, C, C), S_t^1/2, may be passed to skip recomputing it every iteration.
    """
    # in float64: activations reach 1e2-1e3, so covariance products reach 1e10 and float32 loses the
    # small eigenvalues whose 1 / (s_i + s_j) dominates the gradient
    m = mean_gram(feat.double())
    mean_t, cov_t = split_mean_gram(target.double())
    mean, cov = split_mean_gram(m)
    # a small ridge keeps both covariances positive definite (rank-deficient ReLU features)
    ridge = _ridge(cov_t)
    cov, cov_t = cov + ridge, cov_t + ridge
    if mean.shape != mean_t.shape:
        raise ValueError(f"shape mismatch: features with {mean.shape[-1]} channels vs target {mean_t.shape[-1]}")
    s_t = sqrtm_psd(cov_t) if target_sqrt is None else target_sqrt.double()
    cross = sqrtm_psd(s_t @ cov @ s_t)
    tr = lambda x: x.diagonal(dim1=-2, dim2=-1).sum(-1)  # noqa: E731
    w2 = (mean - mean_t).pow(2).sum(-1) + tr(cov) + tr(cov_t) - 2 * tr(cross)
    return (w2.clamp_min(0) / (mean_t.pow(2).sum(-1) + tr(cov_t) + EPS)).sum().float()


SW_MAX_SAMPLES = 16384  # feature positions kept per sliced-Wasserstein target: bounds memory and sort time


def sw_sample(feat: torch.Tensor, max_n: int = SW_MAX_SAMPLES) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, N) fp32 feature samples, N <= ``max_n`` (an even stride over positions):
    the empirical distribution that :func:`sw_loss` matches."""
    if feat.dim() != 4:
        raise ValueError(f"sw_sample expects (B, C, H, W), got {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    f = feat.float().reshape(b, c, h * w)
    if h * w > max_n:
        f = f[..., torch.linspace(0, h * w - 1, max_n, device=f.device).round().long()]
    return f


def sw_directions(c: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(C, C) random orthonormal projection directions (columns), the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(c, c, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float().to(device)


def sw_project(samples: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Sorted projections (B, D, N) of samples (B, C, N) onto directions (C, D)."""
    return torch.einsum("cd,bcn->bdn", dirs, samples.float()).sort(dim=-1).values


def sw_loss(feat: torch.Tensor, target_sorted: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Relative sliced-Wasserstein distance between the features (B, C, H, W) and a target's sorted
    projections (B, D, M) onto ``dirs`` (C, D) (Heitz et al. 2021, "A Sliced Wasserstein Loss for
    Neural Texture Synthesis").

    Unlike a Gram matrix, which keeps second moments only, sorting matches the whole marginal
    distribution along every direction: the target's colours and feature mixtures come back, not
    an average of them. When M != H*W the target's quantiles are resampled to H*W points. Divided
    by the target's mean squared projection so the weight means the same at every layer.
    """
    b, c, h, w = feat.shape
    if dirs.shape[0] != c or target_sorted.shape[:2] != (b, dirs.shape[1]):
        raise ValueError(f"sw_loss: features {tuple(feat.shape)}, directions {tuple(dirs.shape)}, target {tuple(target_sorted.shape)}")
    p = sw_project(feat.reshape(b, c, h * w), dirs)
    t = target_sorted.float()
    if t.shape[-1] != h * w:
        t = torch.nn.functional.interpolate(t, size=h * w, mode="linear", align_corners=True)
    return (p - t).pow(2).mean() / (t.pow(2).mean() + EPS)


def blend_samples(samples: list[torch.Tensor], weights: list[float], max_n: int = SW_MAX_SAMPLES) -> torch.Tensor:
    """A mixture of several (B, C, N_i) sample sets: from each, a share of ``max_n`` positions in
    proportion to its weight (weights are normalized), concatenated."""
    if len(samples) != len(weights) or not samples:
        raise ValueError(f"{len(samples)} sample sets vs {len(weights)} weights")
    total = float(sum(weights))
    parts = []
    for s, w in zip(samples, weights):
        n = round(max_n * w / total)
        if n > 0:
            parts.append(s[..., torch.linspace(0, s.shape[-1] - 1, n, device=s.device).round().long()])
    return torch.cat(parts, dim=-1)


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


def tv_l1_loss(img: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Edge-preserving total variation of (B, 3, H, W) images in [0, 1]: mean sqrt(d^2 + eps^2)
    of neighbour differences (Charbonnier, a smooth L1). A sharp edge costs what a gradual ramp
    of the same height costs, so it keeps edges that squared TV would smear (Mahendran & Vedaldi's
    TV with beta = 1)."""
    dx = (img[..., :, 1:] - img[..., :, :-1]).float()
    dy = (img[..., 1:, :] - img[..., :-1, :]).float()
    e2 = eps * eps
    return (dx * dx + e2).sqrt().mean() + (dy * dy + e2).sqrt().mean()


def blend_grams(grams: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted mean of Gram matrices (weights are normalized to sum to 1)."""
    if len(grams) != len(weights) or not grams:
        raise ValueError(f"{len(grams)} grams vs {len(weights)} weights")
    total = float(sum(weights))
    return sum(g * (w / total) for g, w in zip(grams, weights))  # type: ignore[return-value]
