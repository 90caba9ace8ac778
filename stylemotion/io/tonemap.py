"""HDR and wide-gamut video to the working RGB (sRGB-encoded BT.709), as pure numpy.

A decoded HDR frame arrives as non-linear R'G'B' in [0, 1] with BT.2020 primaries and a PQ
(SMPTE ST 2084) or HLG (ARIB STD-B67) transfer. It becomes SDR in four steps:

1. the transfer's EOTF gives display light in nits (HLG with the BT.2100 OOTF for a 1000-nit
   display, system gamma 1.2);
2. light is divided by the HDR reference white of ITU-R BT.2408 (203 nits), so diffuse white is 1;
3. BT.2020 primaries become BT.709 by the linear 3x3 matrix of ITU-R BT.2087;
4. a roll-off on each pixel's largest channel (identity below ``KNEE``, an exponential shoulder
   above that reaches 1 only at infinite light) keeps hue while highlights compress, then
   colours outside BT.709 are clipped and the sRGB curve encodes.

Arrays are (H, W, 3) float in [0, 1] (input) and (H, W, 3) uint8 (output).
"""

from __future__ import annotations

import numpy as np

REFERENCE_WHITE = 203.0  # nits: BT.2408's HDR diffuse white, which becomes SDR white (1.0)
HLG_PEAK = 1000.0  # nits: the display HLG's OOTF is evaluated for (BT.2100's reference)
KNEE = 0.8  # linear SDR level where the highlight roll-off starts; below it light is kept as is

# ST 2084 constants
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# BT.2100 HLG constants
_A = 0.17883277
_B = 1 - 4 * _A
_C = 0.5 - _A * np.log(4 * _A)

BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],
                            [-0.1246, 1.1329, -0.0083],
                            [-0.0182, -0.1006, 1.1187]])
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593])

TRANSFERS = ("sdr", "pq", "hlg")


def pq_eotf(e: np.ndarray) -> np.ndarray:
    """PQ signal in [0, 1] -> display light in nits (0..10000)."""
    p = np.power(np.clip(e, 0, 1), 1 / _M2)
    return 10000.0 * np.power(np.maximum(p - _C1, 0) / (_C2 - _C3 * p), 1 / _M1)


def pq_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    """Display light in nits -> PQ signal in [0, 1]."""
    y = np.power(np.clip(nits / 10000.0, 0, 1), _M1)
    return np.power((_C1 + _C2 * y) / (1 + _C3 * y), _M2)


def hlg_inverse_oetf(e: np.ndarray) -> np.ndarray:
    """HLG signal in [0, 1] -> relative scene light in [0, 1]."""
    e = np.clip(e, 0, 1)
    return np.where(e <= 0.5, e * e / 3, (np.exp((e - _C) / _A) + _B) / 12)


def hlg_oetf(x: np.ndarray) -> np.ndarray:
    """Relative scene light in [0, 1] -> HLG signal (the camera's curve)."""
    x = np.clip(x, 0, 1)
    return np.where(x <= 1 / 12, np.sqrt(3 * x), _A * np.log(np.maximum(12 * x - _B, 1e-12)) + _C)


def hlg_eotf(e: np.ndarray, peak: float = HLG_PEAK) -> np.ndarray:
    """HLG signal (H, W, 3) in BT.2020 -> display light in nits (BT.2100 OOTF, gamma 1.2 at 1000 nits)."""
    scene = hlg_inverse_oetf(e)
    gamma = 1.2 + 0.42 * np.log10(peak / 1000.0)
    ys = np.maximum(scene @ BT2020_LUMA, 0)[..., None]
    return peak * np.power(ys, gamma - 1) * scene


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] -> linear light [0, 1]."""
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4))


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """Linear light [0, 1] -> sRGB-encoded [0, 1]."""
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def roll_off(x: np.ndarray) -> np.ndarray:
    """Linear light (1 = SDR white, any level above) -> [0, 1): identity below KNEE, then an
    exponential shoulder with slope 1 at the knee (no visible seam) that reaches 1 only at infinity."""
    room = 1 - KNEE
    return np.where(x <= KNEE, x, KNEE + room * (1 - np.exp(-(x - KNEE) / room)))


def to_sdr(rgb: np.ndarray, transfer: str, wide: bool = True) -> np.ndarray:
    """Non-linear R'G'B' (H, W, 3) float in [0, 1] -> sRGB (H, W, 3) uint8.

    ``transfer``: ``pq``, ``hlg`` (HDR: light relative to 203 nits, highlights rolled off) or
    ``sdr`` (a BT.1886 display, gamma 2.4, white = 1); ``wide``: BT.2020 primaries (else BT.709)."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
    if transfer == "pq":
        light = pq_eotf(rgb) / REFERENCE_WHITE
    elif transfer == "hlg":
        light = hlg_eotf(rgb) / REFERENCE_WHITE
    elif transfer == "sdr":
        light = np.power(np.clip(rgb, 0, 1), 2.4)
    else:
        raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
    if wide:
        light = light @ BT2020_TO_BT709.T.astype(light.dtype)  # float32 in, float32 through: a 4K frame is 25M values
    light = np.maximum(light, 0)
    if transfer != "sdr":
        peak = light.max(axis=-1, keepdims=True)
        light = light * (roll_off(peak) / np.maximum(peak, 1e-12)).astype(light.dtype)
    return np.round(srgb_encode(light) * 255).astype(np.uint8)


def from_sdr(rgb8: np.ndarray, transfer: str) -> np.ndarray:
    """sRGB (H, W, 3) uint8 -> BT.2020 R'G'B' float in [0, 1] with SDR white at 203 nits: how an
    HDR camera would have recorded the picture (for test clips and checks of :func:`to_sdr`)."""
    light = srgb_decode(rgb8.astype(np.float64) / 255) @ np.linalg.inv(BT2020_TO_BT709).T
    light = np.maximum(light, 0)
    if transfer == "pq":
        return pq_inverse_eotf(light * REFERENCE_WHITE)
    if transfer == "hlg":
        # invert the OOTF for grey-ish pixels: scene = (display / peak)^(1/gamma), hue kept by the luma ratio
        display = light * REFERENCE_WHITE / HLG_PEAK
        yd = np.maximum(display @ BT2020_LUMA, 1e-12)[..., None]
        scene = display * np.power(yd, 1 / 1.2 - 1)
        return hlg_oetf(scene)
    raise ValueError(f"transfer must be pq or hlg, got {transfer!r}")
