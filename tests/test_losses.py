import torch

from stylemotion import losses


def test_gram_is_normalized_and_symmetric():
    f = torch.rand(2, 4, 5, 6)
    g = losses.gram(f)
    assert g.shape == (2, 4, 4)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(g[0, 1, 2], (f[0, 1] * f[0, 2]).sum() / 30)
    # size independence: tiling the same texture keeps the Gram
    assert torch.allclose(losses.gram(f.repeat(1, 1, 2, 2)), g, atol=1e-6)


def test_gram_fp16_input_is_computed_in_fp32():
    f = (torch.ones(1, 2, 64, 64) * 300).half()  # 300^2 * 4096 overflows fp16
    g = losses.gram(f)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()


def test_relative_mse_zero_at_target_and_scale_free():
    t = torch.rand(1, 3, 4, 4)
    assert losses.relative_mse(t, t) == 0
    assert torch.isclose(losses.relative_mse(2 * t, t), losses.relative_mse(20 * t, 10 * t))


def test_tv_loss_zero_on_flat_and_positive_on_noise():
    assert losses.tv_loss(torch.full((1, 3, 8, 8), 0.5)) == 0
    assert losses.tv_loss(torch.rand(1, 3, 8, 8)) > 0.05


def test_blend_grams_weights():
    a, b = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    assert torch.allclose(losses.blend_grams([a, b], [3, 1]), torch.full((1, 2, 2), 0.25))


def test_mean_gram_packs_mean_and_covariance():
    f = torch.rand(2, 4, 5, 6) * 3
    m = losses.mean_gram(f)
    assert m.shape == (2, 5, 5) and torch.allclose(m[:, -1, -1], torch.ones(2))
    mean, cov = losses.split_mean_gram(m)
    flat = f.reshape(2, 4, -1)
    assert torch.allclose(mean, flat.mean(-1), atol=1e-5)
    centered = flat - flat.mean(-1, keepdim=True)
    assert torch.allclose(cov, centered @ centered.transpose(1, 2) / 30, atol=1e-4)
    # blending two mean-Grams gives the statistics of the mixture of both feature sets
    g = torch.rand(2, 4, 5, 6)
    both = torch.cat([f, g], dim=-1)
    assert torch.allclose(losses.blend_grams([m, losses.mean_gram(g)], [1, 1]), losses.mean_gram(both), atol=1e-4)


def test_sqrtm_psd_and_its_gradient():
    a = torch.randn(1, 6, 20, dtype=torch.float64)
    a = a @ a.transpose(1, 2) / 20
    r = losses.sqrtm_psd(a)
    assert torch.allclose(r @ r, a, atol=1e-8)
    x = a.clone().requires_grad_()
    # d tr(sqrt(A)) / dA = A^-1/2 / 2
    losses.sqrtm_psd(x).diagonal(dim1=-2, dim2=-1).sum().backward()
    assert torch.allclose(x.grad, torch.linalg.inv(r) / 2, atol=1e-6)


def test_w2_loss_is_zero_at_target_falls_and_matches_statistics():
    torch.manual_seed(0)
    target = losses.mean_gram(torch.randn(1, 8, 16, 16).relu() * 2 + 0.5)
    assert losses.w2_loss(torch.randn(1, 8, 4, 4), target) > 0.1
    x = torch.randn(1, 8, 16, 16).requires_grad_()
    opt = torch.optim.Adam([x], lr=0.05)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = losses.w2_loss(x, target)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 100
    mean, cov = losses.split_mean_gram(losses.mean_gram(x.detach()))
    mean_t, cov_t = losses.split_mean_gram(target)
    assert torch.allclose(mean, mean_t, atol=1e-2) and torch.allclose(cov, cov_t, atol=1e-2)
    # scale free, like the other relative losses
    f = torch.rand(1, 8, 6, 6)
    assert torch.isclose(losses.w2_loss(2 * f, losses.mean_gram(f + 1)), losses.w2_loss(20 * f, losses.mean_gram(10 * f + 10)), rtol=1e-3)


def test_tv_l1_keeps_edges_that_squared_tv_smears():
    import pytest

    from stylemotion.losses import tv_l1_loss, tv_loss

    flat = torch.full((1, 3, 16, 16), 0.5)
    edge = flat.clone()
    edge[..., 8:] = 1.0  # one sharp step of height 0.5
    ramp = 0.5 + 0.5 * torch.linspace(0, 1, 16).clamp(0, 1).view(1, 1, 16, 1).expand(1, 3, 16, 16)  # the same rise, gradual
    assert tv_l1_loss(flat) == pytest.approx(2 * 0.01, rel=1e-4)  # only eps on a flat image
    # L1: the edge costs about what the ramp costs; squared TV charges the edge many times more
    assert tv_l1_loss(edge) / tv_l1_loss(ramp) < 1.3
    assert tv_loss(edge) / tv_loss(ramp) > 10
