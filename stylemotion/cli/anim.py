"""Animation commands: zoom and drift (the render loop with files, progress, resume)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch

from ..errors import UserError
from .common import Bar, device_arg, nonneg_int, os_error_message, positive_int

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
SETTING_FLAGS = ("preset", "content", "style", "hold", "crossfade", "frames", "size", "device", "cadence", "loop")


def given_setting_flags(args: argparse.Namespace) -> list[str]:
    names = [f"--{n}" for n in SETTING_FLAGS if getattr(args, n, None) not in (None, [], False)]
    return names + (["--set"] if args.overrides else [])


def resolve_settings(args: argparse.Namespace, mode: str, base=None):  # type: ignore[no-untyped-def]
    """Preset (or ``base``: a resumed render's settings) <- --set <- flags, validated."""
    from ..playlist import Entry
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
    if args.content is not None:
        sets.append(f"run.content={json.dumps(str(args.content))}")
    if args.cadence is not None:
        sets.append(f"run.cadence={args.cadence}")
    if args.loop:
        sets.append("run.loop=true")
    s = apply_overrides(s, sets)
    if args.style:
        hold = args.hold if args.hold is not None else (s.playlist[0].hold if s.playlist else 24)
        s.playlist = [Entry(str(Path(p).resolve()), hold, args.crossfade or 0) for p in args.style]
    elif args.hold is not None or args.crossfade is not None:
        raise UserError("--hold and --crossfade apply to --style entries; give --style, or set them in the preset's [[playlist]]")
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
    from ..paths import unique_temp

    tmp = unique_temp(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_state(path: Path, state, settings_dict: dict, weights: str = "bundled") -> None:  # type: ignore[no-untyped-def]
    """Atomically replace the render state: serialized in memory, written to a fresh temporary
    file with ordinary file I/O (a full disk is an OSError naming the file), then renamed."""
    from safetensors.torch import save

    from ..paths import unique_temp

    data = save(state.tensors(), metadata={"next_frame": str(state.next_frame), "settings": json.dumps(settings_dict, sort_keys=True),
                                           "weights": weights})
    tmp = unique_temp(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # disk full mid-write: the previous state stays, whole
        tmp.unlink(missing_ok=True)
        raise


MAX_STATE_BYTES = 2 * 1024**3  # a state holds a few frames: 2 GiB is far beyond any real one


def load_state(path: Path):  # type: ignore[no-untyped-def]
    """(SeqState, settings dict, weights id) of an interrupted render; UserError if it is damaged."""
    from safetensors import safe_open

    from ..paths import check_input_file, parse_json
    from ..sequence import SeqState

    check_input_file(path, "render state")
    damaged = f"render state {path} is damaged"
    hint = "start over with --overwrite"
    if path.stat().st_size > MAX_STATE_BYTES:
        raise UserError(f"{damaged} (larger than 2 GiB); {hint}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - a truncated or hand-edited file, whatever the parser says
        raise UserError(f"{damaged} ({' '.join(str(e).split())[:120]}); {hint}") from None
    try:
        next_frame = int(meta.get("next_frame", ""))
    except ValueError:
        raise UserError(f"{damaged} (next_frame {meta.get('next_frame')!r} is not an integer); {hint}") from None
    settings = parse_json(meta.get("settings", ""), f"{damaged}: settings")
    if not isinstance(settings, dict):
        raise UserError(f"{damaged} (settings are not a table); {hint}")
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise UserError(f"{damaged} (tensor {k!r} holds NaN or inf); {hint}")
    try:
        state = SeqState.from_tensors(next_frame, tensors)
    except Exception:  # noqa: BLE001 - a missing or misshapen tensor
        raise UserError(f"{damaged} (tensors {sorted(tensors)} are not a stylemotion state); {hint}") from None
    return state, settings, meta.get("weights", "bundled")


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


def weights_id(weights: Path | None) -> str:
    """What the backbone weights were: 'bundled' or the SHA-256 of the given file."""
    if weights is None:
        return "bundled"
    import hashlib

    from ..paths import check_input_file

    h = hashlib.sha256()
    with open(check_input_file(weights, "weights"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_diff(a: dict, b: dict) -> list[str]:
    fa, fb = _flat(a), _flat(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def output_paths(out: Path) -> dict[str, Path]:
    """Every file a render of ``out`` may write, by role."""
    frames, json_path, state = run_paths(out)
    return {"video": out, "settings": json_path, "state": state, "frames": frames,
            "log": out.with_name(out.stem + "_params.jsonl"), "srt": out.with_suffix(".srt"),
            "montage": out.with_name(out.stem + "_montage.png"), "preview": out.with_name(out.stem + "_preview" + out.suffix)}


def check_outputs(out: Path, s, preset: str | None) -> None:  # type: ignore[no-untyped-def]
    """Before any work: the outputs can be written and none of them is one of the run's inputs."""
    from ..encode import check_video_path
    from ..paths import _same, check_writable_folder

    inputs = [s.run.content, s.fx.color_reference, *(e.style for e in s.playlist)]
    if preset and Path(preset).suffix in (".toml", ".json"):
        inputs.append(preset)
    check_video_path(out, inputs)
    paths = output_paths(out)
    for role, p in paths.items():
        if role in ("video", "frames", "state"):
            continue
        for src in inputs:
            if src and _same(p, Path(src)):
                raise UserError(f"this render would overwrite {p} (its {role} file), which is one of its inputs; choose another -o")
        if p.is_dir():
            raise UserError(f"{p} is a directory, but the render writes its {role} file there; choose another -o")
    frames = paths["frames"]
    if frames.exists() and not frames.is_dir():
        raise UserError(f"{frames} exists and is not a folder; the render keeps its frames there: choose another -o")
    if frames.is_dir():
        check_writable_folder(frames, "frames")
        for src in inputs:
            if src and Path(src).resolve().parent == frames.resolve():
                raise UserError(f"input {src} is inside {frames}, which this render clears; copy it elsewhere or choose another -o")


def load_styles(s) -> list:  # type: ignore[no-untyped-def]
    """One tensor per playlist entry, each file read once and kept only at the size the run needs."""
    from ..images import load_image, to_tensor
    from ..optimize import fit_style

    long_side = max(8, round(s.style.style_scale * s.run.size))
    cache: dict[str, object] = {}
    out = []
    for e in s.playlist:
        if e.style not in cache:
            cache[e.style] = fit_style(to_tensor(load_image(e.style, "playlist style")), long_side)
        out.append(cache[e.style])
    return out


def cmd_animate(args: argparse.Namespace) -> int:
    from ..backbone import load_backbone, pick_device
    from ..encode import VideoWriter, check_video_path
    from ..images import load_image, montage, save_image, to_tensor, to_uint8
    from ..optimize import StyleConfig, StyleEngine
    from ..presets import from_dict
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
        state, saved, saved_weights = load_state(state_path)
        s = from_dict(saved, f"{state_path} settings")
        if given_setting_flags(args):
            # flags given with --resume must agree with what the render was started with
            asked = resolve_settings(args, mode, base=from_dict(saved, f"{state_path} settings"))
            diff = settings_diff(s.to_dict(), asked.to_dict())
            if diff:
                raise UserError(f"--resume: {', '.join(given_setting_flags(args))} change {', '.join(diff[:6])} from the stored settings; "
                                f"resume without them, or start over with --overwrite")
        if saved_weights != weights:
            raise UserError(f"--resume: the render was started with weights {saved_weights[:20]}, now {weights[:20]}; give the same --weights")
    else:
        s = resolve_settings(args, mode)
        if args.preview_motion:
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
    backbone = load_backbone(s.run.backbone, s.run.pooling, args.weights, device)
    st = s.style
    style_cfg = StyleConfig(tuple(st.content_layers), tuple(st.style_layers), tuple(float(w) for w in st.style_layer_weights),
                            tv_weight=st.tv_weight, style_scale=st.style_scale, style_loss=st.style_loss)
    style_cfg.check(backbone)
    engine = StyleEngine(backbone, style_cfg)
    seq = Sequencer(s, engine, content, styles, color_ref)
    if state is not None:
        check_state(state, s, seq.hw, state_path)
        for t in range(state.next_frame):
            if not (frames_dir / f"frame_{t:05d}.png").is_file():
                raise UserError(f"cannot resume: {frames_dir / f'frame_{t:05d}.png'} is missing; start over with --overwrite")
    else:
        frames_dir.mkdir(parents=True, exist_ok=True)
        for old in frames_dir.glob("frame_*.png"):
            old.unlink()
    start = state.next_frame if state else 0
    log_path = output_paths(out)["log"]
    try:
        writer = VideoWriter(out, s.run.fps, s.output.crf, metadata=settings)
        log_lines = _read_log(log_path, start) if state else []
        _atomic_write_text(log_path, "".join(line + "\n" for line in log_lines))  # drop lines past the resume point
    except OSError as e:
        raise UserError(f"cannot start writing {out}: {os_error_message(e)}") from None
    labels: dict[int, str] = {}
    try:
        for t in range(start):  # frames rendered before the interruption: re-encode from PNG
            path = frames_dir / f"frame_{t:05d}.png"
            writer.write(to_uint8(to_tensor(load_image(path, "rendered frame"))))
        total = sum(seq.iterations_at(t) for t in range(start, s.run.frames))
        h, w = seq.hw
        bar = Bar(total, f"{mode} {w}x{h} {s.run.frames} frames on {device.type}")

        def on_progress(t: int, p) -> None:  # type: ignore[no-untyped-def]
            bar.update(1, frame=f"{t + 1}/{s.run.frames}", loss=f"{p.loss:.4g}")

        try:
            for frame in seq.frames(state, on_progress):
                if frame.key:
                    bar.update(seq.iterations_at(frame.index) - frame.iterations)  # early stop: skip the rest of the budget
                # order matters for resume: the frame, then its log line, then the state that
                # points past it; a failure between leaves a state that re-renders this frame
                save_image(frame.image, frames_dir / f"frame_{frame.index:05d}.png")
                log_lines.append(json.dumps(_jsonable(frame.params), sort_keys=True))
                with open(log_path, "a", encoding="utf-8") as f:  # one line per frame, not the whole log again
                    f.write(log_lines[-1] + "\n")
                save_state(state_path, frame.state, settings, weights)
                writer.write(to_uint8(frame.image))
                labels[frame.index] = frame.label
        finally:
            bar.close()
        final = writer.close()
    except KeyboardInterrupt:
        writer.abort()
        print(f"\ninterrupted: finished frames are in {frames_dir}; continue with: stylemotion {mode} --resume -o {out}", file=sys.stderr)
        return 130
    except OSError as e:  # disk full or a vanished folder: the frames and the state so far stay
        writer.abort()
        raise UserError(f"{os_error_message(e)}; the render stopped, its finished frames are kept: "
                        f"free space, then continue with: stylemotion {mode} --resume -o {out}") from None
    except BaseException:
        writer.abort()
        raise
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
    from ..optimize import StyleEngine
    from ..backbone import load_backbone
    from ..sequence import Sequencer

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


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("zoom", help="zoom movie: warp, re-stylize, feed back", epilog=EXAMPLES_ZOOM, formatter_class=fmt)
    add_anim_args(p, "deepdream-like", "zoom.mp4")
    p.set_defaults(func=cmd_animate)
    p = sub.add_parser("drift", help="style drift: each style applied to the last result", epilog=EXAMPLES_DRIFT, formatter_class=fmt)
    add_anim_args(p, "drift", "drift.mp4")
    p.set_defaults(func=cmd_animate)

