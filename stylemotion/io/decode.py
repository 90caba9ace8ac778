"""Clips in, with PyAV: probe, decode, resample in time (see :mod:`.encode` for the writer).

Frames come out as the picture is meant to be seen: (H, W, 3) uint8 sRGB, turned upright by the
display matrix, in the stream's colour range, HDR tone-mapped (:mod:`.tonemap`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np

from ..errors import UserError
from . import tonemap
from .paths import check_input_file

MAX_VIDEO_PIXELS = 4096 * 4096  # larger frames are refused: the run works at --size anyway
VFR_TOLERANCE = 0.25  # frame intervals further than this from the median mean a variable frame rate
MAX_INPUT_FRAMES = 200_000


# FFmpeg's numbers for the transfers and primaries that need more than swscale's matrix
_TRC_PQ, _TRC_HLG = 16, 18  # AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67
_PRI_BT2020 = 9  # AVCOL_PRI_BT2020


@dataclass(frozen=True)
class VideoInfo:
    """What a clip is, from a demux pass and its first decoded frame."""

    width: int  # as displayed: a phone's portrait clip stored landscape has width < height here
    height: int
    fps: Fraction  # the frame rate (a variable-rate clip: its average)
    frames: int  # video frames in the file (a truncated file: those that decode)
    audio: str | None  # codec name of the first audio stream, None if there is none
    start: float = 0.0  # seconds: time of the first frame
    duration: float = 0.0  # seconds from the first frame to the end of the last
    variable: str = ""  # a variable frame rate: its frame intervals, e.g. "333 to 733 ms" ("" = constant)
    rotation: int = 0  # degrees counterclockwise the display matrix turns the stored picture (0, 90, 180, 270)
    transfer: str = "sdr"  # "pq" or "hlg": HDR, tone-mapped while decoding
    wide: bool = False  # BT.2020 primaries: converted to BT.709 while decoding
    pix_fmt: str = ""  # the decoder's pixel format, e.g. yuv420p10le
    truncated: str = ""  # a file that breaks off: what its header promised ("" = whole)

    def frames_at(self, fps: Fraction) -> int:
        """How many frames the clip has when resampled to ``fps`` (its duration kept)."""
        return max(1, round(self.duration * float(fps)))

    def notes(self, name: str) -> list[str]:
        """One line for each thing done to the clip's pictures while decoding (for the CLI to print)."""
        out = []
        if self.rotation:
            sw, sh = (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)
            turn = {90: "90 degrees counterclockwise", 180: "180 degrees", 270: "90 degrees clockwise"}[self.rotation]
            out.append(f"note: {name} is stored {sw}x{sh} and its display matrix turns it {turn}; "
                       f"it is rendered upright, {self.width}x{self.height}")
        if self.transfer != "sdr":
            curve = {"pq": "PQ (SMPTE ST 2084)", "hlg": "HLG"}[self.transfer]
            out.append(f"note: {name} is HDR ({self.pix_fmt}, {curve}{', BT.2020' if self.wide else ''}); tone-mapped to SDR BT.709: "
                       f"{tonemap.REFERENCE_WHITE:.0f} nits is white, highlights above {tonemap.KNEE:.0%} rolled off")
        elif self.wide:
            out.append(f"note: {name} has BT.2020 colours ({self.pix_fmt}); converted to BT.709")
        if self.truncated:
            out.append(f"warning: {name} breaks off: {self.truncated}; rendering the {self.frames} frames that decode "
                       f"(to {self.start + self.duration:.2f} s)")
        return out


def frame_rgb(frame: Any) -> np.ndarray:
    """A decoded frame as the picture is meant to be seen: (H, W, 3) uint8 sRGB, turned upright by
    its display matrix, its colour range honoured, HDR tone-mapped (:mod:`stylemotion.io.tonemap`)."""
    kw = {"src_color_range": frame.color_range} if int(frame.color_range) else {}  # swscale assumes limited range otherwise
    trc, wide = int(frame.color_trc), int(frame.color_primaries) == _PRI_BT2020
    if trc in (_TRC_PQ, _TRC_HLG) or wide:
        deep = frame.to_ndarray(format="rgb48le", **kw).astype(np.float32) / 65535.0
        transfer = "pq" if trc == _TRC_PQ else "hlg" if trc == _TRC_HLG else "sdr"
        arr = tonemap.to_sdr(deep, transfer, wide)
    else:
        arr = frame.to_ndarray(format="rgb24", **kw)
    k = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(arr, k)) if k else arr


