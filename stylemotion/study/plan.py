"""Style studies: the cross product of photos x paintings x settings, as idempotent cells.

A study is a list of :class:`Cell`s. Each cell is one ``image`` render (or a short ``zoom`` clip)
whose fully resolved settings hash to its file name, so a cell whose output exists with matching
stored settings is skipped: a stopped study continues where it left off. This module plans the
cells (sweeps, jobs files) and lays them out in a grid; :mod:`stylemotion.study.cells` renders one,
and :mod:`stylemotion.runtime.executors` runs many (in process, a local pool, or Ray).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..engine.config import DEFAULT_POOLING, OPTIM_KEYS, STYLE_KEYS
from ..errors import UserError
from ..engine.optimize import OptimConfig, StyleConfig
from ..io.paths import parse_toml, read_text, resolved
from ..settings.playlist import Entry
from ..settings.presets import apply_values, load_preset
from ..settings.sections import Settings, check_value

MODES = ("image", "zoom")
MAX_CELLS = 10_000  # a study bigger than this is a typo in a sweep
ZOOM_CELL_FRAMES = 12  # default length of a --mode zoom cell (a short clip to compare looks)
# keys a study can sweep in image mode: every one has an `image` flag, so each cell reproduces
IMAGE_STYLE_KEYS, IMAGE_OPTIM_KEYS = STYLE_KEYS, OPTIM_KEYS  # the engine configs' own fields
IMAGE_RUN_KEYS = ("size", "pooling")


@dataclass(frozen=True)
class Cell:
    """One render of a study. ``values``: the (key, value) settings that vary or were set."""

    content: str
    style: str
    values: tuple[tuple[str, Any], ...] = ()
    mode: str = "image"
    preset: str | None = None  # zoom mode: the preset the values apply to
    size: int = 256  # long side in pixels (run.size)
    threads: int = 1  # torch CPU threads per cell: fixed, so every executor gives the same pixels

    @property
    def task_label(self) -> str:
        """How an executor's messages name the cell."""
        return f"cell {self.key}"

    def settings(self) -> dict[str, Any]:
        """Fully resolved settings (JSON-able): what the render depends on, nothing else."""
        if self.mode == "image":
            style, optim, run = image_configs(self)
            return {"mode": "image", "content": self.content, "style": self.style, "run": run,
                    "style_cfg": plain_fields(dataclasses.asdict(style)), "optim": plain_fields(dataclasses.asdict(optim))}
        return {"mode": "zoom", **zoom_settings(self).to_dict()}

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def suffix(self) -> str:
        return ".png" if self.mode == "image" else ".mp4"

    def label(self, keys: Sequence[str]) -> str:
        parts = []
        for k in keys:
            if k == "content":
                parts.append(Path(self.content).stem)
            elif k == "style":
                parts.append(Path(self.style).stem)
            else:
                parts.append(f"{k.split('.')[-1]}={_fmt(dict(self.values)[k])}")
        return ", ".join(parts)

    def command(self, out: str = "out") -> str:
        """The stylemotion command line that renders this cell on its own."""
        vals = dict(self.values)
        if self.mode == "image":
            args = ["stylemotion", "image", self.content, "--style", self.style, "--size", str(self.size)]
            for k, v in sorted(vals.items()):
                name = k.split(".", 1)[1]
                if name == "size":
                    continue
                if isinstance(v, bool):
                    if v:
                        args.append(f"--{name.replace('_', '-')}")
                    continue
                args += [f"--{name.replace('_', '-')}", ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)]
            args += ["-o", f"{out}.png"]
        else:
            args = ["stylemotion", "zoom", "--preset", self.preset or "deepdream-like", "--content", self.content,
                    "--style", self.style, "--size", str(self.size)]
            for k, v in sorted(vals.items()):
                if k != "run.size":
                    args += ["--set", f"{k}={json.dumps(v)}"]
            args += ["-o", f"{out}.mp4"]
        return " ".join(shlex.quote(a) for a in args)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt(x) for x in v)
    return str(v)


