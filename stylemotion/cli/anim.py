"""Animation commands: zoom and drift (the render loop with files, progress, resume)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import UserError
from .common import device_arg, nonneg_int, positive_int
from .estimate import check_fits, estimate_frame_loop, probe_settings
from .render import (Report, apply_playlist_flags, atomic_write_text, check_outputs, jsonable, check_same_weights, load_state, load_styles, resume_threads, output_paths,
                     render_to_files, run_paths, settings_diff, srt_text, weights_id)

EXAMPLES_ZOOM = """examples:
  stylemotion zoom --preset deepdream-like                 # bundled photo + painting, CPU preview
  stylemotion zoom --preset spiral --content me.jpg --size 512 --frames 240 -o spiral.mp4
  stylemotion zoom --preset gentle --set motion.zoom="0:(1.01), 48:(1.04)" --set style.style_weight=5
  stylemotion zoom --resume -o zoom.mp4                    # continue an interrupted render
"""
EXAMPLES_DRIFT = """examples:
  stylemotion drift --preset drift                         # 4 paintings cycling, video + montage
  stylemotion drift --content photo.jpg --style a.jpg --style b.jpg --style c.jpg --frames 30 -o drift.mp4
"""


def add_anim_args(p: argparse.ArgumentParser, default_preset: str, default_out: str) -> None:
    p.set_defaults(default_preset=default_preset)
    p.add_argument("--preset", help=f"shipped preset name or .toml/.json file (default {default_preset})")
    p.add_argument("--content", type=Path, help="start image (overrides run.content)")
    p.add_argument("--style", type=Path, action="append", help="style image; repeat to make a playlist (replaces the preset's)")
    p.add_argument("--hold", type=positive_int, help="frames per --style entry (default: the preset's first entry)")
    p.add_argument("--crossfade", type=nonneg_int, help="frames to crossfade into each --style entry (default 0)")
    p.add_argument("--frames", type=positive_int, help="number of frames (overrides run.frames)")
    p.add_argument("--size", type=positive_int, help="long side in pixels (overrides run.size)")
    p.add_argument("--device", type=device_arg, help="auto, cpu, cuda, cuda:N, mps (overrides run.device)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="CUDA arithmetic: auto = bf16; fp32 is closest to the CPU (overrides run.precision)")
    p.add_argument("--estimate", action="store_true", help="time a few frames, print the expected time and peak memory, write nothing")
    p.add_argument("--weights", type=Path, help="backbone weights file (for run.backbone = vgg19)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any preset value, e.g. --set motion.zoom=1.03 (repeatable)")
    p.add_argument("-o", "--output", type=Path, default=Path(default_out), help=f"video .mp4, .webm or .gif (default {default_out})")
    p.add_argument("--cadence", type=positive_int, help="optimize every Nth frame, warp the ones between (overrides run.cadence)")
    p.add_argument("--loop", action="store_true", default=None, help="make the last frames lead back into the first (run.loop)")
    p.add_argument("--preview-motion", action="store_true", help="render the motion and per-frame controls alone, no style: seconds, not hours")
    p.add_argument("--srt", action="store_true", help="also write OUT.srt: each frame's parameters as subtitles")
    p.add_argument("--resume", action="store_true", help="continue an interrupted render of --output")
    p.add_argument("--overwrite", action="store_true", help="start over even if a render of --output is in progress")


# flags that change what is rendered: with --resume each must agree with the stored settings
SETTING_FLAGS = ("preset", "content", "style", "hold", "crossfade", "frames", "size", "device", "precision", "cadence", "loop")


def given_setting_flags(args: argparse.Namespace) -> list[str]:
    names = [f"--{n}" for n in SETTING_FLAGS if getattr(args, n, None) not in (None, [], False)]
    return names + (["--set"] if args.overrides else [])


def resolve_settings(args: argparse.Namespace, mode: str, base=None):  # type: ignore[no-untyped-def]
    """Preset (or ``base``: a resumed render's settings) <- --set <- flags, validated."""
    from ..presets import apply_overrides, load_preset

    if args.preset is not None or base is None:
        s = load_preset(args.preset or args.default_preset)
    else:
        s = base
    sets = list(args.overrides)
    sets.append(f'run.mode="{mode}"')
    if args.frames is not None:
        sets.append(f"run.frames={args.frames}")
    if args.size is not None:
        sets.append(f"run.size={args.size}")
    if args.device is not None:
        sets.append(f"run.device={json.dumps(args.device)}")
    if args.precision is not None:
        sets.append(f"run.precision={json.dumps(args.precision)}")
    if args.content is not None:
        sets.append(f"run.content={json.dumps(str(args.content))}")
    if args.cadence is not None:
        sets.append(f"run.cadence={args.cadence}")
    if args.loop:
        sets.append("run.loop=true")
    s = apply_overrides(s, sets)
    apply_playlist_flags(s, args)
    if not s.run.content:
        raise UserError("no content image: give --content or set run.content in the preset")
    return s


def check_state(state, s, hw: tuple[int, int], path: Path) -> None:  # type: ignore[no-untyped-def]
    """The state fits the settings: frame number in range, images of the frame size."""
    damaged = f"render state {path} is damaged"
    if not 1 <= state.next_frame < s.run.frames:
        raise UserError(f"{damaged} (next_frame {state.next_frame} is outside 1..{s.run.frames - 1}); start over with --overwrite")
    for name in ("prev", "color_ref"):
        t = getattr(state, name)
        if t is not None and tuple(t.shape) != (1, 3, *hw):
            raise UserError(f"{damaged} ({name} has shape {tuple(t.shape)}, expected (1, 3, {hw[0]}, {hw[1]})); start over with --overwrite")
    if not -1 <= state.prev_index < state.next_frame:
        raise UserError(f"{damaged} (prev_index {state.prev_index} out of range); start over with --overwrite")


def cmd_animate(args: argparse.Namespace) -> int:
    from ..backbone import load_backbone, pick_device
    from ..encode import check_video_path
    from ..images import load_image, montage, save_image, to_tensor
    from ..optimize import StyleEngine
    from ..presets import from_dict, style_config
    from ..sequence import Sequencer

    mode = args.command
    out = check_video_path(args.output)
    frames_dir, json_path, state_path = run_paths(out)
    state = None
    weights = weights_id(args.weights)
    if args.resume:
        if args.overwrite or args.preview_motion:
            raise UserError("--resume cannot be combined with --overwrite or --preview-motion")
        if not state_path.is_file():
            raise UserError(f"nothing to resume: {state_path} not found (start the render without --resume)")
        state, saved, saved_weights, saved_threads = load_state(state_path)
        s = from_dict(saved, f"{state_path} settings")
        if given_setting_flags(args):
            # flags given with --resume must agree with what the render was started with
            asked = resolve_settings(args, mode, base=from_dict(saved, f"{state_path} settings"))
            diff = settings_diff(s.to_dict(), asked.to_dict())
            if diff:
                raise UserError(f"--resume: {', '.join(given_setting_flags(args))} change {', '.join(diff[:6])} from the stored settings; "
                                f"resume without them, or start over with --overwrite")
        check_same_weights(saved_weights, weights)
        note = resume_threads(saved_threads, args.threads)
        if note:
            print(note, file=sys.stderr)
    else:
        s = resolve_settings(args, mode)
        if args.preview_motion:
            if args.estimate:
                raise UserError("--estimate and --preview-motion: choose one (the preview needs no estimate: it runs in seconds)")
            check_outputs(out, s, args.preset)
            return preview_motion(s, out)
        if state_path.exists() and not args.overwrite:
            raise UserError(f"{frames_dir} holds an unfinished render; use --resume to continue it or --overwrite to start over")
    check_outputs(out, s, args.preset)
    settings = s.to_dict()
    # every input is read before anything on disk changes: a typo never costs a finished render
    device = pick_device(s.run.device)
    content = to_tensor(load_image(s.run.content, "content image"))
    styles = load_styles(s)
    color_ref = to_tensor(load_image(s.fx.color_reference, "fx.color_reference image")) if s.fx.color_reference else None
    backbone = load_backbone(s.run.backbone, s.run.pooling, args.weights, device, s.run.precision)
    style_cfg = style_config(s)
    style_cfg.check(backbone)
    engine = StyleEngine(backbone, style_cfg)
    seq = Sequencer(s, engine, content, styles, color_ref)
    if state is not None:
        check_state(state, s, seq.hw, state_path)
    start = state.next_frame if state else 0
    h, w = seq.hw
    probe = lambda: Sequencer(probe_settings(s), engine, content, styles, color_ref).frames()  # noqa: E731
    if args.estimate:
        keys = [t for t in seq.key_frames() if t >= start]
        estimate_frame_loop(probe, [seq.iterations_at(t) for t in keys], s.run.frames - start - len(keys), seq.hw, device,
                            f"{out.name}: {s.run.frames - start} frames at {w}x{h}")
        return 0
    check_fits(device, s.run.size, lambda: next(iter(probe())), "this render")
    try:
        final, log_lines, _ = render_to_files(
            lambda on_progress: seq.frames(state, on_progress), out=out, mode=mode, start=start, frames=s.run.frames,
            settings=settings, weights=weights, fps=s.run.fps, crf=s.output.crf,
            total_iterations=sum(seq.iterations_at(t) for t in range(start, s.run.frames)), iterations_at=seq.iterations_at,
            desc=f"{mode} {w}x{h} {s.run.frames} frames on {device.type}", hw=seq.hw)
    except KeyboardInterrupt:
        return 130
    log_path = output_paths(out)["log"]
    atomic_write_text(json_path, json.dumps({"stylemotion": 1, "settings": settings}, indent=2, sort_keys=True))
    state_path.unlink(missing_ok=True)
    print(f"wrote {final} ({s.run.frames} frames, {w}x{h}, {s.run.fps:g} fps), frames in {frames_dir}, settings in {json_path}, "
          f"per-frame parameters in {log_path}")
    if args.srt:
        srt = out.with_suffix(".srt")
        atomic_write_text(srt, srt_text([json.loads(x) for x in log_lines], s.run.fps))
        print(f"wrote {srt} (subtitles: players show it beside {out.name})")
    if mode == "drift":
        k = s.output.montage_every or montage_step(s.run.frames, sum(e.hold for e in s.playlist))
        idx = list(range(0, s.run.frames, k))
        if idx[-1] != s.run.frames - 1:
            idx.append(s.run.frames - 1)
        from ..playlist import label_at

        thumbs = [to_tensor(load_image(frames_dir / f"frame_{i:05d}.png")) for i in idx]
        sheet = montage(thumbs, [f"{i}: {label_at(s.playlist, i)}" for i in idx], columns=min(len(idx), 6), tile=200)
        mpath = out.with_name(out.stem + "_montage.png")
        save_image(sheet, mpath)
        print(f"wrote {mpath}")
    return 0


def preview_motion(s, out: Path) -> int:  # type: ignore[no-untyped-def]
    """The motion and per-frame controls on the start image, no optimization: OUT_preview.mp4."""
    import time

    from ..encode import VideoWriter
    from ..images import load_image, to_tensor, to_uint8
    from ..sequence import Sequencer

    t0 = time.perf_counter()
    content = to_tensor(load_image(s.run.content, "content image"))
    color_ref = to_tensor(load_image(s.fx.color_reference, "fx.color_reference image")) if s.fx.color_reference else None
    prev = out.with_name(out.stem + "_preview" + out.suffix)
    # no style and no network are needed to move pixels: the playlist's images are not even read
    seq = Sequencer(s, None, content, [], color_ref, styles_needed=False)
    writer = VideoWriter(prev, s.run.fps, s.output.crf, metadata=s.to_dict())
    h, w = seq.hw
    # the same page a render writes, with the schedules alone: see a ramp before spending hours on it
    report = Report(output_paths(out)["report"], f"motion preview: {out.name}", s.run.frames, f"{w}x{h}, no style")
    try:
        for frame in seq.frames(optimize=False):
            writer.write(to_uint8(frame.image))
            report.add(frame.index, frame.image, jsonable({k: v for k, v in frame.params.items() if k not in ("loss", "iterations")}))
    except BaseException:
        writer.abort()
        raise
    final = writer.close()
    report.write(running=False)
    note = f", schedules in {report.path}" if report.ok else ""
    print(f"wrote {final} (motion preview, {s.run.frames} frames, {w}x{h}, no style){note} in {time.perf_counter() - t0:.1f} s")
    return 0


def montage_step(frames: int, cycle: int) -> int:
    """About 16 tiles, with a step that does not divide the playlist cycle (so every style shows)."""
    k = max(1, frames // 16)
    while k > 1 and math.gcd(k, cycle) != 1:
        k += 1
    return k


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("zoom", help="zoom movie: warp, re-stylize, feed back", epilog=EXAMPLES_ZOOM, formatter_class=fmt)
    add_anim_args(p, "deepdream-like", "zoom.mp4")
    p.set_defaults(func=cmd_animate)
    p = sub.add_parser("drift", help="style drift: each style applied to the last result", epilog=EXAMPLES_DRIFT, formatter_class=fmt)
    add_anim_args(p, "drift", "drift.mp4")
    p.set_defaults(func=cmd_animate)

