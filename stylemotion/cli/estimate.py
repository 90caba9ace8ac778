"""``--estimate`` for the rendering commands, and the memory check before a CUDA render.

Each command builds what it would run (engine, inputs, frame generator) and hands the probes to
:mod:`stylemotion.runtime.estimate`; this module times the frame writes, prints the result and, on CUDA,
refuses a run whose measured peak would not fit the GPU's free memory. Imports no command.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from ..io.encode import VideoWriter
from ..errors import UserError
from ..runtime.estimate import Estimate, Meter, duration, fitting_size, frames_estimate, free_device_memory, gib, probe_frames, probe_schedule, sync
from ..io.images import data_uri, save_image, to_uint8
from ..io.report import page
from ..settings.schedule import Schedule
from .common import os_error_message

START = time.perf_counter()  # when the CLI was imported (after torch's import)


def setup_seconds() -> float:
    """Seconds from the process's start until now: the interpreter, torch's import, the inputs, the
    network and the style targets, which a real run spends too (Linux: from /proc; elsewhere from
    the CLI's import)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - START


def frame_io_seconds(hw: tuple[int, int], report: bool = True) -> float:
    """What writing one finished frame costs at ``hw``: its PNG, its video frame and (for the
    renders that keep one) the report page's thumbnails, timed in a temporary folder."""
    img = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as d:
        try:
            t = time.perf_counter()
            save_image(img, Path(d) / "f.png")
            writer = VideoWriter(Path(d) / "v.mp4", 12)
            writer.write(to_uint8(img))
            if report:
                page("x", [{"frame": 0, "loss": 1.0}], total_frames=1, running=True,
                     latest=data_uri(img, 480), thumbs=[(0, data_uri(img, 96))])
            seconds = time.perf_counter() - t
            writer.close()
        except OSError as e:
            raise UserError(f"--estimate: cannot time frame writes in {d}: {os_error_message(e)}") from None
    return seconds


def print_estimate(est: Estimate, what: str, device: torch.device) -> None:
    free = free_device_memory(device)
    fits = "" if free is None else (f" of {gib(free)} free" + ("" if est.peak_bytes < free else ": does NOT fit"))
    print(f"estimate for {what} on {device.type}: at most {duration(est.seconds)} (a ceiling of {est.iterations} iterations), "
          f"peak {est.memory_kind} {gib(est.peak_bytes)}{fits}")
    for line in est.lines:
        print(f"  {line}")
    print("  (measured with short probes on this machine; each pyramid level and each frame stops as soon as its loss "
          "settles (tol), usually well before its ceiling)")


def check_fits(device: torch.device, size: int, run_largest: Callable[[], object], what: str) -> None:
    """On CUDA, before any output is touched: one iteration at the run's largest size, and its
    allocator peak against the free memory. A run that would not fit is refused with a size that
    does; elsewhere nothing is checked (the CPU swaps rather than fails)."""
    if device.type != "cuda":
        return
    free = free_device_memory(device)
    meter = Meter(device)
    base = int(torch.cuda.memory_allocated(device))
    try:
        run_largest()
        sync(device)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise UserError(f"{what} at size {size} does not fit the GPU's free memory ({gib(free or 0)}); "
                        f"try --size {max(16, size // 2 // 16 * 16)} or --precision bf16") from None
    peak = meter.peak()
    if free is not None and peak - base > 0.95 * free:
        raise UserError(f"{what} at size {size} needs about {gib(peak)} of GPU memory, {gib(free)} is free; "
                        f"try --size {fitting_size(size, peak, free, base)} or --precision bf16")


def probe_settings(s):  # type: ignore[no-untyped-def]
    """A 3-frame copy of frame-loop settings whose frames get 1, 1 and 1 + m iterations (every
    frame optimized, no loop), for :func:`stylemotion.runtime.estimate.probe_frames`."""
    return replace(s, run=replace(s.run, frames=3, first_iterations=1, iterations=Schedule.parse(probe_schedule(), "probe"), cadence=1, loop=False))


def estimate_frame_loop(make_probe: Callable[[], object], iterations: list[int], in_between: int,
                        hw: tuple[int, int], device: torch.device, what: str) -> None:
    """--estimate for zoom, drift and video: probe the real frame generator, count, print."""
    meter = Meter(device)
    setup = setup_seconds()
    cost = probe_frames(iter(make_probe()), device)  # type: ignore[call-overload]
    est = frames_estimate(iterations, cost, setup, meter, frame_io_seconds(hw), hw, in_between)
    print_estimate(est, what, device)
