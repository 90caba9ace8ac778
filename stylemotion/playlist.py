"""Style playlists: which style(s), with which blend weight, at frame t. Pure functions.

A playlist is a list of entries, each held for ``hold`` frames, cycling forever. An entry with
``crossfade = M`` fades in over its first M frames: its weight rises (1/(M+1), 2/(M+1), ...)
while the previous entry's falls. The very first entry at frame 0 starts unblended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    style: str  # path of the style image
    hold: int = 24  # frames this style is the target
    crossfade: int = 0  # frames at the start of this entry that blend from the previous one


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
