"""Animation settings: the schema of zoom, drift and video runs, as validated dataclasses.

A run's settings have the sections below; every key is optional (defaults in the dataclasses).
Every value is type- and range-checked once, when it is read (:func:`set_value`: presets,
``--set`` and flags alike); keys marked * are :class:`Schedule` objects from then on.

    [run]      mode, content, frames, fps, size, first_iterations, iterations*, seed, ...
    [motion]   zoom*, angle*, tx*, ty*, center_x, center_y, border, dither
    [fx]       contrast*, unsharp_*, noise*, color_coherence, ...
    [style]    content_weight*, style_weight*, tv_weight, style_scale, layers...
    [optim]    optimizer, lr, tol, carry_moments
    [output]   crf, montage_every
    [video]    input, start, end, every, temporal_weight*, long_term, flow, palette, ...
    [audio]    attack, release, tempo, beats_per_bar, bar_offset
    [[playlist]]  style, hold, crossfade, hold_beats, hold_bars, hold_sections, crossfade_beats
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..engine.config import BACKBONES, OPTIM_RANGES, OPTIMIZERS, SEED_MAX, OptimConfig, POOLINGS, PRECISIONS, STYLE_LOSSES, STYLE_RANGES, StyleConfig, check_device_name
from ..errors import UserError
from .choices import BORDERS, COHERENCE_SPACES, FLOW_METHODS, FLOW_QUALITIES, MODES, NOISE_TYPES, RUN_COHERENCE, VIDEO_INITS
from .playlist import Entry
from .schedule import Schedule, Signals

MAX_FRAMES = 10_000  # a preset from someone else cannot ask for a week of rendering by accident
MAX_SIZE = 4096
_CUT_LIST = re.compile(r"\d{1,9}(,\d{1,9}){0,9999}")
_STYLE, _OPTIM = StyleConfig(), OptimConfig()  # the engine's defaults: the schema takes them from there



def knob(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = dataclasses.MISSING) -> Any:
    """A settings key: its default (or ``factory`` for a list) and one line of help, written once;
    its type is the field's annotation, its range or choices are in :data:`RANGES`, :data:`CHOICES`
    and :data:`SCHEDULE_RANGES`, and :mod:`.schema` joins them for the CLI, the JSON Schema and
    the docs."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


def _sched(name: str, text: str, help: str = "") -> Any:
    """A schedule-valued key's default (a fresh parsed object per instance) and its help."""
    return field(default_factory=lambda: Schedule.parse(text, name), metadata={"help": help, "schedule": True})


@dataclass
class RunSection:
    mode: str = knob("zoom", "zoom (feedback + motion) or drift (feedback, usually no motion)")
    content: str = knob("", "start image (relative to the preset); \"\" = the bundled sample photo")
    frames: int = knob(48, "frames to render")
    fps: float = knob(12.0, "video frame rate")
    size: int = knob(192, "long side of the frames in pixels (preview size; raise it on a GPU)")
    first_iterations: int = knob(150, "frame 0 is stylized from the photo: needs the most work")
    iterations: Schedule = _sched("run.iterations", "20", "per later frame (schedule): warm start needs few")
    seed: int = knob(0, "noise and anything random")
    color_coherence: str = knob("meanstd", "hold frame 0's colours: meanstd (mean and spread per channel), histogram, or none")
    device: str = knob("auto", "where the network runs: auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")
    backbone: str = knob("vgg16-hed", "the network: vgg16-hed is bundled; vgg19 needs its weights (--weights)")
    pooling: str = knob("avg", "pooling in the network (avg transfers large-scale style better; docs/defaults.md)")
    precision: str = knob("auto", "arithmetic: auto = bf16 on CUDA and on CPUs with native bf16 (avx512_bf16, AMX), else fp32")
    cadence: int = knob(1, ("optimize every Nth frame; the frames between are warped from both neighbours"))
    loop: bool = knob(False, ("pull the last frames back to frame 0 so the video repeats without a jump"))
    loop_frames: int = knob(12, "how many final frames the loop blends over")
    # its curves are schedule variables, it is muxed into the video, and without --frames the video lasts as long as it
    audio: str = knob("", "a song (any file FFmpeg reads; relative to the preset) the schedules follow, muxed into the video")


