"""``stylemotion video``: stylize a user's clip with optical flow (temporally consistent)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import torch

from ..io.decode import probe_video

from ..io.encode import AudioSource
from ..runtime.executors import make_executor
from ..video.cuts import ShotDetector
from ..errors import UserError
from ..io.paths import resolved
from ..settings.presets import apply_values
from ..animation.sequence import frame_size
from ..settings.sections import MAX_FRAMES, Settings, song_uses
from ..video.shots import Shot, in_order, plan_shots, render_shot
from ..video.clip import ClipState, ClipStylizer, bind_clip_song, clip_source
from .common import device_arg, fps_arg, knob_flag, nonneg_int, one_line, positive_int, warn_line
from .estimate import probe_settings
from .pipeline import FlagMap, Plan, build_engine, open_render, resolve, run, with_song
from .render import run_paths

EXAMPLES_VIDEO = """examples:
  stylemotion video clip.mp4 --style samples/starry_night.jpg -o starry_clip.mp4
  stylemotion video clip.mp4 --style a.jpg --style b.jpg --hold 48 --crossfade 12 --size 384 -o out.mp4
  stylemotion video clip.mp4 --style a.jpg --start 120 --end 360 --every 2 --long-term 1,2,4 -o part.mp4
  stylemotion video --resume -o out.mp4                     # continue an interrupted render
