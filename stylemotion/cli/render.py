"""The files of a resumable render, shared by the frame-sequence commands (zoom, drift, video):
frames folder, state file, settings JSON, per-frame parameter log, subtitles. Imports no command."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save

from ..io.encode import VideoWriter, check_video_path
from ..errors import UserError
from ..io.images import data_uri, image_size, load_image, save_image, to_tensor, to_uint8
from ..io.paths import atomic_write_text, check_input_file, check_writable_folder, parse_json, resolved, same_file, unique_temp
from ..runtime.threads import set_threads
from ..settings.playlist import Entry
from ..io.report import page
from ..animation.sequence import SeqState
from .common import Bar, one_line, os_error_message


def run_paths(out: Path) -> tuple[Path, Path, Path]:
    """(frames folder, settings JSON beside the video, state file in the frames folder)."""
    frames = out.with_name(out.stem + "_frames")
    return frames, out.with_suffix(".json"), frames / "state.safetensors"


def save_state(path: Path, state, settings_dict: dict, weights: str = "bundled", meta: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    """Atomically replace the render state: serialized in memory, written to a fresh temporary
    file with ordinary file I/O (a full disk is an OSError naming the file), then renamed.
    ``meta``: what else a command keeps beside the settings (a finish: its draft and knobs)."""
    # the CPU thread count changes how float sums are split, so the last bits of every frame depend
    # on it: a resumed render runs with the same count to stay byte-identical
    data = save(state.tensors(), metadata={"next_frame": str(state.next_frame), "settings": json.dumps(settings_dict, sort_keys=True),
                                           "weights": weights, "threads": str(torch.get_num_threads()),
                                           **({"meta": json.dumps(meta, sort_keys=True)} if meta else {})})
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


def load_state(path: Path, state_cls=None):  # type: ignore[no-untyped-def]
    """(state, settings dict, weights id, CPU threads or None) of an interrupted render; UserError if it is damaged.
    ``state_cls`` (default :class:`~stylemotion.sequence.SeqState`) rebuilds the state."""
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
        state = (state_cls or SeqState).from_tensors(next_frame, tensors)
    except Exception:  # noqa: BLE001 - a missing or misshapen tensor
        raise UserError(f"{damaged} (tensors {sorted(tensors)} are not a stylemotion state); {hint}") from None
    threads = meta.get("threads", "")
    return state, settings, meta.get("weights", "bundled"), (int(threads) if threads.isdigit() and int(threads) > 0 else None)


def state_meta(path: Path) -> dict:
    """The ``meta`` a command kept in its state (:func:`save_state`); {} if none or unreadable
    (:func:`load_state` reports a damaged state)."""
    try:
        with safe_open(str(path), "pt") as f:
            text = (f.metadata() or {}).get("meta", "")
        data = json.loads(text) if text else {}
    except Exception:  # noqa: BLE001 - load_state says what is wrong with the file
        return {}
    return data if isinstance(data, dict) else {}


def resume_threads(saved: int | None, given: int | None) -> str | None:
    """Use the interrupted render's CPU thread count unless ``--threads`` was given; a note when they differ."""
    if saved is None:
        return None
    if given is None:
        set_threads(saved)
        return None
    if given != saved:
        return (f"note: the render was started with {saved} CPU threads and resumes with {given}; "
                f"the new frames can differ from an uninterrupted render in the last bit")
    return None


def apply_playlist_flags(s, args) -> None:  # type: ignore[no-untyped-def]
    """--style (repeatable) with --hold/--crossfade replace the preset's playlist; a playlist is required."""
    if args.style:
        hold = args.hold if args.hold is not None else (s.playlist[0].hold if s.playlist else 24)
        s.playlist = [Entry(str(resolved(p)), hold, args.crossfade or 0) for p in args.style]
    elif args.hold is not None or args.crossfade is not None:
        raise UserError("--hold and --crossfade apply to --style entries; give --style, or set them in the preset's [[playlist]]")
    if not s.playlist:
        raise UserError("no style: give --style (repeatable) or a preset with a [[playlist]]")


