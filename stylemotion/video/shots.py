"""Shots of a clip rendered side by side: each shot is independent (it starts as frame 0 does, and
nothing of the shot before it is held), so shots go to an executor (:mod:`stylemotion.runtime.executors`:
worker processes, one per GPU, or a Ray cluster) and come back as the frames a sequential render
gives, bit for bit: the same settings, each shot's colour map fitted on its first frame, the same CPU thread count.

:func:`render_shot` runs in the worker; :func:`in_order` turns finished shots back into the
clip's frame sequence for the render loop (which saves, logs and encodes as it always does).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterator, Sequence

from ..engine.backbone import pick_device
from ..animation.framestyle import run_engine
from ..engine.factory import EngineCache
from ..runtime.executors import Worker
from ..settings.sections import from_dict
from .clip import ClipFrame, ClipState, ClipStylizer, bind_clip_song, clip_source


@dataclass(frozen=True)
class Shot:
    """Output frames [start, end) of a render, with what a worker needs to render them alone."""

    start: int
    end: int
    settings: dict  # Settings.to_dict() of the run
    hw: tuple[int, int]
    fps: Fraction | None  # resample rate of the input (None: its own frames)
    weights: str | None = None  # backbone weights file

    @property
    def task_label(self) -> str:
        """How an executor's messages name the shot."""
        return f"the shot of frames {self.start}..{self.end - 1}"


@dataclass
class _Done:
    """A finished frame as :func:`in_order` reports it to the render loop."""

    advanced: int
    loss: float


def render_shot(shot: Shot, worker: Worker) -> list[ClipFrame]:
    """Render one shot (in a worker process, whose executor set its thread count); its frames,
    images on CPU. The network and paintings stay in the worker's engine cache for its next shot."""
    s = from_dict(shot.settings, "shot settings")
    bind_clip_song(s)  # the clip's own audio, where the schedules use it
    cache = worker.keep.setdefault("engines", EngineCache())
    engine, styles = run_engine(s, pick_device(worker.device), cache, shot.weights)
    v = s.video
    stylizer = ClipStylizer(s, engine, styles, shot.hw)
    source = clip_source(v.input, v.start + shot.start * v.every, v.start + shot.end * v.every, v.every, shot.hw, shot.fps)
    frames = list(stylizer.frames(source, ClipState(next_frame=shot.start)))  # the shot's colour map: fitted on its first frame
    if shot.start > 0 and frames:
        frames[0].params["cut"] = True  # as the sequential render logs it
    return frames


def plan_shots(starts: Sequence[int], frames: int) -> list[tuple[int, int]]:
    """Shot starts (0 first) -> [start, end) ranges covering ``frames``."""
    bounds = [*starts, frames]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def in_order(done: Iterator[tuple[Shot, list[ClipFrame]]], shots: Sequence[Shot],
             on_progress: Callable[[int, Any], None] | None = None) -> Iterator[ClipFrame]:
    """Frames of shots that finish in any order, yielded in the clip's order (a finished shot
    waits for the ones before it); each frame's iterations are reported as it is yielded."""
    waiting: dict[int, list[ClipFrame]] = {}
    order = [sh.start for sh in shots]
    nxt = 0
    for shot, frames in done:
        waiting[shot.start] = frames
        while nxt < len(order) and order[nxt] in waiting:
            for f in waiting.pop(order[nxt]):
                if on_progress:
                    on_progress(f.index, _Done(f.iterations, f.loss))
                yield f
            nxt += 1