@dataclass
class FxSection:
    """Per-frame controls on the warped frame before it is re-stylized, in Deforum's order."""

    color_coherence: str = knob("none", "histogram-match each warped frame to the reference first, in this colour space (none = off)")
    color_reference: str = knob("", "image to match; \"\" = frame 0")
    contrast: Schedule = _sched("fx.contrast", "1.0", "scale around the mean (1 = off)")
    unsharp_amount: Schedule = _sched("fx.unsharp_amount", "0", "anti-blur strength (0 = off)")
    unsharp_kernel: Schedule = _sched("fx.unsharp_kernel", "5", "odd kernel size in pixels (even values round up)")
    unsharp_sigma: Schedule = _sched("fx.unsharp_sigma", "1.0", "Gaussian sigma in pixels")
    unsharp_threshold: Schedule = _sched("fx.unsharp_threshold", "0", "leave pixels whose detail is below this alone")
    unsharp_fine_sigma: float = knob(0.8, "do not boost detail finer than this (px); 0 = Deforum's plain unsharp")
    noise: Schedule = _sched("fx.noise", "0", "noise amplitude on [0, 1] pixels, added to the start image only")
    noise_type: str = knob("uniform", "the kind of noise: uniform per pixel, or perlin (smooth, in octaves)")
    noise_octaves: int = knob(4, "perlin: layers of detail")
    noise_persistence: float = knob(0.5, "perlin: amplitude ratio between octaves")


@dataclass
class MotionSection:
    zoom: Schedule = _sched("motion.zoom", "1.0", "per-frame zoom (schedule); >1 moves in")
    angle: Schedule = _sched("motion.angle", "0", "degrees per frame, counter-clockwise (schedule)")
    tx: Schedule = _sched("motion.tx", "0", "pixels per frame, content moves right (schedule)")
    ty: Schedule = _sched("motion.ty", "0", "pixels per frame, content moves down (schedule)")
    center_x: float = knob(0.0, "zoom/rotation center, -1 (left) .. 1 (right)")
    center_y: float = knob(0.0, "-1 (top) .. 1 (bottom)")
    border: str = knob("reflect", "how the edges fill when zooming out or turning")
    dither: float = knob(0.0, "px: sub-pixel wobble of the content (<= this) that varies the resampling phase per frame (docs/commands.md)")


@dataclass
class StyleSection:
    """The loss of every frame; each default is the engine's own (:class:`StyleConfig`)."""

    content_weight: Schedule = _sched("style.content_weight", repr(_STYLE.content_weight), "content loss weight (the engine's default)")
    style_weight: Schedule = _sched("style.style_weight", repr(_STYLE.style_weight), "style loss weight (the engine's default)")
    tv_weight: float = knob(_STYLE.tv_weight, "total-variation weight: keeps grain no finer than the painting's own")
    style_scale: float = knob(_STYLE.style_scale, "style image long side as a multiple of the frame's")
    content_layers: list = knob(factory=lambda: list(_STYLE.content_layers), help="layers the content loss holds, e.g. [\"relu4_2\"]")
    style_layers: list = knob(factory=lambda: list(_STYLE.style_layers), help="layers whose Gram matrices carry the style")
    style_layer_weights: list = knob(factory=lambda: list(_STYLE.style_layer_weights), help="one weight per style layer")
    style_loss: str = knob(_STYLE.style_loss, "gram | w2 (means + covariances; slow on CPU) | sw (sliced Wasserstein)")


