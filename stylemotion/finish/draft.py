"""A draft: a finished zoom, drift or video render, read back with everything a finish needs from it.

What is read: the settings in the video's metadata, its frames folder (``DRAFT_frames/``, the
exact pictures, checked against the video so that a replaced or edited folder is refused) and its
per-frame log (``DRAFT_params.jsonl``: each frame's resolved motion, weights and style mix, song
curves applied, so the finish follows the draft without the song or the schedules' inputs).

Images are ``(1, 3, h, w)`` float in [0, 1] at the draft's size; warps ``(1, 2, 3)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..animation.motion import step_theta
from ..errors import UserError
from ..io.decode import probe_video, read_video
from ..io.encode import read_metadata
from ..io.images import image_size, load_image, to_tensor
from ..io.paths import check_input_file
from ..settings.sections import Settings, from_dict
from ..video.clip import clip_source

MODES = ("zoom", "drift", "video")  # drafts a finish follows: an affine motion (zoom, drift) or the clip's flow (video)
MOTION = ("zoom", "angle", "tx", "ty")  # what a zoom or drift frame's record holds of its motion
# a frame of the folder against the same frame decoded from the video: H.264 at the renders' crf
# is > 35 dB, a GIF's palette > 25 dB; another picture or a retouched one is far below
SAME_FRAME_DB = 22.0


@dataclass
class Draft:
    path: Path
    settings: Settings
    stored: dict  # the settings as stored (what a resume compares)
    files: dict  # path -> SHA-256 of the files the draft read
    frames_dir: Path
    records: list[dict]  # one per frame, from the draft's log
    hw: tuple[int, int]  # (h, w) of its frames
    resample: Fraction | None = None  # a video draft: the rate its clip was resampled to while decoding (None: its own frames)

    @property
    def frames(self) -> int:
        return len(self.records)

    @property
    def mode(self) -> str:
        return self.settings.run.mode

    def frame(self, t: int) -> torch.Tensor:
        """Frame t as rendered, (1, 3, h, w)."""
        return to_tensor(load_image(self.frames_dir / f"frame_{t:05d}.png", "draft frame"))

    def theta(self, t: int) -> torch.Tensor:
        """The draft's motion from frame t-1 to frame t (after the last frame: its last motion
        going on, undithered), (1, 2, 3) in normalized coordinates: the same at any frame size."""
        m = self.settings.motion
        r = self.records[min(t, self.frames - 1)]
        return step_theta(r["zoom"], r["angle"], r["tx"], r["ty"], t, self.frames, m.dither, self.hw, (m.center_x, m.center_y))

    def clip_frames(self, a: int, b: int, hw: tuple[int, int]) -> dict[int, torch.Tensor]:
        """A video draft's input frames for its frames a..b-1, at ``hw``: the content of a finish."""
        v = self.settings.video
        src = clip_source(v.input, v.start + a * v.every, v.start + b * v.every, v.every, hw, self.resample)
        out = {a + k: x for k, (_, x) in enumerate(src)}
        if len(out) != b - a:
            raise UserError(f"{v.input} gave {len(out)} frames for the draft's frames {a}..{b - 1}: the clip is not the one the draft was made from")
        return out

    def cut(self, t: int) -> bool:
        """A video draft's frame t starts a shot (nothing before it to hold)."""
        return bool(self.records[t].get("cut"))

    def weights(self, t: int) -> dict[str, float]:
        """Frame t's content and style weights as the draft resolved them."""
        r = self.records[min(t, self.frames - 1)]
        return {"content": float(r["content_weight"]), "style": float(r["style_weight"])}

    def mix(self, t: int) -> list[tuple[int, float]]:
        """Frame t's style mix as the draft logged it: (playlist entry, weight) pairs."""
        stems = {}
        for i, e in enumerate(self.settings.playlist):
            stems.setdefault(Path(e.style).stem, i)
        return [(stems[k], float(w)) for k, w in self.records[min(t, self.frames - 1)]["styles"].items() if float(w) > 0]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _records(log: Path, frames: int, s: Settings) -> list[dict]:
    """The draft's log, one record per frame, each with what the finish reads from it."""
    if not log.is_file():
        raise UserError(f"{log} is missing: the finish follows the draft's per-frame log; render the draft again")
    out: dict[int, dict] = {}
    stems = {Path(e.style).stem for e in s.playlist}
    for n, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            raise UserError(f"{log} line {n} is not JSON: the draft's log is damaged; render the draft again") from None
        ok = isinstance(r, dict) and isinstance(r.get("frame"), int) and isinstance(r.get("styles"), dict)
        keys = ("content_weight", "style_weight") + (MOTION if s.run.mode != "video" else ())
        ok = ok and all(isinstance(r.get(k), (int, float)) for k in keys)
        if not ok or not set(r["styles"]) <= stems or not all(isinstance(v, (int, float)) for v in r["styles"].values()):
            raise UserError(f"{log} line {n} is not a {s.run.mode} frame record: the draft's log is damaged; render the draft again")
        if s.run.mode != "video" and not (r["zoom"] > 0 and all(math.isfinite(r[k]) for k in MOTION)):
            raise UserError(f"{log} line {n}: zoom {r['zoom']}, angle {r['angle']}, tx {r['tx']}, ty {r['ty']} are not a motion")
        out[r["frame"]] = r
    missing = [t for t in range(frames) if t not in out]
    if missing:
        raise UserError(f"{log} has no record of frame {missing[0]} (of {frames}): the draft's log is damaged; render the draft again")
    return [out[t] for t in range(frames)]


