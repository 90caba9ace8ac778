"""Flow (OpenCV) and the temporal math: a shifted textured image, where the true flow is known."""

import pytest
import torch

from stylemotion.video.flow import FlowConfig, FlowEstimator
from stylemotion.engine.temporal import carry, consistency, inside, long_term_weights, temporal_loss, warp_flow, warping_error

from .conftest import sample


@pytest.fixture(scope="module")
def shifted():
    """Two crops of a photo: b's content sits (dx, dy) = (-5, -2) px from a's, so flow(a -> b) = (-5, -2)."""
    big = sample("astronaut.png", 300)
    a = big[..., 40:136, 50:178].contiguous()
    b = big[..., 42:138, 55:183].contiguous()
    return a, b


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_matches_the_known_shift(shifted, method):
    a, b = shifted
    f_ab, f_ba = FlowEstimator(FlowConfig(method=method)).pair(a, b)
    assert f_ab.shape == (1, 2, 96, 128)
    core = (slice(None), slice(None), slice(12, -12), slice(12, -12))  # away from the borders
    err = (f_ab[core] - torch.tensor([-5.0, -2.0]).view(1, 2, 1, 1)).norm(dim=1).median()
    back = (f_ba[core] - torch.tensor([5.0, 2.0]).view(1, 2, 1, 1)).norm(dim=1).median()
    assert err < 0.25 and back < 0.25, (err, back)


def test_warp_by_the_flow_reconstructs_the_frame(shifted):
    a, b = shifted
    f_ab, _ = FlowEstimator().pair(a, b)
    w = warp_flow(b, f_ab)
    core = (..., slice(8, -8), slice(8, -8))
    assert (w - a)[core].abs().mean() < 0.1 * (b - a)[core].abs().mean()


def test_warp_flow_exact_for_integer_shift():
    x = torch.rand(1, 3, 10, 12)
    flow = torch.zeros(1, 2, 10, 12)
    flow[:, 0] = 2.0  # sample 2 px to the right
    w = warp_flow(x, flow)
    assert torch.allclose(w[..., :, :-2], x[..., :, 2:], atol=1e-5)
    assert torch.equal(warp_flow(x, torch.zeros(1, 2, 10, 12)), warp_flow(x, torch.zeros(1, 2, 10, 12)))
    assert torch.allclose(warp_flow(x, torch.zeros(1, 2, 10, 12)), x, atol=1e-6)
    with pytest.raises(ValueError, match="flow must be"):
        warp_flow(x, torch.zeros(1, 3, 10, 12))


def test_carry_keeps_fine_detail_through_a_shot_of_subpixel_warps(shifted):
    """A frame loop carries each output from the one before: 20 warps of half a pixel (there and
    back) blur bilinear samples far more than bicubic ones; carry stays in [0, 1] and is exact for
    integer shifts."""
    a, _ = shifted

    def lap(x: torch.Tensor) -> float:
        g = x.mean(1, keepdim=True)
        return float((4 * g[..., 1:-1, 1:-1] - g[..., :-2, 1:-1] - g[..., 2:, 1:-1] - g[..., 1:-1, :-2] - g[..., 1:-1, 2:]).abs().mean())

    half = torch.zeros(1, 2, *a.shape[-2:])
    half[:, 0] = 0.5
    lin, cub = a, a
    for k in range(20):
        f = half if k % 2 == 0 else -half
        lin, cub = warp_flow(lin, f), carry(cub, f)
    inner = (..., slice(4, -4), slice(4, -4))
    ratio_lin, ratio_cub = lap(lin[inner]) / lap(a[inner]), lap(cub[inner]) / lap(a[inner])
    assert ratio_cub > 0.6 and ratio_lin < 0.4 and ratio_cub > 1.5 * ratio_lin, (ratio_lin, ratio_cub)
    assert float(cub.min()) >= 0.0 and float(cub.max()) <= 1.0
    two = torch.zeros_like(half)
    two[:, 0] = 2.0
    assert torch.allclose(carry(a, two)[..., :, :-2], a[..., :, 2:], atol=1e-5)