@dataclass
class OptimSection:
    optimizer: str = knob(_OPTIM.optimizer, "lbfgs: best per iteration; adam: cheaper steps, can carry its moments across frames")
    lr: float = knob(_OPTIM.lr, "Adam step size on [0, 1] pixels")
    # tighter than image's per-level 2e-3 (OptimConfig.tol): a warm-started frame starts near its
    # optimum, where a loose rule stops before the strokes have re-formed; a shot's first frame
    # stops as image does whatever this is
    tol: float = knob(1e-3, ("a later frame stops when its loss moves less than this fraction per iteration "
                             "(0 = every frame runs its full iterations)"))
    carry_moments: bool = knob(False, "Adam only: carry the moments to the next frame, warped")


@dataclass
class AudioSection:
    """How a song is heard (stylemotion.music.audio): its curves' smoothing, its tempo and meter."""

    attack: float = knob(0.0, "seconds for amp, bass, mid, high and onset to rise to a new level")
    release: float = knob(0.0, "seconds to fall back (0.2 lets each pulse linger for a few frames)")
    tempo: float = knob(0.0, "BPM to look for the beats near (e.g. 67 for a slow song found at 134); 0 = find the tempo")
    beats_per_bar: int = knob(0, "the meter: 3 for a waltz, 4 for most songs; 0 = find it from the song")
    bar_offset: int = knob(0, "beats to move the found bars by, where they start on the wrong beat (stylemotion audio -o shows them)")


@dataclass
class OutputSection:
    crf: int = knob(18, "H.264 quality (lower = better, 0..51)")
    montage_every: int = knob(0, ("drift montage: every k-th frame (0 = about 16 tiles, every style shown)"))


@dataclass
class VideoSection:
    """``stylemotion video``: stylize a clip with optical flow (Ruder et al. 2016)."""

    input: str = knob("", "the clip to stylize")
    start: int = knob(0, "first input frame used")
    end: int = knob(0, "stop before this input frame; 0 = the end of the clip")
    every: int = knob(1, "use every Nth input frame (the output's frame rate is the input's / N)")
    init: str = knob("warped", "warped: previous output carried by the flow (Ruder) | content: every frame from scratch (flickers)")
    temporal_weight: Schedule = _sched("video.temporal_weight", "200.0",
                                       "weight of the temporal loss (schedule; 0 = warm start only); chosen with benchmarks/video_temporal.py")
    long_term: tuple = knob((1,), ("earlier frames in the temporal loss: (1,) short-term; (1, 2, 4) Ruder's long-term"))
    flow: str = knob("dis", "dis | farneback (OpenCV)")
    flow_quality: str = knob("medium", "DIS preset: ultrafast | fast | medium")
    audio: bool = knob(True, "copy the input's audio track (the used frame range) into the output")
    # 0 is the schema's default; the shipped video preset sets 1. One map per shot, fitted on its
    # first frame and kept in the resume state: no colour flicker within a shot
    palette: float = knob(0.0, "recolour the clip toward the paintings' colours first, one map per shot (0 = off, 1 = full)")
    # each extra pass costs about one more pass of later frames (docs/measurements.md)
    passes: int = knob(1, "Ruder's multi-pass: N > 1 adds N - 1 passes over each shot, backward then forward")
    # auto: a colour jump where the flow fails (docs/defaults.md); each shot starts as frame 0 does
    cuts: str = knob("auto", 'where shots start: auto (detected), none, or input frame numbers "120,348"')
    # another rate resamples the clip while decoding (nearest frame in time), its duration and audio kept
    fps: float = knob(0.0, "output frame rate; 0 = the clip's own (a variable-rate clip: its average)")


