"""Style playlists: which style(s), with which blend weight, at frame t. Pure functions.

A playlist is a list of entries, each held for ``hold`` frames, cycling forever. An entry with
``crossfade = M`` fades in over its first M frames: its weight rises (1/(M+1), 2/(M+1), ...)
while the previous entry's falls. The very first entry at frame 0 starts unblended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    style: str = field(metadata={"help": "the painting (relative to the preset)"})
    hold: int = field(default=24, metadata={"help": "frames this style is the target"})
    crossfade: int = field(default=0, metadata={"help": "frames at the start of this entry that blend from the previous one"})
    hold_beats: int = field(default=0, metadata={"help": "with a song: beats this style is the target (replaces hold; 0 = use hold)"})
    crossfade_beats: int = field(default=0, metadata={"help": "with a song: beats to crossfade into it (replaces crossfade when "
                                                                "hold_beats, hold_bars or hold_sections is set)"})
    hold_bars: int = field(default=0, metadata={"help": "with a song: bars this style is the target, changing on a downbeat (0 = not)"})
    hold_sections: int = field(default=0, metadata={"help": "with a song: sections this style is the target, changing where the "
                                                             "song's next section starts (0 = not)"})

    @property
    def on_song(self) -> bool:
        """Whether the entry is held for a song's beats, bars or sections rather than frames."""
        return bool(self.hold_beats or self.hold_bars or self.hold_sections)


def weights_at(entries: list[Entry], t: int) -> list[tuple[int, float]]:
    """[(entry index, weight), ...] at frame t (weights sum to 1)."""
    if not entries:
        raise ValueError("empty playlist")
    cycle = sum(e.hold for e in entries)
    o = t % cycle
    i, e = 0, entries[0]
    for i, e in enumerate(entries):  # noqa: B007 - i and e are used after the loop
        if o < e.hold:
            break
        o -= e.hold
    fade = min(e.crossfade, e.hold)
    # no previous style to fade from on the very first entry (t < entries[0].hold)
    if o < fade and len(entries) > 1 and t >= entries[0].hold:
        w = (o + 1) / (fade + 1)
        prev = (i - 1) % len(entries)
        return [(prev, 1.0 - w), (i, w)]
    return [(i, 1.0)]


def label_at(entries: list[Entry], t: int) -> str:
    """Short label of the dominant style at frame t, e.g. 'starry_night'."""
    i, _ = max(reversed(weights_at(entries, t)), key=lambda p: p[1])  # a tie goes to the incoming style
    return Path(entries[i].style).stem


def on_beats(entries: list[Entry], beat_frames: list[int], frames: int, beat_period: float,
             bar_frames: list[int] | None = None, section_frames: list[int] | None = None, beats_per_bar: int = 4) -> list[Entry]:
    """The playlist laid out over a song's beats, bars and sections for a run of ``frames`` frames.

    Entries with ``hold_beats`` start and end on beats (``beat_frames``: the frames the beats fall
    on, in order; past the last one, every ``beat_period`` frames); with ``hold_bars`` an entry ends
    on the n-th downbeat after its start (``bar_frames``; past the last, every ``beats_per_bar``
    beat periods); with ``hold_sections`` where the n-th next section starts (``section_frames``;
    past the last, at the run's end). The others keep their frames. Returns the cycle unrolled over
    the run, every entry in frames, so :func:`weights_at` needs no song. The first entry starts at
    frame 0 and, held for beats, ends on beat ``hold_beats`` (counted from 0)."""
    if not any(e.on_song for e in entries):
        return entries
    period = max(1.0, beat_period)
    bars, sections = list(bar_frames or []), list(section_frames or [])

    def beat(k: int) -> int:
        if k < len(beat_frames):
            return beat_frames[k]
        last = beat_frames[-1] if beat_frames else 0
        return int(round(last + (k - len(beat_frames) + 1) * period))

    def after(marks: list[int], t: int, n: int, every: float | None) -> int:
        """The n-th mark after frame t; past the last, one each ``every`` frames (None: the run's end)."""
        later = [m for m in marks if m > t]
        if n <= len(later):
            return later[n - 1]
        if every is None:
            return frames
        last = marks[-1] if marks else t
        first = max(1, math.floor((t - last) / every) + 1)  # the first step of the grid after the marks that is past t
        return int(round(last + (first + n - len(later) - 1) * every))

    out: list[Entry] = []
    t, k, i = 0, 0, 0  # frame, beat index and entry index where the next entry starts
    while t < frames:
        e = entries[i % len(entries)]
        if e.on_song:
            if e.hold_beats:
                end = max(t + 1, beat(k + e.hold_beats))
            elif e.hold_bars:
                end = max(t + 1, after(bars, t, e.hold_bars, max(1.0, beats_per_bar * period)))
            else:
                end = max(t + 1, after(sections, t, e.hold_sections, None))
            n = min(e.crossfade_beats, e.hold_beats) if e.hold_beats else e.crossfade_beats
            fade = max(0, beat(k + n) - t) if e.crossfade_beats else 0
        else:
            end, fade = t + e.hold, e.crossfade
        # the next entry's beats count from its own start: the first beat at or after it
        k = k + e.hold_beats if e.hold_beats else next((j for j in range(k, k + 100_000) if beat(j) >= end), k)
        out.append(Entry(e.style, end - t, min(fade, end - t)))
        t, i = end, i + 1
    return out
