"""The finish's knobs (a leaf: nothing of the package but errors). Measured in docs/measurements.md,
"Finish: draft small, then finish large"."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import UserError


@dataclass
class FinishConfig:
    size: int = 720  # long side of the finished frames, px (the draft's aspect kept)
    fps_factor: int = 1  # output frames per draft frame: the in-betweens come from the draft's exact motion
    iterations: int = 8  # per carried frame: it starts from the previous finished frame's detail, moved
    first_iterations: int = 40  # a chunk's first frame starts from the upscaled draft: the strokes grow from nothing
    chunk: int = 24  # frames per chunk: chunks are independent of each other, so they run side by side
    overlap: int = 3  # frames each chunk also renders before its own, crossfaded over the seam
    # the draft at its own size, held by the finished frame shrunk to it (pixel MSE, ~1e-4 when
    # close): the composition, colours and motion stay the draft's
    consistency_weight: float = 2000.0
    # the previous finished frame carried by the draft's motion (pixel MSE where the draft itself
    # did not change): the added strokes move with the picture instead of shimmering
    temporal_weight: float = 200.0
    # the draft's style weight times this: the finished size has room for more of the painting
    style_gain: float = 1.0
    precision: str = "auto"  # the arithmetic (a new command line defaults it to the draft's run.precision)
    # content and style weights are the draft's (its schedules, at each frame)

    def check(self) -> None:
        ints = {"size": (32, 8192), "fps_factor": (1, 8), "iterations": (0, 5000), "first_iterations": (1, 5000),
                "chunk": (2, 100000), "overlap": (0, 100)}
        for name, (lo, hi) in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or not lo <= v <= hi:
                raise UserError(f"finish {name} must be an integer in [{lo}, {hi}], got {v!r}")
        if self.overlap >= self.chunk:
            raise UserError(f"finish overlap ({self.overlap}) must be smaller than the chunk ({self.chunk} frames)")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise UserError(f"finish precision must be auto, fp32 or bf16, got {self.precision!r}")
        for name in ("consistency_weight", "temporal_weight", "style_gain"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 1e7):
                raise UserError(f"finish {name} must be a number in [0, 1e7], got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)
