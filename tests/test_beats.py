"""The tracker's math (stylemotion.music.beats) on envelopes with known answers; pure numpy."""

from __future__ import annotations

import numpy as np
import pytest

from stylemotion.music import beats as B

FR = 22050 / 512  # analysis frames per second, as music.audio uses


def pulses(times: np.ndarray, n: int, height: float | np.ndarray = 1.0) -> np.ndarray:
    """An onset envelope: a two-frame pulse at each time (s)."""
    env = np.zeros(n)
    h = np.broadcast_to(np.asarray(height, float), np.shape(times))
    for t, v in zip(times, h):
        i = int(round(t * FR))
        if i < n:
            env[i] += v
            if i + 1 < n:
                env[i + 1] += 0.4 * v
    return env


def grid(bpm: float, seconds: float, phase: float = 0.0) -> np.ndarray:
    return np.arange(phase, seconds, 60.0 / bpm)


def test_the_tempo_of_a_beat_with_off_beat_hats_is_the_beat_not_two_thirds_of_it():
    n = int(20 * FR)
    beat = grid(136, 20)
    # the kick on each beat, hats on the off-beats, and a 3-3-2 bass line: 2/3 of the tempo also recurs
    eighths = grid(272, 20)
    bass = np.concatenate([b + np.array([0, 3, 6]) * 60 / 272 for b in grid(34, 20)])
    env = pulses(beat, n) + pulses(eighths[1::2], n, 0.5) + pulses(bass, n, 0.6)
    path = B.tempo_path(env, FR)
    assert np.all(np.abs(path - 136) < 136 * 0.03), (path.min(), path.max())


def test_the_tempo_path_follows_a_change_of_tempo():
    n = int(32 * FR)
    env = pulses(np.concatenate([grid(120, 16), 16 + grid(150, 16)]), n)
    path = B.tempo_path(env, FR)
    assert abs(np.median(path[: int(10 * FR)]) - 120) < 4 and abs(np.median(path[int(22 * FR):]) - 150) < 5
    b = B.track(env, env, FR)
    hits = np.concatenate([grid(120, 16), 16 + grid(150, 16)])
    assert sum(np.min(np.abs(hits - t)) < 0.05 for t in b.times) >= 0.9 * hits.size


def test_a_tempo_given_by_the_user_counts_the_slow_beat():
    n = int(20 * FR)
    eighths = grid(134, 20)
    env = pulses(eighths, n, np.where(np.arange(eighths.size) % 2 == 0, 1.0, 0.7))
    assert abs(B.track(env, env, FR).bpm - 134) < 3  # the prior's choice: the pulse near 120
    slow = B.track(env, env, FR, tempo=67.0)
    assert abs(slow.bpm - 67) < 2
    assert np.median([np.min(np.abs(eighths[::2] - t)) for t in slow.times]) < 0.03  # on the strong eighths


def test_dp_beats_land_on_the_pulses():
    n = int(10 * FR)
    hits = grid(100, 10, 0.3)
    env = pulses(hits, n)
    f = B.dp_beats(env / env.std(), np.full(n, 60 * FR / 100))
    assert len(f) >= hits.size - 1 and all(np.min(np.abs(hits * FR - x)) <= 1 for x in f)


def test_the_phase_follows_the_kick_when_the_chords_are_on_the_off_beat():
    # a swung "oom-pah": the kick (bass) on the beat, louder chords on the off-beat (full band)
    n = int(16 * FR)
    beat = grid(140, 16, 0.2)
    off = beat + 30 / 140
    full = pulses(beat, n, 0.5) + pulses(off, n, 1.0)
    kick = pulses(beat, n, 1.0)
    b = B.track(full, kick, FR)
    assert np.median([np.min(np.abs(beat - t)) for t in b.times]) < 0.03, b.times[:6]


