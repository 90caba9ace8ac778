"""``stylemotion finish``: a zoom, drift or video draft made large, in chunks that run side by side."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import torch

from ..engine.backbone import precision_name
from ..errors import UserError
from ..finish.chunks import Chunk, needed, plan_chunks
from ..finish.config import FinishConfig
from ..finish.draft import Draft, open_draft
from ..finish.refine import Finisher, frames_u8, upscale
from ..finish.tasks import ChunkTask, finish_chunk, finish_settings, make_finisher, output_frames
from ..engine.factory import EngineCache
from ..io.decode import probe_video
from ..io.encode import AudioSource, check_video_path
from ..io.paths import OutputLock, atomic_write_text, same_file
from ..runtime.estimate import PROBE_EXTRA, Meter, duration, frames_estimate, probe_frames
from ..runtime.executors import Worker, make_executor
from .common import device_arg, finite_float, nonneg_int, open_device, positive_int, warn_line
from .estimate import frame_io_seconds, print_estimate, setup_seconds
from .render import Job, load_state, output_paths, render_to_files, resume_threads, run_paths, state_meta, weights_id

EXAMPLES = """examples:
  stylemotion zoom --preset deepdream-like -o draft.mp4          # a 160 px draft: look at it first
  stylemotion finish draft.mp4 --size 720 -o final.mp4           # the same piece, 720 px
  stylemotion finish draft.mp4 --size 1280 --fps 24 --workers 2 -o final.mp4
  stylemotion finish draft.mp4 --size 1280 --estimate            # how long, before it starts
  stylemotion finish --resume -o final.mp4                       # continue an interrupted finish
