"""Tiny test clips made on the spot with PyAV: a known pan over a photo, with or without audio,
and the broken kinds (no video stream, no frames, huge frames, variable frame rate)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from .conftest import sample


def pan_frames(n: int = 6, width: int = 64, dx: int = 3) -> list[torch.Tensor]:
    """Frames of a window panning right by ``dx`` px per frame over the astronaut photo."""
    h = round(width * 0.75) // 2 * 2
    big = sample("astronaut.png", width + dx * n + 8)
    y0 = (big.shape[-2] - h) // 2
    return [big[..., y0:y0 + h, 4 + t * dx: 4 + t * dx + width].contiguous() for t in range(n)]


def write_clip(path: Path, frames: list[torch.Tensor], fps: int = 12, audio: bool = False, pts: list[int] | None = None) -> Path:
    """Encode (1, 3, H, W) frames as H.264; optional AAC sine audio; optional explicit pts (1/1200 s)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = frames[0].shape[-1], frames[0].shape[-2], "yuv420p"
        if pts is not None:
            v.time_base = Fraction(1, 1200)
        a = c.add_stream("aac", rate=44100) if audio else None
        for i, f in enumerate(frames):
            arr = (f[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
            vf = av.VideoFrame.from_ndarray(arr, format="rgb24")
            if pts is not None:
                vf.pts, vf.time_base = pts[i], Fraction(1, 1200)
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(int(44100 * len(frames) / fps)) / 44100
            s = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for i in range(0, len(s), 1024):
                fr = av.AudioFrame.from_ndarray(s[None, i:i + 1024], format="fltp", layout="mono")
                fr.sample_rate = 44100
                for p in a.encode(fr):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


def write_broken_clips(d: Path) -> None:
    """audio_only.m4a, zero_frames.mkv, huge.mp4 (4200x4200), vfr.mp4 in folder ``d``."""
    with av.open(str(d / "audio_only.m4a"), "w") as c:
        a = c.add_stream("aac", rate=44100)
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        fr.sample_rate = 44100
        for p in [*a.encode(fr), *a.encode()]:
            c.mux(p)
    with av.open(str(d / "zero_frames.mkv"), "w") as c:
        s = c.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
    with av.open(str(d / "huge.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=12)
        s.width = s.height = 4200
        s.pix_fmt, s.options = "yuv420p", {"preset": "ultrafast"}
        for p in [*s.encode(av.VideoFrame.from_ndarray(np.zeros((4200, 4200, 3), np.uint8), format="rgb24")), *s.encode()]:
            c.mux(p)
    flat = [torch.full((1, 3, 32, 32), i / 8) for i in range(6)]
    write_clip(d / "vfr.mp4", flat, pts=[0, 100, 200, 500, 600, 1000])


def cut_frames(n: int = 6, width: int = 64, at: int = 3) -> list[torch.Tensor]:
    """A pan over the astronaut, then from frame ``at`` a hard cut to a pan over the cat."""
    first = pan_frames(at, width)
    h = first[0].shape[-2]
    cat = sample("chelsea.png", width * 2)
    second = [cat[..., 4:4 + h, 4 + 3 * t: 4 + 3 * t + width].contiguous() for t in range(n - at)]
    return first + second


def write_vfr_clip(path: Path, frames: list[torch.Tensor], pts: list[int], audio_seconds: float) -> Path:
    """Frames at explicit times (``pts`` in 1/1200 s: a variable frame rate, as phones record)
    with ``audio_seconds`` of AAC sine audio, timestamped from 0."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = frames[0].shape[-1], frames[0].shape[-2], "yuv420p"
        v.time_base = Fraction(1, 1200)
        a = c.add_stream("aac", rate=44100)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray((f[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8), format="rgb24")
            vf.pts, vf.time_base = pts[i], Fraction(1, 1200)
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        t = np.arange(int(44100 * audio_seconds)) / 44100
        s = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for i in range(0, len(s), 1024):
            fr = av.AudioFrame.from_ndarray(s[None, i:i + 1024], format="fltp", layout="mono")
            fr.sample_rate, fr.pts, fr.time_base = 44100, i, Fraction(1, 44100)
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def kill_when_written(proc: subprocess.Popen, target: Path, timeout: float = 300) -> None:
    """SIGKILL a render process as soon as ``target`` (a frame it writes) exists: an interrupted render."""
    deadline = time.time() + timeout
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def to_uint8(f: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (f[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def write_format_clip(path: Path, pictures: list[np.ndarray], codec: str = "libx264", pix_fmt: str = "yuv420p",
                      options: dict[str, str] | None = None, full_range: bool = False, fps: int = 12,
                      container_options: dict[str, str] | None = None) -> Path:
    """(H, W, 3) uint8 pictures encoded as ``codec`` / ``pix_fmt`` as a phone or an editor would:
    ``full_range`` stores 0..255 luma flagged as such (not the yuvj formats)."""
    from av.video.reformatter import ColorRange

    with av.open(str(path), "w", options=container_options or {}) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = pictures[0].shape[1], pictures[0].shape[0], pix_fmt
        s.options = options or {}
        if full_range:
            s.codec_context.color_range = ColorRange.JPEG
        for arr in pictures:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            if full_range:
                vf = vf.reformat(format=pix_fmt, dst_color_range=ColorRange.JPEG)
                vf.color_range = ColorRange.JPEG
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_hdr_clip(path: Path, pictures: list[np.ndarray], transfer: str, fps: int = 12) -> Path:
    """10-bit HEVC, BT.2020, PQ or HLG, as a phone records HDR: each sRGB picture as an HDR camera
    would have recorded it (its white at 203 nits, :func:`stylemotion.tonemap.from_sdr`)."""
    from av.video.reformatter import ColorRange, Colorspace

    from stylemotion.io.tonemap import from_sdr

    curve = {"pq": "smpte2084", "hlg": "arib-std-b67"}[transfer]
    params = f"log-level=error:colorprim=bt2020:transfer={curve}:colormatrix=bt2020nc:crf=8"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx265", rate=fps)
        s.width, s.height, s.pix_fmt = pictures[0].shape[1], pictures[0].shape[0], "yuv420p10le"
        s.options = {"x265-params": params}
        for arr in pictures:
            deep = np.round(from_sdr(arr, transfer) * 65535).astype(np.uint16)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(deep), format="rgb48le")
            vf = vf.reformat(format="yuv420p10le", dst_colorspace=Colorspace.BT2020, dst_color_range=ColorRange.MPEG)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def set_display_rotation(path: Path, clockwise: int) -> Path:
    """Write a display matrix into the MP4 track header (``tkhd``) of a clip PyAV wrote, as a phone
    does for a portrait clip stored landscape: the player turns the picture ``clockwise`` degrees."""
    import struct

    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    # box type, version+flags, creation/modification/track id/reserved/duration, reserved, layer..volume..reserved
    at = i + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    a, b, c, d = {90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}[clockwise]
    data[at:at + 36] = struct.pack(">9i", a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path, keep: float) -> Path:
    """Cut a file to its first ``keep`` fraction of bytes: a recording that broke off."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
