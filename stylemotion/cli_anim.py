"""Animation commands: zoom, drift, presets, inspect (render loop with files, progress, resume)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path


from .errors import UserError

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
    p.add_argument("--preset", default=default_preset, help=f"shipped preset name or .toml/.json file (default {default_preset})")
    p.add_argument("--content", type=Path, help="start image (overrides run.content)")
    p.add_argument("--style", type=Path, action="append", help="style image; repeat to make a playlist (replaces the preset's)")
    p.add_argument("--hold", type=int, help="frames per --style entry (default: the preset's first entry)")
    p.add_argument("--crossfade", type=int, default=0, help="frames to crossfade into each --style entry")
    p.add_argument("--frames", type=int, help="number of frames (overrides run.frames)")
    p.add_argument("--size", type=int, help="long side in pixels (overrides run.size)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps (overrides run.device)")
    p.add_argument("--weights", type=Path, help="backbone weights file (for run.backbone = vgg19)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any preset value, e.g. --set motion.zoom=1.03 (repeatable)")
    p.add_argument("-o", "--output", type=Path, default=Path(default_out), help=f"video .mp4, .webm or .gif (default {default_out})")
    p.add_argument("--cadence", type=int, help="optimize every Nth frame, warp the ones between (overrides run.cadence)")
    p.add_argument("--loop", action="store_true", default=None, help="make the last frames lead back into the first (run.loop)")
    p.add_argument("--preview-motion", action="store_true", help="render the motion and per-frame controls alone, no style: seconds, not hours")
    p.add_argument("--srt", action="store_true", help="also write OUT.srt: each frame's parameters as subtitles")
    p.add_argument("--resume", action="store_true", help="continue an interrupted render of --output")
    p.add_argument("--overwrite", action="store_true", help="start over even if a render of --output is in progress")


def resolve_settings(args: argparse.Namespace, mode: str):  # type: ignore[no-untyped-def]
    from .playlist import Entry
    from .presets import apply_overrides, load_preset

    s = load_preset(args.preset)
    sets = list(args.overrides)
    sets.append(f'run.mode="{mode}"')
    if args.frames is not None:
        sets.append(f"run.frames={args.frames}")
    if args.size is not None:
        sets.append(f"run.size={args.size}")
    if args.device is not None:
        sets.append(f"run.device={json.dumps(args.device)}")
    if args.content is not None:
        sets.append(f"run.content={json.dumps(str(args.content))}")
    if args.cadence is not None:
        sets.append(f"run.cadence={args.cadence}")
    if args.loop:
        sets.append("run.loop=true")
    s = apply_overrides(s, sets)
    if args.style:
        hold = args.hold if args.hold is not None else (s.playlist[0].hold if s.playlist else 24)
        if hold < 1 or args.crossfade < 0:
            raise UserError(f"--hold must be >= 1 and --crossfade >= 0, got {hold} and {args.crossfade}")
        s.playlist = [Entry(str(Path(p).resolve()), hold, args.crossfade) for p in args.style]
    if not s.playlist:
        raise UserError("no style: give --style (repeatable) or a preset with a [[playlist]]")
    if not s.run.content:
        raise UserError("no content image: give --content or set run.content in the preset")
    return s


def run_paths(out: Path) -> tuple[Path, Path, Path]:
    """(frames folder, settings JSON beside the video, state file in the frames folder)."""
    frames = out.with_name(out.stem + "_frames")
    return frames, out.with_suffix(".json"), frames / "state.safetensors"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_state(path: Path, state, settings_dict: dict) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.part")
    save_file(state.tensors(), str(tmp), metadata={"next_frame": str(state.next_frame), "settings": json.dumps(settings_dict, sort_keys=True)})
    os.replace(tmp, path)


def load_state(path: Path):  # type: ignore[no-untyped-def]
    from safetensors import safe_open

    from .sequence import SeqState

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return SeqState.from_tensors(int(meta["next_frame"]), tensors), json.loads(meta["settings"])


def cmd_animate(args: argparse.Namespace) -> int:
    from .backbone import load_backbone, pick_device
    from .cli import Bar
    from .encode import VideoWriter, check_video_path
    from .images import load_image, montage, save_image, to_tensor, to_uint8
    from .optimize import StyleConfig, StyleEngine
    from .presets import from_dict
    from .sequence import Sequencer

    mode = args.command
    out = check_video_path(args.output)
    frames_dir, json_path, state_path = run_paths(out)
    state = None
    if args.resume:
        if not state_path.is_file():
            raise UserError(f"nothing to resume: {state_path} not found (start the render without --resume)")
        state, saved = load_state(state_path)
        s = from_dict(saved, f"{state_path} settings")
        if state.next_frame >= s.run.frames:
            raise UserError(f"{out}: all {s.run.frames} frames are already rendered")
    else:
        s = resolve_settings(args, mode)
        if args.preview_motion:
            return preview_motion(s, out)
        if state_path.exists() and not args.overwrite:
            raise UserError(f"{frames_dir} holds an unfinished render; use --resume to continue it or --overwrite to start over")
    settings = s.to_dict()
    # every input is read before anything on disk changes: a typo never costs a finished render
    content = to_tensor(load_image(s.run.content, "content image"))
    styles = [to_tensor(load_image(e.style, "playlist style")) for e in s.playlist]
    color_ref = to_tensor(load_image(s.fx.color_reference, "fx.color_reference image")) if s.fx.color_reference else None
    device = pick_device(s.run.device)
    if not args.resume:
        frames_dir.mkdir(parents=True, exist_ok=True)
        for old in frames_dir.glob("frame_*.png"):
            old.unlink()
    backbone = load_backbone(s.run.backbone, s.run.pooling, args.weights, device)
    st = s.style
    style_cfg = StyleConfig(tuple(st.content_layers), tuple(st.style_layers), tuple(float(w) for w in st.style_layer_weights),
                            tv_weight=st.tv_weight, style_scale=st.style_scale, style_loss=st.style_loss)
    engine = StyleEngine(backbone, style_cfg)
    seq = Sequencer(s, engine, content, styles, color_ref)
    start = state.next_frame if state else 0
    writer = VideoWriter(out, s.run.fps, s.output.crf, metadata=settings)
    log_path = out.with_name(out.stem + "_params.jsonl")
    log_lines = _read_log(log_path, start) if state else []
    _atomic_write_text(log_path, "".join(line + "\n" for line in log_lines))  # drop lines past the resume point
    labels: dict[int, str] = {}
    try:
        for t in range(start):  # frames rendered before the interruption: re-encode from PNG
            path = frames_dir / f"frame_{t:05d}.png"
            writer.write(to_uint8(to_tensor(load_image(path, "rendered frame"))))
        total = sum(seq.iterations_at(t) for t in range(start, s.run.frames))
        h, w = seq.hw
        bar = Bar(total, f"{mode} {w}x{h} {s.run.frames} frames on {device.type}")
        counted = {"n": 0}

        def on_progress(t: int, p) -> None:  # type: ignore[no-untyped-def]
            counted["n"] += 1
            bar.update(1, frame=f"{t + 1}/{s.run.frames}", loss=f"{p.loss:.4g}")

        try:
            for frame in seq.frames(state, on_progress):
                if frame.key:
                    bar.update(seq.iterations_at(frame.index) - frame.iterations)  # early stop: skip the rest of the budget
                save_image(frame.image, frames_dir / f"frame_{frame.index:05d}.png")
                log_lines.append(json.dumps(_jsonable(frame.params), sort_keys=True))
                with open(log_path, "a", encoding="utf-8") as f:  # one line per frame, not the whole log again
                    f.write(log_lines[-1] + "\n")
                save_state(state_path, frame.state, settings)
                writer.write(to_uint8(frame.image))
                labels[frame.index] = frame.label
        finally:
            bar.close()
    except KeyboardInterrupt:
        writer.abort()
        print(f"\ninterrupted: finished frames are in {frames_dir}; continue with: stylemotion {mode} --resume -o {out}", file=sys.stderr)
        return 130
    except BaseException:
        writer.abort()
        raise
    final = writer.close()
    _atomic_write_text(json_path, json.dumps({"stylemotion": 1, "settings": settings}, indent=2, sort_keys=True))
    state_path.unlink(missing_ok=True)
    print(f"wrote {final} ({s.run.frames} frames, {w}x{h}, {s.run.fps:g} fps), frames in {frames_dir}, settings in {json_path}, "
          f"per-frame parameters in {log_path}")
    if args.srt:
        srt = out.with_suffix(".srt")
        _atomic_write_text(srt, srt_text([json.loads(x) for x in log_lines], s.run.fps))
        print(f"wrote {srt} (subtitles: players show it beside {out.name})")
    if mode == "drift":
        k = s.output.montage_every or montage_step(s.run.frames, sum(e.hold for e in s.playlist))
        idx = list(range(0, s.run.frames, k))
        if idx[-1] != s.run.frames - 1:
            idx.append(s.run.frames - 1)
        from .playlist import label_at

        thumbs = [to_tensor(load_image(frames_dir / f"frame_{i:05d}.png")) for i in idx]
        sheet = montage(thumbs, [f"{i}: {label_at(s.playlist, i)}" for i in idx], columns=min(len(idx), 6), tile=200)
        mpath = out.with_name(out.stem + "_montage.png")
        save_image(sheet, mpath)
        print(f"wrote {mpath}")
    return 0


def preview_motion(s, out: Path) -> int:  # type: ignore[no-untyped-def]
    """The motion and per-frame controls on the start image, no optimization: OUT_preview.mp4."""
    import time

    from .encode import VideoWriter
    from .images import load_image, to_tensor, to_uint8
    from .optimize import StyleEngine
    from .backbone import load_backbone
    from .sequence import Sequencer

    t0 = time.perf_counter()
    content = to_tensor(load_image(s.run.content, "content image"))
    color_ref = to_tensor(load_image(s.fx.color_reference, "fx.color_reference image")) if s.fx.color_reference else None
    prev = out.with_name(out.stem + "_preview" + out.suffix)
    # no style is needed to move pixels: the playlist's images are not even read
    engine = StyleEngine(load_backbone(s.run.backbone, s.run.pooling, None, "cpu"))
    seq = Sequencer(s, engine, content, [], color_ref, styles_needed=False)
    writer = VideoWriter(prev, s.run.fps, s.output.crf, metadata=s.to_dict())
    try:
        for frame in seq.frames(optimize=False):
            writer.write(to_uint8(frame.image))
    except BaseException:
        writer.abort()
        raise
    final = writer.close()
    h, w = seq.hw
    print(f"wrote {final} (motion preview, {s.run.frames} frames, {w}x{h}, no style) in {time.perf_counter() - t0:.1f} s")
    return 0


def _jsonable(d: dict) -> dict:
    """Floats rounded for the log; NaN (no loss on an in-between frame) becomes null."""
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, float):
            out[k] = None if not math.isfinite(v) else round(v, 6)
        elif isinstance(v, dict):
            out[k] = _jsonable(v)
        else:
            out[k] = v
    return out


def _read_log(path: Path, frames: int) -> list[str]:
    """The first ``frames`` lines of an interrupted render's parameter log (fewer if it is short)."""
    if not path.is_file():
        return []
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()][:frames]


