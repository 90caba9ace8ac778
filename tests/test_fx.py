import pytest
import torch

from stylemotion.animation import fx
from stylemotion.engine.measure import high_freq_energy


def smooth_image(h: int = 32, w: int = 48) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([x, y, (x + y) / 2])[None] * 0.8 + 0.1


def test_lab_and_hsv_round_trip_and_known_values():
    x = torch.rand(2, 3, 9, 7)
    assert torch.allclose(fx.lab_to_rgb(fx.rgb_to_lab(x)), x, atol=1e-4)
    assert torch.allclose(fx.hsv_to_rgb(fx.rgb_to_hsv(x)), x, atol=1e-5)
    white = torch.ones(1, 3, 1, 1)
    assert torch.allclose(fx.rgb_to_lab(white).flatten(), torch.tensor([100.0, 0.0, 0.0]), atol=0.05)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(fx.rgb_to_lab(red).flatten(), torch.tensor([53.24, 80.09, 67.20]), atol=0.1)
    assert torch.allclose(fx.rgb_to_hsv(torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)).flatten(), torch.tensor([1 / 3, 1.0, 1.0]))


@pytest.mark.parametrize("space", ["rgb", "lab", "hsv"])
def test_color_coherence_pulls_colours_to_the_reference(space):
    ref = smooth_image().flip(-1)  # same colours, mirrored layout
    drifted = (smooth_image() * 0.6 + torch.tensor([0.3, 0.0, -0.05]).view(1, 3, 1, 1)).clamp(0, 1)  # faded, red cast
    out = fx.color_coherence(drifted, ref, space)
    assert out.shape == drifted.shape and out.min() >= 0 and out.max() <= 1
    err_before = (drifted.mean((2, 3)) - ref.mean((2, 3))).abs().sum()
    err_after = (out.mean((2, 3)) - ref.mean((2, 3))).abs().sum()
    assert err_after < err_before / 3
    # the layout (which pixel is brighter than which) is the drifted frame's, not the reference's
    assert torch.corrcoef(torch.stack([out.mean(1).flatten(), drifted.mean(1).flatten()]))[0, 1] > 0.9
    with pytest.raises(ValueError, match="not one of rgb, lab, hsv"):
        fx.color_coherence(drifted, ref, "xyz")


def test_contrast_keeps_mean_scales_deviation():
    x = smooth_image()
    assert torch.equal(fx.contrast(x, 1.0), x)
    y = fx.contrast(x, 0.5)
    assert torch.isclose(y.mean(), x.mean(), atol=1e-5)
    assert torch.isclose(y.std(), x.std() * 0.5, rtol=1e-3)


def test_unsharp_mask_restores_detail_and_respects_threshold():
    torch.manual_seed(0)
    sharp = torch.rand(1, 3, 32, 32)
    blurred = fx.gaussian_blur(sharp, 5, 1.0)
    assert high_freq_energy(blurred) < high_freq_energy(sharp) / 3
    restored = fx.unsharp_mask(blurred, 5, 1.0, amount=1.5)
    assert high_freq_energy(restored) > 2 * high_freq_energy(blurred)
    assert torch.equal(fx.unsharp_mask(blurred, 5, 1.0, amount=0.0), blurred)
    # a threshold above every local difference leaves the image unchanged
    assert torch.equal(fx.unsharp_mask(blurred, 5, 1.0, amount=1.5, threshold=1.0), blurred)
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert torch.allclose(fx.unsharp_mask(flat, 5, 1.0, amount=2.0), flat)  # no border halo
    with pytest.raises(ValueError, match="odd"):
        fx.gaussian_blur(sharp, 4, 1.0)


def test_noise_is_seeded_zero_mean_and_scaled():
    x = torch.full((1, 3, 64, 64), 0.5)
    a = fx.add_noise(x, 0.1, torch.Generator().manual_seed(3))
    b = fx.add_noise(x, 0.1, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert (a - x).abs().max() <= 0.1 + 1e-6 and abs((a - x).mean().item()) < 0.01
    g = torch.Generator().manual_seed(0)
    before = g.get_state()
    assert torch.equal(fx.add_noise(x, 0.0, g), x) and torch.equal(g.get_state(), before)
    p = fx.add_noise(x, 0.1, torch.Generator().manual_seed(3), "perlin", octaves=3, persistence=0.5)
    d = (p - x)[0, 0]
    assert d.abs().max() > 0.02 and abs(d.mean().item()) < 0.03
    # Perlin noise is smooth: neighbours correlate, unlike uniform noise
    corr = lambda m: torch.corrcoef(torch.stack([m[:, :-1].flatten(), m[:, 1:].flatten()]))[0, 1]  # noqa: E731
    assert corr(d) > 0.8 and abs(corr((a - x)[0, 0])) < 0.1
    with pytest.raises(ValueError, match="noise type"):
        fx.add_noise(x, 0.1, g, "pink")


def test_band_limited_unsharp_keeps_a_zoom_feedback_loop_stable():
    """Warp (zoom 1.04) + unsharp, 25 times: the plain mask grows pixel-level stripes, fine_sigma does not."""
    from stylemotion.animation.warp import motion_matrix, warp_image

    torch.manual_seed(0)
    start = fx.gaussian_blur(torch.rand(1, 3, 64, 96), 0, 2.0)
    theta = motion_matrix(1.04, 0.0, 0.0, 0.0, (64, 96))

    def loop(fine_sigma: float) -> torch.Tensor:
        x = start
        for _ in range(25):
            x = fx.unsharp_mask(warp_image(x, theta), 5, 1.0, 0.6, 0.0, fine_sigma)
        return x

    plain, limited = loop(0.0), loop(0.8)
    assert high_freq_energy(plain) > 5 * high_freq_energy(limited)
    assert high_freq_energy(limited) < 2 * high_freq_energy(start) + 1e-4
    # the band-limited mask still sharpens: more mid-band detail than no mask at all
    x = start
    for _ in range(25):
        x = warp_image(x, theta)
    band = lambda im: (fx.gaussian_blur(im, 0, 1.0) - fx.gaussian_blur(im, 0, 3.0)).pow(2).mean()  # noqa: E731
    assert band(limited) > band(x)
