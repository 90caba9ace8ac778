import math

import pytest
import torch

from stylemotion.animation.warp import compose, motion_matrix, valid_mask, warp, warp_image


def test_identity_leaves_image_unchanged():
    x = torch.rand(1, 3, 17, 23)
    th = motion_matrix(1.0, 0.0, 0.0, 0.0, (17, 23))
    assert torch.allclose(th, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]], dtype=torch.float64))
    assert torch.allclose(warp(x, th, "reflect", "bilinear"), x, atol=1e-5)


def test_zoom_keeps_center_fixed_and_magnifies():
    h = w = 33
    x = torch.zeros(1, 1, h, w)
    x[..., 16, 16] = 1.0  # the centre pixel
    x[..., 16, 20] = 1.0  # 4 px right of it
    y = warp(x, motion_matrix(2.0, 0, 0, 0, (h, w)), "zeros", "bilinear")
    assert y[0, 0, 16, 16] > 0.9  # fixed point
    # the off-centre dot moved to twice its distance (about 8 px right)
    row = y[0, 0, 16]
    assert int(row[17:].argmax()) + 17 in (23, 24, 25)


def test_zoom_about_off_center_point():
    h = w = 32
    cx, cy = 0.5, -0.5  # normalized: right half, upper half
    th = motion_matrix(1.5, 0, 0, 0, (h, w), center=(cx, cy))
    # the centre maps to itself
    p = th[0] @ torch.tensor([cx, cy, 1.0], dtype=torch.float64)
    assert torch.allclose(p, torch.tensor([cx, cy], dtype=torch.float64))


def test_rotation_90_degrees_matches_rot90():
    x = torch.rand(1, 3, 12, 12)
    y = warp(x, motion_matrix(1.0, 90.0, 0, 0, (12, 12)), "zeros", "bilinear")
    assert torch.allclose(y, torch.rot90(x, 1, (2, 3)), atol=1e-5)


def test_rotation_stays_rigid_on_non_square_frames():
    th = motion_matrix(1.0, 30.0, 0, 0, (40, 80))
    # in pixel units the linear part must be a rotation: orthonormal
    s = torch.diag(torch.tensor([40.0, 20.0], dtype=torch.float64))
    m = s @ th[0, :, :2] @ torch.linalg.inv(s)
    assert torch.allclose(m @ m.T, torch.eye(2, dtype=torch.float64), atol=1e-9)
    assert math.isclose(torch.linalg.det(m).item(), 1.0, abs_tol=1e-9)


def test_translation_moves_content_right_and_down():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 0, 0] = 1
    y = warp(x, motion_matrix(1.0, 0, 2, 1, (8, 8)), "zeros", "bilinear")
    assert y[0, 0].nonzero().tolist() == [[1, 2]]


def test_compose_equals_sequential_warps():
    a = motion_matrix(1.1, 5, 1, 0, (16, 16))
    b = motion_matrix(1.05, -3, 0, 2, (16, 16))
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16, dtype=torch.float64), torch.linspace(0, 1, 16, dtype=torch.float64), indexing="ij")
    x = torch.stack([xx, yy, torch.sin(3 * xx + 2 * yy)])[None]  # smooth: interpolation is near exact
    seq = warp(warp(x, a, "zeros", "bilinear"), b, "zeros", "bilinear")
    once = warp(x, compose(a, b), "zeros", "bilinear")
    inner = (slice(None), slice(None), slice(4, 12), slice(4, 12))  # away from border effects
    assert torch.allclose(seq[inner], once[inner], atol=0.01)


