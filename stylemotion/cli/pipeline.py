"""The one render pipeline of zoom, drift and video: flags -> settings, the resume handshake,
the engine, the frame loop on disk, and the final files. A ``cmd_*`` function reads its flags,
says how its frames are made, and calls :func:`run`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..engine.backbone import precision_name
from ..io.encode import check_video_path
from ..errors import UserError
from ..animation.framestyle import run_engine
from ..engine.factory import EngineCache
from ..io.paths import OutputLock
from ..settings.packs import input_hashes
from ..settings.presets import apply_values, load_preset, parse_override, reaching_outside
from ..settings.sections import Settings, from_dict
from .common import open_device
from .estimate import check_fits, estimate_frame_loop
from .render import (Job, apply_playlist_flags, atomic_write_text, check_outputs, check_same_weights, load_state, output_paths,
                     render_to_files, resume_threads, run_paths, settings_diff, srt_text, weights_id)

# a flag -> the (section, key) it sets; its value is already typed by argparse
FlagMap = dict[str, tuple[str, str]]


def given_flags(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """The setting flags the user gave, as typed (``--temporal-weight``), ``--set`` last."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n, None) not in (None, [], False)]
    return given + (["--set"] if getattr(args, "overrides", None) else [])


def resolve(args: argparse.Namespace, default_preset: str, flags: FlagMap, fixed: list[tuple[str, str, Any]],
            base: Settings | None = None) -> Settings:
    """Preset (or ``base``: a resumed render's settings) <- ``--set`` <- flags <- ``fixed``, each
    value checked once as it is set, the whole validated once."""
    s = base if (base is not None and args.preset is None) else load_preset(args.preset or default_preset)
    values = [("--set", *parse_override(t)) for t in args.overrides]
    for name, (sec, key) in flags.items():
        v = getattr(args, name, None)
        if v is not None and v is not False:
            values.append((f"--{name.replace('_', '-')}", sec, key, v))
    values += [("settings", *v) for v in fixed]
    s = apply_values(s, values)
    apply_playlist_flags(s, args)
    return s


@dataclass
class Opened:
    """A render about to start: its settings, and the state it resumes from (None: frame 0)."""

    out: Path
    s: Settings
    weights: str
    state: Any = None
    extra: dict = field(default_factory=dict)  # what ``resolve`` returned besides the settings
    lock: OutputLock | None = None  # held while this process renders the output (None: --estimate)

    @property
    def start(self) -> int:
        return self.state.next_frame if self.state is not None else 0


def open_render(args: argparse.Namespace, setting_flags: tuple[str, ...], resolve_fn: Callable[..., tuple[Settings, dict]],
                state_cls: Any = None) -> Opened:
    """The resume handshake. With ``--resume``: the stored settings, which flags given again must
    not change; else the settings from the flags, refusing to clobber an unfinished render."""
    out = check_video_path(args.output)
    frames_dir, _, state_path = run_paths(out)
    weights = weights_id(args.weights)
    # one process renders an output at a time: a second start, resume or overwrite is refused
    # before it reads a state or touches a file (an estimate writes nothing and takes no lock)
    lock = None if args.estimate else OutputLock(out).acquire()
    if not args.resume:
        s, extra = resolve_fn()
        if state_path.exists() and not args.overwrite and not getattr(args, "preview_motion", False):
            raise UserError(f"{frames_dir} holds an unfinished render; use --resume to continue it or --overwrite to start over")
        check_outputs(out, s, args.preset)
        return Opened(out, s, weights, None, extra, lock)
    if args.overwrite or getattr(args, "preview_motion", False):
        raise UserError("--resume cannot be combined with --overwrite or --preview-motion")
    if not state_path.is_file():
        raise UserError(f"nothing to resume: {state_path} not found (start the render without --resume)")
    state, saved, saved_weights, saved_threads = load_state(state_path, state_cls)
    stored = from_dict(saved, f"{state_path} settings")
    asked, extra = resolve_fn(base=stored)
    diff = settings_diff(stored.to_dict(), asked.to_dict())
    if diff:
        given = ", ".join(given_flags(args, setting_flags)) or "the inputs"
        raise UserError(f"--resume: {given} change {', '.join(diff[:6])} from the stored settings; "
                        f"resume without them, or start over with --overwrite")
    check_same_weights(saved_weights, weights)
    note = resume_threads(saved_threads, args.threads)
    if note:
        print(note, file=sys.stderr)
    if not 1 <= state.next_frame < stored.run.frames:
        raise UserError(f"render state {state_path} is damaged (next_frame {state.next_frame} is outside 1..{stored.run.frames - 1}); "
                        "start over with --overwrite")
    check_outputs(out, stored, args.preset)
    return Opened(out, stored, weights, state, extra, lock)