def plain_fields(d: dict) -> dict:
    """A config's fields (``dataclasses.asdict``) with tuples as lists: as JSON stores them."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def image_configs(cell: Cell) -> tuple[StyleConfig, OptimConfig, dict[str, Any]]:
    style, optim = StyleConfig(), OptimConfig()
    run = {"size": cell.size, "pooling": DEFAULT_POOLING, "backbone": "vgg16-hed"}
    for k, v in cell.values:
        sec, _, name = k.partition(".")
        if sec == "style" and name in IMAGE_STYLE_KEYS:
            default = getattr(style, name)
            style = dataclasses.replace(style, **{name: _typed(k, default, v)})
        elif sec == "optim" and name in IMAGE_OPTIM_KEYS:
            optim = dataclasses.replace(optim, **{name: _typed(k, getattr(optim, name), v)})
        elif sec == "run" and name in IMAGE_RUN_KEYS:
            run[name] = _typed(k, run[name], v)
        else:
            valid = [f"style.{n}" for n in IMAGE_STYLE_KEYS] + [f"optim.{n}" for n in IMAGE_OPTIM_KEYS] + [f"run.{n}" for n in IMAGE_RUN_KEYS]
            raise UserError(f"study: {k!r} cannot be set in image mode; valid: {', '.join(valid)}")
    return style, optim, run


def _typed(key: str, default: Any, v: Any) -> Any:
    """A swept value of the type its setting has, checked as a preset's value is (the ranges of
    the image configs are checked by their own ``check``)."""
    return check_value(f"study: {key}", default, v, ("image", key))


def zoom_settings(cell: Cell) -> Settings:
    s = load_preset(cell.preset or "deepdream-like")
    values = [("study", *k.split(".", 1), list(v) if isinstance(v, tuple) else v) for k, v in cell.values if k != "run.size"]
    values += [("study", "run", "size", cell.size), ("study", "run", "content", cell.content)]
    if not any(k == "run.frames" for k, _ in cell.values):
        values.append(("study", "run", "frames", min(s.run.frames, ZOOM_CELL_FRAMES)))
    s = apply_values(s, values)
    s.playlist = [Entry(cell.style, max(1, s.run.frames), 0)]
    return s


def check_cell(cell: Cell) -> None:
    """Every value of a cell, before any work (UserError naming the key)."""
    if cell.mode not in MODES:
        raise UserError(f"study: mode {cell.mode!r} is not one of {', '.join(MODES)}")
    if not 16 <= cell.size <= 8192:
        raise UserError(f"study: size {cell.size} is outside 16..8192")
    if cell.mode == "image":
        style, optim, run = image_configs(cell)
        style.check(arch="vgg16")
        optim.check()
        if run["pooling"] not in ("avg", "max"):
            raise UserError(f"study: run.pooling {run['pooling']!r} is not avg or max")
    else:
        zoom_settings(cell)


# ---------------------------------------------------------------------------------------------
# planning


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """``section.key=v1,v2,...`` -> (key, values). The right side is read as the items of a TOML
    array, so strings that contain commas (schedules) are quoted: ``motion.zoom="0:(1), 9:(1.1)"``."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected section.key=value[,value...], e.g. style.style_weight=1,3,10")
    key, rhs = (x.strip() for x in text.split("=", 1))
    if key.count(".") != 1:
        raise UserError(f"--set {text!r}: the key must be section.key, e.g. style.style_weight")
    try:
        values = parse_toml(f"v = [{rhs}]", f"--set {key}")["v"]
    except UserError:
        values = [v.strip() for v in rhs.split(",")]  # bare words: optimizer=lbfgs,adam
    if not values:
        raise UserError(f"--set {key}: no values")
    if len(values) > 100:
        raise UserError(f"--set {key}: more than 100 values")
    return key, values


def plan(contents: Sequence[str], styles: Sequence[str], sweeps: Sequence[tuple[str, list[Any]]], mode: str = "image",
         preset: str | None = None, size: int = 256, threads: int = 1) -> list[Cell]:
    """The cross product, contents outermost; each cell checked before any work."""
    if not contents or not styles:
        raise UserError("a study needs at least one --content and one --style")
    keys = [k for k, _ in sweeps]
    if len(set(keys)) != len(keys):
        raise UserError(f"--set names {sorted(k for k in keys if keys.count(k) > 1)[0]} twice; give its values in one --set")
    total = len(contents) * len(styles) * _prod(len(v) for _, v in sweeps)
    if total > MAX_CELLS:
        raise UserError(f"the study has {total} cells; the limit is {MAX_CELLS}")
    cells = []
    for c, s in itertools.product(contents, styles):
        for combo in itertools.product(*[v for _, v in sweeps]):
            values = tuple(zip(keys, (tuple(x) if isinstance(x, list) else x for x in combo)))
            sz = size
            for k, v in values:
                if k == "run.size":
                    if isinstance(v, bool) or not isinstance(v, int):
                        raise UserError(f"study: run.size = {v!r} must be an integer")
                    sz = v
            cell = Cell(str(c), str(s), values, mode, preset, sz, threads)
            check_cell(cell)
            cells.append(cell)
    return cells


