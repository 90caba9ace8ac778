"""Animation settings: TOML preset files -> validated dataclasses. Presets are data, never code.

A preset has the sections below; every key is optional (defaults in the dataclasses). Unknown
sections or keys are rejected with the valid ones listed; every value is type- and
range-checked; relative paths resolve against the preset file's own folder. ``--set
section.key=value`` overrides use the same checks (values are parsed as TOML literals, falling
back to plain strings).

    [run]      mode, content, frames, fps, size, first_iterations, iterations*, seed, ...
    [motion]   zoom*, angle*, tx*, ty*, center_x, center_y, border, dither
    [style]    content_weight*, style_weight*, tv_weight, style_scale, layers...
    [optim]    optimizer, lr, tol, carry_moments
    [output]   crf, montage_every
    [[playlist]]  style, hold, crossfade

Keys marked * accept keyframe schedules (see :mod:`stylemotion.schedule`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backbone import PRECISIONS, check_device_name
from .errors import UserError
from .paths import check_input_file, parse_json, parse_toml, read_text, resolved
from .playlist import Entry
from .schedule import Schedule

PRESET_DIR = Path(__file__).parent / "presets"
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
MAX_FRAMES = 10_000  # a preset from someone else cannot ask for a week of rendering by accident
MAX_SIZE = 4096
MAX_PRESET_BYTES = 256 * 1024


@dataclass
class RunSection:
    mode: str = "zoom"  # zoom (feedback + motion) or drift (feedback, usually no motion)
    content: str = ""  # start image; "" = the bundled sample photo
    frames: int = 48  # frames to render
    fps: float = 12.0  # video frame rate
    size: int = 192  # long side of the frames in pixels (preview size; raise it on a GPU)
    first_iterations: int = 150  # frame 0 is stylized from the photo: needs the most work
    iterations: str = "20"  # per later frame (schedule): warm start needs few
    seed: int = 0  # noise and anything random
    color_coherence: str = "meanstd"  # none | meanstd | histogram: hold frame 0's colors
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    backbone: str = "vgg16-hed"  # vgg16-hed (bundled) | vgg19 (needs its weights)
    pooling: str = "avg"  # avg | max (avg transfers large-scale style better; docs/defaults.md)
    precision: str = "auto"  # auto (bf16 on CUDA) | bf16 | fp32 (closest to the CPU's pixels); CUDA only
    cadence: int = 1  # optimize every Nth frame; the frames between are warped from both neighbours
    loop: bool = False  # pull the last frames back to frame 0 so the video repeats without a jump
    loop_frames: int = 12  # how many final frames the loop blends over


@dataclass
class FxSection:
    """Per-frame controls on the warped frame before it is re-stylized, in Deforum's order."""

    color_coherence: str = "none"  # none | rgb | lab | hsv: histogram-match to the reference first
    color_reference: str = ""  # image to match; "" = frame 0
    contrast: str = "1.0"  # schedule: scale around the mean (1 = off)
    unsharp_amount: str = "0"  # schedule: anti-blur strength (0 = off)
    unsharp_kernel: str = "5"  # schedule: odd kernel size in pixels (even values round up)
    unsharp_sigma: str = "1.0"  # schedule: Gaussian sigma in pixels
    unsharp_threshold: str = "0"  # schedule: leave pixels whose detail is below this alone
    unsharp_fine_sigma: float = 0.8  # do not boost detail finer than this (px); 0 = Deforum's plain unsharp
    noise: str = "0"  # schedule: noise amplitude on [0, 1] pixels, added to the start image only
    noise_type: str = "uniform"  # uniform | perlin
    noise_octaves: int = 4  # perlin: layers of detail
    noise_persistence: float = 0.5  # perlin: amplitude ratio between octaves


@dataclass
class MotionSection:
    zoom: str = "1.0"  # per-frame zoom (schedule); >1 moves in
    angle: str = "0"  # degrees per frame, counter-clockwise (schedule)
    tx: str = "0"  # pixels per frame, content moves right (schedule)
    ty: str = "0"  # pixels per frame, content moves down (schedule)
    center_x: float = 0.0  # zoom/rotation center, -1 (left) .. 1 (right)
    center_y: float = 0.0  # -1 (top) .. 1 (bottom)
    border: str = "reflect"  # reflect | replicate: how the edges fill when zooming out or turning
    dither: float = 0.0  # px: sub-pixel wobble of the content (<= this) that varies the resampling phase per frame (docs/commands.md)


