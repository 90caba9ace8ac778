"""Style studies: the cross product of photos x paintings x settings, as idempotent jobs.

A study is a list of :class:`Cell`s. Each cell is one ``image`` render (or a short ``zoom`` clip)
whose fully resolved settings hash to its file name, so a cell whose output exists with matching
stored settings is skipped: a stopped study continues where it left off. Outputs and their
settings sidecars are written atomically. Executors run cells and hand results back as they
finish: :class:`InProcess` (default), :class:`LocalPool` (one worker process per GPU) and
:class:`RayExecutor` (``ray`` is an optional extra, imported only here). Library code: no printing.

The style targets (Gram matrices at every pyramid level) depend only on the painting, the output
size and the style settings, not on the photo, so they are computed once per (painting, size,
style settings) and shared by all cells that need them (through Ray's object store on a cluster).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import shlex
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from .errors import UserError
from .paths import parse_toml, read_text, resolved, unique_temp

MODES = ("image", "zoom")
MAX_CELLS = 10_000  # a study bigger than this is a typo in a sweep
ZOOM_CELL_FRAMES = 12  # default length of a --mode zoom cell (a short clip to compare looks)
# keys a study can sweep in image mode: every one has an `image` flag, so each cell reproduces
IMAGE_STYLE_KEYS = ("content_weight", "style_weight", "tv_weight", "style_scale", "content_layers", "style_layers",
                    "style_layer_weights", "style_loss")
IMAGE_OPTIM_KEYS = ("iterations", "optimizer", "lr", "tol", "init", "seed", "pyramid_min", "pyramid_step", "avg_decay", "original_colors", "palette")
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

    def settings(self) -> dict[str, Any]:
        """Fully resolved settings (JSON-able): what the render depends on, nothing else."""
        if self.mode == "image":
            style, optim, run = _image_configs(self)
            return {"mode": "image", "content": self.content, "style": self.style, "run": run,
                    "style_cfg": _jsonable(dataclasses.asdict(style)), "optim": _jsonable(dataclasses.asdict(optim))}
        return {"mode": "zoom", **_zoom_settings(self).to_dict()}

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


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _image_configs(cell: Cell):  # type: ignore[no-untyped-def]
    from .backbone import DEFAULT_POOLING
    from .optimize import OptimConfig, StyleConfig

    style, optim = StyleConfig(), OptimConfig()
    run = {"size": cell.size, "pooling": DEFAULT_POOLING, "backbone": "vgg16-hed"}
    for k, v in cell.values:
        sec, _, name = k.partition(".")
        if sec == "style" and name in IMAGE_STYLE_KEYS:
            default = getattr(style, name)
            style = dataclasses.replace(style, **{name: _coerce(k, default, v)})
        elif sec == "optim" and name in IMAGE_OPTIM_KEYS:
            optim = dataclasses.replace(optim, **{name: _coerce(k, getattr(optim, name), v)})
        elif sec == "run" and name in IMAGE_RUN_KEYS:
            run[name] = _coerce(k, run[name], v)
        else:
            valid = [f"style.{n}" for n in IMAGE_STYLE_KEYS] + [f"optim.{n}" for n in IMAGE_OPTIM_KEYS] + [f"run.{n}" for n in IMAGE_RUN_KEYS]
            raise UserError(f"study: {k!r} cannot be set in image mode; valid: {', '.join(valid)}")
    return style, optim, run


def _coerce(key: str, default: Any, v: Any) -> Any:
    """A swept value of the type its setting has (UserError naming the key otherwise)."""
    try:
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise TypeError
            return v
        if isinstance(default, int):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError
            return v
        if isinstance(default, float):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError
            return float(v)
        if isinstance(default, tuple):
            if not isinstance(v, (list, tuple)) or not v:
                raise TypeError
            return tuple(float(x) if isinstance(default[0], float) else x for x in v)
        if isinstance(default, str):
            if not isinstance(v, str):
                raise TypeError
            return v
    except (TypeError, ValueError):
        raise UserError(f"study: {key} = {v!r} has the wrong type; expected {type(default).__name__}") from None
    return v


def _zoom_settings(cell: Cell):  # type: ignore[no-untyped-def]
    from .playlist import Entry
    from .presets import apply_values, load_preset

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
        style, optim, run = _image_configs(cell)
        style.check(arch="vgg16")
        optim.check()
        if run["pooling"] not in ("avg", "max"):
            raise UserError(f"study: run.pooling {run['pooling']!r} is not avg or max")
    else:
        _zoom_settings(cell)


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
# rendering one cell (runs in whichever process the executor picks)


@dataclass
class CellResult:
    key: str
    path: str  # output file, relative to the study folder
    seconds: float
    skipped: bool = False
    thumb: str = ""  # a PNG to show (the image itself, or a zoom clip's last frame)


_BACKBONES: dict[tuple, Any] = {}  # per process: one network per (pooling, device)
_TARGETS: dict[tuple, dict] = {}  # per process: style targets per (painting, size, style settings)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _backbone(pooling: str, device: str):  # type: ignore[no-untyped-def]
    from .backbone import load_backbone, pick_device

    key = (pooling, device)
    if key not in _BACKBONES:
        _BACKBONES[key] = load_backbone("vgg16-hed", pooling, None, pick_device(device))
    return _BACKBONES[key]


def targets_key(cell: Cell) -> tuple:
    """What a cell's style targets depend on: the painting, the size, the style and pyramid settings."""
    style, optim, run = _image_configs(cell)
    return (cell.style, run["size"], run["pooling"], json.dumps(_jsonable(dataclasses.asdict(style)), sort_keys=True),
            optim.pyramid_min, optim.pyramid_step)


