"""How long a run will take and how much memory it needs, measured before it starts.

The cost model is the engine's: an optimized image costs ``a + b x iterations`` at its size,
where ``b`` is one iteration (forward, backward, step) and ``a`` what a level or a frame costs
besides (its targets, the optimizer's set-up, the final evaluation, the frame loop's warps and
flow). Both are timed on the run's own device, with its own settings and images, in short probes:

* a single image: at each pyramid level, one optimization of 1 iteration and one of 1 + m;
* a frame loop (zoom, drift, video): the real frame generator on a 3-frame copy of the settings
  whose frames get 1, 1 and 1 + m iterations (frame 0 pays the first-call costs and is not
  counted); ``a`` and ``b`` come from frames 1 and 2.

The iterations are counted from the run's schedules. Early stopping (``tol``) can only make a run
shorter: the estimate is for the full budget. Peak memory is what the probe reached at the run's
largest size: the allocator's peak on CUDA, the resident size of the process on the CPU (it
includes the network, the style images and the L-BFGS history, which is allocated in full at the
start of every level). Nothing here prints or writes.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch

PROBE_EXTRA = 3  # m: the extra iterations of the longer probe


@dataclass
class Cost:
    """``fixed + per_iteration x n`` seconds for one level or frame at one size."""

    fixed: float
    per_iteration: float

    def __call__(self, iterations: int) -> float:
        return self.fixed + self.per_iteration * iterations


@dataclass
class Estimate:
    seconds: float  # predicted wall time of the run, set-up included
    peak_bytes: int  # predicted peak memory (see memory_kind)
    memory_kind: str  # "GPU memory (allocator peak)" or "resident memory"
    iterations: int  # optimizer iterations counted from the schedules
    lines: list[str] = field(default_factory=list)  # how it was counted, for the user


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Meter:
    """Peak memory on ``device`` from now on (CUDA), or of the process so far (CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    @property
    def kind(self) -> str:
        return "GPU memory (allocator peak)" if self.device.type == "cuda" else "resident memory"

    def peak(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux


def fit(t_short: float, t_long: float, m: int = PROBE_EXTRA) -> Cost:
    """The cost line through a 1-iteration and a (1 + m)-iteration timing."""
    b = max(0.0, (t_long - t_short) / m)
    return Cost(max(0.0, t_short - b), b)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def probe_level(run: Callable[[int], object], device: torch.device) -> Cost:
    """``run(n)`` optimizes one level for n iterations; timed after a discarded warm-up."""
    run(1)
    return fit(timed(lambda: run(1), device), timed(lambda: run(1 + PROBE_EXTRA), device))


def probe_frames(frames: Iterator[object], device: torch.device) -> Cost:
    """``frames`` is a frame generator over 3 frames with 1, 1 and 1 + PROBE_EXTRA iterations."""
    stamps = []
    sync(device)
    for _ in frames:
        sync(device)
        stamps.append(time.perf_counter())
    if len(stamps) != 3:
        raise ValueError(f"the probe yielded {len(stamps)} frames, expected 3")
    return fit(stamps[1] - stamps[0], stamps[2] - stamps[1])


def probe_schedule() -> str:
    """The iterations schedule of a frame probe: frames 0 and 1 get 1, frame 2 gets 1 + m."""
    return f"0:(1), 1:(1), 2:({1 + PROBE_EXTRA})"


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def image_estimate(levels: Sequence[tuple[tuple[int, int], int]], costs: Sequence[Cost], setup: float,
                   meter: Meter, tail: float = 0.0) -> Estimate:
    """A pyramid: (size, iterations) per level with the cost measured at that size."""
    seconds = setup + sum(c(n) for (_, n), c in zip(levels, costs)) + tail
    lines = [f"{h}x{w}: {n} iterations x {c.per_iteration * 1e3:.0f} ms + {c.fixed:.2f} s" for ((h, w), n), c in zip(levels, costs)]
    return Estimate(seconds, meter.peak(), meter.kind, sum(n for _, n in levels), lines + [f"set-up {setup:.1f} s"])


def frames_estimate(iterations: Sequence[int], cost: Cost, setup: float, meter: Meter, per_frame_io: float,
                    hw: tuple[int, int], in_between: int = 0) -> Estimate:
    """A frame loop: ``iterations`` per optimized frame, ``in_between`` warped-only frames."""
    keys = len(iterations)
    seconds = setup + sum(cost(n) for n in iterations) + (keys + in_between) * per_frame_io
    total = sum(iterations)
    h, w = hw
    lines = [f"{keys} optimized frames at {w}x{h}: {total} iterations x {cost.per_iteration * 1e3:.0f} ms "
             f"+ {cost.fixed:.2f} s per frame", f"writing each frame {per_frame_io * 1e3:.0f} ms; set-up {setup:.1f} s"]
    if in_between:
        lines.append(f"{in_between} in-between frames (cadence): warped, not optimized")
    return Estimate(seconds, meter.peak(), meter.kind, total, lines)


def free_device_memory(device: torch.device) -> int | None:
    """Bytes free on a CUDA device now (None elsewhere)."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)


def fitting_size(size: int, peak: int, free: int, base: int) -> int:
    """The largest long side (multiple of 16) whose peak fits ``free``: the part of the peak above
    ``base`` (the network and what does not grow with the image) scales with the pixel count."""
    grow = max(1, peak - base)
    room = max(0, free - base)
    return max(16, int(size * math.sqrt(room / grow) * 0.9) // 16 * 16)
