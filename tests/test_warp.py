import math

import pytest
import torch

from stylemotion.warp import compose, motion_matrix, valid_mask, warp, warp_image


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