def test_the_phase_keeps_the_full_band_when_the_bass_plays_off_beats():
    # trance: the kick and most of the sound on the beat, a rolling bass line on the off-beat
    n = int(16 * FR)
    beat = grid(140, 16, 0.2)
    off = beat + 30 / 140
    full = pulses(beat, n, 1.0) + pulses(off, n, 0.3)
    low = pulses(beat, n, 0.2) + pulses(off, n, 1.0)
    b = B.track(full, low, FR)
    assert np.median([np.min(np.abs(beat - t)) for t in b.times]) < 0.03


def test_silence_and_tiny_inputs_have_no_beats():
    assert B.track(np.zeros(500), np.zeros(500), FR).times.size == 0
    assert B.track(np.ones(2), np.ones(2), FR).bpm == 0


@pytest.mark.parametrize("m", [3, 4])
def test_the_meter_and_the_downbeat_from_accents(m):
    rng = np.random.default_rng(m)
    accent = 0.2 * rng.random(48)
    accent[2::m] += 1.0  # the bar starts on beat 2
    assert B.meter(accent) == (m, 2)
    assert B.meter(accent, beats_per_bar=m)[0] == m and B.meter(accent, beats_per_bar=5)[0] == 5
    assert B.meter(np.ones(48)) == (4, 0) and B.meter(np.zeros(0)) == (4, 0)


def test_novelty_finds_where_the_sound_changes():
    rng = np.random.default_rng(0)
    a, b = rng.random(20), rng.random(20)
    feats = np.concatenate([a[:, None] + 0.05 * rng.random((20, 40)), b[:, None] + 0.05 * rng.random((20, 40))], axis=1)
    nov = B.novelty(feats)
    assert abs(int(np.argmax(nov)) - 40) <= 1
    assert B.boundaries(nov) == [int(np.argmax(nov))]
    assert B.boundaries(B.novelty(np.ones((5, 64)))) == []  # no change, no section


def test_per_frame_takes_the_nearest_frame_and_is_linear():
    fps = 10.0
    times = np.arange(0, 2, 1 / 100)  # 100 analysis frames per second, 2 s
    curve = np.zeros(times.size)
    curve[104] = 1.0  # 1.04 s: nearest frame 10
    curve[156] = 0.5  # 1.56 s: nearest frame 16
    out = B.per_frame(curve, times, fps, 25, "max")
    assert out[10] == 1.0 and out[16] == 0.5 and out[11] == 0 and out[15] == 0 and np.all(out[20:] == 0)
    mean = B.per_frame(np.ones(times.size), times, fps, 20, "mean")
    assert np.allclose(mean, 1.0)
    # above the analysis rate a frame no analysis frame is nearest to takes the curve at its time
    hi = B.per_frame(np.linspace(0, 1, times.size), times, 400.0, 800, "mean")
    assert np.all(np.isfinite(hi)) and np.all(np.diff(hi[:790]) >= -1e-9)
    # a 5-minute song at 60 fps: one pass, no frames x samples table
    long_t = np.arange(0, 300, 1 / 86)
    assert B.per_frame(np.ones(long_t.size), long_t, 60.0, 18000, "max").shape == (18000,)


def test_event_curves_keep_every_event_even_two_in_one_frame():
    curve, count = B.event_curves(np.array([0.0, 0.5, 0.52, 1.0]), 4.0, 8, 2.0)  # 0.5 and 0.52 share frame 2
    assert list(count) == [1, 1, 3, 3, 4, 4, 4, 4]
    assert list(curve[:4]) == [1.0, 0.5, 1.0, 0.5] and curve[4] == 1.0 and curve[5] == 0.5 and curve[6] == 0.0
    curve, count = B.event_curves(np.zeros(0), 24.0, 5, 12.0)
    assert curve.sum() == 0 and count.sum() == 0


def test_the_half_beat_candidate_stays_inside_the_song():
    assert list(B._shift_half(np.array([10.0, 30.0, 50.0]))) == [0.0, 20.0, 40.0]
    assert list(B._shift_half(np.array([4.0, 24.0, 44.0]))) == [14.0, 34.0, 54.0]  # no beat before 0