"""

# flags that change what is rendered: with --resume each must agree with the stored settings
SETTING_FLAGS = ("preset", "input", "style", "hold", "crossfade", "size", "device", "precision", "start", "end", "every", "temporal_weight",
                 "long_term", "per_frame", "no_audio", "palette", "cuts", "fps", "passes", "tol")


def cut_list(text: str) -> str:
    """--cuts: auto, none, or input frame numbers (``120,348``)."""
    t = text.replace(" ", "")
    if t in ("auto", "none"):
        return t
    try:
        frames = sorted({int(x) for x in t.split(",") if x})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, none, or a comma-separated list of input frame numbers, e.g. 120,348") from None
    if not frames or frames[0] < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give input frame numbers >= 0, e.g. 120,348")
    return ",".join(map(str, frames))


def lag_list(text: str) -> tuple[int, ...]:
    try:
        lags = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of frame lags, e.g. 1,2,4") from None
    if not lags or 1 not in lags or not all(1 <= j <= 16 for j in lags):
        raise argparse.ArgumentTypeError(f"{text!r}: lags must include 1, each in 1..16 (e.g. 1,2,4)")
    return lags


FLAGS: FlagMap = {"size": ("run", "size"), "start": ("video", "start"), "end": ("video", "end"), "every": ("video", "every"),
                  "device": ("run", "device"), "precision": ("run", "precision"), "input": ("video", "input"),
                  "temporal_weight": ("video", "temporal_weight"), "long_term": ("video", "long_term"), "palette": ("video", "palette"),
                  "cuts": ("video", "cuts"), "fps": ("video", "fps"), "passes": ("video", "passes"), "tol": ("optim", "tol")}
FLAG_KW = {"device": {"type": device_arg}, "long_term": {"type": lag_list}, "cuts": {"type": cut_list}, "fps": {"type": fps_arg}}


def resolve_settings(args: argparse.Namespace, base: Settings | None = None) -> tuple[Settings, dict]:
    """Preset (or a resumed render's settings) <- --set <- flags; the clip is probed, and the
    frame count and rate come from it."""
    fixed: list[tuple[str, str, object]] = [("run", "mode", "video")]
    if args.per_frame:
        fixed.append(("video", "init", "content"))
    if args.no_audio:
        fixed.append(("video", "audio", False))
    s = resolve(args, "video", FLAGS, fixed, base)
    if not s.video.input:
        raise UserError("no input video: give IN.mp4 or set video.input in the preset")
    s.video.input = str(resolved(s.video.input))
    info = probe_video(s.video.input)
    v = s.video
    # a variable-rate clip, or another rate asked for: resampled while decoding (the duration kept)
    rate = Fraction(v.fps).limit_denominator(1001) if v.fps else info.fps
    resample = bool(info.variable) or rate != info.fps
    total = info.frames_at(rate) if resample else info.frames
    end = min(v.end or total, total)
    if v.start >= total:
        raise UserError(f"video.start {v.start} is past the end of {v.input} ({total} frames)")
    if v.cuts not in ("auto", "none"):
        outside = [c for c in (int(x) for x in v.cuts.split(",")) if not v.start < c < end]
        if outside:
            raise UserError(f"video.cuts: frame {outside[0]} is not inside the frames used of {v.input} ({v.start + 1}..{end - 1}; "
                            f"a cut names the first input frame of a shot)")
    n = len(range(v.start, end, v.every))
    if n > MAX_FRAMES:
        raise UserError(f"{n} frames to render; the limit is {MAX_FRAMES}: use --start/--end or --every")
    # the schedules are checked again over the real frame count
    s = apply_values(s, [(str(v.input), "run", "frames", n), (str(v.input), "run", "fps", round(float(rate / v.every), 6))])
    return s, {"info": info, "rate": rate, "resample": resample}


def check_clip_state(state: ClipState, hw: tuple[int, int], path: Path) -> None:
    for name, group in (("out", state.outputs), ("in", state.inputs)):
        for j, t in group.items():
            if tuple(t.shape) != (1, 3, *hw) or not 1 <= j <= 16:
                raise UserError(f"render state {path} is damaged ({name}.{j} has shape {tuple(t.shape)}); start over with --overwrite")


def cmd_video(args: argparse.Namespace) -> int:
    r = open_render(args, SETTING_FLAGS, lambda base=None: resolve_settings(args, base), ClipState)
    s, state, info, rate = r.s, r.state, r.extra["info"], r.extra["rate"]
    if song_uses(s) and not info.audio:
        raise UserError(f"the run uses {', '.join(song_uses(s))}, which come from the clip's sound, but {one_line(s.video.input)} has no audio")
    song = bind_clip_song(s)  # the clip's own audio in the schedules, where they use it
    resample = rate if r.extra["resample"] else None
    for line in info.notes(one_line(s.video.input)):
        print(line, file=sys.stderr)
    if info.variable and not args.estimate:
        print(f"note: {one_line(s.video.input)} has a variable frame rate (frame intervals {info.variable}); it is resampled to "
              f"{float(rate):.4g} fps while decoding, its duration and audio kept", file=sys.stderr)
    device, engine, styles = build_engine(s, args.weights)
    hw = frame_size((info.height, info.width), s.run.size)
    stylizer = ClipStylizer(s, engine, styles, hw)
    if state is not None:
        check_clip_state(state, hw, run_paths(r.out)[2])
    v = s.video
    first_src = v.start + r.start * v.every
    end = v.start + s.run.frames * v.every

    def source(a: int = first_src, b: int = end) -> Iterator[tuple[int, torch.Tensor]]:
        return clip_source(v.input, a, b, v.every, hw, resample)

    probe_s = probe_settings(s)
    if v.init == "content":  # per-frame mode gives every frame first_iterations: probe it as a warm-started clip
        probe_s = replace(probe_s, video=replace(probe_s.video, init="warped"))
    fps = rate / v.every
    # the audio of the frames used, by time (the first frame's time is where both streams start)
    audio = AudioSource(Path(v.input), info.start + v.start / float(rate), info.start + end / float(rate)) if (v.audio and info.audio) else None
    plan = Plan(frames=lambda on_progress: with_song(stylizer.frames(source(), state, on_progress), song),
                probe=lambda: ClipStylizer(probe_s, engine, styles, hw).frames(source(first_src, first_src + 3 * v.every)),
                iterations_at=stylizer.iterations_at, key_frames=list(range(r.start, s.run.frames)), hw=hw, fps=fps, device=device,
                audio=audio)
    if not (args.workers or args.ray) or args.estimate:
        return run(args, "video", r, plan)
    if state is not None:
        print("note: a resumed render continues shot by shot in this process", file=sys.stderr)
        return run(args, "video", r, plan)
    executor = make_executor(s.run.device, args.workers or 0, args.ray, warn_line, threads=torch.get_num_threads())  # a Ray address that does not answer: now, not later
    try:
        shots = split_shots(s, source, hw, resample, args)
        if len(shots) > 1:
            print(f"{len(shots)} shots on {executor.name}", file=sys.stderr)
            plan.frames = lambda on_progress: with_song(in_order(executor.map(render_shot, shots), shots, on_progress), song)
        else:
            print("note: the clip is one shot: it renders in this process", file=sys.stderr)
        return run(args, "video", r, plan)
    finally:
        executor.close()

def split_shots(s: Settings, source: Callable[[], Iterator[tuple[int, torch.Tensor]]],
                hw: tuple[int, int], resample: Fraction | None, args: argparse.Namespace) -> list[Shot]:
    """The clip's shots, found by a pass over its inputs with the render's own cut test: inputs
    and settings only, no network (each shot fits its colour map on its first frame)."""
    starts = ShotDetector.for_run(s).shot_starts(source())
    settings = s.to_dict()
    weights = str(args.weights) if args.weights else None
    return [Shot(a, b, settings, hw, resample, weights) for a, b in plan_shots(starts, s.run.frames)]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="stylize your own clip, temporally consistent (optical flow)", epilog=EXAMPLES_VIDEO,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="the clip to stylize (any format FFmpeg reads; or video.input in a preset)")
    p.add_argument("--style", type=Path, action="append", help="style image; repeat to make a playlist along the clip")
    p.add_argument("--hold", type=positive_int, help="frames per --style entry (default 24)")
    p.add_argument("--crossfade", type=nonneg_int, help="frames to crossfade into each --style entry (default 0)")
    p.add_argument("--preset", help="shipped preset name or .toml/.json file (default video)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any preset value, e.g. --set video.temporal_weight=400 (repeatable)")
    for name, (sec, key) in FLAGS.items():  # help, choices and converter from the key's schema entry
        if name != "input":  # the positional above
            knob_flag(p, name, sec, key, **FLAG_KW.get(name, {}))
    p.add_argument("--workers", type=positive_int, help="render shots side by side in N local processes (one per GPU when there are several)")
    p.add_argument("--ray", metavar="ADDRESS", help="render shots on a Ray cluster: auto, or host:port (pip install 'stylemotion[ray]')")
    p.add_argument("--per-frame", action="store_true", help="stylize every frame on its own (no flow; flickers: for comparison)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the input's audio")
    p.add_argument("--estimate", action="store_true", help="time a few frames, print the expected time and peak memory, write nothing")
    p.add_argument("--weights", type=Path, help="backbone weights file (for run.backbone = vgg19)")
    p.add_argument("-o", "--output", type=Path, default=Path("video_styled.mp4"), help="output .mp4, .webm or .gif (default video_styled.mp4)")
    p.add_argument("--srt", action="store_true", help="also write OUT.srt: each frame's parameters as subtitles")
    p.add_argument("--resume", action="store_true", help="continue an interrupted render of --output")
    p.add_argument("--overwrite", action="store_true", help="start over even if a render of --output is in progress")
    p.set_defaults(func=cmd_video)
