"""Beats, bars and sections from onset envelopes: the tracker's math, pure numpy.

:mod:`stylemotion.music.audio` computes the envelopes with librosa and calls these. An envelope is
a ``(n,)`` float array at ``fr`` analysis frames per second, frame ``i`` at time ``i / fr``.

The tracker departs from librosa's ``beat_track`` (Ellis 2007) where real songs showed it wrong
(``benchmarks/beat_corpus.py``, docs/measurements.md):

* tempo: a comb over the envelope's autocorrelation (lags T, 2T, 3T, 4T) under a log-normal prior,
  rather than the tempogram's single peak, which picks 2/3 of a house loop's tempo;
* tempo changes: the comb in 8 s windows, a Viterbi path through them, so a DJ's change of tempo
  gives a new beat period instead of beats drifting off;
* phase: Ellis's dynamic programme follows the strongest onsets, which in a swung or trance
  track are the off-beats. The programme runs on the full-band envelope and on full band plus the
  kick band, each also shifted half a beat, and the candidate whose beats stand out most against
  their half-beat neighbours (the full band, and the kick band at a smaller share) wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TEMPO_MIN, TEMPO_MAX = 40.0, 240.0  # BPM the tracker may choose
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # the tempo prior: log-normal around 120 BPM, one octave wide
TIGHTNESS = 100.0  # the programme's penalty on an interval that is not the local beat period
TEMPO_WINDOW, TEMPO_HOP = 8.0, 1.0  # seconds of music per local tempo, seconds between them
TEMPO_JUMP = 4.0  # Viterbi cost of a tempo change of one octave (in log-comb units)
# the kick band's say in the phase, beside the full band's: a swung track's bass on the beat must
# outvote its chords on the off-beat (west: needs > 0.13), a ballad's walking bass on the
# off-beat must not outvote its melody on the beat (lose at 67 BPM: needs < 0.72)
KICK_SHARE = 0.3


@dataclass
class Beats:
    """What the tracker found: beat times (s), the tempo, the meter, the downbeats."""

    times: np.ndarray  # (k,) seconds
    bpm: float  # the beats' mean tempo (0 where there are none)
    beats_per_bar: int = 4
    downbeats: np.ndarray | None = None  # (m,) seconds, a subset of times


def _acf(env: np.ndarray) -> np.ndarray:
    """The envelope's autocorrelation, normalised to 1 at lag 0, negative lags clipped."""
    e = env - env.mean()
    n = e.size
    spec = np.fft.rfft(e, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / ac[0] if ac[0] > 0 else np.zeros(n)
    return np.clip(ac, 0.0, None)


def _grid() -> np.ndarray:
    """The tempo grid (BPM): log-spaced, 1/48 of an octave apart."""
    return TEMPO_MIN * 2.0 ** (np.arange(int(48 * math.log2(TEMPO_MAX / TEMPO_MIN)) + 1) / 48)


def comb_scores(env: np.ndarray, fr: float, bpms: np.ndarray) -> np.ndarray:
    """(len(bpms),) the mean autocorrelation at 1-4 beat periods of each tempo: a tempo whose
    multiples all recur scores higher than one whose only evidence is a single lag."""
    ac = _acf(env)
    n = ac.size
    out = np.zeros(bpms.size)
    for k in (1, 2, 3, 4):
        lag = k * 60.0 * fr / bpms
        i = np.floor(lag).astype(np.int64)
        f = lag - i
        ok = i + 1 < n
        i = np.minimum(i, n - 2)
        out += np.where(ok, ac[i] * (1 - f) + ac[i + 1] * f, 0.0)
    return out / 4


HINT_OCTAVES = 0.15  # the prior's width around a tempo the user gives


def _prior(bpms: np.ndarray, centre: float = PRIOR_BPM, octaves: float = PRIOR_OCTAVES) -> np.ndarray:
    return np.exp(-0.5 * (np.log2(bpms / centre) / octaves) ** 2)


def tempo_path(env: np.ndarray, fr: float, tempo: float = 0.0) -> np.ndarray:
    """(n,) the local tempo (BPM) at every analysis frame: the comb in overlapping windows, a
    Viterbi path through them that pays for each change in proportion to its size. ``tempo``
    (BPM, 0 = none): look near it, for a song whose beat the prior would count twice as fast."""
    prior = _prior(_grid(), tempo, HINT_OCTAVES) if tempo > 0 else _prior(_grid())
    n = env.size
    bpms = _grid()
    win, hop = int(TEMPO_WINDOW * fr), max(1, int(TEMPO_HOP * fr))
    if n <= win:
        starts = [0]
    else:
        starts = list(range(0, n - win + 1, hop))
        if starts[-1] != n - win:
            starts.append(n - win)
    glob = comb_scores(env, fr, bpms)
    obs = []
    for s in starts:
        seg = env[s:s + win]
        local = comb_scores(seg, fr, bpms) if seg.std() > 1e-9 else np.zeros(bpms.size)
        obs.append(np.log(1e-3 + 0.5 * local + 0.5 * glob) + np.log(prior + 1e-300))
    o = np.asarray(obs)
    octave = np.abs(np.subtract.outer(np.log2(bpms), np.log2(bpms)))
    trans = -TEMPO_JUMP * octave
    score, back = o[0].copy(), np.zeros(o.shape, dtype=np.int64)
    for w in range(1, len(o)):
        cand = score[:, None] + trans  # from i (rows) to j (columns)
        back[w] = np.argmax(cand, axis=0)
        score = cand[back[w], np.arange(bpms.size)] + o[w]
    path = np.empty(len(o), dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for w in range(len(o) - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    centres = np.asarray(starts) + win / 2 if n > win else np.asarray([n / 2])
    return np.interp(np.arange(n), centres, bpms[path])


def dp_beats(local: np.ndarray, period: np.ndarray, tightness: float = TIGHTNESS) -> np.ndarray:
    """Beat frames by Ellis's dynamic programme: each beat adds its onset strength and pays
    ``tightness * log(interval / period)^2`` for an interval off the local period (frames)."""
    n = local.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    score = np.zeros(n)
    back = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        p = period[t]
        lo, hi = max(0, int(t - 2 * p)), int(t - p / 2)
        if hi < lo:
            score[t] = local[t]
            continue
        prev = np.arange(lo, hi + 1)
        cand = score[lo:hi + 1] - tightness * np.log((t - prev) / p) ** 2
        j = int(np.argmax(cand))
        if cand[j] > 0:
            score[t], back[t] = local[t] + cand[j], prev[j]
        else:
            score[t] = local[t]
    last = max(0, n - int(round(period[-1])))
    t = last + int(np.argmax(score[last:]))
    out = []
    while t >= 0:
        out.append(t)
        t = int(back[t])
    return np.asarray(out[::-1], dtype=np.int64)


def _at(curve: np.ndarray, frames: np.ndarray, reach: int) -> np.ndarray:
    """The curve's largest value within ``reach`` frames of each frame."""
    idx = np.clip(np.round(frames).astype(np.int64), 0, curve.size - 1)
    return np.asarray([curve[max(0, i - reach):i + reach + 1].max() for i in idx]) if idx.size else np.zeros(0)


def contrast(frames: np.ndarray, curve: np.ndarray, reach: int) -> float:
    """log of the curve's mean on the beats over its mean half a beat later."""
    if frames.size < 4:
        return 0.0
    mids = (frames[:-1] + frames[1:]) / 2
    on, off = _at(curve, frames[:-1], reach).mean(), _at(curve, mids, reach).mean()
    return float(math.log((on + 1e-3) / (off + 1e-3)))


def _shift_half(frames: np.ndarray) -> np.ndarray:
    """The beats half a beat later: their midpoints, with the half beat before the first where it
    lies in the song, else the half beat after the last (as many beats as before)."""
    if frames.size < 2:
        return frames
    mids = (frames[:-1] + frames[1:]) / 2
    before = frames[0] - (frames[1] - frames[0]) / 2
    if before >= 0:
        return np.concatenate([[before], mids])
    return np.concatenate([mids, [frames[-1] + (frames[-1] - frames[-2]) / 2]])


def _norm(x: np.ndarray) -> np.ndarray:
    top = float(np.percentile(x, 99)) if x.size else 0.0
    return x / top if top > 1e-12 else np.zeros_like(x)


def track(full: np.ndarray, low: np.ndarray, fr: float, tempo: float = 0.0) -> Beats:
    """Beats of a song from its full-band and kick-band (< 120 Hz) onset envelopes (same length);
    ``tempo``: a tempo to look near (BPM; 0 = find it)."""
    full, low = _norm(np.asarray(full, float)), _norm(np.asarray(low, float))
    if full.size < 4 or not full.any():
        return Beats(times=np.zeros(0), bpm=0.0)
    bpm = tempo_path(full, fr, tempo)
    period = 60.0 * fr / bpm
    reach = max(1, int(round(0.03 * fr)))
    cands = []
    for local in (full, full + 0.3 * low):
        f = dp_beats(local / (local.std() + 1e-9), period).astype(float)
        cands += [f, _shift_half(f)]
    best = max(cands, key=lambda f: contrast(f, full, reach) + KICK_SHARE * contrast(f, low, reach))
    times = best / fr
    # the mean interval: each one is a whole number of analysis frames, their median is not the tempo
    tempo = 60.0 * (times.size - 1) / float(times[-1] - times[0]) if times.size >= 2 and times[-1] > times[0] else 0.0
    return Beats(times=times, bpm=tempo)


# --- bars -------------------------------------------------------------------------------------
METER_MARGIN = 0.1  # how much more the accents must recur at three beats than at four to call a bar 3/4


def meter(accent: np.ndarray, beats_per_bar: int = 0) -> tuple[int, int]:
    """(beats per bar, index of the first downbeat) from each beat's accent ``(k,)`` (how much the
    harmony changes on it). 3 where the accents recur every three beats clearly more than every
    four and more than every two (a duple meter recurs at two); else 4, the common case; the
    downbeat is the bar position with the largest mean accent."""
    a = np.asarray(accent, float)
    m = beats_per_bar
    if not m:
        m = 4
        if a.size >= 12 and a.std() > 1e-9:
            z = (a - a.mean()) / a.std()

            def rec(lag: int) -> float:  # the accents' correlation at one and two bars of ``lag`` beats
                return float(np.mean([np.dot(z[:-k], z[k:]) / (z.size - k) for k in (lag, 2 * lag) if z.size > k]))

            r2, r3, r4 = rec(2), rec(3), rec(4)
            m = 3 if r3 > r4 + METER_MARGIN and r3 > r2 else 4
    if a.size == 0:
        return m, 0
    phase = int(np.argmax([a[p::m].mean() for p in range(min(m, a.size))]))
    return m, phase


# --- sections ---------------------------------------------------------------------------------
SECTION_KERNEL = 16  # beats each side the novelty compares (four bars of 4/4)
SECTION_MIN = 16  # beats a section lasts at least
SECTION_PEAK = 0.3  # a boundary's novelty, over the song's largest
# and at least this much: within-block minus across-block similarity (a uniform track's noise
# reaches 0.3; a spliced change of song, 0.5; a rock band entering after an intro, 0.67)
SECTION_FLOOR = 0.4


def novelty(features: np.ndarray, kernel: int = SECTION_KERNEL) -> np.ndarray:
    """(k,) Foote's novelty of beat-synchronous ``features`` ``(d, k)``: a checkerboard kernel
    (Gaussian-tapered, ``kernel`` beats each side) along the diagonal of their cosine self-similarity."""
    f = np.asarray(features, float)
    k = f.shape[1]
    if k < 2:
        return np.zeros(k)
    f = f - f.mean(axis=1, keepdims=True)
    f = f / (np.linalg.norm(f, axis=0, keepdims=True) + 1e-9)
    s = f.T @ f
    half = max(1, min(kernel, k // 2))
    i = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (i / (0.5 * half)) ** 2)
    check = np.outer(np.sign(i), np.sign(i)) * np.outer(taper, taper)
    check /= np.abs(check).sum() / 2  # within-block similarity minus across, each a weighted mean: in [-1, 1]
    pad = np.pad(s, half, mode="constant")
    out = np.array([float(np.sum(pad[c:c + 2 * half, c:c + 2 * half] * check)) for c in range(k)])
    return np.clip(out, 0.0, None)


def boundaries(nov: np.ndarray, min_gap: int = SECTION_MIN, peak: float = SECTION_PEAK, floor: float = SECTION_FLOOR) -> list[int]:
    """Beat indices where a new section starts: novelty peaks above ``floor`` and ``peak`` of the
    largest, the strongest first, none within ``min_gap`` beats of another or of the song's ends
    (a song shorter than two sections has none)."""
    top = float(nov.max()) if nov.size >= 2 * min_gap else 0.0
    if top < floor:
        return []
    order = np.argsort(-nov, kind="stable")
    out: list[int] = []
    for i in order:
        if nov[i] < max(peak * top, floor):
            break
        if i < min_gap // 2 or i > nov.size - min_gap // 2:
            continue
        if nov[max(0, i - 1)] > nov[i] or (i + 1 < nov.size and nov[i + 1] > nov[i]):
            continue  # not a local peak
        if all(abs(int(i) - j) >= min_gap for j in out):
            out.append(int(i))
    return sorted(out)


# --- per output frame -------------------------------------------------------------------------
def nearest_frames(times: np.ndarray, fps: float) -> np.ndarray:
    """The output frame each time (s) is nearest to: frame t shows the time t / fps."""
    return np.floor(np.asarray(times, float) * fps + 0.5).astype(np.int64)


def per_frame(curve: np.ndarray, times: np.ndarray, fps: float, frames: int, how: str) -> np.ndarray:
    """Analysis-rate ``curve`` at ``times`` (s) to one value per output frame: the mean (or the
    max) of the analysis frames nearest to it, within ``[(t - 1/2) / fps, (t + 1/2) / fps)``; a frame
    none is nearest to (a frame rate above the analysis rate) takes the curve at its time. Linear
    in the curve's length; after the track's end, zeros."""
    out = np.zeros(frames)
    if curve.size == 0 or frames == 0:
        return out
    idx = nearest_frames(times, fps)
    ok = (idx >= 0) & (idx < frames)
    idx, c = idx[ok], np.asarray(curve, float)[ok]
    count = np.bincount(idx, minlength=frames)
    if how == "max":
        out = np.full(frames, -np.inf)
        np.maximum.at(out, idx, c)
    else:
        out = np.bincount(idx, weights=c, minlength=frames) / np.maximum(count, 1)
    empty = count == 0
    ft = np.arange(frames) / fps
    out[empty] = np.where(ft[empty] <= times[-1], np.interp(ft[empty], times, curve), 0.0)
    return out


def event_curves(times: np.ndarray, fps: float, frames: int, period: float) -> tuple[np.ndarray, np.ndarray]:
    """(curve, count) per frame of events at ``times`` (s): 1 on a frame with an event, falling
    linearly to 0 at the next event's frame (after the last, over ``period`` frames); the count of
    events so far. Two events nearer than a frame share it, and both are counted."""
    curve, count = np.zeros(frames), np.zeros(frames)
    k = nearest_frames(np.asarray(times, float), fps)
    k = k[(k >= 0) & (k < frames)]
    if k.size == 0:
        return curve, count
    count = np.cumsum(np.bincount(k, minlength=frames)[:frames]).astype(float)
    keys = np.unique(k)
    nxt = np.append(keys[1:], keys[-1] + max(1, int(round(period))))
    for a, b in zip(keys, nxt):
        span = max(1, int(b - a))
        t = np.arange(a, min(b, frames))
        curve[t] = 1.0 - (t - a) / span
    return curve, count