def compute_targets(cell: Cell, device: str = "cpu") -> dict[int, dict[str, torch.Tensor]]:
    """Style targets of a cell's painting at every pyramid level, keyed by the level's long side
    (the same for every photo: contents are resized to the cell's size on the long side)."""
    from .images import load_image, to_tensor
    from .optimize import StyleEngine, fit_style, pyramid_sizes

    style_cfg, optim, run = _image_configs(cell)
    with torch_threads(cell.threads):
        engine = StyleEngine(_backbone(run["pooling"], device), style_cfg)
        style = fit_style(to_tensor(load_image(cell.style, "style image")), max(8, round(run["size"] * style_cfg.style_scale)))
        out = {}
        for hw in pyramid_sizes(run["size"], run["size"], optim.pyramid_min, optim.pyramid_step):
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


def render_cell(cell: Cell, out_dir: str | os.PathLike, targets: dict[int, dict] | None = None, device: str = "cpu") -> CellResult:
    """Render one cell into ``out_dir/cells/KEY.png|mp4`` (+ ``KEY.json``), atomically; skip it
    if it is already done. ``targets`` are shared style targets (else computed, once per process)."""
    from .images import save_image

    out_dir = Path(out_dir)
    cells = out_dir / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    key = cell.key
    rel = f"cells/{key}{cell.suffix}"
    thumb = rel if cell.mode == "image" else f"cells/{key}_last.png"
    if is_done(cell, out_dir):
        return CellResult(key, rel, 0.0, True, thumb)
    t0 = time.perf_counter()
    with torch_threads(cell.threads):
        if cell.mode == "image":
            image = _render_image(cell, targets, device)
            save_image(image, cells / f"{key}.png")
        else:
            last = _render_zoom(cell, cells / f"{key}.mp4", device)
            save_image(last, cells / f"{key}_last.png")
    seconds = time.perf_counter() - t0
    _atomic_json(cells / f"{key}.json", {"settings": cell.settings(), "seconds": round(seconds, 3), "command": cell.command(key)})
    return CellResult(key, rel, seconds, False, thumb)


def _render_image(cell: Cell, targets: dict[int, dict] | None, device: str) -> torch.Tensor:
    from .images import load_image, resize_long_side, to_tensor
    from .optimize import StyleEngine, fit_style, stylize

    style_cfg, optim, run = _image_configs(cell)
    engine = StyleEngine(_backbone(run["pooling"], device), style_cfg)
    if targets is None:
        tk = targets_key(cell)
        if tk not in _TARGETS:
            _TARGETS[tk] = compute_targets(cell, device)
        targets = _TARGETS[tk]
    content = to_tensor(resize_long_side(load_image(cell.content, "content image"), run["size"]))
    style = fit_style(to_tensor(load_image(cell.style, "style image")), max(8, round(run["size"] * style_cfg.style_scale)))
    dev = engine.device
    return stylize(engine, content, [style], optim, style_targets=lambda hw: {k: v.to(dev) for k, v in targets[max(hw)].items()})


def _render_zoom(cell: Cell, path: Path, device: str) -> torch.Tensor:
    from .encode import VideoWriter
    from .images import data_uri, load_image, to_tensor, to_uint8
    from .optimize import StyleEngine, fit_style
    from .settings import style_config
    from .report import page
    from .sequence import Sequencer

    s = _zoom_settings(cell)
    engine = StyleEngine(_backbone(s.run.pooling, device), style_config(s))
    content = to_tensor(load_image(s.run.content, "content image"))
    style = fit_style(to_tensor(load_image(cell.style, "style image")), max(8, round(s.run.size * s.style.style_scale)))
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
    _atomic_text(report_path(path), report)
    return last


