"""Animation commands: zoom and drift (the render loop with files, progress, resume)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from ..music import audio
from ..io.encode import AudioSource, VideoWriter
from ..errors import UserError
from ..io.images import load_image, montage, save_image, to_tensor, to_uint8
from ..settings.playlist import label_at, on_beats
from ..animation.sequence import SeqState, Sequencer
from ..settings.sections import MAX_FRAMES, Settings, bind_signals, song_uses
from .common import device_arg, knob_flag, nonneg_int, positive_int
from .estimate import probe_settings
from .pipeline import FlagMap, Plan, build_engine, open_render, resolve, run, with_song
from .render import Report, jsonable, output_paths, run_paths

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
    p.add_argument("--style", type=Path, action="append", help="style image; repeat to make a playlist (replaces the preset's)")
    p.add_argument("--hold", type=positive_int, help="frames per --style entry (default: the preset's first entry)")
    p.add_argument("--crossfade", type=nonneg_int, help="frames to crossfade into each --style entry (default 0)")
    for name, (sec, key) in FLAGS.items():  # help, choices and converter from the key's schema entry
        knob_flag(p, name, sec, key, **FLAG_KW.get(name, {}))
    p.add_argument("--estimate", action="store_true", help="time a few frames, print the expected time and peak memory, write nothing")
    p.add_argument("--weights", type=Path, help="backbone weights file (for run.backbone = vgg19)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any preset value, e.g. --set motion.zoom=1.03 (repeatable)")
    p.add_argument("-o", "--output", type=Path, default=Path(default_out), help=f"video .mp4, .webm or .gif (default {default_out})")
    p.add_argument("--preview-motion", action="store_true", help="render the motion and per-frame controls alone, no style: seconds, not hours")
    p.add_argument("--srt", action="store_true", help="also write OUT.srt: each frame's parameters as subtitles")
    p.add_argument("--resume", action="store_true", help="continue an interrupted render of --output")
    p.add_argument("--overwrite", action="store_true", help="start over even if a render of --output is in progress")


# flags that change what is rendered: with --resume each must agree with the stored settings
SETTING_FLAGS = ("preset", "content", "style", "hold", "crossfade", "frames", "size", "device", "precision", "cadence", "loop", "audio", "tol")
FLAGS: FlagMap = {"content": ("run", "content"), "frames": ("run", "frames"), "audio": ("run", "audio"), "size": ("run", "size"),
                  "device": ("run", "device"), "precision": ("run", "precision"), "cadence": ("run", "cadence"), "loop": ("run", "loop"),
                  "tol": ("optim", "tol")}
FLAG_KW = {"audio": {"metavar": "SONG"}, "device": {"type": device_arg}}


def resolve_settings(args: argparse.Namespace, mode: str, base: Settings | None = None) -> tuple[Settings, dict]:
    """Preset (or ``base``: a resumed render's settings) <- --set <- flags, validated."""
    s = resolve(args, args.default_preset, FLAGS, [("run", "mode", mode)], base)
    if not s.run.content:
        raise UserError("no content image: give --content or set run.content in the preset")
    return s, {}


def check_state(state: SeqState, s: Settings, hw: tuple[int, int], path: Path) -> None:
    """The state fits the settings: frame number in range, images of the frame size."""
    damaged = f"render state {path} is damaged"
    for name in ("prev", "color_ref"):
        t = getattr(state, name)
        if t is not None and tuple(t.shape) != (1, 3, *hw):
            raise UserError(f"{damaged} ({name} has shape {tuple(t.shape)}, expected (1, 3, {hw[0]}, {hw[1]})); start over with --overwrite")
    if not -1 <= state.prev_index < state.next_frame:
        raise UserError(f"{damaged} (prev_index {state.prev_index} out of range); start over with --overwrite")


def cmd_animate(args: argparse.Namespace) -> int:
    mode = args.command
    if args.preview_motion and args.estimate and not args.resume:
        raise UserError("--estimate and --preview-motion: choose one (the preview needs no estimate: it runs in seconds)")
    r = open_render(args, SETTING_FLAGS, lambda base=None: resolve_settings(args, mode, base), SeqState)
    s, out, state = r.s, r.out, r.state
    song = attach_song(s, args, resumed=state is not None)
    sound = AudioSource(Path(s.run.audio), 0.0, s.run.frames / s.run.fps) if song is not None else None
    if args.preview_motion:
        return preview_motion(s, out, song, sound)
    content = to_tensor(load_image(s.run.content, "content image"))
    color_ref = to_tensor(load_image(s.fx.color_reference, "fx.color_reference image")) if s.fx.color_reference else None
    device, engine, styles = build_engine(s, args.weights)
    seq = Sequencer(s, engine, content, styles, color_ref)
    if state is not None:
        check_state(state, s, seq.hw, run_paths(out)[2])
    plan = Plan(frames=lambda on_progress: with_song(seq.frames(state, on_progress), song.at if song else None),
                probe=lambda: Sequencer(probe_settings(s), engine, content, styles, color_ref).frames(),
                iterations_at=seq.iterations_at, key_frames=[t for t in seq.key_frames() if t >= r.start], hw=seq.hw,
                fps=s.run.fps, device=device,
                audio=sound)
    code = run(args, mode, r, plan)
    if code == 0 and mode == "drift" and not args.estimate:
        write_montage(s, out)
    return code


def attach_song(s: Settings, args: argparse.Namespace, resumed: bool) -> audio.AudioFeatures | None:
    """Analyze run.audio (before anything is written) and bind its curves to the schedules; without
    --frames (or run.frames on the command line) the run lasts as long as the song."""
    if not s.run.audio:
        uses = song_uses(s)
        if uses:
            raise UserError(f"the run uses {', '.join(uses)}, which come from a song: give --audio FILE (or run.audio in the preset)")
        return None
    frames_given = resumed or args.frames is not None or any(o.replace(" ", "").startswith("run.frames=") for o in args.overrides)
    cfg = audio.AudioConfig(file=s.run.audio, attack=s.audio.attack, release=s.audio.release, tempo=s.audio.tempo,
                            beats_per_bar=s.audio.beats_per_bar, bar_offset=s.audio.bar_offset)
    song = audio.load(s.run.audio, s.run.fps, s.run.frames if frames_given else None, cfg)
    if not frames_given:
        if song.frames > MAX_FRAMES:
            raise UserError(f"{s.run.audio} lasts {song.seconds:.0f} s: {song.frames} frames at {s.run.fps:g} fps, more than {MAX_FRAMES}; "
                            "give --frames N (the song is cut there) or a lower run.fps")
        s.run.frames = song.frames
    bind_signals(s, song.at)
    s.playlist = on_beats(s.playlist, song.beat_frames(), s.run.frames, song.beat_period(), song.event_frames("downbeat"),
                          song.event_frames("section"), song.beats_per_bar)
    return song


def write_montage(s: Settings, out: Path) -> None:
    """OUT_montage.png: every k-th frame of a drift, labelled with its style."""
    frames_dir = run_paths(out)[0]
    k = s.output.montage_every or montage_step(s.run.frames, sum(e.hold for e in s.playlist))
    idx = list(range(0, s.run.frames, k))
    if idx[-1] != s.run.frames - 1:
        idx.append(s.run.frames - 1)
    thumbs = [to_tensor(load_image(frames_dir / f"frame_{i:05d}.png")) for i in idx]
    sheet = montage(thumbs, [f"{i}: {label_at(s.playlist, i)}" for i in idx], columns=min(len(idx), 6), tile=200)
    mpath = output_paths(out)["montage"]
    save_image(sheet, mpath)
    print(f"wrote {mpath}")


def preview_motion(s: Settings, out: Path, song: audio.AudioFeatures | None = None, sound: AudioSource | None = None) -> int:
    """The motion and per-frame controls on the start image, no optimization: OUT_preview.mp4."""
    t0 = time.perf_counter()
    content = to_tensor(load_image(s.run.content, "content image"))
    color_ref = to_tensor(load_image(s.fx.color_reference, "fx.color_reference image")) if s.fx.color_reference else None
    prev = out.with_name(out.stem + "_preview" + out.suffix)
    # no style and no network are needed to move pixels: the playlist's images are not even read
    seq = Sequencer(s, None, content, [], color_ref, styles_needed=False)
    writer = VideoWriter(prev, s.run.fps, s.output.crf, metadata=s.to_dict(), audio=sound)
    h, w = seq.hw
    # the same page a render writes, with the schedules alone: see a ramp before spending hours on it
    report = Report(output_paths(out)["report"], f"motion preview: {out.name}", s.run.frames, f"{w}x{h}, no style")
    try:
        for frame in with_song(seq.frames(optimize=False), song.at if song else None):
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