def check_same_weights(saved: str, now: str) -> None:
    if saved != now:
        raise UserError(f"--resume: the render was started with weights {saved[:20]}, now {now[:20]}; give the same --weights")


def weights_id(weights: Path | None) -> str:
    """What the backbone weights were: 'bundled' or the SHA-256 of the given file."""
    if weights is None:
        return "bundled"
    h = hashlib.sha256()
    with open(check_input_file(weights, "weights"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def settings_diff(a: dict, b: dict) -> list[str]:
    fa, fb = flat(a), flat(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def output_paths(out: Path) -> dict[str, Path]:
    """Every file a render of ``out`` may write, by role."""
    frames, json_path, state = run_paths(out)
    return {"video": out, "settings": json_path, "state": state, "frames": frames,
            "log": out.with_name(out.stem + "_params.jsonl"), "srt": out.with_suffix(".srt"),
            "montage": out.with_name(out.stem + "_montage.png"), "preview": out.with_name(out.stem + "_preview" + out.suffix),
            "report": out.with_name(out.stem + "_report.html")}


def check_outputs(out: Path, s, preset: str | None) -> None:  # type: ignore[no-untyped-def]
    """Before any work: the outputs can be written and none of them is one of the run's inputs."""
    inputs = [s.run.content, s.fx.color_reference, s.video.input, *(e.style for e in s.playlist)]
    if preset and Path(preset).suffix in (".toml", ".json"):
        inputs.append(preset)
    check_video_path(out, inputs)
    paths = output_paths(out)
    for role, p in paths.items():
        if role in ("video", "frames", "state"):
            continue
        for src in inputs:
            if src and same_file(p, Path(src)):
                raise UserError(f"this render would overwrite {p} (its {role} file), which is one of its inputs; choose another -o")
        if p.is_dir() and role != "report":  # the report is optional: Report warns and the render goes on
            raise UserError(f"{p} is a directory, but the render writes its {role} file there; choose another -o")
    frames = paths["frames"]
    if frames.exists() and not frames.is_dir():
        raise UserError(f"{frames} exists and is not a folder; the render keeps its frames there: choose another -o")
    if frames.is_dir():
        check_writable_folder(frames, "frames")
        for src in inputs:
            if src and resolved(src).parent == resolved(frames):
                raise UserError(f"input {src} is inside {frames}, which this render clears; copy it elsewhere or choose another -o")


def jsonable(d: dict) -> dict:
    """Floats rounded for the log; NaN (no loss on an in-between frame) becomes null."""
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, float):
            out[k] = None if not math.isfinite(v) else round(v, 6)
        elif isinstance(v, dict):
            out[k] = jsonable(v)
        else:
            out[k] = v
    return out


def read_log(path: Path, frames: int) -> list[str]:
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




class Report:
    """The render's report page (``OUT_report.html``, :mod:`stylemotion.io.report`), rewritten as frames
    finish. It is optional: if the page cannot be written, one warning line, and the render goes on."""

    STRIP = 24  # thumbnails in the strip, evenly spaced over the frames so far
    THUMB, LATEST = 96, 480  # long sides of the strip's thumbnails and of the latest frame
    # a running render's page is rewritten at most this often: a fast GPU render makes several
    # frames a second, and the page (plots of every frame so far) should not slow it down
    MIN_SECONDS = 2.0

    def __init__(self, path: Path, title: str, total_frames: int, meta: str = "") -> None:
        self.path, self.title, self.total, self.meta = path, title, total_frames, meta
        self.records: list[dict] = []
        self.thumbs: dict[int, str] = {}
        self.latest: torch.Tensor | None = None  # encoded when the page is written
        self.stride = 1  # thumbnails kept: frames whose index is a multiple of this
        self.latest_index = -1  # the newest frame, always last in the strip
        self.written = -math.inf  # perf_counter of the last write
        self.ok = True
        self.say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)  # a progress bar's write, once there is one

    def add(self, index: int, image: torch.Tensor | None, record: dict | None) -> None:
        """A finished frame (its image, its log record; either may be None). Thumbnails are kept
        only for frames on a grid of ``stride`` (doubled as the render grows), so a long render
        holds at most 2 x STRIP of them, not one per frame."""
        if record is not None:
            self.records.append(record)
        if image is None:
            return
        self.latest, self.latest_index = image, index
        if index % self.stride == 0:
            self.thumbs[index] = data_uri(image, self.THUMB)
            if len(self.thumbs) > 2 * self.STRIP:
                self.stride *= 2
                self.thumbs = {k: v for k, v in self.thumbs.items() if k % self.stride == 0}

    def write(self, running: bool, stopped: str = "") -> None:
        """The page as of now; while ``running``, skipped if the last write was under MIN_SECONDS ago."""
        if not self.ok or (running and time.perf_counter() - self.written < self.MIN_SECONDS):
            return
        self.written = time.perf_counter()
        keys = sorted(self.thumbs)
        step = max(1, -(-len(keys) // self.STRIP))
        strip = [(k, self.thumbs[k]) for k in keys[::step]]
        if self.latest is not None and (not strip or strip[-1][0] != self.latest_index):
            strip.append((self.latest_index, self.thumbs.get(self.latest_index) or data_uri(self.latest, self.THUMB)))
        latest = data_uri(self.latest, self.LATEST) if self.latest is not None else None
        text = page(self.title, self.records, total_frames=self.total, running=running, latest=latest,
                    thumbs=strip, meta=self.meta, stopped=stopped)
        try:
            atomic_write_text(self.path, text)
        except OSError as e:
            self.ok = False
            self.say(one_line(f"warning: cannot write the report page {self.path} ({os_error_message(e)}); the render goes on without it"))


@dataclass
class Job:
    """What :func:`render_to_files` writes: where, how many frames, and how the video is encoded."""

    out: Path
    mode: str  # the command, for the resume hint
    start: int  # first frame to render (earlier ones are on disk)
    frames: int
    settings: dict  # stored in the state, the video's metadata and the settings JSON
    weights: str  # weights_id of the backbone
    fps: Any  # float or Fraction
    crf: int
    hw: tuple[int, int]  # (H, W) of every frame: frames a resume re-encodes must have it
    desc: str  # progress bar title
    total_iterations: int
    iterations_at: Callable[[int], int]
    audio: Any = None  # an encode.AudioSource to copy
    files: dict | None = None  # path -> SHA-256 of every file the run reads (inspect --pack checks them)
    meta: dict | None = None  # more top-level keys of the video's metadata, kept in the state too (a finish's record)


def render_to_files(make_frames: Callable[[Callable[[int, Any], None]], Iterator[Any]], job: Job) -> tuple[Path, list[str], Any]:
    """Run a frame generator and keep every result on disk, resumably.

    ``make_frames(on_progress)`` yields objects with ``index``, ``image``, ``params``, ``state``,
    ``iterations`` and ``key``. Per frame, in this order: its PNG, its log line, then the state
    that points past it (a failure between leaves a state that re-renders the frame), then the
    video. Returns (video path, log lines, the writer's audio note). Ctrl-C prints the resume
    command and re-raises (the caller returns 130); a full disk is one error line with the same.
    """
    out, mode, start, frames, settings, weights, hw = job.out, job.mode, job.start, job.frames, job.settings, job.weights, job.hw
    frames_dir, _, state_path = run_paths(out)
    log_path = output_paths(out)["log"]
    if start:
        for t in range(start):
            png = frames_dir / f"frame_{t:05d}.png"
            if not png.is_file():
                raise UserError(f"cannot resume: {png} is missing; start over with --overwrite")
            if image_size(png, "rendered frame") != (hw[1], hw[0]):
                w, h = image_size(png, "rendered frame")
                raise UserError(f"cannot resume: {png} is {w}x{h}, the render's frames are {hw[1]}x{hw[0]} "
                                "(was it replaced?); start over with --overwrite")
    else:
        frames_dir.mkdir(parents=True, exist_ok=True)
        for old in frames_dir.glob("frame_*.png"):
            old.unlink()
    try:
        writer = VideoWriter(out, job.fps, job.crf, metadata={"stylemotion": 1, "settings": settings, "files": job.files or {}, **(job.meta or {})},
                             audio=job.audio)
        log_lines = read_log(log_path, start) if start else []
        atomic_write_text(log_path, "".join(line + "\n" for line in log_lines))  # drop lines past the resume point
    except OSError as e:
        raise UserError(f"cannot start writing {out}: {os_error_message(e)}") from None
    resume = f"stylemotion {mode} --resume -o {out}"
    kept = start > 0  # a state to resume from exists: from here on, a failure keeps what is done
    report = Report(output_paths(out)["report"], f"{mode}: {out.name}", frames, job.desc)
    for line in log_lines:
        try:
            report.add(0, None, json.loads(line))
        except ValueError:  # a damaged line of an interrupted render's log: the page goes without it
            pass
    try:
        for t in range(start):  # frames rendered before the interruption: re-encode from PNG
            img = to_tensor(load_image(frames_dir / f"frame_{t:05d}.png", "rendered frame"))
            writer.write(to_uint8(img))
            report.add(t, img, None)
        report.write(running=True)  # a page to open at once (and the warning, if it cannot be written, before the bar)
        bar = Bar(job.total_iterations, job.desc)
        report.say = bar.write

        def on_progress(t: int, p: Any) -> None:
            bar.update(p.advanced, frame=f"{t + 1}/{frames}", loss=f"{p.loss:.4g}")

        try:
            for frame in make_frames(on_progress):
                if frame.key:  # early stop: skip the rest of the budget; more work than planned (a cut): a longer bar
                    planned = job.iterations_at(frame.index)
                    if frame.iterations > planned:
                        bar.grow(frame.iterations - planned)
                    else:
                        bar.update(planned - frame.iterations)
                save_image(frame.image, frames_dir / f"frame_{frame.index:05d}.png")
                log_lines.append(json.dumps(jsonable(frame.params), sort_keys=True))
                with open(log_path, "a", encoding="utf-8") as f:  # one line per frame, not the whole log again
                    f.write(log_lines[-1] + "\n")
                save_state(state_path, frame.state, settings, weights, job.meta)
                kept = True
                writer.write(to_uint8(frame.image))
                preview = getattr(frame, "preview", None)  # what the report shows of it, if not the frame itself
                report.add(frame.index, frame.image if preview is None else preview, json.loads(log_lines[-1]))
                report.write(running=True)
        finally:
            bar.close()
        final = writer.close()
        report.write(running=False)
    except BaseException as e:
        writer.abort()
        if not kept:
            # stopped before the first state was saved: nothing can be resumed, so nothing is
            # left behind (a frame or a log line without a state would be known to no later run)
            _remove_unresumable(frames_dir, [log_path, report.path])
        if isinstance(e, KeyboardInterrupt):
            if kept:
                report.write(running=False, stopped=f"interrupted; continue with: {resume}")
                print(f"\ninterrupted: finished frames are in {frames_dir}; continue with: {resume}", file=sys.stderr)
            else:
                print("\ninterrupted before the first frame was finished; nothing was kept", file=sys.stderr)
            raise
        if isinstance(e, OSError):  # disk full or a vanished folder: the frames and the state so far stay
            if not kept:
                raise UserError(f"{os_error_message(e)}; the render stopped before its first frame was finished, "
                                "nothing was kept: free space, then start it again") from None
            report.write(running=False, stopped=f"{os_error_message(e)}; continue with: {resume}")
            raise UserError(f"{os_error_message(e)}; the render stopped, its finished frames are kept: free space, "
                            f"then continue with: {resume}") from None
        if kept:
            report.write(running=False, stopped=one_line(e) or type(e).__name__)
        raise
    return final, log_lines, writer.audio_note


def _remove_unresumable(frames_dir: Path, files: list[Path]) -> None:
    """Remove what a render wrote before its first state: its frames (the folder, if then empty)
    and ``files``. Best effort: a file that cannot be removed stays."""
    for p in [*frames_dir.glob("frame_*.png"), *files]:
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass
    try:
        frames_dir.rmdir()
    except OSError:
        pass
