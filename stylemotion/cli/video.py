"""``stylemotion video``: stylize a user's clip with optical flow (temporally consistent)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ..errors import UserError
from ..paths import resolved
from .common import device_arg, nonneg_float, nonneg_int, positive_int, unit_float
from .estimate import check_fits, estimate_frame_loop, probe_settings
from .render import (apply_playlist_flags, atomic_write_text, check_outputs, check_same_weights, load_state, load_styles, resume_threads, output_paths,
                     render_to_files, run_paths, settings_diff, srt_text, weights_id)

EXAMPLES_VIDEO = """examples:
  stylemotion video clip.mp4 --style samples/starry_night.jpg -o starry_clip.mp4
  stylemotion video clip.mp4 --style a.jpg --style b.jpg --hold 48 --crossfade 12 --size 384 -o out.mp4
  stylemotion video clip.mp4 --style a.jpg --start 120 --end 360 --every 2 --long-term 1,2,4 -o part.mp4
  stylemotion video --resume -o out.mp4                     # continue an interrupted render
"""

# flags that change what is rendered: with --resume each must agree with the stored settings
SETTING_FLAGS = ("preset", "input", "style", "hold", "crossfade", "size", "device", "precision", "start", "end", "every", "temporal_weight",
                 "long_term", "per_frame", "no_audio", "palette")


def lag_list(text: str) -> tuple[int, ...]:
    try:
        lags = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of frame lags, e.g. 1,2,4") from None
    if not lags or 1 not in lags or not all(1 <= j <= 16 for j in lags):
        raise argparse.ArgumentTypeError(f"{text!r}: lags must include 1, each in 1..16 (e.g. 1,2,4)")
    return lags


def _given(args: argparse.Namespace) -> list[str]:
    names = [f"--{n.replace('_', '-')}" for n in SETTING_FLAGS if getattr(args, n, None) not in (None, [], False)]
    return names + (["--set"] if args.overrides else [])


def resolve_settings(args: argparse.Namespace, base=None):  # type: ignore[no-untyped-def]
    """Preset (or a resumed render's settings) <- --set <- flags; the clip is probed and checked."""
    from ..encode import probe_video
    from ..presets import MAX_FRAMES, apply_overrides, load_preset

    s = base if (base is not None and args.preset is None) else load_preset(args.preset or "video")
    sets = list(args.overrides) + ['run.mode="video"']
    for flag, key in (("size", "run.size"), ("start", "video.start"), ("end", "video.end"), ("every", "video.every")):
        if getattr(args, flag) is not None:
            sets.append(f"{key}={getattr(args, flag)}")
    if args.device is not None:
        sets.append(f"run.device={json.dumps(args.device)}")
    if args.precision is not None:
        sets.append(f"run.precision={json.dumps(args.precision)}")
    if args.input is not None:
        sets.append(f"video.input={json.dumps(str(resolved(args.input)))}")
    if args.temporal_weight is not None:
        sets.append(f'video.temporal_weight="{args.temporal_weight!r}"')
    if args.long_term is not None:
        sets.append(f"video.long_term={list(args.long_term)}")
    if args.palette is not None:
        sets.append(f"video.palette={args.palette!r}")
    if args.per_frame:
        sets.append('video.init="content"')
    if args.no_audio:
        sets.append("video.audio=false")
    s = apply_overrides(s, sets)
    apply_playlist_flags(s, args)
    if not s.video.input:
        raise UserError("no input video: give IN.mp4 or set video.input in the preset")
    info = probe_video(s.video.input)
    v = s.video
    end = min(v.end or info.frames, info.frames)
    if v.start >= info.frames:
        raise UserError(f"video.start {v.start} is past the end of {v.input} ({info.frames} frames)")
    n = len(range(v.start, end, v.every))
    if n > MAX_FRAMES:
        raise UserError(f"{n} frames to render; the limit is {MAX_FRAMES}: use --start/--end or --every")
    fps = info.fps / v.every
    s.run.frames, s.run.fps = n, round(float(fps), 6)
    s = apply_overrides(s, [])  # re-validate schedules over the real frame count
    return s, info


def cmd_video(args: argparse.Namespace) -> int:
    from ..backbone import load_backbone, pick_device
    from ..encode import AudioSource, check_video_path, read_video
    from ..optimize import StyleEngine, resize
    from ..presets import from_dict, style_config
    from ..sequence import frame_size
    from ..video import ClipState, ClipStylizer

    out = check_video_path(args.output)
    frames_dir, json_path, state_path = run_paths(out)
    weights = weights_id(args.weights)
    state = None
    if args.resume:
        if args.overwrite:
            raise UserError("--resume cannot be combined with --overwrite")
        if not state_path.is_file():
            raise UserError(f"nothing to resume: {state_path} not found (start the render without --resume)")
        state, saved, saved_weights, saved_threads = load_state(state_path, ClipState)
        stored = from_dict(saved, f"{state_path} settings")
        s, info = resolve_settings(args, base=from_dict(saved, f"{state_path} settings"))
        diff = settings_diff(stored.to_dict(), s.to_dict())
        if diff:
            given = ", ".join(_given(args)) or "the input video"
            raise UserError(f"--resume: {given} change {', '.join(diff[:6])} from the stored settings; resume without them, or start over with --overwrite")
        check_same_weights(saved_weights, weights)
        note = resume_threads(saved_threads, args.threads)
        if note:
            print(note, file=sys.stderr)
        if not 1 <= state.next_frame < s.run.frames:
            raise UserError(f"render state {state_path} is damaged (next_frame {state.next_frame} is outside 1..{s.run.frames - 1}); start over with --overwrite")
    else:
        s, info = resolve_settings(args)
        if state_path.exists() and not args.overwrite:
            raise UserError(f"{frames_dir} holds an unfinished render; use --resume to continue it or --overwrite to start over")
    check_outputs(out, s, args.preset)
    settings = s.to_dict()
    device = pick_device(s.run.device)
    styles = load_styles(s)
    backbone = load_backbone(s.run.backbone, s.run.pooling, args.weights, device, s.run.precision)
    style_cfg = style_config(s)
    style_cfg.check(backbone)
    engine = StyleEngine(backbone, style_cfg)
    hw = frame_size((info.height, info.width), s.run.size)
    stylizer = ClipStylizer(s, engine, styles, hw)
    if state is not None:
        for name, group in (("out", state.outputs), ("in", state.inputs)):
            for j, t in group.items():
                if tuple(t.shape) != (1, 3, *hw) or not 1 <= j <= 16:
                    raise UserError(f"render state {state_path} is damaged ({name}.{j} has shape {tuple(t.shape)}); start over with --overwrite")
    start = state.next_frame if state else 0
    v = s.video
    first_src = v.start + start * v.every
    end = v.start + s.run.frames * v.every

    def source(a: int = first_src, b: int = end):  # type: ignore[no-untyped-def]
        import torch

        for i, arr in read_video(v.input, a, b, v.every):
            x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div(255.0)
            yield i, resize(x, hw).clamp(0, 1).contiguous()

    h, w = hw
    probe_s = probe_settings(s)
    if v.init == "content":  # per-frame mode gives every frame first_iterations: probe it as a warm-started clip
        probe_s = replace(probe_s, video=replace(probe_s.video, init="warped"))
    probe = lambda: ClipStylizer(probe_s, engine, styles, hw).frames(source(first_src, first_src + 3 * v.every))  # noqa: E731
    if args.estimate:
        estimate_frame_loop(probe, [stylizer.iterations_at(t) for t in range(start, s.run.frames)], 0, hw, device,
                            f"{out.name}: {s.run.frames - start} frames at {w}x{h}")
        return 0
    check_fits(device, s.run.size, lambda: next(iter(probe())), "this render")

    fps = Fraction(info.fps) / v.every
    audio = AudioSource(Path(v.input), v.start / float(info.fps), end / float(info.fps)) if (v.audio and info.audio) else None
    try:
        final, log_lines, audio_note = render_to_files(
            lambda on_progress: stylizer.frames(source(), state, on_progress), out=out, mode="video", start=start, frames=s.run.frames,
            settings=settings, weights=weights, fps=fps, crf=s.output.crf,
            total_iterations=sum(stylizer.iterations_at(t) for t in range(start, s.run.frames)), iterations_at=stylizer.iterations_at,
            desc=f"video {w}x{h} {s.run.frames} frames on {device.type}", hw=hw, audio=audio)
    except KeyboardInterrupt:
        return 130
    atomic_write_text(json_path, json.dumps({"stylemotion": 1, "settings": settings}, indent=2, sort_keys=True))
    state_path.unlink(missing_ok=True)
    log_path = output_paths(out)["log"]
    sound = "" if audio is None else (f", audio not copied: {audio_note}" if audio_note else ", with the input's audio")
    print(f"wrote {final} ({s.run.frames} frames, {w}x{h}, {float(fps):g} fps{sound}), frames in {frames_dir}, settings in {json_path}, "
          f"per-frame parameters in {log_path}")
    if args.srt:
        srt = out.with_suffix(".srt")
        atomic_write_text(srt, srt_text([json.loads(x) for x in log_lines], float(fps)))
        print(f"wrote {srt}")
    return 0


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
    p.add_argument("--size", type=positive_int, help="long side of the output in pixels (overrides run.size)")
    p.add_argument("--start", type=nonneg_int, help="first input frame (video.start)")
    p.add_argument("--end", type=nonneg_int, help="stop before this input frame (video.end; 0 = the end)")
    p.add_argument("--every", type=positive_int, help="use every Nth input frame (video.every)")
    p.add_argument("--temporal-weight", type=nonneg_float, help="temporal loss weight (0 = warm start only)")
    p.add_argument("--long-term", type=lag_list, help="earlier frames held by the temporal loss, e.g. 1,2,4 (default 1)")
    p.add_argument("--palette", type=unit_float,
                   help="recolour the clip toward the paintings' colours first, one map for the whole clip: 0 = off (default), 1 = full")
    p.add_argument("--per-frame", action="store_true", help="stylize every frame on its own (no flow; flickers: for comparison)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the input's audio")
    p.add_argument("--device", type=device_arg, help="auto, cpu, cuda, cuda:N, mps (overrides run.device)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="CUDA arithmetic: auto = bf16; fp32 is closest to the CPU (overrides run.precision)")
    p.add_argument("--estimate", action="store_true", help="time a few frames, print the expected time and peak memory, write nothing")
    p.add_argument("--weights", type=Path, help="backbone weights file (for run.backbone = vgg19)")
    p.add_argument("-o", "--output", type=Path, default=Path("video_styled.mp4"), help="output .mp4, .webm or .gif (default video_styled.mp4)")
    p.add_argument("--srt", action="store_true", help="also write OUT.srt: each frame's parameters as subtitles")
    p.add_argument("--resume", action="store_true", help="continue an interrupted render of --output")
    p.add_argument("--overwrite", action="store_true", help="start over even if a render of --output is in progress")
    p.set_defaults(func=cmd_video)
