import pytest
import torch

from stylemotion.engine.color import color_stats, match_palette, mix_stats


def test_match_palette_gives_the_target_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.2 * torch.rand(1, 3, 40, 50, generator=g)  # a dull, narrow palette
    ref = torch.rand(1, 3, 30, 30, generator=g) * torch.tensor([0.6, 0.2, 0.0])[:, None, None] + 0.2  # wider, unequal
    ref[:, 2] = 0.5 * ref[:, 0] + 0.1  # with a colour correlation the photo lacks
    out = match_palette(x, *color_stats(ref))
    m, c = color_stats(out)
    m_r, c_r = color_stats(ref)
    assert torch.allclose(m, m_r, atol=0.02)
    assert torch.allclose(c, c_r, atol=0.003)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1


def test_match_palette_keeps_the_layout():
    # a horizontal ramp stays a monotone ramp: edges move in colour, not in place
    ramp = torch.linspace(0.2, 0.8, 64).expand(1, 3, 16, 64).clone()
    ramp[:, 1] *= 0.5
    ref = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    out = match_palette(ramp, *color_stats(ref))
    lum = out.mean(1)[0, 0]
    assert (lum[1:] - lum[:-1] >= -1e-6).all() or (lum[1:] - lum[:-1] <= 1e-6).all()
    assert float(lum.max() - lum.min()) > 0.1


def test_match_palette_does_not_blow_up_a_flat_photo():
    flat = torch.full((1, 3, 16, 16), 0.4)
    flat += 1e-4 * torch.randn(flat.shape, generator=torch.Generator().manual_seed(2))  # sensor noise
    ref = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    out = match_palette(flat, *color_stats(ref))
    assert float(out.std((2, 3)).max()) < 0.01  # the ridge keeps the noise at noise level
    assert torch.allclose(out.mean((2, 3)), ref.mean((2, 3)), atol=0.01)  # it takes the painting's mean colour


def test_mix_stats_is_the_pooled_distribution():
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(1, 3, 10, 10, generator=g), 0.5 * torch.rand(1, 3, 10, 10, generator=g) + 0.4
    m, c = mix_stats([color_stats(a), color_stats(b)], [1.0, 3.0])
    pooled = torch.cat([a.flatten(2), b.flatten(2).repeat(1, 1, 3)], dim=-1)[..., None]  # b counted 3 times
    m_p, c_p = color_stats(pooled)
    assert torch.allclose(m, m_p) and torch.allclose(c, c_p)
    with pytest.raises(ValueError, match="2 colour statistics vs 1 weights"):
        mix_stats([color_stats(a), color_stats(b)], [1.0])


def test_color_stats_checks_shape():
    with pytest.raises(ValueError, match=r"\(1, 4, 8, 8\)"):
        color_stats(torch.rand(1, 4, 8, 8))