def test_valid_mask_and_errors():
    m = valid_mask(motion_matrix(0.5, 0, 0, 0, (20, 20)), (20, 20))  # zoom out: border area invalid
    assert m[0, 0, 10, 10] and not m[0, 0, 0, 0]
    assert warp_image(torch.rand(1, 3, 8, 8) * 2, motion_matrix(1.0, 10, 0, 0, (8, 8))).max() <= 1
    with pytest.raises(ValueError, match=r"theta must be \(B, 2, 3\), got \(2, 3\)"):
        warp(torch.rand(1, 3, 8, 8), torch.eye(2, 3))
    with pytest.raises(ValueError, match="zoom must be > 0"):
        motion_matrix(0.0, 0, 0, 0, (8, 8))


def test_dither_offsets_are_bounded_deterministic_and_zero_at_frame_0():
    from stylemotion.animation.warp import dither_offset

    offs = [dither_offset(k, 0.25) for k in range(200)]
    assert offs[0] == (0.0, 0.0) and dither_offset(7, 0.0) == (0.0, 0.0)
    assert all(abs(dx) <= 0.25 and abs(dy) <= 0.25 for dx, dy in offs)
    assert offs == [dither_offset(k, 0.25) for k in range(200)]  # no state: resume draws the same
    # spread over the whole square, and so are the per-frame differences (the resampling phases)
    xs = sorted(dx for dx, _ in offs[1:])
    assert xs[10] < -0.2 and xs[-10] > 0.2
    diffs = sorted(a[1] - b[1] for a, b in zip(offs[2:], offs[1:]))
    assert diffs[10] < -0.3 and diffs[-10] > 0.3 and len({round(d, 6) for d in diffs}) > 150


def test_dithered_motion_keeps_content_within_the_amplitude_of_its_path():
    from stylemotion.animation.warp import dither_offset, dithered_shift, identity

    h, w, amp = 40, 64, 0.3
    nominal, dithered = identity(), identity()
    for k in range(1, 25):
        z, a = 1.03, 0.6
        nominal = compose(nominal, motion_matrix(z, a, 0.0, 0.0, (h, w)))
        dx, dy = dithered_shift(z, a, dither_offset(k - 1, amp), dither_offset(k, amp))
        dithered = compose(dithered, motion_matrix(z, a, dx, dy, (h, w)))
        # the dithered frame k is the nominal frame k moved by dither_offset(k): D(p) = N(p - j_k)
        jx, jy = dither_offset(k, amp)
        p = torch.tensor([[5.0, 7.0], [32.0, 20.0], [60.0, 33.0]], dtype=torch.float64)  # pixel coords

        def sample(theta, pts):
            n = torch.stack([pts[:, 0] / (w / 2) - 1, pts[:, 1] / (h / 2) - 1, torch.ones(len(pts), dtype=torch.float64)], 1)
            return (theta[0] @ n.T).T

        assert torch.allclose(sample(dithered, p), sample(nominal, p - torch.tensor([jx, jy], dtype=torch.float64)), atol=1e-9)


def test_dither_evens_out_the_zooms_standing_blur_pattern():
    # one 1.03x zoom blurs the columns near the fixed point less than those ~16 px away (bands of
    # period ~33 px): a pattern that stands still frame after frame. Dithered frames average it out.
    from stylemotion.animation.warp import dither_offset, dithered_shift

    torch.manual_seed(0)
    h, w = 96, 160
    x = torch.rand(16, 3, h, w)

    def x_detail(theta):  # horizontal-gradient energy kept, per column, over the middle rows
        y = warp_image(x, theta)
        g = (y[..., :, 1:] - y[..., :, :-1]).abs().mean((0, 1))[30:66].mean(0)
        return g[50:110] / g[50:110].mean()

    plain = x_detail(motion_matrix(1.03, 0.6, 0.0, 0.0, (h, w)))
    avg = sum(x_detail(motion_matrix(1.03, 0.6, *dithered_shift(1.03, 0.6, dither_offset(k - 1, 0.5), dither_offset(k, 0.5)), (h, w)))
              for k in range(1, 17)) / 16
    assert plain.max() - plain.min() > 0.12  # the standing bands, peak at the centre column
    assert avg.max() - avg.min() < 0.5 * (plain.max() - plain.min())