def _quarter_turns(frame: Any) -> int:
    """Counterclockwise quarter turns the display matrix asks for (0..3)."""
    try:
        return round(float(frame.rotation) / 90) % 4
    except (AttributeError, TypeError, ValueError):
        return 0


def _decoded(c: Any, v: Any) -> Iterator[Any]:
    """The frames of stream ``v`` (decoded on threads); at a packet the decoder rejects (a file that
    breaks off) decoding stops there. Every reader of a clip's frames decodes through here, so
    the count :func:`probe_video` gives a broken-off file is the count :func:`read_video` yields."""
    v.thread_type = "AUTO"
    try:
        for packet in c.demux(v):
            yield from v.decode(packet)
    except av.error.FFmpegError:
        try:
            yield from v.decode(None)
        except av.error.FFmpegError:
            pass


def _picture(p: Path) -> tuple[int, str, bool, str]:
    """(quarter turns, transfer, wide gamut, pixel format) of the clip's first frame."""
    with av.open(str(p)) as c:
        v = c.streams.video[0]
        for frame in _decoded(c, v):
            trc = int(frame.color_trc)
            transfer = "pq" if trc == _TRC_PQ else "hlg" if trc == _TRC_HLG else "sdr"
            return _quarter_turns(frame), transfer, int(frame.color_primaries) == _PRI_BT2020, frame.format.name
    raise UserError(f"video {p} has no frame that decodes")