def build_engine(s: Settings, weights: Path | None):  # type: ignore[no-untyped-def]
    """(device, engine, style images) of a render: its device opened (and named), then
    :func:`stylemotion.engine.factory.run_engine`; every input is read before anything on disk changes."""
    device, _ = open_device(s.run.device, s.run.precision)
    engine, styles = run_engine(s, device, EngineCache(), weights)
    return device, engine, styles


@dataclass
class Plan:
    """How a command's frames are made, for :func:`run`."""

    frames: Callable[[Callable[[int, Any], None]], Iterator[Any]]  # on_progress -> frame generator
    probe: Callable[[], Any]  # a 3-frame copy of the generator (estimate and memory check)
    iterations_at: Callable[[int], int]
    key_frames: list[int]  # frames that are optimized, from the start frame on
    hw: tuple[int, int]
    fps: Any
    device: Any
    audio: Any = None


def run(args: argparse.Namespace, mode: str, r: Opened, plan: Plan) -> int:
    """``--estimate``, or the render with its final files. Returns the exit code."""
    s, start, (h, w) = r.s, r.start, plan.hw
    # once every input has been read and checked (an error stays the one line): a stranger's preset
    # could read a private picture into a render that is then shared back
    outside = reaching_outside(args.preset) if args.preset else []
    if outside:
        print(f"note: preset {args.preset} reads files outside its folder: {', '.join(outside[:4])}"
              f"{' and more' if len(outside) > 4 else ''}", file=sys.stderr)
    todo = s.run.frames - start
    if args.estimate:
        estimate_frame_loop(plan.probe, [plan.iterations_at(t) for t in plan.key_frames], todo - len(plan.key_frames), plan.hw,
                            plan.device, f"{r.out.name}: {todo} frames at {w}x{h}")
        return 0
    check_fits(plan.device, s.run.size, lambda: next(iter(plan.probe())), "this render")
    settings = s.to_dict()
    files = input_hashes(s)  # as the files are now: a pack made from the render later must find these bytes
    job = Job(out=r.out, mode=mode, start=start, frames=s.run.frames, settings=settings, weights=r.weights, fps=plan.fps,
              crf=s.output.crf, hw=plan.hw, audio=plan.audio, desc=f"{mode} {w}x{h} {s.run.frames} frames on {plan.device.type}, {precision_name(plan.device.type, s.run.precision)}",
              total_iterations=sum(plan.iterations_at(t) for t in plan.key_frames), iterations_at=plan.iterations_at,
              files=files)
    try:
        final, log_lines, audio_note = render_to_files(plan.frames, job)
    except KeyboardInterrupt:
        return 130
    frames_dir, json_path, state_path = run_paths(r.out)
    atomic_write_text(json_path, json.dumps({"stylemotion": 1, "settings": settings, "files": files}, indent=2, sort_keys=True))
    state_path.unlink(missing_ok=True)
    sound = "" if plan.audio is None else (f", audio not copied: {audio_note}" if audio_note else f", with the audio of {plan.audio.path.name}")
    print(f"wrote {final} ({s.run.frames} frames, {w}x{h}, {float(plan.fps):g} fps{sound}), frames in {frames_dir}, "
          f"settings in {json_path}, per-frame parameters in {output_paths(r.out)['log']}")
    if args.srt:
        srt = r.out.with_suffix(".srt")
        atomic_write_text(srt, srt_text([json.loads(x) for x in log_lines], float(plan.fps)))
        print(f"wrote {srt} (subtitles: players show it beside {r.out.name})")
    return 0


def with_song(frames: Iterator[Any], song: Any) -> Iterator[Any]:
    """Each frame's log with the song's values at that frame (``song(t)``: a song's variables, or
    None): the report plots them, beats marked."""
    for f in frames:
        if song is not None:
            f.params.update({k: round(v, 4) for k, v in song(f.index).items() if k != "s"})
        yield f