def srt_text(records: list[dict], fps: float) -> str:
    """SubRip subtitles: one cue per frame showing its resolved parameters."""
    def ts(sec: float) -> str:
        ms = int(round(sec * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    cues = []
    for i, r in enumerate(records):
        t = r.get("frame", i)
        styles = " + ".join(f"{k} {v:g}" for k, v in (r.get("styles") or {}).items())
        line1 = f"frame {t}{'' if r.get('key', True) else ' (warped)'}  zoom {r.get('zoom', 1):.4g}  angle {r.get('angle', 0):.3g}  {styles}"
        extra = [f"{k} {r[k]:.3g}" for k in ("style_weight", "content_weight", "noise", "unsharp_amount", "contrast", "loop_weight") if isinstance(r.get(k), (int, float))]
        if isinstance(r.get("loss"), (int, float)):
            extra.append(f"loss {r['loss']:.4g}")
        cues.append(f"{i + 1}\n{ts(t / fps)} --> {ts((t + 1) / fps)}\n{line1}\n{'  '.join(extra)}\n")
    return "\n".join(cues)


def montage_step(frames: int, cycle: int) -> int:
    """About 16 tiles, with a step that does not divide the playlist cycle (so every style shows)."""
    k = max(1, frames // 16)
    while k > 1 and math.gcd(k, cycle) != 1:
        k += 1
    return k


def cmd_presets(args: argparse.Namespace) -> int:
    from .presets import find_preset, list_presets, load_preset, preset_command, preset_description, read_toml

    if args.action == "list":
        for name in list_presets():
            print(f"{name:18s} {preset_command(name):12s} {preset_description(name)}")
        return 0
    if not args.name:
        raise UserError("presets show needs a NAME, e.g. stylemotion presets show deepdream-like")
    path = find_preset(args.name)
    if read_toml(path).get("command", "zoom") in ("zoom", "drift"):
        print(load_preset(args.name).to_toml())  # fully resolved, every default shown
    else:
        print(path.read_text(encoding="utf-8"))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .encode import read_metadata
    from .presets import from_dict, load_preset

    path = Path(args.file)
    if path.suffix == ".json":  # the settings file beside a render: the preset loader reads it
        settings = load_preset(str(path))
    else:
        data = read_metadata(path)
        settings = from_dict(data.get("settings", data), str(path))
    if args.toml:
        print(settings.to_toml())
    else:
        print(json.dumps(settings.to_dict(), indent=2, sort_keys=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("zoom", help="zoom movie: warp, re-stylize, feed back", epilog=EXAMPLES_ZOOM, formatter_class=fmt)
    add_anim_args(p, "deepdream-like", "zoom.mp4")
    p.set_defaults(func=cmd_animate)
    p = sub.add_parser("drift", help="style drift: each style applied to the last result", epilog=EXAMPLES_DRIFT, formatter_class=fmt)
    add_anim_args(p, "drift", "drift.mp4")
    p.set_defaults(func=cmd_animate)
    p = sub.add_parser("presets", help="list or show presets")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?", help="preset name or file (for show)")
    p.set_defaults(func=cmd_presets)
    p = sub.add_parser("inspect", help="print the settings stored in a rendered video or its JSON")
    p.add_argument("file", help="video (.mp4/.webm/.gif) or settings .json")
    p.add_argument("--toml", action="store_true", help="print as a preset file (reproduce with --preset FILE.toml)")
    p.set_defaults(func=cmd_inspect)
