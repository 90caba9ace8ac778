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
