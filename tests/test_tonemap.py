"""HDR transfer curves and the tone map: the standards' fixed points, and what a viewer sees."""

import numpy as np
import pytest

from stylemotion.io import tonemap


def test_transfer_curves_hit_the_standards_reference_points():
    assert tonemap.pq_eotf(np.array(1.0)) == pytest.approx(10000, rel=1e-6)
    assert tonemap.pq_eotf(np.array(0.58)) == pytest.approx(203, rel=0.02)  # BT.2408: 58% PQ is diffuse white
    e = np.linspace(0, 1, 11)
    assert np.allclose(tonemap.pq_inverse_eotf(tonemap.pq_eotf(e)), e, atol=1e-6)  # PQ(0) is c1^m2, not 0
    assert np.allclose(tonemap.hlg_oetf(tonemap.hlg_inverse_oetf(e)), e, atol=1e-9)
    grey75 = np.full((1, 1, 3), 0.75)  # BT.2408: 75% HLG is 203 nits on a 1000-nit display
    assert tonemap.hlg_eotf(grey75)[0, 0] == pytest.approx([203] * 3, rel=0.02)


def test_roll_off_is_identity_below_the_knee_smooth_and_below_one():
    x = np.array([0.0, 0.4, tonemap.KNEE, 1.0, 5.0, 50.0])
    y = tonemap.roll_off(x)
    assert np.allclose(y[:3], x[:3]) and np.all(np.diff(y[:5]) > 0) and y[-2] < 1 and y[-1] <= 1
    h = 1e-6  # slope 1 on both sides of the knee: no seam in a gradient
    assert (tonemap.roll_off(np.array(tonemap.KNEE + h)) - tonemap.KNEE) / h == pytest.approx(1, rel=1e-3)


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_an_hdr_recording_of_a_scene_tone_maps_back_to_it(transfer):
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    back = tonemap.to_sdr(tonemap.from_sdr(scene, transfer), transfer)
    d = np.abs(back.astype(int) - scene)
    assert d.mean() < 1.5 and d[scene.max(axis=-1) < 200].max() <= 2  # only highlights are compressed


def test_highlights_keep_their_hue_and_stay_in_range():
    hot = np.zeros((1, 2, 3))
    hot[0, 0] = tonemap.pq_inverse_eotf(np.array([4000.0, 1000.0, 200.0]))  # a 4000-nit orange in BT.2020
    hot[0, 1] = tonemap.pq_inverse_eotf(np.array([10000.0] * 3))
    out = tonemap.to_sdr(hot, "pq").astype(int)
    assert out[0, 1].tolist() == [255, 255, 255] or out[0, 1].min() >= 250
    r, g, b = out[0, 0]
    assert r > g > b and r >= 250  # still orange, not clipped to white


def test_bad_shapes_and_transfers_are_refused():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        tonemap.to_sdr(np.zeros((4, 4)), "pq")
    with pytest.raises(ValueError, match="transfer must be one of"):
        tonemap.to_sdr(np.zeros((1, 1, 3)), "log")