def _declared_seconds(c: Any, v: Any) -> float | None:
    """How long the header says the video stream is (None: it does not say)."""
    if v.duration and v.time_base:
        return float(v.duration * v.time_base)
    tag = (v.metadata or {}).get("DURATION")  # Matroska keeps it as a tag, "00:00:04.000000000"
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            return None
    return None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Check an input clip: a readable file with a video stream, frames, sane size; its rate,
    display rotation, colour and whether it breaks off early. UserError (one line naming the file)."""
    p = check_input_file(path, "video")
    broke = False
    try:
        with av.open(str(p)) as c:
            if not c.streams:
                raise UserError(f"{p} is not a readable video: no streams found (an MP4 or MOV cut off before its index was written cannot be read)")
            if not c.streams.video:
                raise UserError(f"video {p} has no video stream")
            v = c.streams.video[0]
            w, h = v.codec_context.width, v.codec_context.height
            if w * h > MAX_VIDEO_PIXELS:
                raise UserError(f"video {p} is {w}x{h}; frames over {MAX_VIDEO_PIXELS // 1_000_000} megapixels are refused (downscale it first)")
            if w < 16 or h < 16:
                raise UserError(f"video {p} is {w}x{h}; frames must be at least 16x16")
            pts = []
            variable = ""
            try:
                for packet in c.demux(v):
                    if packet.size == 0:
                        continue  # the demuxer's final flush packet
                    pts.append(packet.pts if packet.pts is not None else packet.dts)
                    if len(pts) > MAX_INPUT_FRAMES:
                        raise UserError(f"video {p} has more than {MAX_INPUT_FRAMES} frames; cut it first")
            except av.error.FFmpegError:
                if len(pts) < 2:
                    raise
                broke = True  # the file ends inside a packet: what came before is kept
            audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
            rate = v.average_rate or v.guessed_rate or v.base_rate
            tb = v.time_base
            declared_frames, declared_s = v.frames or 0, _declared_seconds(c, v)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - FFmpeg's many errors all mean "not a usable video"
        raise UserError(f"{p} is not a readable video: {' '.join(str(e).split())[:160]}") from None
    if not pts:
        raise UserError(f"video {p} has no frames")
    if len(pts) == 1:
        raise UserError(f"video {p} has a single frame; for a still image use: stylemotion image")
    known = sorted(x for x in pts if x is not None)
    if len(known) >= 3 and tb:
        steps = np.diff(np.array(known, dtype=np.float64))
        steps = steps[steps > 0]
        if len(steps):
            med = float(np.median(steps))
            bad = np.abs(steps - med) > VFR_TOLERANCE * med
            if bad.any():
                lo, hi = float(steps.min() * tb * 1000), float(steps.max() * tb * 1000)
                variable = f"{lo:.0f} to {hi:.0f} ms"
                # the average rate over the clip: the one a constant-rate copy of it keeps its duration at
                rate = Fraction(len(known) - 1) / (Fraction(known[-1] - known[0]) * Fraction(tb))
            if not rate:
                rate = Fraction(1) / (Fraction(med) * Fraction(tb))
    if not rate or not (0 < float(rate) <= 240):
        raise UserError(f"video {p}: frame rate {rate} is unusable")
    rate = Fraction(rate).limit_denominator(1001)
    start = float(known[0] * tb) if known and tb else 0.0
    duration = float((known[-1] - known[0]) * tb) + 1 / float(rate) if len(known) >= 2 and tb else len(pts) / float(rate)
    frames = len(pts)
    turns, transfer, wide, pix_fmt = _picture(p)
    truncated = ""
    short = (declared_frames > frames + 1 or (declared_s is not None and declared_s > duration + 2 / float(rate)))
    if broke or short:
        frames, start, duration = _decodable(p, rate)
        if frames < 2:
            raise UserError(f"video {p} breaks off before its second frame; nothing to render")
        said = f"{declared_s:.2f} s" if declared_s else f"{declared_frames} frames"
        truncated = f"its header promises {said}" if (declared_s or declared_frames) else "it ends inside a frame"
    if turns % 2:
        w, h = h, w
    return VideoInfo(w, h, rate, frames, audio, start, duration, variable, (turns * 90) % 360, transfer, wide, pix_fmt, truncated)


def _decodable(p: Path, rate: Fraction) -> tuple[int, float, float]:
    """(frames, start, duration) of the frames of a broken-off file that decode, by decoding them."""
    times: list[float] = []
    with av.open(str(p)) as c:
        v = c.streams.video[0]
        for frame in _decoded(c, v):
            t = float(frame.pts * v.time_base) if frame.pts is not None and v.time_base else float("nan")
            times.append(t if np.isfinite(t) else (times[-1] + 1 / float(rate) if times else 0.0))
    if not times:
        return 0, 0.0, 0.0
    return len(times), times[0], times[-1] - times[0] + 1 / float(rate)


def read_video(path: str | os.PathLike, start: int = 0, end: int | None = None, every: int = 1,
               fps: Fraction | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Stream frames ``start, start+every, ... < end`` as (index, (H, W, 3) uint8): one decoded frame
    in memory at a time, never the whole clip. With ``fps``, the indices are those of the clip
    resampled to that constant rate: frame k shows the input frame nearest to time k / fps after
    the first (FFmpeg's ``fps`` filter does the same), so a variable-rate clip keeps its timing.
    Each picture is upright, in range and SDR (:func:`frame_rgb`); a file that breaks off ends
    with its last frame that decodes."""
    p = Path(path)
    try:
        with av.open(str(p)) as c:
            v = c.streams.video[0]
            if fps is not None:
                yield from _resampled(_decoded(c, v), start, end, every, fps)
                return
            for i, frame in enumerate(_decoded(c, v)):
                if end is not None and i >= end:
                    break
                if i >= start and (i - start) % every == 0:
                    yield i, frame_rgb(frame)
    except UserError:
        raise
    except av.error.FFmpegError as e:
        raise UserError(f"{p}: decoding failed: {' '.join(str(e).split())[:160]}") from None


def _resampled(frames: Iterator[Any], start: int, end: int | None, every: int, fps: Fraction) -> Iterator[tuple[int, np.ndarray]]:
    """Sample-and-hold at a constant rate: output k takes the decoded frame nearest to t0 + k / fps."""
    k = start
    t0 = None
    prev: tuple[float, Any] | None = None
    for frame in frames:
        t = float(frame.time) if frame.time is not None else (prev[0] + 1 / float(fps) if prev else 0.0)
        if t0 is None:
            t0 = t
        while end is None or k < end:
            target = t0 + k / float(fps)
            if t < target:
                break
            # this frame is at or past the target: the nearer of it and the previous one
            pick = frame if prev is None or abs(t - target) < abs(prev[0] - target) else prev[1]
            yield k, frame_rgb(pick)
            k += every
        if end is not None and k >= end:
            return
        prev = (t, frame)
    while prev is not None and end is not None and k < end:  # the last frame holds to the end
        yield k, frame_rgb(prev[1])
        k += every


def probe(path: str | os.PathLike) -> tuple[int, int, int, float]:
    """(frames, width, height, fps) by decoding the file."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return n, s.codec_context.width, s.codec_context.height, float(s.average_rate or s.guessed_rate or 0)


def decode_frames(path: str | os.PathLike) -> list[np.ndarray]:
    """All frames as (H, W, 3) uint8 arrays."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