@dataclass
class StyleSection:
    content_weight: str = "1.0"  # schedule
    style_weight: str = "15.0"  # schedule (the image default; animations usually want less)
    tv_weight: float = 2.0
    style_scale: float = 1.0
    content_layers: list = field(default_factory=lambda: ["relu3_2", "relu4_2"])
    style_layers: list = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    style_layer_weights: list = field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0])
    style_loss: str = "gram"  # gram | w2 (means + covariances; slow on CPU)


@dataclass
class OptimSection:
    optimizer: str = "lbfgs"  # lbfgs | adam
    lr: float = 0.02  # Adam step size on [0, 1] pixels
    tol: float = 1e-3  # early stop per frame (relative loss change per iteration)
    carry_moments: bool = False  # Adam only: carry the moments to the next frame, warped


@dataclass
class OutputSection:
    crf: int = 18  # H.264 quality (lower = better, 0..51)
    montage_every: int = 0  # drift montage: every k-th frame (0 = about 16 tiles, every style shown)


@dataclass
class VideoSection:
    """``stylemotion video``: stylize a clip with optical flow (Ruder et al. 2016)."""

    input: str = ""  # the clip to stylize
    start: int = 0  # first input frame used
    end: int = 0  # stop before this input frame; 0 = the end of the clip
    every: int = 1  # use every Nth input frame (the output's frame rate is the input's / N)
    init: str = "warped"  # warped: previous output carried by the flow (Ruder) | content: every frame from scratch (flickers)
    # weight of the temporal loss (schedule; 0 = warm start only); chosen with benchmarks/video_temporal.py
    temporal_weight: str = "200.0"
    long_term: tuple = (1,)  # earlier frames in the temporal loss: (1,) short-term; (1, 2, 4) Ruder's long-term
    flow: str = "dis"  # dis | farneback (OpenCV)
    flow_quality: str = "medium"  # DIS preset: ultrafast | fast | medium
    audio: bool = True  # copy the input's audio track (the used frame range) into the output
    # recolour the input frames toward the playlist's colours (as `image --palette`): 0 = off (the
    # benchmarks were measured so), 1 = the paintings' colour mean and covariance. One map for the
    # whole clip, fitted on its first frame and kept in the resume state: no colour flicker.
    palette: float = 0.0