def test_consistency_marks_disocclusions_boundaries_and_the_frame_edge():
    h, w = 32, 40
    # uniform motion: consistent everywhere except where it leaves the frame
    back = torch.zeros(1, 2, h, w)
    back[:, 0] = 3.0
    fwd = torch.zeros(1, 2, h, w)
    fwd[:, 0] = -3.0
    c = consistency(back, fwd)
    assert c[..., :, : w - 4].min() == 1 and c[..., :, w - 3:].max() == 0
    assert torch.equal(inside(back)[..., :, w - 3:], torch.zeros(1, 1, h, 3))
    # forward flow that does not come back (an occlusion) -> unreliable
    bad = consistency(back, torch.zeros(1, 2, h, w) + torch.tensor([6.0, 0.0]).view(1, 2, 1, 1))
    assert bad[..., :, : w - 4].max() == 0
    # a motion boundary: left half still, right half moving
    back = torch.zeros(1, 2, h, w)
    back[..., w // 2:] = 2.0
    fwd = -back.clone()
    c = consistency(back, fwd)
    assert c[..., :, w // 2 - 1].max() == 0 and c[..., :, 5].min() == 1


def test_long_term_weights_count_each_pixel_once():
    m1 = torch.tensor([[[[1.0, 0.0, 0.0, 1.0]]]])
    m2 = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    m4 = torch.tensor([[[[1.0, 1.0, 1.0, 0.0]]]])
    w1, w2, w4 = long_term_weights([m1, m2, m4])
    assert w1.tolist() == m1.tolist()
    assert w2.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]
    assert w4.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]


def test_temporal_loss_and_warping_error():
    x = torch.zeros(1, 3, 4, 4)
    target = torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1.0
    assert temporal_loss(x, [(target, mask)]).item() == pytest.approx(0.5)
    assert temporal_loss(x, []).item() == 0.0
    zero = torch.zeros(1, 2, 4, 4)
    assert warping_error(x, target, zero, mask) == pytest.approx(1.0)  # masked mean over reliable pixels only
    assert warping_error(x, x, zero, mask) == 0.0


def test_missing_opencv_is_one_line_saying_how_to_install(monkeypatch):
    import sys

    from stylemotion.errors import UserError

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(UserError, match=r"pip install 'stylemotion\[video\]'"):
        FlowEstimator()


def test_flow_recovers_a_rotation_and_zoom_field():
    """A non-uniform motion (2 degree turn and 3% zoom about the centre), made with warp_flow from a
    known field F: b(p) = a(p + F(p)), so flow(b -> a) must be F."""
    import math

    a = sample("chelsea.png", 160)[..., :96, :128].contiguous()
    h, w = a.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    cx, cy, th, z = (w - 1) / 2, (h - 1) / 2, math.radians(2.0), 1 / 1.03
    dx, dy = xs - cx, ys - cy
    field = torch.stack([z * (math.cos(th) * dx - math.sin(th) * dy) + cx - xs,
                         z * (math.sin(th) * dx + math.cos(th) * dy) + cy - ys]).unsqueeze(0)
    b = warp_flow(a, field)
    f_ba = FlowEstimator().pair(b, a)[0]
    core = (slice(None), slice(None), slice(12, -12), slice(12, -12))
    err = (f_ba - field)[core].norm(dim=1)
    assert err.median() < 0.3 and field[core].norm(dim=1).median() > 1.5, (err.median(), field[core].norm(dim=1).median())


def test_histogram_distance_and_the_cut_rule():
    from stylemotion.engine.temporal import CutRule, histogram_distance

    a = sample("astronaut.png", 64)
    assert histogram_distance(a, a) == 0.0
    assert histogram_distance(a, torch.roll(a, 3, dims=-1)) == pytest.approx(0.0, abs=1e-6)  # same pixels, moved
    assert histogram_distance(a[..., :40, :], sample("chelsea.png", 64)[..., :40, :]) > 0.3  # another scene
    assert histogram_distance(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) and \(1, 3, 8, 9\)"):
        histogram_distance(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    rule = CutRule()
    assert rule(0.6, 0.99)  # a colour jump alone
    assert rule(0.3, 0.05) and not rule(0.3, 0.9)  # a moderate one needs the flow to fail too
    assert not rule(0.02, 0.05)  # the flow failing alone (a fast move) is no cut


def test_fill_unreliable_starts_unexplained_pixels_from_the_input():
    from stylemotion.engine.temporal import fill_unreliable

    warped, fresh = torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)
    mask = torch.ones(1, 1, 16, 16)
    mask[..., :, 12:] = 0  # new content entering from the right edge
    out = fill_unreliable(warped, fresh, mask)
    assert torch.equal(out[..., :, 12:], fresh[..., :, 12:])  # unreliable: the input frame
    assert torch.equal(out[..., :, :8], warped[..., :, :8])  # well inside the reliable part: the warp
    assert 0 < float(out[0, 0, 8, 10]) < 1  # a soft seam, on the reliable side only
    assert torch.equal(fill_unreliable(warped, fresh, torch.ones(1, 1, 16, 16)), warped)
