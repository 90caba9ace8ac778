"""A song as per-frame curves for the schedules: loudness, bands, onsets, beats, bars, sections.

The only module that imports ``librosa`` (an optional extra: ``pip install "stylemotion[music]"``);
the samples come from :func:`stylemotion.io.sound.read_audio` (PyAV); the tracker's math is
:mod:`stylemotion.music.beats`. Every curve has one value per output frame ``t`` (the frame shows
the time ``t / fps``, and takes what the song does nearest to that time), and every curve but the
counts (``beat_n``, ``bar_n``, ``section_n``) is in [0, 1]:

* ``amp``: loudness (RMS), ``bass`` (< 250 Hz), ``mid`` (250 Hz - 4 kHz), ``high`` (> 4 kHz):
  energy over the frame's time span, each over its loudest frame in the song;
* ``onset``: onset strength (spectral flux of a short window, moved back by its measured lag so
  that it peaks on the frame of the hit), the strongest within the frame's span;
* ``beat``: 1 on a frame with a beat, falling linearly to 0 before the next beat; ``beat_n``:
  beats so far; ``bpm``: the song's tempo; ``downbeat`` and ``bar_n``: the same for the first
  beat of each bar; ``section`` and ``section_n``: the same for the song's sections (intro,
  verse, chorus: where its sound changes), 1 on frame 0; ``s``: seconds.

Silence gives zeros everywhere (no NaN); past the end of the track the curves are silence.
Nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UserError
from ..io.sound import AUDIO_RATE, read_audio
from . import beats

HOP = 512  # samples between analysis frames: 43 per second at 22.05 kHz
N_FFT = 2048
ONSET_HOP, ONSET_FFT = 256, 1024  # the onset curve's finer analysis: 86 frames per second, 46 ms windows
# Spectral flux peaks after the hit while the window fills with it; these are the median lags of
# the envelopes' peaks behind reference onsets and beats on the beat corpus (benchmarks/beat_corpus.py)
ONSET_LAG = 0.025  # s, ONSET_FFT window
BEAT_LAG = 0.04  # s, N_FFT window
KICK_FFT, KICK_HZ = 4096, 120.0  # the kick band's envelope: a long window resolves < 120 Hz
BASS_FFT, BASS_HZ = 8192, 250.0  # the bass line's notes (E1 to B3): 2.7 Hz bins tell neighbouring semitones apart
BANDS = {"bass": (0.0, 250.0), "mid": (250.0, 4000.0), "high": (4000.0, math.inf)}  # Hz
# a band quieter than this share of the whole song's loudest energy is silence, not a curve
# scaled up to 1 (a 60 Hz tone leaks far below it into the high band)
BAND_FLOOR = 1e-3
COUNTS = ("beat_n", "bar_n", "section_n")  # curves that count, and hold their last value after the song
CURVES = ("amp", "bass", "mid", "high", "onset", "beat", "beat_n", "downbeat", "bar_n", "section", "section_n")
VARIABLES = ("s", *CURVES, "bpm")  # what a schedule may use beside t
EVENTS = ("beat", "downbeat", "section")  # what keyframes can be put on
INSTALL = 'music needs librosa: pip install "stylemotion[music]"'
MAX_BEATS_PER_BAR = 12


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
    tempo: float = 0.0  # BPM the tracker looks near (a slow song counted in half notes); 0 = it finds the tempo
    beats_per_bar: int = 0  # the meter (3 for a waltz); 0 = found from the song
    bar_offset: int = 0  # beats to move the found bars by, where they start on the wrong beat

    def check(self) -> None:
        for name in ("attack", "release"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 10):
                raise UserError(f"audio.{name} must be a number of seconds in [0, 10], got {v!r}")
        v = self.tempo
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= beats.TEMPO_MAX):
            raise UserError(f"audio.tempo must be 0 (find it) or a tempo in BPM up to {beats.TEMPO_MAX:g}, got {v!r}")
        v = self.beats_per_bar
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_BEATS_PER_BAR):
            raise UserError(f"audio.beats_per_bar must be 0 (find it) or a whole number up to {MAX_BEATS_PER_BAR}, got {v!r}")
        v = self.bar_offset
        if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAX_BEATS_PER_BAR):
            raise UserError(f"audio.bar_offset must be a whole number of beats in [0, {MAX_BEATS_PER_BAR - 1}], got {v!r}")


@dataclass
class AudioFeatures:
    """Per-frame curves of a song (see the module's docstring) and its events in seconds."""

    fps: float
    seconds: float  # the track's length
    bpm: float
    curves: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (frames,) float64
    beat_times: list[float] = field(default_factory=list)  # seconds, every beat the tracker found
    downbeat_times: list[float] = field(default_factory=list)  # the first beat of each bar
    section_times: list[float] = field(default_factory=list)  # each section's start (the first is 0)
    beats_per_bar: int = 4

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
                out[k] = float(v[-1]) if k in COUNTS and n else 0.0
        return out

    def event_frames(self, kind: str = "beat") -> list[int]:
        """The frames the events of ``kind`` (beat, downbeat, section) fall on, one per frame."""
        return [int(t) for t in np.flatnonzero(self.curves[kind] == 1.0)]

    def beat_frames(self) -> list[int]:
        """The frames the beats fall on."""
        return self.event_frames("beat")

    def beat_period(self) -> float:
        """Frames per beat at the song's tempo (one second's worth where it has none)."""
        return frames_per_beat(self.fps, self.bpm)

    def to_json(self) -> dict[str, Any]:
        return {"fps": self.fps, "frames": self.frames, "seconds": round(self.seconds, 4), "bpm": round(self.bpm, 2),
                "beats_per_bar": self.beats_per_bar, "beat_times": self.beat_times,
                "downbeat_times": self.downbeat_times, "section_times": self.section_times,
                **{k: [round(float(x), 4) for x in v] for k, v in self.curves.items()}}


def frames_per_beat(fps: float, bpm: float) -> float:
    """Frames per beat at ``bpm`` (one second's worth where there is no tempo)."""
    return fps * 60.0 / bpm if bpm > 0 else fps


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


def _norm(x: np.ndarray, top: float) -> np.ndarray:
    return np.clip(x / top, 0.0, 1.0) if top > 0 else np.zeros_like(x)


def _sync(feats: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``(d, n)`` analysis-rate features to ``(d, k)``: their mean over each beat's span."""
    edges = np.clip(np.concatenate([frames, [feats.shape[1]]]), 0, feats.shape[1]).astype(np.int64)
    out = np.zeros((feats.shape[0], frames.size))
    for i in range(frames.size):
        a, b = edges[i], max(edges[i] + 1, edges[i + 1])
        out[:, i] = feats[:, a:b].mean(axis=1)
    return out


def _change(f: np.ndarray, w: int = 2) -> np.ndarray:
    """(k,) how much beat-synchronous ``f`` ``(d, k)`` changes at each beat: 1 - cos between the
    mean of the ``w`` beats from it and the ``w`` before it (0 at the first)."""
    out = np.zeros(f.shape[1])
    for i in range(1, f.shape[1]):
        a, b = f[:, max(0, i - w):i].mean(axis=1), f[:, i:i + w].mean(axis=1)
        out[i] = 1.0 - float(np.dot(a, b)) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-9)
    return out


def _bars_and_sections(lr: Any, y: np.ndarray, power: np.ndarray, mel_db: np.ndarray, beat_frames: np.ndarray,
                       beats_per_bar: int, bar_offset: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(beats per bar, downbeat indices, section-start indices) into the beats.

    A bar starts where the harmony and the bass note change (chords and bass lines move on the
    bar, more than on its other beats): the accent of a beat is the change of the chroma and of
    the bass's chroma (< 250 Hz, a long window) over two beats. Sections: the novelty of the
    beat-synchronous timbre (MFCC) and harmony (chroma)."""
    if beat_frames.size == 0:
        return beats_per_bar or 4, np.zeros(0, np.int64), np.zeros(0, np.int64)
    sr = AUDIO_RATE
    # tuning=0: a semitone's change is what counts here, and estimating the tuning costs more than the rest
    chroma = _sync(lr.feature.chroma_stft(S=power, sr=sr, tuning=0.0), beat_frames)
    long = np.abs(lr.stft(y, n_fft=BASS_FFT, hop_length=HOP)) ** 2
    low = long * (lr.fft_frequencies(sr=sr, n_fft=BASS_FFT) < BASS_HZ)[:, None]
    bass = _sync(lr.feature.chroma_stft(S=low, sr=sr, n_fft=BASS_FFT, tuning=0.0), beat_frames)
    accent = sum(c / (c.max() + 1e-9) for c in (_change(chroma), _change(bass)))
    m, phase = beats.meter(accent, beats_per_bar)
    down = np.arange((phase + bar_offset) % m, beat_frames.size, m)
    mfcc = _sync(lr.feature.mfcc(S=mel_db, n_mfcc=13), beat_frames)
    z = lambda f: (f - f.mean(axis=1, keepdims=True)) / (f.std(axis=1, keepdims=True) + 1e-9)  # noqa: E731
    nov = beats.novelty(np.vstack([z(mfcc), z(chroma)]))
    return m, down, np.asarray(beats.boundaries(nov), np.int64)


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
    if rate != AUDIO_RATE:
        y = lr.resample(y, orig_sr=rate, target_sr=AUDIO_RATE)
    sr = AUDIO_RATE
    n = frames if frames is not None else frames_for(seconds, fps)
    if len(y) < KICK_FFT:  # librosa needs one window: pad a very short track with silence
        y = np.pad(y, (0, KICK_FFT - len(y)))
    silent = not bool(np.abs(y).max() > 1e-6)
    rms = lr.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    times = lr.frames_to_time(np.arange(rms.size), sr=sr, hop_length=HOP)
    power = np.abs(lr.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    freqs = lr.fft_frequencies(sr=sr, n_fft=N_FFT)
    total = float(power.sum(axis=0).max())
    curves: dict[str, np.ndarray] = {"amp": _norm(beats.per_frame(rms, times, fps, n, "mean"), float(rms.max()))}
    for name, (lo, hi) in BANDS.items():
        band = power[(freqs >= lo) & (freqs < hi)].sum(axis=0)
        per = beats.per_frame(band, times[: band.size], fps, n, "mean")
        curves[name] = _norm(per, max(float(per.max()), BAND_FLOOR * total))
    fine = lr.onset.onset_strength(y=y, sr=sr, hop_length=ONSET_HOP, n_fft=ONSET_FFT)
    fine_t = np.maximum(lr.frames_to_time(np.arange(fine.size), sr=sr, hop_length=ONSET_HOP) - ONSET_LAG, 0.0)
    onset = beats.per_frame(fine, fine_t, fps, n, "max")
    curves["onset"] = _norm(onset, float(onset.max()))
    bpb = cfg.beats_per_bar or 4  # a silent song's bars: the given meter, or 4
    beat_t, down_t, section_t = np.zeros(0), np.zeros(0), np.zeros(0)
    if silent:
        curves = {k: np.zeros(n) for k in curves}
        bpm = 0.0
    else:
        # one mel spectrogram (of the power above) for the beats' envelope and the sections' MFCC
        mel_db = lr.power_to_db(lr.feature.melspectrogram(S=power, sr=sr))
        full = lr.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP)
        kick = lr.onset.onset_strength(y=y, sr=sr, hop_length=HOP, n_fft=KICK_FFT, fmax=KICK_HZ, n_mels=8)[: full.size]
        fr = sr / HOP
        found = beats.track(full, kick, fr, tempo=cfg.tempo)
        frames_at = np.round(found.times * fr).astype(np.int64)
        bpb, down, starts = _bars_and_sections(lr, y, power, mel_db, frames_at, cfg.beats_per_bar, cfg.bar_offset)
        beat_t = np.maximum(found.times - BEAT_LAG, 0.0)
        down_t, section_t = beat_t[down], np.concatenate([[0.0], beat_t[starts]])
        bpm = found.bpm
    for k in ("amp", "bass", "mid", "high", "onset"):
        curves[k] = _smooth(curves[k], fps, cfg.attack, cfg.release)
    curves["beat"], curves["beat_n"] = beat_curves(beat_t, fps, n, bpm)
    curves["downbeat"], curves["bar_n"] = beats.event_curves(down_t, fps, n, bpb * frames_per_beat(fps, bpm) if bpm > 0 else fps)
    curves["section"], curves["section_n"] = beats.event_curves(section_t, fps, n, n)
    r4 = lambda a: [round(float(b), 4) for b in a]  # noqa: E731
    return AudioFeatures(fps=float(fps), seconds=seconds, bpm=bpm if math.isfinite(bpm) else 0.0, curves=curves,
                         beat_times=r4(beat_t), downbeat_times=r4(down_t), section_times=r4(section_t), beats_per_bar=bpb)


def beat_curves(beat_times: np.ndarray, fps: float, frames: int, bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """(beat, beat_n) per frame from beat times in seconds: 1 on a beat's frame, falling linearly
    to 0 at the next beat's frame (after the last beat, over one beat period of ``bpm``)."""
    return beats.event_curves(beat_times, fps, frames, frames_per_beat(fps, bpm))


def load(path: str, fps: float, frames: int | None = None, config: AudioConfig | None = None) -> AudioFeatures:
    """:func:`analyze` of an audio file (any format FFmpeg reads)."""
    _librosa()  # the one-line install hint before any decoding
    return analyze(read_audio(path), AUDIO_RATE, fps, frames, config)


def keyframes(f: AudioFeatures, name: str) -> str:
    """One curve as a keyframe string other animation tools take: ``0:(0.12), 1:(0.31), ...``."""
    if name not in f.curves:
        raise UserError(f"unknown audio feature {name!r}; choose one of {', '.join(CURVES)}")
    return ", ".join(f"{t}:({float(v):.4g})" for t, v in enumerate(f.curves[name]))


def event_keyframes(f: AudioFeatures, kind: str, every: int = 1) -> str:
    """Every ``every``-th event of ``kind`` (beat, downbeat, section) as keyframes another tool
    takes: ``0:(1), 12:(1), ...`` with each event's frame."""
    if kind not in EVENTS:
        raise UserError(f"unknown event {kind!r}; choose one of {', '.join(EVENTS)}")
    if not (isinstance(every, int) and every >= 1):
        raise UserError(f"--every must be a whole number >= 1, got {every!r}")
    return ", ".join(f"{t}:(1)" for t in f.event_frames(kind)[::every])