def _prod(xs: Iterable[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def load_jobs(path: str | os.PathLike, threads: int = 1) -> list[Cell]:
    """Cells from a jobs file: ``[[job]]`` tables with ``content`` and ``style`` (a path or a list),
    optional ``mode``, ``preset``, ``size`` and a ``[job.set]`` table of values or lists to sweep.
    Relative paths are relative to the file."""
    p = Path(path)
    data = parse_toml(read_text(p, "jobs file"), f"jobs file {p}")
    jobs = data.get("job")
    if set(data) - {"job"} or not isinstance(jobs, list) or not jobs:
        raise UserError(f"jobs file {p}: expected one or more [[job]] tables and nothing else")
    base = resolved(p).parent
    cells: list[Cell] = []
    for i, job in enumerate(jobs):
        where = f"jobs file {p}: job {i + 1}"
        if not isinstance(job, dict):
            raise UserError(f"{where}: must be a table")
        unknown = set(job) - {"content", "style", "mode", "preset", "size", "set"}
        if unknown:
            raise UserError(f"{where}: unknown key {sorted(unknown)[0]}; valid: content, style, mode, preset, size, set")

        def paths(key: str) -> list[str]:
            v = job.get(key)
            items = [v] if isinstance(v, str) else v
            if not isinstance(items, list) or not items or not all(isinstance(x, str) and x for x in items):
                raise UserError(f"{where}: {key} must be a path or a list of paths")
            return [str(Path(x) if Path(x).is_absolute() else base / x) for x in items]

        mode = job.get("mode", "image")
        size = job.get("size", 256)
        preset = job.get("preset")
        if not isinstance(mode, str) or (preset is not None and not isinstance(preset, str)):
            raise UserError(f"{where}: mode and preset must be strings")
        if isinstance(size, bool) or not isinstance(size, int):
            raise UserError(f"{where}: size must be an integer")
        sets = job.get("set", {})
        if not isinstance(sets, dict):
            raise UserError(f"{where}: set must be a table of section.key = value or [values]")
        sweeps = []
        for sec, body in sets.items():
            if not isinstance(body, dict):
                raise UserError(f"{where}: set.{sec} must be a table of keys")
            for k, v in body.items():
                if _is_list_setting(k):  # a list sets it; a list of lists sweeps it
                    values = v if isinstance(v, list) and v and all(isinstance(x, list) for x in v) else [v]
                else:
                    values = v if isinstance(v, list) else [v]
                sweeps.append((f"{sec}.{k}", values))
        if preset and preset.endswith((".toml", ".json")) and not Path(preset).is_absolute():
            preset = str(base / preset)
        cells += plan(paths("content"), paths("style"), sweeps, mode, preset, size, threads)
    return cells


def _is_list_setting(key: str) -> bool:
    return key in ("content_layers", "style_layers", "style_layer_weights", "long_term")


# ---------------------------------------------------------------------------------------------
# layout of the contact sheet and gallery


@dataclass
class Grid:
    """Which cell goes where: rows and columns named by what varies."""

    row_keys: list[str]
    col_keys: list[str]
    rows: list[str] = field(default_factory=list)
    cols: list[str] = field(default_factory=list)
    at: dict[tuple[int, int], Cell] = field(default_factory=dict)


def grid(cells: Sequence[Cell]) -> Grid:
    """Split the dimensions that vary (content, style, each swept key) between rows and columns."""
    dims: list[str] = []
    if len({c.content for c in cells}) > 1:
        dims.append("content")
    if len({c.style for c in cells}) > 1:
        dims.append("style")
    keys: list[str] = []
    for c in cells:
        for k, _ in c.values:
            if k not in keys:
                keys.append(k)
    dims += [k for k in keys if len({json.dumps(dict(c.values).get(k), default=str) for c in cells}) > 1]
    if not dims:
        dims = ["style"]
    split = (len(dims) + 1) // 2 if len(dims) > 1 else 0
    g = Grid(dims[:split], dims[split:])
    for c in cells:
        r, col = c.label(g.row_keys) if g.row_keys else "", c.label(g.col_keys)
        if r not in g.rows:
            g.rows.append(r)
        if col not in g.cols:
            g.cols.append(col)
        g.at.setdefault((g.rows.index(r), g.cols.index(col)), c)
    return g