def open_draft(path: str | Path) -> Draft:
    """Read and check a draft; one UserError line for anything that is not a finished render of
    zoom or drift with its frames folder and log as the render left them."""
    p = check_input_file(path, "draft")
    try:
        meta = read_metadata(p)
    except UserError as e:
        raise UserError(f"{p} is not a stylemotion render ({e}); finish takes a video made by zoom, drift or video") from None
    if "finish" in meta:
        raise UserError(f"{p} is itself a finish; finish its draft ({meta['finish'].get('draft', 'the draft')}) at the size you want")
    stored = meta.get("settings")
    if not isinstance(stored, dict):
        raise UserError(f"{p} is not a stylemotion render (no settings in its metadata); finish takes a video made by zoom, drift or video")
    s = from_dict(stored, f"{p} settings")
    if s.run.mode not in MODES:
        raise UserError(f"{p} is a {s.run.mode} render; finish takes zoom, drift and video drafts")
    frames_dir = p.with_name(p.stem + "_frames")
    if (frames_dir / "state.safetensors").exists():
        raise UserError(f"{p} is an unfinished render ({frames_dir} holds its state): finish the draft first with --resume")
    if not frames_dir.is_dir():
        raise UserError(f"{frames_dir} is gone: the finish starts from the draft's frames; render the draft again")
    n = s.run.frames
    hw = None
    for t in range(n):
        png = frames_dir / f"frame_{t:05d}.png"
        if not png.is_file():
            raise UserError(f"{png} is missing (the draft has {n} frames): the frames folder was altered; render the draft again")
        w, h = image_size(png, "draft frame")
        if hw is None:
            hw = (h, w)
        elif (h, w) != hw:
            raise UserError(f"{png} is {w}x{h}, the draft's frames are {hw[1]}x{hw[0]}: the frames folder was altered; render the draft again")
    assert hw is not None
    decoded = 0
    for t, arr in read_video(p):
        if t >= n:
            break
        png = frames_dir / f"frame_{t:05d}.png"
        ref = np.asarray(load_image(png, "draft frame").convert("RGB"))
        if arr.shape != ref.shape or _psnr(arr, ref) < SAME_FRAME_DB:
            db = "" if arr.shape != ref.shape else f" ({_psnr(arr, ref):.1f} dB)"
            raise UserError(f"{png} is not frame {t} of {p}{db}: the frames folder was altered or belongs to another render; "
                            "render the draft again")
        decoded += 1
    if decoded != n:
        raise UserError(f"{p} holds {decoded} frames, its settings say {n}: the video was cut or replaced; render the draft again")
    records = _records(p.with_name(p.stem + "_params.jsonl"), n, s)
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    return Draft(p, s, stored, files, frames_dir, records, hw, clip_rate(s, p) if s.run.mode == "video" else None)


def clip_rate(s: Settings, draft: Path) -> Fraction | None:
    """The rate a video draft's clip was resampled to while decoding, as the render chose it (None:
    its own frames); the clip must still be where the draft read it."""
    v = s.video
    if not Path(v.input).is_file():
        raise UserError(f"{v.input} is gone: a finish of the video draft {draft.name} reads its clip's frames at the new size; "
                        "put the clip back there")
    info = probe_video(v.input)
    rate = Fraction(v.fps).limit_denominator(1001) if v.fps else info.fps
    return rate if (info.variable or rate != info.fps) else None
