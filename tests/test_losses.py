import pytest
import torch

from stylemotion.engine import losses


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

    from stylemotion.engine.losses import tv_l1_loss, tv_loss

    flat = torch.full((1, 3, 16, 16), 0.5)
    edge = flat.clone()
    edge[..., 8:] = 1.0  # one sharp step of height 0.5
    ramp = 0.5 + 0.5 * torch.linspace(0, 1, 16).clamp(0, 1).view(1, 1, 16, 1).expand(1, 3, 16, 16)  # the same rise, gradual
    assert tv_l1_loss(flat) == pytest.approx(2 * 0.01, rel=1e-4)  # only eps on a flat image
    # L1: the edge costs about what the ramp costs; squared TV charges the edge many times more
    assert tv_l1_loss(edge) / tv_l1_loss(ramp) < 1.3
    assert tv_loss(edge) / tv_loss(ramp) > 10


def test_sw_loss_is_zero_for_the_same_distribution_in_any_layout():
    torch.manual_seed(0)
    f = torch.rand(1, 8, 6, 7)
    shuffled = f.reshape(1, 8, 42)[..., torch.randperm(42)].reshape(1, 8, 6, 7)  # same samples, other places
    dirs = losses.sw_directions(8, seed=3)
    target = losses.sw_project(losses.sw_sample(f), dirs)
    assert losses.sw_loss(shuffled, target, dirs) < 1e-10
    assert losses.sw_loss(f * 0.5, target, dirs) > 0.05  # a darker copy is far
    # the target may hold another number of samples: its quantiles are resampled
    small = losses.sw_project(losses.sw_sample(f, max_n=21), dirs)
    assert small.shape == (1, 8, 21)
    assert losses.sw_loss(f, small, dirs) < 0.2 * losses.sw_loss(f * 0.5, small, dirs)


def test_sw_loss_gradient_moves_samples_toward_the_target():
    torch.manual_seed(1)
    dirs = losses.sw_directions(3, seed=0)
    target = losses.sw_project(losses.sw_sample(torch.rand(1, 3, 8, 8) * 0.2 + 0.7), dirs)  # bright
    x = (torch.rand(1, 3, 8, 8) * 0.2).requires_grad_()  # dark
    loss0 = losses.sw_loss(x, target, dirs)
    loss0.backward()
    with torch.no_grad():
        x2 = x - 0.5 * x.grad / x.grad.abs().max()
    assert losses.sw_loss(x2, target, dirs) < loss0
    assert (x.grad < 0).float().mean() > 0.9  # every pixel pushed brighter


def test_sw_directions_orthonormal_and_seeded():
    d = losses.sw_directions(16, seed=5)
    assert torch.allclose(d.T @ d, torch.eye(16), atol=1e-5)
    assert torch.equal(d, losses.sw_directions(16, seed=5))
    assert not torch.allclose(d, losses.sw_directions(16, seed=6))


def test_sw_sample_and_blend_samples():
    f = torch.arange(2 * 100, dtype=torch.float32).reshape(1, 2, 10, 10)
    s = losses.sw_sample(f, max_n=10)
    assert s.shape == (1, 2, 10) and s[0, 0, 0] == 0 and s[0, 0, -1] == 99  # an even stride, ends kept
    assert losses.sw_sample(f).shape == (1, 2, 100)
    a, b = torch.zeros(1, 2, 50), torch.ones(1, 2, 80)
    mix = losses.blend_samples([a, b], [3.0, 1.0], max_n=40)
    assert mix.shape == (1, 2, 40) and mix.mean() == pytest.approx(0.25)
    with pytest.raises(ValueError):
        losses.blend_samples([a], [1.0, 2.0])
    with pytest.raises(ValueError, match="directions"):
        losses.sw_loss(torch.rand(1, 4, 3, 3), torch.rand(1, 3, 9), losses.sw_directions(3, 0))