@dataclass
class Settings:
    run: RunSection = field(default_factory=RunSection)
    motion: MotionSection = field(default_factory=MotionSection)
    fx: FxSection = field(default_factory=FxSection)
    style: StyleSection = field(default_factory=StyleSection)
    optim: OptimSection = field(default_factory=OptimSection)
    output: OutputSection = field(default_factory=OutputSection)
    video: VideoSection = field(default_factory=VideoSection)
    audio: AudioSection = field(default_factory=AudioSection)
    playlist: list[Entry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (schedules as their text): what a render stores and a preset file holds."""
        d: dict[str, Any] = {}
        for name in SECTIONS:
            sec = getattr(self, name)
            d[name] = {f.name: _plain(getattr(sec, f.name)) for f in dataclasses.fields(sec)}
        d["playlist"] = [dataclasses.asdict(e) for e in self.playlist]
        return d

    def to_toml(self, helps: bool = False) -> str:
        """The settings as a preset file (round-trips through :func:`from_dict`); ``helps``: each
        key's one line of help beside it (``presets show``)."""
        lines: list[str] = []
        for name, sec in self.to_dict().items():
            if name == "playlist":
                continue
            lines.append(f"[{name}]")
            notes = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(SECTIONS[name])}
            lines += [f"{k} = {json.dumps(v)}" + (f"  # {notes[k]}" if helps and notes.get(k) else "") for k, v in sec.items()]
            lines.append("")
        for e in self.to_dict()["playlist"]:
            lines.append("[[playlist]]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in e.items()]
            lines.append("")
        return "\n".join(lines)

    def schedule(self, section: str, key: str) -> Schedule:
        sched = getattr(getattr(self, section), key)
        if not isinstance(sched, Schedule):
            raise TypeError(f"{section}.{key} is {type(sched).__name__}, not a Schedule")
        return sched


def _plain(v: Any) -> Any:
    if isinstance(v, Schedule):
        return v.text
    return list(v) if isinstance(v, (list, tuple)) else v


SECTIONS = {"run": RunSection, "motion": MotionSection, "fx": FxSection, "style": StyleSection, "optim": OptimSection, "output": OutputSection,
            "video": VideoSection, "audio": AudioSection}
CHOICES = {
    ("run", "mode"): MODES,
    ("video", "init"): VIDEO_INITS,
    ("video", "flow"): FLOW_METHODS,
    ("video", "flow_quality"): FLOW_QUALITIES,
    ("run", "color_coherence"): RUN_COHERENCE,
    ("run", "backbone"): BACKBONES,
    ("run", "pooling"): POOLINGS,
    ("run", "precision"): PRECISIONS,
    ("style", "style_loss"): STYLE_LOSSES,
    ("fx", "color_coherence"): ("none", *COHERENCE_SPACES),
    ("fx", "noise_type"): NOISE_TYPES,
    ("motion", "border"): BORDERS,
    ("optim", "optimizer"): OPTIMIZERS,
}
RANGES = {
    ("run", "frames"): (1, MAX_FRAMES), ("run", "fps"): (1, 120), ("run", "size"): (32, MAX_SIZE),
    ("run", "first_iterations"): (0, 5000), ("run", "seed"): (0, SEED_MAX),
    ("motion", "center_x"): (-1, 1), ("motion", "center_y"): (-1, 1), ("motion", "dither"): (0, 2),
    **{("style", k): r for k, r in STYLE_RANGES.items()},  # the engine's own ranges (config)
    ("optim", "lr"): OPTIM_RANGES["lr"], ("optim", "tol"): OPTIM_RANGES["tol"],
    ("output", "crf"): (0, 51), ("output", "montage_every"): (0, MAX_FRAMES),
    ("run", "cadence"): (1, 16), ("run", "loop_frames"): (1, MAX_FRAMES),
    ("video", "palette"): (0, 1), ("video", "passes"): (1, 15), ("video", "fps"): (0, 120), ("video", "start"): (0, 10_000_000), ("video", "end"): (0, 10_000_000), ("video", "every"): (1, 1000),
    ("fx", "noise_octaves"): (1, 8), ("fx", "noise_persistence"): (0, 1), ("fx", "unsharp_fine_sigma"): (0, 5),
    ("audio", "attack"): (0, 10), ("audio", "release"): (0, 10), ("audio", "tempo"): (0, 240), ("audio", "beats_per_bar"): (0, 12), ("audio", "bar_offset"): (0, 11),
}
SCHEDULE_RANGES = {  # checked over every frame of the run
    ("run", "iterations"): (0, 5000), ("motion", "zoom"): (0.5, 2.0), ("motion", "angle"): (-45, 45),
    ("motion", "tx"): (-256, 256), ("motion", "ty"): (-256, 256),
    ("style", "content_weight"): (0, 1e4), ("style", "style_weight"): (0, 1e6), ("video", "temporal_weight"): (0, 1e6),
    ("fx", "contrast"): (0.5, 2.0), ("fx", "unsharp_amount"): (0, 5), ("fx", "unsharp_kernel"): (1, 31),
    ("fx", "unsharp_sigma"): (0.1, 10), ("fx", "unsharp_threshold"): (0, 1), ("fx", "noise"): (0, 0.5),
}
ENTRY_RANGES = {"hold": (1, MAX_FRAMES), "crossfade": (0, MAX_FRAMES), "hold_beats": (0, MAX_FRAMES), "crossfade_beats": (0, MAX_FRAMES),
                "hold_bars": (0, MAX_FRAMES), "hold_sections": (0, 1000)}


def check_value(where: str, default: Any, value: Any, key: tuple[str, str]) -> Any:
    """Type-check ``value`` against the type of ``default``; returns the normalized value.

    A :class:`Schedule` default takes a number or a schedule string and returns it parsed
    (syntax now, ranges over the run's frames in :func:`validate`).
    """
    if isinstance(default, Schedule):
        if isinstance(value, Schedule):
            return replace(value, name=where)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserError(f"{where}: expected a number or a schedule string, got {value!r}")
        return Schedule.parse(value if isinstance(value, str) else repr(float(value)), where)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise UserError(f"{where}: expected a finite number, got {value!r}")
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


PATH_KEYS = (("run", "content"), ("fx", "color_reference"), ("video", "input"), ("run", "audio"))


def resolve_path(value: str | os.PathLike, base: Path | None) -> str:
    if not str(value):
        return ""
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


def set_value(s: Settings, section: str, key: str, value: Any, source: str, base: Path | None = None) -> None:
    """Check one value and store it in ``s`` (presets, ``--set`` and flags all come through here).
    Paths resolve against ``base`` (a preset's folder, or the current folder for flags); call
    :func:`validate` once every value is set."""
    if section not in SECTIONS:
        raise UserError(f"{source}: unknown section [{section}]; valid: {', '.join(list(SECTIONS) + ['playlist'])}")
    sec = getattr(s, section)
    valid = [f.name for f in dataclasses.fields(sec)]
    if key not in valid:
        raise UserError(f"{source}: unknown key {section}.{key}; valid keys in [{section}]: {', '.join(valid)}")
    where = f"{source}: {section}.{key}"
    if (section, key) in PATH_KEYS and isinstance(value, os.PathLike):
        value = os.fspath(value)
    v = check_value(where, getattr(sec, key), value, (section, key))
    if (section, key) in PATH_KEYS:
        v = resolve_path(v, base)
    setattr(sec, key, v)


def from_dict(data: dict[str, Any], source: str = "preset", base: Path | None = None) -> Settings:
    """Validate a parsed preset. ``base`` resolves relative paths (the preset's folder)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a table of sections")
    settings = Settings()
    command = data.get("command", "zoom")
    if command not in ("zoom", "drift", "video"):
        raise UserError(f"{source} is a preset for 'stylemotion {command}', not for zoom, drift or video")
    for name, body in data.items():
        if name in ("command", "playlist"):
            continue
        if name not in SECTIONS:
            raise UserError(f"{source}: unknown section [{name}]; valid: {', '.join(list(SECTIONS) + ['playlist'])}")
        if not isinstance(body, dict):
            raise UserError(f"{source}: [{name}] must be a table of keys")
        for key, value in body.items():
            set_value(settings, name, key, value, source, base)
    entries = data.get("playlist", [])
    if not isinstance(entries, list):
        raise UserError(f"{source}: playlist must be an array of tables ([[playlist]])")
    settings.playlist = [parse_entry(e, f"{source}: playlist[{i}]", base) for i, e in enumerate(entries)]
    validate(settings, source)
    return settings


def parse_entry(e: Any, where: str, base: Path | None) -> Entry:
    """One ``[[playlist]]`` table -> an :class:`Entry` (style path resolved against ``base``)."""
    if not isinstance(e, dict):
        raise UserError(f"{where}: must be a table with style, hold, crossfade")
    unknown = set(e) - {"style", *ENTRY_RANGES}
    if unknown:
        raise UserError(f"{where}: unknown key {sorted(unknown)[0]}; valid: style, {', '.join(ENTRY_RANGES)}")
    if not isinstance(e.get("style"), str) or not e["style"]:
        raise UserError(f"{where}.style: a style image path is required")
    vals = {}
    for k, (lo, hi) in ENTRY_RANGES.items():
        v = e.get(k, getattr(Entry, k))
        if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
            raise UserError(f"{where}.{k}: expected an integer in [{lo}, {hi}], got {v!r}")
        vals[k] = v
    return Entry(resolve_path(e["style"], base), **vals)


def song_names(s: Settings) -> set[str]:
    """The song's variables (beat, onset, ...) that the run's schedules use: they need run.audio."""
    return set().union(*(s.schedule(sec, key).names for sec, key in SCHEDULE_RANGES)) - {"s"}


def song_uses(s: Settings) -> list[str]:
    """What of the run needs a song: its schedules' song variables and its entries' song holds (empty: none)."""
    return sorted(song_names(s)) + [k for k in ("hold_beats", "hold_bars", "hold_sections") if any(getattr(e, k) for e in s.playlist)]


def bind_signals(s: Settings, song: Signals) -> None:
    """Give every schedule a song's per-frame variables (``song(t)``: amp, beat, ...) beside ``s``
    (seconds at run.fps); then check their ranges over the run's frames."""
    fps = s.run.fps

    def with_song(t: int) -> Mapping[str, float]:
        return {**song(t), "s": t / fps}

    for sec, key in SCHEDULE_RANGES:
        s.schedule(sec, key).bind(with_song)
    validate(s)


def validate(s: Settings, source: str = "settings") -> None:
    """Cross-field checks and schedule ranges over the whole run (a schedule that uses the song is
    checked once the song is bound: :func:`bind_signals`)."""
    fps = s.run.fps
    for (sec, key), (lo, hi) in SCHEDULE_RANGES.items():
        sched = s.schedule(sec, key)
        if sched.names and sched.names <= {"s"}:  # seconds at the run's rate as it is now
            sched.bind(lambda t, fps=fps: {"s": t / fps})
        elif sched.names and sched.signals is None:
            continue  # the song's curves are not known yet: bind_signals checks it
        sched.check_range(lo, hi, s.run.frames)  # named where it was read
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
    if s.video.cuts not in ("auto", "none") and not _CUT_LIST.fullmatch(s.video.cuts):
        raise UserError(f"{source}: video.cuts {s.video.cuts!r} must be auto, none, or input frame numbers like \"120,348\"")
    if s.optim.carry_moments and s.optim.optimizer != "adam":
        raise UserError(f"{source}: optim.carry_moments needs optim.optimizer = \"adam\"")


def style_config(s: Settings) -> StyleConfig:
    """The engine's StyleConfig for a run's [style] section (the weights' schedules are applied per frame)."""
    st = s.style
    return StyleConfig(tuple(st.content_layers), tuple(st.style_layers), tuple(float(w) for w in st.style_layer_weights),
                       tv_weight=st.tv_weight, style_scale=st.style_scale, style_loss=st.style_loss)
