"""A song's curves (stylemotion.audio) on made tracks with known answers, and songs in renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("librosa")

from stylemotion.music.audio import COUNTS, CURVES, AudioConfig, analyze, beat_curves, event_keyframes, keyframes  # noqa: E402
from stylemotion.io.sound import AUDIO_RATE, read_audio, write_audio  # noqa: E402
from stylemotion.errors import UserError  # noqa: E402
from stylemotion.settings.schedule import Schedule  # noqa: E402

from .conftest import SAMPLES  # noqa: E402

SR = AUDIO_RATE


def clicks(bpm: float = 120.0, seconds: float = 8.0, start: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """A click track: a 15 ms decaying noise burst on every beat. (samples, click times)."""
    rng = np.random.default_rng(0)
    y = np.zeros(int(seconds * SR), np.float32)
    times = np.arange(start, seconds - 0.05, 60.0 / bpm)
    burst = (rng.standard_normal(int(0.015 * SR)) * np.exp(-np.linspace(0, 6, int(0.015 * SR)))).astype(np.float32)
    for t in times:
        i = int(t * SR)
        y[i:i + burst.size] += 0.8 * burst[: y.size - i]
    return y, times


def tone(hz: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_click_track_gives_its_beats_and_tempo():
    y, times = clicks(120.0)
    f = analyze(y, SR, fps=24)
    assert abs(f.bpm - 120) / 120 < 0.02, f.bpm
    beat_frames = np.flatnonzero(f.curves["beat"] == 1.0)
    click_frames = np.round(times * 24).astype(int)
    # every beat the tracker found lies within one frame of a click, and it found nearly all
    assert all(np.abs(click_frames - b).min() <= 1 for b in beat_frames), (beat_frames, click_frames)
    assert len(beat_frames) >= len(click_frames) - 2
    # the onset curve peaks on the clicks
    peaks = [t for t in range(1, f.frames - 1) if f.curves["onset"][t] > 0.5 and f.curves["onset"][t] >= f.curves["onset"][t - 1]
             and f.curves["onset"][t] >= f.curves["onset"][t + 1]]
    hit = sum(1 for c in click_frames if any(abs(c - p) <= 1 for p in peaks))
    assert hit >= 0.9 * len(click_frames), (hit, len(click_frames))
    # beat falls from 1 to 0 between beats, beat_n counts them
    b = f.curves["beat"]
    k0, k1 = beat_frames[2], beat_frames[3]
    assert np.all(np.diff(b[k0:k1]) < 0) and b[k1 - 1] < 1 / (k1 - k0) + 1e-9
    assert f.curves["beat_n"][k1] == f.curves["beat_n"][k1 - 1] + 1
    assert f.frames == 8 * 24 and all(0 <= v.min() and (k in COUNTS or v.max() <= 1) for k, v in f.curves.items())
    # the beat times themselves, bars of four on beats, one section (a click track does not change)
    assert len(f.beat_times) >= len(times) - 2 and all(np.abs(times - b).min() < 0.05 for b in f.beat_times)
    assert f.beats_per_bar == 4 and set(f.downbeat_times) <= set(f.beat_times) and f.section_times == [0.0]
    assert np.allclose(np.diff(f.downbeat_times), 2.0, atol=0.05)


def song(bars: int, beats_per_bar: int, bpm: float = 120.0, chords: tuple = ((220, 277, 330), (196, 247, 294), (175, 220, 262), (165, 208, 247)),
         bass: tuple = (55, 49, 44, 41), timbre: str = "sine") -> tuple[np.ndarray, np.ndarray]:
    """A made song: a chord and a bass note per bar (changing on the bar), a kick on its first
    beat and a hat on the others. (samples, downbeat times)."""
    rng = np.random.default_rng(1)
    beat = 60.0 / bpm
    n = int(bars * beats_per_bar * beat * SR) + SR // 2
    y = np.zeros(n, np.float32)
    downs = np.arange(bars) * beats_per_bar * beat
    for b, t0 in enumerate(downs):
        i, j = int(t0 * SR), int((t0 + beats_per_bar * beat) * SR)
        tt = np.arange(j - i) / SR
        wave = (lambda f: np.sign(np.sin(2 * np.pi * f * tt))) if timbre == "square" else (lambda f: np.sin(2 * np.pi * f * tt))
        y[i:j] += 0.08 * sum(wave(f) for f in chords[b % len(chords)]) + 0.2 * np.sin(2 * np.pi * bass[b % len(bass)] * tt)
        for k in range(beats_per_bar):
            s0 = int((t0 + k * beat) * SR)
            m = int(0.05 * SR)
            env = np.exp(-np.linspace(0, 8, m))
            hit = 0.9 * np.sin(2 * np.pi * 60 * np.arange(m) / SR) * env if k == 0 else 0.3 * rng.standard_normal(m) * env
            y[s0:s0 + m] += hit.astype(np.float32)[: n - s0]
    return y, downs


def test_a_waltz_has_three_beats_to_the_bar_and_its_downbeats():
    y, downs = song(16, 3)
    f = analyze(y, SR, fps=24)
    assert abs(f.bpm - 120) < 3 and f.beats_per_bar == 3
    assert sum(np.min(np.abs(downs - d)) < 0.07 for d in f.downbeat_times) >= 0.9 * len(f.downbeat_times) >= 0.8 * len(downs)
    assert f.curves["bar_n"][-1] == len(f.downbeat_times) and f.curves["downbeat"].max() == 1.0
    four = analyze(*song(12, 4)[:1], SR, fps=24)
    assert four.beats_per_bar == 4
    given = analyze(y, SR, fps=24, config=AudioConfig(beats_per_bar=6))
    assert given.beats_per_bar == 6 and len(given.downbeat_times) in (len(f.beat_times) // 6, len(f.beat_times) // 6 + 1)
    moved = analyze(y, SR, fps=24, config=AudioConfig(bar_offset=1))
    assert all(min(abs(np.asarray(f.beat_times) - d)) < 1e-6 for d in moved.downbeat_times)
    assert not set(moved.downbeat_times) & set(f.downbeat_times)


def test_a_song_that_changes_its_sound_has_two_sections():
    a, _ = song(8, 4)
    b, _ = song(8, 4, chords=((311, 392, 466), (349, 440, 523)), bass=(78, 87), timbre="square")
    y = np.concatenate([a[: int(16 * SR)], b[: int(16 * SR)]])
    f = analyze(y, SR, fps=12)
    assert f.section_times[0] == 0.0 and len(f.section_times) == 2 and abs(f.section_times[1] - 16.0) < 0.6, f.section_times
    k = int(round(f.section_times[1] * 12))
    assert f.curves["section"][0] == 1.0 and f.curves["section"][k] == 1.0 and f.curves["section_n"][k - 1] == 1 and f.curves["section_n"][k] == 2
    assert event_keyframes(f, "section") == f"0:(1), {k}:(1)"


def test_a_tempo_and_meter_given_and_their_mistakes():
    y, times = clicks(132.0, seconds=8.0)
    assert abs(analyze(y, SR, fps=24).bpm - 132) < 3
    assert abs(analyze(y, SR, fps=24, config=AudioConfig(tempo=66)).bpm - 66) < 2
    for cfg, msg in ((AudioConfig(tempo=-1), "audio.tempo must be 0"), (AudioConfig(tempo=500), "audio.tempo must be 0"),
                     (AudioConfig(beats_per_bar=13), "audio.beats_per_bar must be 0"), (AudioConfig(beats_per_bar=2.5), "audio.beats_per_bar"),
                     (AudioConfig(bar_offset=12), "audio.bar_offset must be")):
        with pytest.raises(UserError, match=msg):
            cfg.check()


def test_a_fast_song_at_a_low_frame_rate_keeps_every_beat():
    y, times = clicks(200.0, seconds=6.0)
    f = analyze(y, SR, fps=2)  # 0.3 s between beats, 0.5 s between frames
    assert abs(len(f.beat_times) - len(times)) <= 2
    inside = [b for b in f.beat_times if round(b * 2) < f.frames]  # a beat nearest the frame after the last is the video's end
    assert f.curves["beat_n"][-1] == len(inside) and np.all(f.curves["beat"][1:] == 1.0)


def test_bass_and_high_are_apart():
    y = np.concatenate([tone(60, 2.0), tone(5000, 2.0)])
    f = analyze(y, SR, fps=10)
    first, second = slice(2, 18), slice(22, 38)
    assert f.curves["bass"][first].mean() > 0.8 and f.curves["high"][first].max() < 0.05
    assert f.curves["high"][second].mean() > 0.8 and f.curves["bass"][second].max() < 0.05
    assert f.curves["mid"][first].max() < 0.1 and f.curves["mid"][second].max() < 0.1  # (the switch itself is a broadband click)


def test_a_silent_gap_is_zero_and_silence_is_all_zeros():
    y = np.concatenate([tone(440, 1.0), np.zeros(SR, np.float32), tone(440, 1.0)])
    f = analyze(y, SR, fps=10)
    gap = f.curves["amp"][12:19]
    assert gap.max() < 0.01 and f.curves["amp"][:9].min() > 0.5
    quiet = analyze(np.zeros(3 * SR, np.float32), SR, fps=12)
    assert quiet.bpm == 0 and quiet.frames == 36
    for k, v in quiet.curves.items():
        assert np.all(v == 0) and np.all(np.isfinite(v)), k


def test_a_run_longer_than_the_track_hears_silence_after_it():
    y, _ = clicks(120.0, seconds=2.0)
    f = analyze(y, SR, fps=12, frames=60)
    assert f.frames == 60 and f.curves["amp"][30:].max() == 0 and f.curves["onset"][30:].max() == 0
    assert f.at(200)["amp"] == 0 and f.at(200)["beat_n"] == f.curves["beat_n"][-1]


def test_smoothing_spreads_a_pulse():
    y, _ = clicks(60.0, seconds=4.0, start=0.5)
    sharp = analyze(y, SR, fps=24).curves["onset"]
    soft = analyze(y, SR, fps=24, config=AudioConfig(release=0.3)).curves["onset"]
    k = int(np.argmax(sharp))
    assert soft[k + 3] > sharp[k + 3] + 0.2 and soft.max() <= 1
    with pytest.raises(UserError, match="audio.attack must be a number of seconds in"):
        AudioConfig(attack=-1).check()


def test_beat_curves_without_beats_and_past_the_end():
    beat, n = beat_curves(np.array([]), 24, 10, 0.0)
    assert beat.sum() == 0 and n.sum() == 0
    beat, n = beat_curves(np.array([0.0, 0.5]), 10, 12, 120.0)
    assert np.allclose(beat[:5], [1.0, 0.8, 0.6, 0.4, 0.2]) and beat[5] == 1.0 and beat[10] == 0.0 and n[11] == 2


def test_keyframes_string():
    y, _ = clicks(120.0, seconds=1.0)
    f = analyze(y, SR, fps=4)
    text = keyframes(f, "amp")
    assert text.startswith("0:(") and text.count(":(") == 4
    assert Schedule.parse(text, "x")(0) == pytest.approx(f.curves["amp"][0], abs=1e-3)  # other tools read it back
    with pytest.raises(UserError, match="unknown audio feature 'nope'"):
        keyframes(f, "nope")


def test_bad_audio_files_get_one_line(tmp_path):
    from .clips import pan_frames, write_clip

    with pytest.raises(UserError, match="has no audio stream"):
        read_audio(SAMPLES / "chelsea.png")
    with pytest.raises(UserError, match="has no audio stream"):
        read_audio(write_clip(tmp_path / "silent.mp4", pan_frames(3, 32)))
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"ID3" + bytes(range(256)) * 40)
    with pytest.raises(UserError, match=r"bad.mp3"):
        read_audio(bad)
    with pytest.raises(UserError, match="not found|does not exist|no such"):
        read_audio(tmp_path / "missing.wav")


def test_a_schedule_names_unknown_variables_and_asks_for_a_song():
    with pytest.raises(UserError, match="unknown name 'beats'.*bass, mid, high, onset, beat"):
        Schedule.parse("1 + beats", "motion.zoom")
    s = Schedule.parse("1.005 + 0.03*beat", "motion.zoom")
    with pytest.raises(UserError, match="uses beat, which come from a song: give --audio FILE"):
        s(0)
    assert s.bind(lambda t: {"beat": 0.5})(7) == pytest.approx(1.02)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "stylemotion", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_audio_command_json_keyframes_page(tmp_path):
    y, _ = clicks(120.0, seconds=3.0)
    song = write_audio(tmp_path / "clicks.wav", y)
    p = run_cli("audio", song, "--fps", 24, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["fps"] == 24 and d["frames"] == 72 and abs(d["bpm"] - 120) < 3 and len(d["onset"]) == 72
    assert set(d) >= {"fps", "frames", "seconds", "bpm", "amp", "bass", "mid", "high", "onset", "beat", "downbeat", "bar_n", "section",
                      "section_n", "beat_times", "downbeat_times", "section_times", "beats_per_bar"}
    assert len(d["beat_times"]) >= 5 and all(abs(b - 0.25 - round((b - 0.25) * 2) / 2) < 0.05 for b in d["beat_times"])  # clicks each 0.5 s from 0.25
    p = run_cli("audio", song, "--fps", 24, "--keyframes", "beat", "--every", 2, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    keys = [int(k.split(":")[0]) for k in p.stdout.strip().split(", ")]
    assert keys == [round(b * 24) for b in d["beat_times"]][::2] and p.stdout.count(":(1)") == len(keys)
    p = run_cli("audio", song, "--keyframes", "onset", "--every", 2, cwd=tmp_path)
    assert p.returncode == 2 and "--every 2 needs --keyframes with an event (beat, downbeat, section)" in p.stderr
    p = run_cli("audio", song, "--fps", 24, "--keyframes", "onset", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("0:(") and p.stdout.count(":(") == 72
    p = run_cli("audio", song, "--fps", 24, "-o", tmp_path / "song.html", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    page = (tmp_path / "song.html").read_text()
    assert page.count("<svg") == len(CURVES) and 'class="beat"' in page and "<h2>Sections</h2>" in page
    assert abs(float(page.split(" bpm")[0].split()[-1]) - 120) < 3  # the summary line: "..., 120.2 bpm, 6 beats"
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "song.html").stat().st_mode & 0o777 == 0o666 & ~mask  # the user's umask, not mkstemp's 0600
    for args, msg in ((["audio", SAMPLES / "chelsea.png"], "has no audio stream"), (["audio", song, "-o", tmp_path / "x.txt"], "unknown extension")):
        p = run_cli(*args, cwd=tmp_path)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and msg in p.stderr, p.stderr


def test_a_zoom_follows_the_song_and_carries_it(tmp_path):
    import av

    from .test_sequence import write_preset

    y, _ = clicks(120.0, seconds=2.0)
    song = write_audio(tmp_path / "clicks.wav", y)
    preset = write_preset(tmp_path)
    out = tmp_path / "z.mp4"
    p = run_cli("zoom", "--preset", preset, "--audio", song, "--size", 48, "--set", 'motion.zoom="1 + 0.05*onset"',
                "--set", 'motion.angle="2*beat"', "--set", "run.fps=12", "--set", "run.first_iterations=2", "--set", 'run.iterations="1"',
                "-o", out, "--threads", 1, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    log = [json.loads(x) for x in (tmp_path / "z_params.jsonl").read_text().splitlines()]
    assert len(log) == 24  # no --frames: as long as the song, 2 s at 12 fps
    onset = json.loads(run_cli("audio", song, "--fps", 12, "--json", cwd=tmp_path).stdout)["onset"]
    zoom = [r["zoom"] for r in log]
    assert np.corrcoef(zoom[1:], onset[1:])[0, 1] > 0.95
    assert all("beat" in r and "onset" in r for r in log)
    assert all(r["angle"] == pytest.approx(2 * r["beat"], abs=1e-3) for r in log) and sum(r["beat"] == 1 for r in log) >= 3
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        vd, ad = float(v.duration * v.time_base), float(a.duration * a.time_base)
        assert a.codec_context.name == "aac" and v.frames == 24
    assert abs(vd - ad) <= 1 / 12 + 1e-6, (vd, ad)
    assert "beat" in (tmp_path / "z_report.html").read_text()
    # a schedule that needs the song, without one: one line, nothing written
    p = run_cli("zoom", "--preset", preset, "--set", 'motion.zoom="1 + beat"', "-o", tmp_path / "y.mp4", cwd=tmp_path)
    assert p.returncode == 2 and "come from a song" in p.stderr and p.stderr.count("\n") == 1
    assert not (tmp_path / "y_frames").exists() and not (tmp_path / "y.mp4").exists()


def test_a_recorded_drum_loop_gives_its_onsets_and_tempo():
    # samples/909beat01.ogg: a recorded TR-909 loop of 8 beats in 3.952 s (121.5 BPM), looped
    # three times. Its grid is known from its length: a kick on every beat and a hat on every
    # off-beat, i.e. a hit on every eighth note (one each 0.247 s, from 0)
    y = read_audio(SAMPLES / "909beat01.ogg")
    seconds = len(y) / SR
    f = analyze(np.tile(y, 3), SR, fps=24)
    tempo = 8 * 60 / seconds
    assert any(abs(f.bpm - k * tempo) / (k * tempo) < 0.04 for k in (0.5, 1, 2)), (f.bpm, tempo)
    eighths = [round(k * seconds / 16 * 24) for k in range(1, 48)]
    on = f.curves["onset"]
    peaks = [t for t in range(1, f.frames - 1) if on[t] > 0.1 and on[t] >= on[t - 1] and on[t] >= on[t + 1]]
    hit = sum(1 for o in eighths if any(abs(o - p) <= 1 for p in peaks))
    assert hit >= 0.9 * len(eighths), (hit, len(eighths), peaks)
    # the beat tracker's beats fall on the kicks
    kicks = [round(k * seconds / 8 * 24) for k in range(24)]
    beats = np.flatnonzero(f.curves["beat"] == 1.0)
    assert sum(1 for b in beats if min(abs(b - k) for k in kicks) <= 1) >= 0.9 * len(beats) and len(beats) >= 20


def test_a_video_hears_its_own_clip(tmp_path):
    from .clips import pan_frames, write_clip

    with_sound = write_clip(tmp_path / "sound.mp4", pan_frames(4, 48), audio=True)
    silent = write_clip(tmp_path / "silent.mp4", pan_frames(4, 48))
    args = ["--style", SAMPLES / "starry_night.jpg", "--size", 48, "--set", "run.first_iterations=2", "--set", 'run.iterations="1"',
            "--set", 'style.style_weight="20*(1 + amp)"', "--threads", 1]
    p = run_cli("video", with_sound, *args, "-o", tmp_path / "a.mp4", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    log = [json.loads(x) for x in (tmp_path / "a_params.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(r["style_weight"] == pytest.approx(20 * (1 + r["amp"]), abs=1e-3) for r in log)
    assert max(r["amp"] for r in log) > 0.5
    p = run_cli("video", silent, *args, "-o", tmp_path / "b.mp4", cwd=tmp_path)
    assert p.returncode == 2 and "has no audio" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "b_frames").exists()


def test_a_render_with_a_song_resumes_identically(tmp_path):
    from .clips import kill_when_written
    from .test_sequence import write_preset

    y, _ = clicks(120.0, seconds=1.5)
    song = write_audio(tmp_path / "clicks.wav", y)
    preset = write_preset(tmp_path)
    # playlist entries held for beats: laid over the song once, and stored for the resume
    text = preset.read_text().replace("hold = 2\n", "hold_beats = 1\n")
    preset.write_text(text)
    args = ["zoom", "--preset", preset, "--audio", song, "--size", 48, "--set", 'motion.zoom="1 + 0.05*beat"',
            "--set", "run.fps=8", "--set", "run.first_iterations=4", "--set", 'run.iterations="3"', "--threads", 1]
    p = run_cli(*args, "-o", tmp_path / "full.mp4", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    proc = subprocess.Popen([sys.executable, "-m", "stylemotion", *map(str, args), "-o", str(tmp_path / "part.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    kill_when_written(proc, tmp_path / "part_frames" / "frame_00004.png")
    p = run_cli("zoom", "--resume", "-o", tmp_path / "part.mp4", "--threads", 1, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    full = sorted((tmp_path / "full_frames").glob("frame_*.png"))
    assert len(full) == 12
    for f in full:
        assert f.read_bytes() == (tmp_path / "part_frames" / f.name).read_bytes(), f.name
    labels = [json.loads(x)["styles"] for x in (tmp_path / "full_params.jsonl").read_text().splitlines()]
    assert len({tuple(d) for d in labels}) >= 2  # the styles changed on the beats
