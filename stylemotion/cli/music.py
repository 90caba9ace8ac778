"""``stylemotion audio``: a song's curves before any rendering (summary, JSON, keyframes, a page)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..music.audio import CURVES, EVENTS, MAX_BEATS_PER_BAR, AudioConfig, event_keyframes, keyframes, load
from ..io.paths import atomic_write_text, check_output_file
from ..io.report import audio_page
from ..errors import UserError
from .common import fps_arg, nonneg_float, positive_int

EXAMPLES = """examples:
  stylemotion audio song.mp3 --fps 24                      # tempo, beats, length in frames
  stylemotion audio song.mp3 --fps 24 --json > song.json   # every curve, one value per frame
  stylemotion audio song.mp3 --fps 24 --keyframes onset    # 0:(0.12), 1:(0.31), ... for other tools
  stylemotion audio song.mp3 --fps 24 --keyframes beat --every 4   # 0:(1), 46:(1), ...: a key every 4 beats
  stylemotion audio slow.mp3 --tempo 67 --beats-per-bar 3  # the tempo and meter, where you know them
  stylemotion audio song.mp3 --fps 24 -o song.html         # the curves as plots, beats marked
"""


def cmd_audio(args: argparse.Namespace) -> int:
    out = check_output_file(args.output, "page", [".html"], [args.song]) if args.output else None
    if args.every is not None and args.keyframes not in EVENTS:
        raise UserError(f"--every {args.every} needs --keyframes with an event ({', '.join(EVENTS)})")
    cfg = AudioConfig(attack=args.attack, release=args.release, tempo=args.tempo, beats_per_bar=args.beats_per_bar,
                      bar_offset=args.bar_offset)
    cfg.check()
    f = load(str(args.song), args.fps, args.frames, cfg)
    if args.json:
        print(json.dumps(f.to_json()))
        return 0
    if args.keyframes:
        print(event_keyframes(f, args.keyframes, args.every) if args.every is not None else keyframes(f, args.keyframes))
        return 0
    beats = f.beat_frames()
    summary = (f"{args.song.name}: {f.seconds:.2f} s, {f.frames} frames at {args.fps:g} fps, "
               f"{f.bpm:.1f} bpm, {len(f.beat_times)} beats, {len(f.downbeat_times)} bars of {f.beats_per_bar}, "
               f"{len(f.section_times)} section{'' if len(f.section_times) == 1 else 's'}")
    if out is not None:
        sections = [(int(round(t * args.fps)), t) for t in f.section_times]
        atomic_write_text(out, audio_page(f"audio: {args.song.name}", f.curves, beats, summary, sections, args.fps))
        print(f"wrote {out} ({summary})")
        return 0
    print(summary)
    if f.section_times:
        print("  sections start at " + ", ".join(f"{t:.1f}" for t in f.section_times) + " s")
    print("  schedules may use s, " + ", ".join(CURVES) + " and bpm beside t, e.g. zoom = \"1.005 + 0.03*beat\"")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audio", help="show a song's curves (loudness, bands, onsets, beats) per frame",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("song", type=Path, help="any audio or video file FFmpeg reads")
    p.add_argument("--fps", type=fps_arg, default=24.0, help="output frames per second (default 24)")
    p.add_argument("--frames", type=positive_int, help="frames to analyze (default: as long as the song)")
    p.add_argument("--attack", type=nonneg_float, default=0.0, help="seconds for amp, bands and onset to rise (default 0)")
    p.add_argument("--release", type=nonneg_float, default=0.0, help="seconds for them to fall back (default 0)")
    p.add_argument("--tempo", type=nonneg_float, default=0.0, metavar="BPM",
                   help="look for beats near this tempo (a slow song the tracker counts twice as fast); default: find it")
    p.add_argument("--beats-per-bar", type=int, default=0, metavar="N",
                   help=f"the meter: 3 for a waltz, 4 for most songs (up to {MAX_BEATS_PER_BAR}); default: find it")
    p.add_argument("--bar-offset", type=int, default=0, metavar="K",
                   help="move the found bars by K beats, where they start on the wrong beat (default 0)")
    p.add_argument("--every", type=positive_int, metavar="N",
                   help="with --keyframes beat, downbeat or section: a key (1) on the frame of every N-th one, not the curve")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--json", action="store_true",
                      help="print one JSON object: fps, frames, seconds, bpm, beat, downbeat and section times, every curve")
    what.add_argument("--keyframes", choices=CURVES, metavar="FEATURE",
                      help=f"print one curve as keyframes ({', '.join(CURVES)}); with --every, the events' frames")
    what.add_argument("-o", "--output", type=Path, help="write the curves as an HTML page of plots, beats marked")
    p.set_defaults(func=cmd_audio)
