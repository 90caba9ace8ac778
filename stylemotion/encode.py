"""Video encoding with PyAV, the only module that imports ``av``.

Frames are (H, W, 3) uint8 arrays. The writer encodes as frames arrive, into a temporary file
in the destination folder, and renames it to the final name only in :meth:`VideoWriter.close`,
so a crash never leaves a truncated video under the final name. The run's settings (JSON) go
into the container's ``comment`` metadata.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np

from .errors import UserError
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

    def __init__(self, path: str | os.PathLike, fps: float, crf: int = 18, metadata: dict[str, Any] | None = None) -> None:
        self.path = check_video_path(Path(path))
        self.fmt, self.codec, self.pix_fmt = FORMATS[self.path.suffix.lower()]
        self.tmp = unique_temp(self.path)  # never shared by two renders of the same name
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf = crf
        self.container = av.open(str(self.tmp), "w", format=self.fmt)
        if metadata:
            self.container.metadata[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
        self.stream: Any = None
        self.count = 0

    def _open_stream(self, w: int, h: int) -> None:
        s = self.container.add_stream(self.codec, rate=self.fps)
        s.width, s.height, s.pix_fmt = w, h, self.pix_fmt
        if self.codec == "libx264":
            s.options = {"crf": str(self.crf), "preset": "medium"}
        elif self.codec == "libvpx-vp9":
            s.options = {"crf": str(self.crf + 13), "b:v": "0"}
        self.stream = s

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
            from .images import quantize

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
