"""A song as per-frame curves for the schedules: loudness, bands, onsets and beats.

The only module that imports ``librosa`` (an optional extra: ``pip install "stylemotion[music]"``);
the samples come from :func:`stylemotion.io.sound.read_audio` (PyAV). Every curve has one value per
output frame ``t`` (the frame shows the time ``t / fps``), and every curve but ``beat_n`` is in
[0, 1]:

* ``amp``: loudness (RMS), ``bass`` (< 250 Hz), ``mid`` (250 Hz - 4 kHz), ``high`` (> 4 kHz):
  energy over the frame's time span, each over its loudest frame in the song;
* ``onset``: onset strength (librosa's spectral flux), the strongest within the frame's span;
* ``beat``: 1 on a frame with a beat (librosa's beat tracker), falling linearly to 0 before the
  next beat; ``beat_n``: beats so far; ``bpm``: the song's tempo; ``s``: seconds.

Silence gives zeros everywhere (no NaN); past the end of the track the curves are silence.
Nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UserError

HOP = 512  # samples between analysis frames: 43 per second at 22.05 kHz
N_FFT = 2048
BANDS = {"bass": (0.0, 250.0), "mid": (250.0, 4000.0), "high": (4000.0, math.inf)}  # Hz
# a band quieter than this share of the whole song's loudest energy is silence, not a curve
# scaled up to 1 (a 60 Hz tone leaks far below it into the high band)
BAND_FLOOR = 1e-3
CURVES = ("amp", "bass", "mid", "high", "onset", "beat", "beat_n")
VARIABLES = ("s", *CURVES, "bpm")  # what a schedule may use beside t
INSTALL = 'music needs librosa: pip install "stylemotion[music]"'


def _librosa() -> Any:
    try:
        import librosa
    except ImportError:
        raise UserError(INSTALL) from None
    return librosa


@dataclass
class AudioConfig:
    """The ``[audio]`` section of a preset."""

    file: str = ""  # the song; a preset's path is relative to the preset file
    attack: float = 0.0  # seconds for amp, bands and onset to rise to a new level (0 = at once)
    release: float = 0.0  # seconds to fall back (0 = at once; 0.2 makes a pulse linger)

    def check(self) -> None:
        for name in ("attack", "release"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 10):
                raise UserError(f"audio.{name} must be a number of seconds in [0, 10], got {v!r}")


@dataclass
class AudioFeatures:
    """Per-frame curves of a song (see the module's docstring)."""

    fps: float
    seconds: float  # the track's length
    bpm: float
    curves: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (frames,) float64
    beat_times: list[float] = field(default_factory=list)  # seconds, every beat the tracker found

    @property
    def frames(self) -> int:
        return len(self.curves["amp"])

    def at(self, t: int) -> dict[str, float]:
        """The variables of frame t (silence past the end; t >= 0)."""
        out = {"s": t / self.fps, "bpm": self.bpm}
        n = self.frames
        for k, v in self.curves.items():
            if t < n:
                out[k] = float(v[t])
            else:
                out[k] = float(v[-1]) if k == "beat_n" and n else 0.0
        return out

    def beat_frames(self) -> list[int]:
        """The frames the beats fall on."""
        return [int(t) for t in np.flatnonzero(self.curves["beat"] == 1.0)]

    def beat_period(self) -> float:
        """Frames per beat at the song's tempo (one second's worth where it has none)."""
        return self.fps * 60.0 / self.bpm if self.bpm > 0 else self.fps

    def to_json(self) -> dict[str, Any]:
        return {"fps": self.fps, "frames": self.frames, "seconds": round(self.seconds, 4), "bpm": round(self.bpm, 2),
                "beat_times": self.beat_times,
                **{k: [round(float(x), 4) for x in v] for k, v in self.curves.items()}}


def frames_for(seconds: float, fps: float) -> int:
    """Frames of a video as long as the track: round(fps x seconds), at least 1."""
    return max(1, int(round(seconds * fps)))


def _smooth(x: np.ndarray, fps: float, attack: float, release: float) -> np.ndarray:
    """One-pole envelope follower: rises with time constant ``attack``, falls with ``release``."""
    if attack <= 0 and release <= 0:
        return x
    up = math.exp(-1.0 / (attack * fps)) if attack > 0 else 0.0
    down = math.exp(-1.0 / (release * fps)) if release > 0 else 0.0
    y = np.empty_like(x)
    prev = 0.0
    for i, v in enumerate(x):
        a = up if v > prev else down
        prev = a * prev + (1 - a) * v
        y[i] = prev
    return y


def _per_frame(curve: np.ndarray, times: np.ndarray, fps: float, frames: int, how: str) -> np.ndarray:
    """Analysis-rate ``curve`` at ``times`` (s) to one value per output frame: the mean (or the
    max) of the analysis frames within [t / fps, (t + 1) / fps), the nearest one where none is."""
    out = np.zeros(frames)
    if curve.size == 0:
        return out
    idx = np.floor(times * fps).astype(np.int64)
    for t in range(frames):
        sel = curve[idx == t]
        if sel.size:
            out[t] = sel.max() if how == "max" else sel.mean()
        else:
            j = int(np.clip(np.searchsorted(times, (t + 0.5) / fps), 0, curve.size - 1))
            out[t] = curve[j] if times[-1] >= t / fps else 0.0
    return out


def _norm(x: np.ndarray, top: float) -> np.ndarray:
    return np.clip(x / top, 0.0, 1.0) if top > 0 else np.zeros_like(x)


def analyze(samples: np.ndarray, rate: int, fps: float, frames: int | None = None, config: AudioConfig | None = None) -> AudioFeatures:
    """The curves of mono ``samples`` (float, ``rate`` Hz) at ``fps`` for ``frames`` frames
    (default: as many as the track lasts; a longer run gets silence after the track)."""
    cfg = config or AudioConfig()
    cfg.check()
    if not (math.isfinite(fps) and fps > 0):
        raise UserError(f"fps must be > 0, got {fps}")
    lr = _librosa()
    y = np.nan_to_num(np.asarray(samples, dtype=np.float32))
    seconds = len(y) / rate
    n = frames if frames is not None else frames_for(seconds, fps)
    if len(y) < N_FFT:  # librosa needs one window: pad a very short track with silence
        y = np.pad(y, (0, N_FFT - len(y)))
    silent = not bool(np.abs(y).max() > 1e-6)
    rms = lr.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    times = lr.frames_to_time(np.arange(rms.size), sr=rate, hop_length=HOP)
    power = np.abs(lr.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    freqs = lr.fft_frequencies(sr=rate, n_fft=N_FFT)
    total = float(power.sum(axis=0).max())
    curves: dict[str, np.ndarray] = {"amp": _norm(_per_frame(rms, times, fps, n, "mean"), float(rms.max()))}
    for name, (lo, hi) in BANDS.items():
        band = power[(freqs >= lo) & (freqs < hi)].sum(axis=0)
        per = _per_frame(band, times[: band.size], fps, n, "mean")
        curves[name] = _norm(per, max(float(per.max()), BAND_FLOOR * total))
    onset_env = lr.onset.onset_strength(y=y, sr=rate, hop_length=HOP)
    onset = _per_frame(onset_env, times[: onset_env.size], fps, n, "max")
    curves["onset"] = _norm(onset, float(onset.max()))
    if silent:
        curves = {k: np.zeros(n) for k in curves}
        bpm, beat_times = 0.0, np.zeros(0)
    else:
        # trim=False: a song that starts on a beat (a loop does) keeps its first one
        tempo, beat_frames = lr.beat.beat_track(onset_envelope=onset_env, sr=rate, hop_length=HOP, trim=False)
        beat_times = lr.frames_to_time(beat_frames, sr=rate, hop_length=HOP)
        bpm = float(np.atleast_1d(tempo)[0])
        if beat_times.size >= 4:
            # the beats' own period (a straight line through their times): librosa's tempo is
            # one of its tempogram's bins (117.5 for a 120 BPM click track), the beats are not
            period = float(np.polyfit(np.arange(beat_times.size), beat_times, 1)[0])
            bpm = 60.0 / period if period > 0 else bpm
    for k in ("amp", "bass", "mid", "high", "onset"):
        curves[k] = _smooth(curves[k], fps, cfg.attack, cfg.release)
    curves["beat"], curves["beat_n"] = beat_curves(beat_times, fps, n, bpm)
    return AudioFeatures(fps=float(fps), seconds=seconds, bpm=bpm if math.isfinite(bpm) else 0.0, curves=curves,
                         beat_times=[round(float(b), 4) for b in beat_times])


def beat_curves(beat_times: np.ndarray, fps: float, frames: int, bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """(beat, beat_n) per frame from beat times in seconds: 1 on a beat's frame, falling linearly
    to 0 at the next beat's frame (after the last beat, over one beat period of ``bpm``)."""
    beat, count = np.zeros(frames), np.zeros(frames)
    keys = sorted({int(round(b * fps)) for b in beat_times if 0 <= round(b * fps) < frames})
    period = fps * 60.0 / bpm if bpm > 0 else fps
    for i, k in enumerate(keys):
        nxt = keys[i + 1] if i + 1 < len(keys) else k + max(1, round(period))
        span = max(1, nxt - k)
        for t in range(k, min(nxt, frames)):
            beat[t] = 1.0 - (t - k) / span
        count[k:] += 1
    return beat, count


def load(path: str, fps: float, frames: int | None = None, config: AudioConfig | None = None) -> AudioFeatures:
    """:func:`analyze` of an audio file (any format FFmpeg reads)."""
    _librosa()  # the one-line install hint before any decoding
    from ..io.sound import AUDIO_RATE, read_audio

    return analyze(read_audio(path), AUDIO_RATE, fps, frames, config)


def keyframes(f: AudioFeatures, name: str) -> str:
    """One curve as a keyframe string other animation tools take: ``0:(0.12), 1:(0.31), ...``."""
    if name not in f.curves:
        raise UserError(f"unknown audio feature {name!r}; choose one of {', '.join(CURVES)}")
    return ", ".join(f"{t}:({float(v):.4g})" for t, v in enumerate(f.curves[name]))