"""

DEFAULTS = FinishConfig()


class FinishState:
    """Resume state of a finish: the next output frame (a chunk is redone from its start, with the
    same bits: chunks are pure functions of the draft)."""

    def __init__(self, next_frame: int = 0) -> None:
        self.next_frame = next_frame

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"next_frame": torch.tensor([self.next_frame], dtype=torch.int64)}

    @classmethod
    def from_tensors(cls, next_frame: int, t: dict[str, torch.Tensor]) -> "FinishState":
        if int(t["next_frame"].reshape(-1)[0]) != next_frame:
            raise ValueError("next_frame disagrees with the metadata")
        return cls(next_frame)


def fps_factor(draft: Draft, fps: float | None) -> int:
    """Output frames per draft frame for ``--fps`` (a multiple of the draft's rate, up to 8x)."""
    rate = float(draft.settings.run.fps)
    if fps is None:
        return 1
    if draft.mode == "video":
        raise UserError(f"--fps is for zoom and drift drafts; {draft.path.name} is a video render: its in-betweens would be new frames "
                        "of the clip (render the draft at the clip's full rate with video --fps)")
    k = round(fps / rate)
    if k < 1 or k > 8 or abs(k * rate - fps) > 1e-3:
        raise UserError(f"--fps {fps:g}: the draft runs at {rate:g} fps; give a multiple of it up to 8x "
                        f"({', '.join(f'{rate * i:g}' for i in (2, 3, 4))}, ...)")
    return k


def config_from(args: argparse.Namespace, draft: Draft, base: dict | None = None) -> FinishConfig:
    """The finish's knobs: ``base`` (a resumed finish's), then the flags given."""
    cfg = FinishConfig(**base) if base else FinishConfig()
    for name in ("size", "iterations", "first_iterations", "chunk", "overlap", "consistency_weight", "temporal_weight", "style_gain"):
        v = getattr(args, name, None)
        if v is not None:
            setattr(cfg, name, v)
    if args.fps is not None:
        cfg.fps_factor = fps_factor(draft, args.fps)
    if args.precision is not None:
        cfg.precision = args.precision
    elif base is None:
        cfg.precision = draft.settings.run.precision
    if base is None and args.size is None:
        raise UserError(f"give --size N: the finished frames' long side, larger than the draft's {max(draft.hw)} px")
    cfg.check()
    if cfg.size <= max(draft.hw):
        raise UserError(f"--size {cfg.size}: the draft is {draft.hw[1]}x{draft.hw[0]}; a finish is larger than its draft "
                        f"(give --size > {max(draft.hw)})")
    return cfg


def check_outputs(out: Path, draft: Draft) -> None:
    """The finish writes none of the draft's files, nor into its frames folder."""
    mine = output_paths(out)
    theirs = output_paths(draft.path)
    for role, p in mine.items():
        for other in theirs.values():
            if same_file(p, other) or p.resolve() == other.resolve():
                raise UserError(f"-o {out} would write its {role} file over the draft's {other.name}; choose another -o")
    frames = mine["frames"]
    if frames.exists() and not frames.is_dir():
        raise UserError(f"{frames} exists and is not a folder; the finish keeps its frames there: choose another -o")


def open_finish(args: argparse.Namespace) -> tuple[Path, Draft, FinishConfig, FinishState | None, OutputLock | None]:
    """The resume handshake: a new finish, or the stored one with no knob changed."""
    out = check_video_path(args.output) if args.output else None
    if out is None:
        if not args.draft:
            raise UserError("give the draft to finish: stylemotion finish DRAFT.mp4 --size N")
        d = Path(args.draft)
        out = check_video_path(d.with_name(d.stem + "_finished" + (d.suffix if d.suffix in (".mp4", ".webm", ".gif") else ".mp4")))
    state_path = run_paths(out)[2]
    lock = None if args.estimate else OutputLock(out).acquire()
    if not args.resume:
        if not args.draft:
            raise UserError("give the draft to finish: stylemotion finish DRAFT.mp4 --size N (or --resume -o OUT to continue one)")
        draft = open_draft(args.draft)
        cfg = config_from(args, draft)
        if state_path.exists() and not args.overwrite:
            raise UserError(f"{state_path.parent} holds an unfinished finish; use --resume to continue it or --overwrite to start over")
        check_outputs(out, draft)
        return out, draft, cfg, None, lock
    if args.overwrite:
        raise UserError("--resume cannot be combined with --overwrite")
    if not state_path.is_file():
        raise UserError(f"nothing to resume: {state_path} not found (start the finish without --resume)")
    state, _, saved_weights, saved_threads = load_state(state_path, FinishState)
    rec = state_meta(state_path).get("finish")
    if not isinstance(rec, dict) or not isinstance(rec.get("config"), dict) or not isinstance(rec.get("draft"), str):
        raise UserError(f"render state {state_path} is not a finish's (no finish record); start over with --overwrite")
    draft = open_draft(args.draft or rec["draft"])
    if draft.stored != rec.get("draft_settings"):
        raise UserError(f"--resume: {draft.path} is not the draft this finish started from; give that draft, or start over with --overwrite")
    try:
        stored = FinishConfig(**rec["config"])
    except TypeError:
        raise UserError(f"render state {state_path} holds an unknown finish record; start over with --overwrite") from None
    cfg = config_from(args, draft, stored.to_dict())
    if cfg != stored:
        changed = [k for k, v in cfg.to_dict().items() if stored.to_dict()[k] != v]
        raise UserError(f"--resume: the flags change {', '.join(changed)} from the stored finish; resume without them, or start over with --overwrite")
    if saved_weights != weights_id(args.weights):
        raise UserError("--resume: the finish was started with other backbone weights; give the same --weights")
    note = resume_threads(saved_threads, args.threads)
    if note:
        print(note, file=sys.stderr)
    total = draft.frames * cfg.fps_factor
    if not 1 <= state.next_frame < total:
        raise UserError(f"render state {state_path} is damaged (next_frame {state.next_frame} is outside 1..{total - 1}); start over with --overwrite")
    check_outputs(out, draft)
    return out, draft, cfg, state, lock


def work_of(chunks: list[Chunk], cfg: FinishConfig) -> dict[int, int]:
    """Iterations spent on each draft frame, over every chunk that renders it."""
    work: dict[int, int] = {}
    for c in chunks:
        for j in range(c.first, c.end):
            work[j] = work.get(j, 0) + (cfg.first_iterations if j == c.first else cfg.iterations)
    return work


def estimate(finisher: Finisher, draft: Draft, todo: list[Chunk], cfg: FinishConfig, workers: int, device: Any, what: str) -> None:
    """Time the finish's own frame loop on 3 frames (1, 1 and 1 + m iterations), then count."""
    meter = Meter(device)
    setup = setup_seconds()
    n = draft.frames
    frames = {j: draft.frame(min(j, n - 1)) for j in range(3)}
    iters = {0: 1, 1: 1, 2: 1 + PROBE_EXTRA}
    content = None
    if draft.mode == "video":
        clip = draft.clip_frames(0, min(3, n), finisher.hw)
        content = {j: clip[min(j, n - 1)] for j in range(3)}
    cost = probe_frames(finisher.frames(Chunk(0, 0, 3), frames, None, iters.__getitem__, content), device)
    per = [[cfg.first_iterations if j == c.first else cfg.iterations for j in range(c.first, c.end)] for c in todo]
    tweens = sum(c.end - c.start for c in todo) * (cfg.fps_factor - 1)
    est = frames_estimate([k for p in per for k in p], cost, setup, meter, frame_io_seconds(finisher.hw), finisher.hw, tweens)
    print_estimate(est, what, device)
    if workers > 1 and len(todo) > 1:
        loads = sorted((sum(cost(k) for k in p) for p in per), reverse=True)
        slots = [0.0] * workers
        for x in loads:  # chunks go to the first free worker, longest first
            slots[slots.index(min(slots))] += x
        print(f"  with {workers} workers (one chunk each at a time): about {duration(setup + max(slots))} "
              f"for the {len(todo)} chunks, if each worker is as fast as this process")


def cmd_finish(args: argparse.Namespace) -> int:
    out, draft, cfg, state, lock = open_finish(args)
    s = finish_settings(draft, cfg)
    s = replace(s, run=replace(s.run, device=args.device or s.run.device, precision=cfg.precision))
    device, label = open_device(s.run.device, s.run.precision)
    factor, n = cfg.fps_factor, draft.frames
    chunks = plan_chunks(n, cfg.chunk, cfg.overlap)
    start = state.next_frame if state is not None else 0
    todo = needed(chunks, start // factor)
    weights = str(args.weights) if args.weights else None
    cache = EngineCache()
    finisher = make_finisher(draft, cfg, device, cache, weights)
    h, w = finisher.hw
    fps = draft.settings.run.fps * factor
    total = n * factor
    if args.estimate:
        estimate(finisher, draft, todo, cfg, args.workers or (2 if args.ray else 1), device,
                 f"{out.name}: {total - start} frames at {w}x{h} from {draft.path.name} ({draft.hw[1]}x{draft.hw[0]})")
        return 0
    tasks = [ChunkTask(c, draft.stored, tuple(draft.records), draft.hw, cfg.to_dict(), frames_u8(draft, c.first, c.end), weights,
                       draft.resample) for c in todo]
    work = work_of(todo, cfg)
    record = {"draft": str(draft.path.resolve()), "draft_settings": draft.stored, "config": cfg.to_dict()}

    def preview(t: int, img: torch.Tensor) -> torch.Tensor:  # draft (upscaled) | finished, for the report
        return torch.cat([upscale(draft.frame(t), finisher.hw), img], dim=-1)

    executor = None
    if (args.workers or 0) > 1 or args.ray:
        executor = make_executor(s.run.device, args.workers or 0, args.ray, warn_line, threads=torch.get_num_threads())
        print(f"{len(tasks)} chunks on {executor.name}", file=sys.stderr)

    def after(i: int) -> FinishState:  # the state saved with output frame i points past it
        return FinishState(i + 1)

    def make_frames(on_progress: Any) -> Iterator[Any]:
        if executor is None:  # this process: the finisher already built, progress per iteration
            worker = Worker(str(device), keep={("finisher", cfg.size, id(cache)): finisher, "engines": cache})
            done = ((t.chunk, finish_chunk(t, worker, on_progress)) for t in tasks)
            return output_frames(done, todo, draft, factor, start, after, preview)
        return output_frames(((t.chunk, v) for t, v in executor.map(finish_chunk, tasks)), todo, draft, factor, start, after, preview, on_progress)

    # the draft's own sound track (a song, or a clip's audio), if it has one
    audio = AudioSource(draft.path, 0.0, n / float(draft.settings.run.fps)) if probe_video(draft.path).audio else None
    job = Job(out=out, mode="finish", start=start, frames=total, settings=s.to_dict(), weights=weights_id(args.weights), fps=fps,
              crf=draft.settings.output.crf, hw=finisher.hw, audio=audio, files=draft.files, meta={"finish": record},
              desc=f"finish {w}x{h} {total} frames from {draft.hw[1]}x{draft.hw[0]} on {device.type}, {precision_name(device.type, cfg.precision)}",
              total_iterations=sum(work.values()),
              iterations_at=lambda i: work.get(i // factor, 0) if i % factor == 0 else 0)
    try:
        final, _, audio_note = render_to_files(make_frames, job)
    except KeyboardInterrupt:
        return 130
    finally:
        if executor is not None:
            executor.close()
    frames_dir, json_path, state_path = run_paths(out)
    atomic_write_text(json_path, json.dumps({"stylemotion": 1, "settings": s.to_dict(), "files": draft.files, "finish": record},
                                            indent=2, sort_keys=True))
    state_path.unlink(missing_ok=True)
    sound = "" if audio is None else (f", audio not copied: {audio_note}" if audio_note else f", with the draft's audio")
    print(f"wrote {final} ({total} frames, {w}x{h}, {fps:g} fps{sound}) from {draft.path.name}, frames in {frames_dir}, "
          f"per-frame parameters in {output_paths(out)['log']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finish", help="a zoom, drift or video draft made large (720p and up), in chunks side by side",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("draft", nargs="?", help="a finished zoom, drift or video render (.mp4, .webm, .gif) with its _frames folder and _params.jsonl")
    p.add_argument("--size", type=positive_int, help="long side of the finished frames in px, larger than the draft's (e.g. 720, 1280)")
    p.add_argument("--fps", type=finite_float, help="output frame rate, a multiple of the draft's (in-between frames follow its exact motion)")
    p.add_argument("--iterations", type=nonneg_int, help=f"per carried frame (default {DEFAULTS.iterations})")
    p.add_argument("--first-iterations", type=positive_int, help=f"per chunk's first frame (default {DEFAULTS.first_iterations})")
    p.add_argument("--chunk", type=positive_int, help=f"frames per chunk; chunks run side by side (default {DEFAULTS.chunk})")
    p.add_argument("--overlap", type=nonneg_int, help=f"frames crossfaded at each seam between chunks (default {DEFAULTS.overlap})")
    p.add_argument("--consistency-weight", type=finite_float, help=f"how closely the finish keeps the draft (default {DEFAULTS.consistency_weight:g})")
    p.add_argument("--style-gain", type=finite_float, help=f"the draft's style weight times this (default {DEFAULTS.style_gain:g})")
    p.add_argument("--temporal-weight", type=finite_float, help=f"how firmly the added detail moves with the picture (default {DEFAULTS.temporal_weight:g})")
    p.add_argument("--device", type=device_arg, help="where the network runs (default: the draft's run.device)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="arithmetic (default auto: bf16 where the hardware has it)")
    p.add_argument("--workers", type=positive_int, help="finish chunks side by side in N local processes (one per GPU when there are several)")
    p.add_argument("--ray", metavar="ADDRESS", help="finish chunks on a Ray cluster: auto, or host:port (pip install 'stylemotion[ray]')")
    p.add_argument("--weights", type=Path, help="backbone weights file (for a draft with run.backbone = vgg19)")
    p.add_argument("--estimate", action="store_true", help="time a few frames, print the expected time and peak memory, write nothing")
    p.add_argument("-o", "--output", type=Path, help="finished video .mp4, .webm or .gif (default DRAFT_finished.mp4)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted finish of --output (the draft is remembered)")
    p.add_argument("--overwrite", action="store_true", help="start over even if a finish of --output is in progress")
    p.set_defaults(func=cmd_finish)
