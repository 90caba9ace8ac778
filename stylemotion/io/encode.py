"""Video encoding with PyAV: the writer, the settings stored in a render, a song muxed in.

PyAV is imported by this module and its two siblings alone: :mod:`.decode` (clips in) and
:mod:`.sound` (a song's samples). Frames are (H, W, 3) uint8 arrays. The writer encodes as frames
arrive, into a temporary file in the destination folder, and renames it to the final name only in
:meth:`VideoWriter.close`, so a crash never leaves a truncated video under the final name. The
run's settings (JSON) go into the container's ``comment`` metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np

from ..errors import UserError
from .images import quantize
from .paths import check_input_file, check_output_file, parse_json, unique_temp

FORMATS = {  # extension -> (container format, codec, pixel format)
    ".mp4": ("mp4", "libx264", "yuv420p"),
    ".webm": ("webm", "libvpx-vp9", "yuv420p"),
    ".gif": ("gif", "gif", "pal8"),
}
METADATA_KEY = "comment"


def check_video_path(path: str | os.PathLike, inputs: Sequence[str | os.PathLike | None] = ()) -> Path:
    """Validate a video output before any work: known extension, writable folder, not an input."""
    return check_output_file(path, "video", FORMATS, inputs)


class VideoWriter:
    """Encode frames to ``path`` (.mp4 H.264, .webm VP9, .gif); atomic rename on close."""

    def __init__(self, path: str | os.PathLike, fps: float | Fraction, crf: int = 18, metadata: dict[str, Any] | None = None,
                 audio: AudioSource | None = None) -> None:
        self.path = check_video_path(Path(path))
        self.fmt, self.codec, self.pix_fmt = FORMATS[self.path.suffix.lower()]
        self.tmp = unique_temp(self.path)  # never shared by two renders of the same name
        self.fps = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        self.crf = crf
        self.container = av.open(str(self.tmp), "w", format=self.fmt)
        if metadata:
            self.container.metadata[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
        self.stream: Any = None
        self.count = 0
        self.audio = audio
        self.audio_stream: Any = None
        self.audio_note: str | None = None  # why the audio was not copied, if it was asked for

    def _open_stream(self, w: int, h: int) -> None:
        s = self.container.add_stream(self.codec, rate=self.fps)
        s.width, s.height, s.pix_fmt = w, h, self.pix_fmt
        if self.codec == "libx264":
            s.options = {"crf": str(self.crf), "preset": "medium"}
        elif self.codec == "libvpx-vp9":
            s.options = {"crf": str(self.crf + 13), "b:v": "0"}
        self.stream = s
        if self.audio is not None:  # every stream must exist before the first packet is written
            self.audio_stream, self.audio_note = _audio_stream(self.audio, self.container, self.path.suffix.lower())

    def write(self, frame: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 frame. H.264/VP9 need even sizes: an odd last row/column is dropped."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self.pix_fmt == "yuv420p":
            frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]
        if self.stream is None:
            self._open_stream(frame.shape[1], frame.shape[0])
        elif (frame.shape[1], frame.shape[0]) != (self.stream.width, self.stream.height):
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the video's {self.stream.width}x{self.stream.height}")
        if self.pix_fmt == "pal8":  # GIF: a per-frame adaptive palette looks far better than rgb8
            idx, pal = quantize(frame)
            argb = np.concatenate([np.full((256, 1), 255, np.uint8), pal], axis=1)  # PyAV wants A,R,G,B
            vf = av.VideoFrame.from_ndarray((idx, argb), format="pal8")
        else:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(vf):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> Path:
        """Flush, close and rename to the final name. Returns the final path."""
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        if self.audio_stream is not None:
            _mux_audio(self.audio, self.container, self.audio_stream)
        self.container.close()
        if self.count == 0:
            self.tmp.unlink(missing_ok=True)
            raise UserError(f"no frames were written to {self.path}")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (the final name is never touched)."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - best effort on an already broken container
            pass
        self.tmp.unlink(missing_ok=True)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The settings JSON stored in a video written by :class:`VideoWriter`."""
    p = check_input_file(path, "video")
    try:
        with av.open(str(p)) as c:
            text = c.metadata.get(METADATA_KEY) or c.metadata.get(METADATA_KEY.upper())
    except Exception as e:  # noqa: BLE001 - FFmpeg and metadata decoding: all mean "not our video"
        raise UserError(f"{p} is not a readable video: {' '.join(str(e).split())[:200]}") from None
    if not text:
        raise UserError(f"{p} has no stylemotion settings in its metadata")
    data = parse_json(text, f"{p} settings metadata")
    if not isinstance(data, dict):
        raise UserError(f"{p}: its settings metadata is not a JSON object")
    return data