@dataclass
class Settings:
    run: RunSection = field(default_factory=RunSection)
    motion: MotionSection = field(default_factory=MotionSection)
    fx: FxSection = field(default_factory=FxSection)
    style: StyleSection = field(default_factory=StyleSection)
    optim: OptimSection = field(default_factory=OptimSection)
    output: OutputSection = field(default_factory=OutputSection)
    video: VideoSection = field(default_factory=VideoSection)
    playlist: list[Entry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["playlist"] = [dataclasses.asdict(e) for e in self.playlist]
        return d

    def to_toml(self) -> str:
        """The settings as a preset file (round-trips through :func:`from_dict`)."""
        lines: list[str] = []
        for name, sec in self.to_dict().items():
            if name == "playlist":
                continue
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in sec.items()]
            lines.append("")
        for e in self.to_dict()["playlist"]:
            lines.append("[[playlist]]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in e.items()]
            lines.append("")
        return "\n".join(lines)

    def schedule(self, section: str, key: str) -> Schedule:
        return Schedule.parse(getattr(getattr(self, section), key), f"{section}.{key}")


SECTIONS = {"run": RunSection, "motion": MotionSection, "fx": FxSection, "style": StyleSection, "optim": OptimSection, "output": OutputSection,
            "video": VideoSection}
CHOICES = {
    ("run", "mode"): ("zoom", "drift", "video"),
    ("video", "init"): ("warped", "content"),
    ("video", "flow"): ("dis", "farneback"),
    ("video", "flow_quality"): ("ultrafast", "fast", "medium"),
    ("run", "color_coherence"): ("none", "meanstd", "histogram"),
    ("run", "backbone"): ("vgg16-hed", "vgg19"),
    ("run", "pooling"): ("max", "avg"),
    ("run", "precision"): PRECISIONS,
    ("style", "style_loss"): ("gram", "w2"),
    ("fx", "color_coherence"): ("none", "rgb", "lab", "hsv"),
    ("fx", "noise_type"): ("uniform", "perlin"),
    ("motion", "border"): ("reflect", "replicate"),
    ("optim", "optimizer"): ("lbfgs", "adam"),
}
RANGES = {
    ("run", "frames"): (1, MAX_FRAMES), ("run", "fps"): (1, 120), ("run", "size"): (32, MAX_SIZE),
    ("run", "first_iterations"): (0, 5000), ("run", "seed"): (0, 2**31 - 1),
    ("motion", "center_x"): (-1, 1), ("motion", "center_y"): (-1, 1), ("motion", "dither"): (0, 2),
    ("style", "tv_weight"): (0, 1e4), ("style", "style_scale"): (0.05, 8),
    ("optim", "lr"): (1e-5, 1), ("optim", "tol"): (0, 0.5),
    ("output", "crf"): (0, 51), ("output", "montage_every"): (0, MAX_FRAMES),
    ("run", "cadence"): (1, 16), ("run", "loop_frames"): (1, MAX_FRAMES),
    ("video", "palette"): (0, 1), ("video", "start"): (0, 10_000_000), ("video", "end"): (0, 10_000_000), ("video", "every"): (1, 1000),
    ("fx", "noise_octaves"): (1, 8), ("fx", "noise_persistence"): (0, 1), ("fx", "unsharp_fine_sigma"): (0, 5),
}
SCHEDULE_RANGES = {  # checked over every frame of the run
    ("run", "iterations"): (0, 5000), ("motion", "zoom"): (0.5, 2.0), ("motion", "angle"): (-45, 45),
    ("motion", "tx"): (-256, 256), ("motion", "ty"): (-256, 256),
    ("style", "content_weight"): (0, 1e4), ("style", "style_weight"): (0, 1e6), ("video", "temporal_weight"): (0, 1e6),
    ("fx", "contrast"): (0.5, 2.0), ("fx", "unsharp_amount"): (0, 5), ("fx", "unsharp_kernel"): (1, 31),
    ("fx", "unsharp_sigma"): (0.1, 10), ("fx", "unsharp_threshold"): (0, 1), ("fx", "noise"): (0, 0.5),
}
ENTRY_RANGES = {"hold": (1, MAX_FRAMES), "crossfade": (0, MAX_FRAMES)}


def _check_value(where: str, default: Any, value: Any, key: tuple[str, str], schedules: bool = True) -> Any:
    """Type-check ``value`` against the type of ``default``; returns the normalized value.

    With ``schedules`` (animation settings), the keys in SCHEDULE_RANGES take schedule strings.
    """
    if schedules and key in SCHEDULE_RANGES:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserError(f"{where}: expected a number or a schedule string, got {value!r}")
        Schedule.parse(value, where)  # syntax now, ranges in validate()
        return str(value) if isinstance(value, str) else repr(float(value))
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"{where}: expected a number, got {value!r}")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {value!r}")
    elif isinstance(default, tuple):
        kind: Any = type(default[0]) if default else str
        ok = (int,) if kind is int else (int, float) if kind is float else (str,)
        if not isinstance(value, (list, tuple)) or not value or any(isinstance(v, bool) or not isinstance(v, ok) for v in value):
            raise UserError(f"{where}: expected a non-empty list of {kind.__name__}s, got {value!r}")
        if kind is float and not all(math.isfinite(v) for v in value):
            raise UserError(f"{where}: every value must be finite, got {value!r}")
        value = tuple(float(v) if kind is float else v for v in value)
    elif isinstance(default, list):
        if not isinstance(value, list) or not value:
            raise UserError(f"{where}: expected a non-empty list, got {value!r}")
        kind = (int, float) if isinstance(default[0], float) else str
        if any(isinstance(v, bool) or not isinstance(v, kind) for v in value):
            raise UserError(f"{where}: expected a list of {'numbers' if kind != str else 'strings'}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise UserError(f"{where}: {value!r} is not one of {', '.join(CHOICES[key])}")
    if key in RANGES:
        lo, hi = RANGES[key]
        if not (lo <= value <= hi):
            raise UserError(f"{where}: {value!r} is outside the allowed range [{lo:g}, {hi:g}]")
    return value


def _resolve_path(value: str, base: Path | None, where: str) -> str:
    if not value:
        return value
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


def from_dict(data: dict[str, Any], source: str = "preset", base: Path | None = None) -> Settings:
    """Validate a parsed preset. ``base`` resolves relative paths (the preset's folder)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a table of sections")
    settings = Settings()
    valid_sections = list(SECTIONS) + ["playlist"]
    command = data.get("command", "zoom")
    if command not in ("zoom", "drift", "video"):
        raise UserError(f"{source} is a preset for 'stylemotion {command}', not for zoom, drift or video")
    for name, body in data.items():
        if name == "command":
            continue
        if name not in valid_sections:
            raise UserError(f"{source}: unknown section [{name}]; valid: {', '.join(valid_sections)}")
        if name == "playlist":
            continue
        if not isinstance(body, dict):
            raise UserError(f"{source}: [{name}] must be a table of keys")
        sec = getattr(settings, name)
        valid = [f.name for f in dataclasses.fields(sec)]
        for key, value in body.items():
            if key not in valid:
                raise UserError(f"{source}: unknown key {name}.{key}; valid keys in [{name}]: {', '.join(valid)}")
            v = _check_value(f"{source}: {name}.{key}", getattr(sec, key), value, (name, key))
            if (name, key) in (("run", "content"), ("fx", "color_reference"), ("video", "input")):
                v = _resolve_path(v, base, f"{source}: {name}.{key}")
            setattr(sec, key, v)
    entries = data.get("playlist", [])
    if not isinstance(entries, list):
        raise UserError(f"{source}: playlist must be an array of tables ([[playlist]])")
    for i, e in enumerate(entries):
        where = f"{source}: playlist[{i}]"
        if not isinstance(e, dict):
            raise UserError(f"{where}: must be a table with style, hold, crossfade")
        unknown = set(e) - {"style", "hold", "crossfade"}
        if unknown:
            raise UserError(f"{where}: unknown key {sorted(unknown)[0]}; valid: style, hold, crossfade")
        if not isinstance(e.get("style"), str) or not e["style"]:
            raise UserError(f"{where}.style: a style image path is required")
        vals = {}
        for k, (lo, hi) in ENTRY_RANGES.items():
            v = e.get(k, getattr(Entry, k))
            if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
                raise UserError(f"{where}.{k}: expected an integer in [{lo}, {hi}], got {v!r}")
            vals[k] = v
        settings.playlist.append(Entry(_resolve_path(e["style"], base, where), **vals))
    validate(settings, source)
    return settings


def validate(s: Settings, source: str = "settings") -> None:
    """Cross-field checks and schedule ranges over the whole run."""
    for (sec, key), (lo, hi) in SCHEDULE_RANGES.items():
        sched = Schedule.parse(getattr(getattr(s, sec), key), f"{source}: {sec}.{key}")
        sched.check_range(lo, hi, s.run.frames)
    if len(s.style.style_layer_weights) != len(s.style.style_layers):
        raise UserError(f"{source}: style.style_layer_weights has {len(s.style.style_layer_weights)} values for {len(s.style.style_layers)} style_layers")
    if s.run.loop and s.run.loop_frames >= s.run.frames:
        raise UserError(f"{source}: run.loop_frames ({s.run.loop_frames}) must be smaller than run.frames ({s.run.frames})")
    try:
        check_device_name(s.run.device)
    except UserError as e:
        raise UserError(f"{source}: run.device: {e}") from None
    if not all(1 <= j <= 16 for j in s.video.long_term) or 1 not in s.video.long_term:
        raise UserError(f"{source}: video.long_term {list(s.video.long_term)} must include 1, each lag in 1..16 (e.g. [1, 2, 4])")
    if s.video.end and s.video.end <= s.video.start:
        raise UserError(f"{source}: video.end ({s.video.end}) must be after video.start ({s.video.start}), or 0 for the end of the clip")
    if s.optim.carry_moments and s.optim.optimizer != "adam":
        raise UserError(f"{source}: optim.carry_moments needs optim.optimizer = \"adam\"")


def load_preset(name_or_path: str) -> Settings:
    """A shipped preset by name (``deepdream-like``) or a .toml file path."""
    p = Path(name_or_path)
    if p.suffix == ".json":  # settings saved beside a render: also data
        data = parse_json(read_text(p, "preset", MAX_PRESET_BYTES), f"preset {p}")
        return from_dict(data.get("settings", data) if isinstance(data, dict) else data, str(p), resolved(p).parent)
    p = find_preset(name_or_path)
    data = read_toml(p)
    base = resolved(p).parent
    s = from_dict(data, str(p), base)
    if p.parent.resolve() == PRESET_DIR.resolve():
        _point_shipped_paths_at_samples(s)
    return s


def read_toml(p: Path) -> dict[str, Any]:
    """Parse a preset file as data (size-limited, UTF-8, TOML only)."""
    return parse_toml(read_text(p, "preset", MAX_PRESET_BYTES), f"preset {p}")


def find_preset(name_or_path: str) -> Path:
    """A shipped preset name or a .toml path -> the file."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = PRESET_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            raise UserError(f"unknown preset {name_or_path!r}; shipped presets: {', '.join(list_presets())} (or give a .toml path)")
    return check_input_file(p, "preset")


def load_mode_preset(name_or_path: str, command: str, sections: dict[str, Any]) -> dict[str, Any]:
    """Load a preset for a single-image mode (hires, remix, upscale, reconstruct).

    ``sections`` maps section names to default dataclass instances; the file's values replace
    the defaults after type and range checks (each dataclass's ``check`` runs later). Returns
    new instances, plus ``"inputs"``: a dict of resolved paths from an optional [inputs] section.
    """
    p = find_preset(name_or_path)
    data = read_toml(p)
    src = str(p)
    got = data.pop("command", None)
    if got != command:
        raise UserError(f"{src} is a preset for 'stylemotion {got or 'zoom'}', not for {command}")
    out: dict[str, Any] = {name: dataclasses.replace(obj) for name, obj in sections.items()}
    inputs: dict[str, str] = {}
    base = resolved(p).parent
    for name, body in data.items():
        valid = list(sections) + ["inputs"]
        if name not in valid:
            raise UserError(f"{src}: unknown section [{name}]; valid: {', '.join(valid)}")
        if not isinstance(body, dict):
            raise UserError(f"{src}: [{name}] must be a table of keys")
        if name == "inputs":
            for key, value in body.items():
                if key not in ("content", "style", "image"):
                    raise UserError(f"{src}: unknown key inputs.{key}; valid: content, style, image")
                if not isinstance(value, str):
                    raise UserError(f"{src}: inputs.{key}: expected a path string, got {value!r}")
                path = Path(_resolve_path(value, base, key))
                if not path.exists() and p.parent.resolve() == PRESET_DIR.resolve():
                    path = SAMPLES_DIR / Path(value).name
                inputs[key] = str(path)
            continue
        obj = out[name]
        valid_keys = [f.name for f in dataclasses.fields(obj)]
        for key, value in body.items():
            if key not in valid_keys:
                raise UserError(f"{src}: unknown key {name}.{key}; valid keys in [{name}]: {', '.join(valid_keys)}")
            setattr(obj, key, _check_value(f"{src}: {name}.{key}", getattr(obj, key), value, (name, key), schedules=False))
    out["inputs"] = inputs
    return out


def preset_command(name: str) -> str:
    """The command a shipped preset is for (top-level ``command`` key, default zoom)."""
    data = read_toml(PRESET_DIR / f"{name}.toml")
    command = str(data.get("command", "zoom"))
    if command == "zoom":  # animation presets say zoom or drift in run.mode
        run = data.get("run", {})
        command = str(run.get("mode", "zoom")) if isinstance(run, dict) else "zoom"
    return command


def preset_description(name: str) -> str:
    """The leading comment block of a shipped preset, joined into one line."""
    lines = []
    for line in (PRESET_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(x for x in lines if x)


def _point_shipped_paths_at_samples(s: Settings) -> None:
    """Shipped presets name sample images by file name: find them in the bundled samples."""
    def fix(path: str) -> str:
        p = Path(path)
        return path if (not path or p.exists()) else str(SAMPLES_DIR / p.name)

    s.run.content = fix(s.run.content)
    s.playlist = [dataclasses.replace(e, style=fix(e.style)) for e in s.playlist]


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` (value as a TOML literal, else a string) -> (section, key, value)."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected section.key=value, e.g. motion.zoom=1.03")
    lhs, rhs = text.split("=", 1)
    parts = lhs.strip().split(".")
    if len(parts) != 2:
        raise UserError(f"--set {text!r}: the key must be section.key; sections: {', '.join(SECTIONS)}")
    if len(rhs) > 4096:
        raise UserError(f"--set {lhs.strip()}: value longer than 4096 characters")
    try:
        value = parse_toml(f"v = {rhs.strip()}", f"--set {lhs.strip()}")["v"]
    except UserError as e:
        if "nested deeper" in str(e):
            raise
        value = rhs.strip()
    return parts[0], parts[1], value


def apply_overrides(s: Settings, overrides: list[str], cwd: Path | None = None) -> Settings:
    """Apply ``--set`` overrides (paths relative to the current folder) and re-validate."""
    data = s.to_dict()
    for text in overrides:
        sec, key, value = parse_override(text)
        if sec not in SECTIONS:
            raise UserError(f"--set {text!r}: unknown section {sec!r}; valid: {', '.join(SECTIONS)}")
        data[sec][key] = value
    return from_dict(data, "--set", cwd or Path.cwd())


def style_config(s: Settings):  # type: ignore[no-untyped-def]
    """The engine's StyleConfig for a run's [style] section (the weights' schedules are applied per frame)."""
    from .optimize import StyleConfig

    st = s.style
    return StyleConfig(tuple(st.content_layers), tuple(st.style_layers), tuple(float(w) for w in st.style_layer_weights),
                       tv_weight=st.tv_weight, style_scale=st.style_scale, style_loss=st.style_loss)
