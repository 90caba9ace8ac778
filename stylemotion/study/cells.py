"""One study cell, rendered in whichever process an executor picks: an ``image`` still or a
short ``zoom`` clip, written atomically beside its settings sidecar. Library code: no printing.

The style targets (Gram matrices at every pyramid level) depend only on the painting, the output
size and the style settings, not on the photo, so they are computed once per (painting, size,
style settings) and shared by every cell that needs them (through Ray's object store on a cluster).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from functools import partial
from typing import Iterator, Sequence

import torch

from ..engine.backbone import pick_device
from ..io.encode import VideoWriter
from ..engine.factory import BackboneSpec, EngineCache, build_engine, style_long_side
from ..runtime.executors import InProcess, LocalPool, RayExecutor, Worker
from ..runtime.threads import threads
from ..io.images import data_uri, load_image, resize_long_side, save_image, to_tensor, to_uint8
from ..engine.optimize import Pyramid, stylize
from ..io.paths import atomic_write_text
from ..io.report import page
from ..animation.sequence import Sequencer
from ..settings.sections import style_config
from .plan import Cell, image_configs, plain_fields, zoom_settings


@dataclass
class CellResult:
    key: str
    path: str  # output file, relative to the study folder
    seconds: float
    skipped: bool = False
    thumb: str = ""  # a PNG to show (the image itself, or a zoom clip's last frame)


def targets_key(cell: Cell) -> tuple:
    """What a cell's style targets depend on: the painting, the size, the style and pyramid settings."""
    style, optim, run = image_configs(cell)
    return (cell.style, run["size"], run["pooling"], json.dumps(plain_fields(dataclasses.asdict(style)), sort_keys=True),
            optim.pyramid_min, optim.pyramid_step)


def compute_targets(cell: Cell, device: str = "cpu", cache: EngineCache | None = None) -> dict[int, dict[str, torch.Tensor]]:
    """Style targets of a cell's painting at every pyramid level, keyed by the level's long side
    (the same for every photo: contents are resized to the cell's size on the long side)."""
    style_cfg, optim, run = image_configs(cell)
    cache = cache or EngineCache()
    with threads(cell.threads):
        engine = build_engine(BackboneSpec(pooling=run["pooling"]), style_cfg, pick_device(device), cache)
        style = cache.style_image(cell.style, style_long_side(run["size"], style_cfg))
        out = {}
        for hw in Pyramid.of((run["size"], run["size"]), optim).sizes:
            out[hw[0]] = {k: v.cpu() for k, v in engine.style_targets([style], None, hw).items()}
    return out


def is_done(cell: Cell, out_dir: Path) -> bool:
    """The cell's output and its settings sidecar exist, and the stored settings are this cell's."""
    out = out_dir / "cells" / f"{cell.key}{cell.suffix}"
    side = out_dir / "cells" / f"{cell.key}.json"
    if not (out.is_file() and side.is_file()):
        return False
    try:
        stored = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(stored, dict) and stored.get("settings") == json.loads(json.dumps(cell.settings()))


def render_cell(cell: Cell, out_dir: str | os.PathLike, targets: dict[int, dict] | None = None, device: str = "cpu",
                cache: EngineCache | None = None) -> CellResult:
    """Render one cell into ``out_dir/cells/KEY.png|mp4`` (+ ``KEY.json``), atomically; skip it
    if it is already done. ``targets`` are shared style targets (else computed, and kept in
    ``cache`` for the next cell of the same painting)."""
    cache = cache or EngineCache()
    out_dir = Path(out_dir)
    cells = out_dir / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    key = cell.key
    rel = f"cells/{key}{cell.suffix}"
    thumb = rel if cell.mode == "image" else f"cells/{key}_last.png"
    if is_done(cell, out_dir):
        return CellResult(key, rel, 0.0, True, thumb)
    t0 = time.perf_counter()
    with threads(cell.threads):
        if cell.mode == "image":
            image = _render_image(cell, targets, device, cache)
            save_image(image, cells / f"{key}.png")
        else:
            last = _render_zoom(cell, cells / f"{key}.mp4", device, cache)
            save_image(last, cells / f"{key}_last.png")
    seconds = time.perf_counter() - t0
    atomic_write_text(cells / f"{key}.json", json.dumps({"settings": cell.settings(), "seconds": round(seconds, 3), "command": cell.command(key)}, indent=2, sort_keys=True))
    return CellResult(key, rel, seconds, False, thumb)


def _render_image(cell: Cell, targets: dict[int, dict] | None, device: str, cache: EngineCache) -> torch.Tensor:
    style_cfg, optim, run = image_configs(cell)
    engine = build_engine(BackboneSpec(pooling=run["pooling"]), style_cfg, pick_device(device), cache)
    if targets is None:
        targets = cache.targets(targets_key(cell), lambda: compute_targets(cell, device, cache))
    content = to_tensor(resize_long_side(load_image(cell.content, "content image"), run["size"]))
    style = cache.style_image(cell.style, style_long_side(run["size"], style_cfg))
    dev = engine.device
    return stylize(engine, content, [style], optim, style_targets=lambda hw: {k: v.to(dev) for k, v in targets[max(hw)].items()})


def _render_zoom(cell: Cell, path: Path, device: str, cache: EngineCache) -> torch.Tensor:
    s = zoom_settings(cell)
    engine = build_engine(BackboneSpec(pooling=s.run.pooling), style_config(s), pick_device(device), cache)
    content = to_tensor(load_image(s.run.content, "content image"))
    style = cache.style_image(cell.style, style_long_side(s.run.size, s.style.style_scale))
    seq = Sequencer(s, engine, content, [style])
    writer = VideoWriter(path, s.run.fps, s.output.crf, metadata=s.to_dict())
    last = None
    records: list[dict] = []
    thumbs: list[tuple[int, str]] = []
    step = max(1, s.run.frames // 12)  # about a dozen thumbnails in the report's strip
    try:
        for frame in seq.frames():
            writer.write(to_uint8(frame.image))
            last = frame.image
            records.append(frame.params)
            if frame.index % step == 0 or frame.index == s.run.frames - 1:
                thumbs.append((frame.index, data_uri(frame.image, 96)))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    assert last is not None
    # the cell's report page (the gallery links it): its schedules, loss and seconds per frame
    report = page(f"study cell {cell.key}", records, total_frames=s.run.frames, running=False,
                  latest=data_uri(last, 480), thumbs=thumbs, meta=cell.command(cell.key))
    atomic_write_text(report_path(path), report)
    return last


def report_path(clip: Path) -> Path:
    """A zoom cell's report page, beside its clip."""
    return clip.with_name(clip.stem + "_report.html")




def _cell_task(cell: Cell, worker: Worker, out_dir: str) -> CellResult:
    return render_cell(cell, out_dir, worker.shared, worker.device, worker.keep.setdefault("engines", EngineCache()))


def _share_key(cell: Cell, out_dir: str) -> tuple | None:
    """Cells that share style targets (image cells still to render) share them by this key."""
    return targets_key(cell) if cell.mode == "image" and not is_done(cell, Path(out_dir)) else None


def run_cells(executor: InProcess | LocalPool | RayExecutor, cells: Sequence[Cell], out_dir: str | os.PathLike) -> Iterator[tuple[Cell, CellResult]]:
    """Render ``cells`` into ``out_dir`` on ``executor``; (cell, result) as each finishes."""
    out = str(out_dir)
    return executor.map(partial(_cell_task, out_dir=out), cells, (partial(_share_key, out_dir=out), compute_targets))