AUDIO_CODECS = {".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, ".webm": {"opus", "vorbis"}, ".gif": set()}


@dataclass
class AudioSource:
    """Audio to copy from an input clip into the output: seconds [start, end) of ``path``."""

    path: Path
    start: float = 0.0
    end: float | None = None


# what a song in another codec is re-encoded to, per container (a .gif holds no sound)
AUDIO_ENCODERS = {".mp4": ("aac", "fltp"), ".webm": ("libopus", "flt")}
AUDIO_ENCODE_RATE = 48000  # Hz: what AAC and Opus both take


def _audio_stream(src: AudioSource, dst: Any, suffix: str) -> tuple[Any, str | None]:
    """Add a stream to ``dst`` for ``src``'s audio (before any packet is muxed): (stream, None) or (None, why not).
    A codec the container holds is copied; another (WAV's PCM in an .mp4) is re-encoded."""
    with av.open(str(src.path)) as c:
        if not c.streams.audio:
            return None, "the input has no audio"
        a = c.streams.audio[0]
        name = a.codec_context.name
        if name in AUDIO_CODECS.get(suffix, set()):
            return dst.add_stream_from_template(a), None
        if suffix not in AUDIO_ENCODERS:
            return None, f"a {suffix} file holds no sound"
        codec, _ = AUDIO_ENCODERS[suffix]
        layout = "stereo" if a.codec_context.channels >= 2 else "mono"
        return dst.add_stream(codec, rate=AUDIO_ENCODE_RATE, layout=layout), None


def _mux_audio(src: AudioSource, dst: Any, out: Any) -> None:
    """The audio in [start, end), shifted to start at 0: packets copied, or re-encoded when the
    output stream's codec differs from the input's."""
    with av.open(str(src.path)) as c:
        a = c.streams.audio[0]
        if out.codec_context.name != a.codec_context.name:
            _transcode_audio(c, a, src, dst, out)
            return
        tb = a.time_base
        off = int(round(src.start / tb)) if tb else 0
        for packet in c.demux(a):
            if packet.dts is None or packet.size == 0:
                continue
            t = float((packet.pts if packet.pts is not None else packet.dts) * tb)
            if t < src.start - 1e-6 or (src.end is not None and t >= src.end):
                continue
            if packet.pts is not None:
                packet.pts -= off
            packet.dts -= off
            packet.stream = out
            dst.mux(packet)


def _transcode_audio(c: Any, a: Any, src: AudioSource, dst: Any, out: Any) -> None:
    """Decode ``a``, cut [start, end) to the sample, re-encode into ``out``."""
    ctx = out.codec_context
    resampler = av.AudioResampler(format=AUDIO_ENCODERS[".mp4" if ctx.name == "aac" else ".webm"][1],
                                  layout=ctx.layout.name, rate=ctx.sample_rate)
    rate = ctx.sample_rate
    first = int(round(src.start * rate))
    last = int(round(src.end * rate)) if src.end is not None else None
    pos = 0  # samples of the resampled input seen so far
    fifo = av.AudioFifo()

    def cut(frames: list[Any]) -> None:
        nonlocal pos
        for fr in frames:
            n = fr.samples
            lo, hi = max(first - pos, 0), n if last is None else min(n, last - pos)
            pos += n
            if hi <= lo:
                continue
            arr = fr.to_ndarray()[..., lo:hi] if fr.format.is_planar else fr.to_ndarray()[..., lo * len(fr.layout.channels):hi * len(fr.layout.channels)]
            part = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fr.format.name, layout=fr.layout.name)
            part.sample_rate = rate
            part.pts = None
            fifo.write(part)

    for frame in c.decode(a):
        cut(resampler.resample(frame))
    cut(resampler.resample(None))
    size = ctx.frame_size or 1024
    written = 0
    while fifo.samples:
        chunk = fifo.read(min(size, fifo.samples)) if fifo.samples >= size else fifo.read(fifo.samples)
        chunk.pts = written
        chunk.time_base = Fraction(1, rate)
        written += chunk.samples
        for packet in out.encode(chunk):
            dst.mux(packet)
    for packet in out.encode(None):
        dst.mux(packet)
