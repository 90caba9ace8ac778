"""A finish's chunks as tasks for an executor (:mod:`stylemotion.runtime.executors`: this process,
worker processes, one per GPU, or a Ray cluster), and the finished video's frame sequence made
from them: chunks joined over their seams, in order, with the in-between frames of ``--fps``.

A chunk task carries the draft's frames it needs (uint8, at the draft's size), its settings and
log: a worker reads no file of the draft (a video draft's worker reads its chunk of the clip, as a
video render's shot does). The result is a pure function of the task, so the frames
are the same bits whatever the number of workers (on the CPU, at the same thread count).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from ..animation.framestyle import run_engine
from ..animation.motion import tween
from ..engine.backbone import pick_device
from ..engine.factory import EngineCache
from ..runtime.executors import Worker
from ..settings.sections import from_dict
from .chunks import Chunk, joined
from .config import FinishConfig
from .draft import Draft
from .refine import Finished, Finisher, as_float


@dataclass(frozen=True)
class ChunkTask:
    chunk: Chunk
    settings: dict  # the draft's settings as stored
    records: tuple  # the draft's log, one dict per frame
    hw: tuple[int, int]  # the draft's frame size
    cfg: dict  # FinishConfig.to_dict()
    frames: dict = field(hash=False, compare=False, default_factory=dict)  # index -> uint8 (1, 3, h, w), chunk.first .. end-1
    weights: str | None = None  # backbone weights file
    resample: Any = None  # a video draft: its clip's decoding rate (Draft.resample)

    @property
    def task_label(self) -> str:
        return self.chunk.task_label


def task_draft(task: ChunkTask) -> Draft:
    """The draft as a worker sees it: settings and log, no files."""
    return Draft(Path(), from_dict(dict(task.settings), "draft settings"), task.settings, {}, Path(), list(task.records), task.hw,
                 task.resample)


def finish_settings(draft: Draft, cfg: FinishConfig):  # type: ignore[no-untyped-def]
    """The draft's settings at the finished size (the paintings are read at the size it needs)."""
    return replace(draft.settings, run=replace(draft.settings.run, size=cfg.size))


def make_finisher(draft: Draft, cfg: FinishConfig, device: Any, cache: EngineCache, weights: str | None) -> Finisher:
    engine, styles = run_engine(finish_settings(draft, cfg), device, cache, weights)
    return Finisher(draft, engine, styles, cfg)


def finish_chunk(task: ChunkTask, worker: Worker, on_progress: Callable[[int, Any], None] | None = None) -> dict[int, Finished]:
    """Run one chunk in a worker (whose executor set its thread count); the network and paintings
    stay in the worker's engine cache for its next chunk. ``on_progress``: in this process only."""
    draft = task_draft(task)
    cfg = FinishConfig(**task.cfg)
    cache = worker.keep.setdefault("engines", EngineCache())
    key = ("finisher", task.cfg.get("size"), id(cache))
    finisher = worker.keep.get(key)
    if finisher is None or finisher.draft.stored != draft.stored:
        finisher = worker.keep[key] = make_finisher(draft, cfg, pick_device(worker.device), cache, task.weights)
    finisher.draft = draft
    finisher.styler.draft = draft
    c = task.chunk
    content = draft.clip_frames(c.first, c.end, finisher.hw) if draft.mode == "video" else None  # the worker reads the clip itself
    return finisher.render(c, as_float(task.frames), on_progress, content)


@dataclass
class OutFrame:
    """A frame of the finished video, as :func:`stylemotion.cli.render.render_to_files` keeps it."""

    index: int
    image: torch.Tensor  # (1, 3, H, W)
    iterations: int
    params: dict
    state: Any
    key: bool = True  # optimized (False: an in-between frame of --fps)
    preview: torch.Tensor | None = None  # the draft frame upscaled beside the finished one, for the report


def mix(a: Finished, b: Finished, w: float) -> Finished:
    """Frame j of two chunks across their seam: ``w`` of the later chunk's picture."""
    img = a.image + w * (b.image - a.image)
    params = {**b.params, "seam": round(w, 4), "iterations": a.iterations + b.iterations,
              "seconds": round(a.params.get("seconds", 0) + b.params.get("seconds", 0), 3)}
    return Finished(a.index, img, a.iterations + b.iterations, params)


def output_frames(done: Iterator[tuple[Chunk, dict[int, Finished]]], chunks: Sequence[Chunk], draft: Draft, factor: int,
                  start: int, state: Callable[[int], Any], preview: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
                  on_progress: Callable[[int, Any], None] | None = None) -> Iterator[OutFrame]:
    """The finished video's frames from ``start`` on: draft frame t is output frame ``factor * t``,
    and the ``factor - 1`` frames after it are in-betweens along the draft's motion from t to t+1
    (after the last frame, the motion goes on). ``state(i)``: the resume state after output frame
    i; ``on_progress(i, p)`` is told each finished frame's iterations as it is yielded."""
    n = draft.frames
    border = draft.settings.motion.border
    held: tuple[int, Finished] | None = None

    def emit(t: int, f: Finished, nxt: Finished | None) -> Iterator[OutFrame]:
        base = factor * t
        if base >= start:
            if on_progress is not None:
                on_progress(base, _Done(f.iterations, f.params.get("loss", float("nan"))))
            params = {**f.params, "frame": base, "draft_frame": t, "key": True}
            yield OutFrame(base, f.image, f.iterations, params, state(base), True, preview(t, f.image) if preview else None)
        for k in range(1, factor):
            i = base + k
            if i < start:
                continue
            img = tween(f.image, nxt.image if nxt is not None else None, draft.theta(t + 1), k / factor, border)
            params = {"frame": i, "draft_frame": round(t + k / factor, 4), "key": False, "iterations": 0, "loss": None}
            yield OutFrame(i, img, 0, params, state(i), False, None)

    for t, f, _ in joined(done, chunks, mix):
        if held is not None:
            yield from emit(held[0], held[1], f)
        held = (t, f)
    if held is not None:
        assert held[0] == n - 1
        yield from emit(held[0], held[1], None)


@dataclass
class _Done:
    advanced: int
    loss: float
