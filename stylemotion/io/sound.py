"""A song's samples with PyAV: any file FFmpeg reads in, mono float32 out (and a WAV or M4A
writer for tests and benchmarks)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from ..errors import UserError
from .paths import check_input_file

AUDIO_RATE = 22050  # Hz: the analysis rate (librosa's default); bands above 11 kHz are not needed


def read_audio(path: str | os.PathLike, rate: int = AUDIO_RATE) -> np.ndarray:
    """The first audio stream of any file FFmpeg reads, as mono float32 samples at ``rate`` Hz.

    UserError (one line, naming the file) for a missing, unreadable or corrupt file and for one
    with no audio stream (an image, a silent video)."""
    p = check_input_file(Path(path), "audio file")
    try:
        with av.open(str(p)) as c:
            if not c.streams.audio:
                what = "an image or a video without sound" if c.streams.video else "no audio stream"
                raise UserError(f"audio file {p} has no audio stream ({what}); give a song: mp3, wav, ogg, flac, m4a, ...")
            a = c.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = []
            for frame in c.decode(a):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # flush
                chunks.append(out.to_ndarray().reshape(-1))
    except UserError:
        raise
    except (av.error.FFmpegError, ValueError) as e:
        raise UserError(f"audio file {p} could not be decoded ({' '.join(str(e).split())[:120]})") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise UserError(f"audio file {p} holds no audio samples")
    return np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)


def write_audio(path: str | os.PathLike, samples: np.ndarray, rate: int = AUDIO_RATE) -> Path:
    """Mono float samples in [-1, 1] to a WAV (16-bit PCM) or, by extension, an M4A (AAC) file."""
    p = Path(path)
    codec, fmt = ("aac", "fltp") if p.suffix.lower() in (".m4a", ".mp4") else ("pcm_s16le", "s16")
    pcm = np.clip(np.asarray(samples, np.float32), -1, 1)
    with av.open(str(p), "w") as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        chunk = 1024
        for i in range(0, len(pcm), chunk):
            part = pcm[i:i + chunk]
            data = (part * 32767).astype(np.int16)[None] if fmt == "s16" else part[None]
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return p
