import pytest
import torch

from stylemotion.engine.measure import grey, high_freq_energy, top_band


def test_high_freq_energy_sees_grain_not_smooth_gradients():
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    assert high_freq_energy(ramp).item() < 1e-6
    stripes = ramp.clone()
    stripes[..., ::3] = 1.0  # a 3-pixel period, like the Gram "stripe" artifact
    assert high_freq_energy(stripes).item() > 100 * high_freq_energy(ramp).item() + 1e-3
    both = torch.cat([ramp, stripes])
    assert high_freq_energy(both).shape == (2,)


def test_top_band_sign():
    x = torch.full((1, 3, 32, 32), 0.4)
    assert top_band(x).abs().item() < 1e-6
    x[..., :2, :] = 0.9
    assert top_band(x).item() > 0.1
    with pytest.raises(ValueError, match="too short"):
        top_band(torch.rand(1, 3, 8, 8))


def test_grey_checks_shape():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        grey(torch.rand(3, 8, 8))