def report_path(clip: Path) -> Path:
    """A zoom cell's report page, beside its clip."""
    return clip.with_name(clip.stem + "_report.html")


def _atomic_json(path: Path, data: dict) -> None:
    _atomic_text(path, json.dumps(data, indent=2, sort_keys=True))


def _atomic_text(path: Path, text: str) -> None:
    tmp = unique_temp(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# executors: run(cells, out_dir) yields (cell, CellResult) as each finishes


class InProcess:
    """One cell at a time in this process (the default)."""

    name = "in-process"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def run(self, cells: Sequence[Cell], out_dir: Path) -> Iterator[tuple[Cell, CellResult]]:
        for c in cells:
            yield c, render_cell(c, out_dir, None, self.device)

    def close(self) -> None:
        pass


def _pool_init(devices: Any) -> None:
    """Each pool worker takes one device from the queue (one worker per GPU)."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = devices.get()


_WORKER_DEVICE = "cpu"


def _pool_render(cell: Cell, out_dir: str) -> CellResult:
    return render_cell(cell, out_dir, None, _WORKER_DEVICE)


class LocalPool:
    """Worker processes on this machine, one per device (``cuda:0``, ``cuda:1``, ... or CPUs)."""

    name = "local pool"

    def __init__(self, devices: Sequence[str]) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # CUDA cannot be forked
        q = ctx.Manager().Queue()
        for d in devices:
            q.put(d)
        self.pool = ProcessPoolExecutor(len(devices), mp_context=ctx, initializer=_pool_init, initargs=(q,))

    def run(self, cells: Sequence[Cell], out_dir: Path) -> Iterator[tuple[Cell, CellResult]]:
        futures: dict[Future, Cell] = {self.pool.submit(_pool_render, c, str(out_dir)): c for c in cells}
        yield from _as_completed(futures)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def _as_completed(futures: dict) -> Iterator[tuple[Cell, CellResult]]:
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield futures[f], f.result()
    finally:
        for f in pending:
            f.cancel()


class RayExecutor:
    """Cells as Ray tasks, one GPU each where the cluster has GPUs (else one CPU each). The style
    targets are computed once per (painting, size, style settings) and shared via the object store.

    ``address``: ``auto`` joins a running cluster (``ray start --head`` / ``RAY_ADDRESS``) or, if
    there is none, starts a local one; ``ray://host:10001`` or ``host:6379`` joins that cluster.
    """

    name = "ray"

    def __init__(self, address: str = "auto", **init_kwargs: Any) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--ray needs Ray: pip install 'stylemotion[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, **init_kwargs)
            except ConnectionError:
                if address != "auto":
                    raise UserError(f"cannot reach a Ray cluster at {address!r}") from None
                ray.init(include_dashboard=False, log_to_driver=False, **init_kwargs)
            self._owned = True
        else:
            self._owned = False
        gpus = ray.cluster_resources().get("GPU", 0)
        opts = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        self.device = "cuda" if gpus else "cpu"
        self.task = ray.remote(**opts)(render_cell)
        self.targets = ray.remote(**opts)(compute_targets)

    def run(self, cells: Sequence[Cell], out_dir: Path) -> Iterator[tuple[Cell, CellResult]]:
        ray = self.ray
        refs: dict[tuple, Any] = {}
        futures = {}
        for c in cells:
            tref = None
            if c.mode == "image" and not is_done(c, out_dir):
                tk = targets_key(c)
                if tk not in refs:  # once per (painting, size, style settings), computed on the cluster
                    refs[tk] = self.targets.remote(c, self.device)
                tref = refs[tk]
            futures[self.task.remote(c, str(out_dir), tref, self.device)] = c
        pending = list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                yield futures[r], ray.get(r)

    def close(self) -> None:
        if self._owned:
            self.ray.shutdown()


def make_executor(kind: str = "in-process", device: str = "cpu", workers: int = 0, ray_address: str | None = None) -> Any:
    """The executor for a study: ``ray`` if an address is given, a local pool for several
    workers (default: one per CUDA GPU when there are several), else in-process."""
    if ray_address:
        return RayExecutor(ray_address)
    if workers == 0 and device in ("auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        workers = torch.cuda.device_count()
    if workers > 1:
        if device in ("auto", "cuda") and torch.cuda.is_available():
            devices = [f"cuda:{i % torch.cuda.device_count()}" for i in range(workers)]
        else:
            devices = ["cpu"] * workers
        return LocalPool(devices)
    return InProcess(device)


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
