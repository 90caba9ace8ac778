import torch

from stylemotion.optimize import OptimConfig, StyleEngine
from stylemotion.superres import (
    UpscaleConfig,
    consistency_loss,
    downsample,
    high_frequency_energy,
    psnr,
    reconstruct,
    upscale,
)

from .conftest import sample


def test_metrics():
    x = torch.rand(1, 3, 16, 16)
    assert psnr(x, x) > 100
    assert high_frequency_energy(torch.full((1, 3, 8, 8), 0.3)) == 0
    assert high_frequency_energy(x) > 0.1
    assert consistency_loss(torch.full((1, 3, 8, 8), 0.5), torch.full((1, 3, 2, 2), 0.5)) < 1e-12


def test_upscale_keeps_downsample_and_adds_detail(backbone):
    full = sample("chelsea.png", 128)
    low = downsample(full, (full.shape[-2] // 4, full.shape[-1] // 4))  # 32 x 21
    out, bicubic = upscale(StyleEngine(backbone), low, full, UpscaleConfig(scale=4), OptimConfig(iterations=30, tol=0))
    assert out.shape[-2:] == (low.shape[-2] * 4, low.shape[-1] * 4)
    hw = tuple(low.shape[-2:])
    assert psnr(downsample(out, hw), low) > 32  # consistent with the input
    assert high_frequency_energy(out) > 1.3 * high_frequency_energy(bicubic)  # more fine detail


def test_reconstruct_content_loss_falls(backbone, cat64):
    engine = StyleEngine(backbone)
    losses_seen = []
    out = reconstruct(engine, cat64, "relu4_1", OptimConfig(iterations=30, tol=0), lambda p: losses_seen.append(p.parts["content"]))
    assert out.shape == cat64.shape
    assert losses_seen[-1] < 0.5 * losses_seen[0]
