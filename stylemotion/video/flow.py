"""Optical flow with OpenCV, the only module that imports ``cv2`` (an optional extra).

Flow convention for the whole package: ``(B, 2, H, W)`` float32 in pixels, channel 0 = dx,
channel 1 = dy, and ``flow(a -> b)`` means ``a[p] ~ b[p + flow(p)]``: for each pixel of ``a``,
where it is found in ``b``. DIS (Kroeger et al. 2016) is the default: about 100x faster than the
DeepFlow that Ruder et al. used, with no learned weights. Farneback is the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..settings.choices import FLOW_METHODS, FLOW_QUALITIES

METHODS, QUALITIES = FLOW_METHODS, FLOW_QUALITIES
INSTALL_HINT = "optical flow needs OpenCV: pip install 'stylemotion[video]' (or opencv-python-headless)"


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return cv2


@dataclass
class FlowConfig:
    method: str = "dis"  # dis (fast and accurate) | farneback (fallback)
    quality: str = "medium"  # DIS preset: ultrafast | fast | medium (medium: ~10 ms at 256 px on a CPU core)

    def check(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"flow method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.quality not in QUALITIES:
            raise UserError(f"flow quality {self.quality!r} is not one of {', '.join(QUALITIES)}")


def _grey(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W) uint8 luminance."""
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"expected (1, 3, H, W), got {tuple(x.shape)}")
    y = (0.299 * x[0, 0] + 0.587 * x[0, 1] + 0.114 * x[0, 2]).clamp(0, 1)
    return (y.detach().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


class FlowEstimator:
    """``est(a, b)`` -> flow(a -> b), (1, 2, H, W). One OpenCV object, reused for every pair."""

    def __init__(self, cfg: FlowConfig | None = None) -> None:
        self.cfg = cfg or FlowConfig()
        self.cfg.check()
        cv2 = _cv2()
        self.cv2 = cv2
        if self.cfg.method == "dis":
            preset = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                      "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[self.cfg.quality]
            self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape:
            raise ValueError(f"flow needs two frames of one size, got {tuple(a.shape)} and {tuple(b.shape)}")
        ga, gb = _grey(a), _grey(b)
        if self.cfg.method == "dis":
            f = self.dis.calc(ga, gb, None)
        else:
            f = self.cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 15, 3, 5, 1.2, 0)
        return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))).unsqueeze(0).float()

    def pair(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(flow a -> b, flow b -> a): forward and backward, for the consistency check."""
        return self(a, b), self(b, a)
