"""How a finish splits its frames into chunks and joins them again: pure, no tensors needed.

Chunk c owns frames [start, end). Every chunk but the first also renders the ``lead`` frames
before its start: there both chunks have a picture, and the finished frame crossfades from the
earlier chunk's to the later one's, so no seam shows where the later chunk began afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first frame it owns
    end: int  # one past its last frame
    lead: int = 0  # frames before ``start`` it renders too (the seam with the chunk before)

    @property
    def first(self) -> int:
        """The first frame it renders."""
        return self.start - self.lead

    @property
    def task_label(self) -> str:
        return f"the chunk of frames {self.start}..{self.end - 1}"


def plan_chunks(frames: int, length: int, overlap: int) -> list[Chunk]:
    """Chunks of ``length`` frames covering ``frames``; a last piece shorter than the overlap joins
    the chunk before it (a seam needs frames on both sides)."""
    if frames < 1 or length < 1 or overlap < 0:
        raise ValueError(f"plan_chunks: frames {frames}, length {length}, overlap {overlap}")
    starts = list(range(0, frames, length))
    if len(starts) > 1 and frames - starts[-1] <= overlap:
        starts.pop()
    bounds = [*starts, frames]
    return [Chunk(i, a, b, 0 if i == 0 else min(overlap, a - bounds[i - 1] - 1)) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def seam_weight(chunk: Chunk, j: int) -> float:
    """How much of frame j (in ``chunk``'s lead) is ``chunk``'s picture; the rest is the chunk
    before's. Rises evenly over the lead, never 0 or 1 inside it."""
    if not chunk.first <= j < chunk.start:
        raise ValueError(f"frame {j} is not in the lead of {chunk.task_label}")
    return (j - chunk.first + 1) / (chunk.lead + 1)


def needed(chunks: Sequence[Chunk], frame: int) -> list[Chunk]:
    """The chunks a finish that has frames < ``frame`` on disk still runs."""
    return [c for c in chunks if c.end > frame]


def joined(done: Iterator[tuple[Chunk, dict[int, Any]]], chunks: Sequence[Chunk],
           blend: Callable[[Any, Any, float], Any]) -> Iterator[tuple[int, Any, list[Any]]]:
    """Frames of chunks that finish in any order, in frame order: (frame, result, the results it
    was made from). ``done`` yields (chunk, {frame: result}); ``blend(a, b, w)`` mixes the earlier
    chunk's result ``a`` with the later one's ``b`` at weight ``w`` of ``b``. A frame waits until
    every chunk that renders it has finished."""
    chunks = sorted(chunks, key=lambda c: c.start)
    if not chunks:
        return
    waiting: dict[int, dict[int, Any]] = {}
    order = [c.index for c in chunks]
    pos = 0  # chunks[pos] is the next whose frames are yielded
    frame = chunks[0].start
    for chunk, frames in done:
        waiting[chunk.index] = frames
        while pos < len(chunks) and order[pos] in waiting:
            c = chunks[pos]
            nxt = chunks[pos + 1] if pos + 1 < len(chunks) else None
            stop = nxt.first if nxt is not None else c.end  # frames from the next chunk's lead wait for it
            if nxt is not None and nxt.index not in waiting:
                for j in range(frame, stop):
                    yield j, waiting[c.index][j], [waiting[c.index][j]]
                frame = max(frame, stop)
                break
            for j in range(frame, c.end):
                mine = waiting[c.index][j]
                if nxt is not None and j >= nxt.first:
                    other = waiting[nxt.index][j]
                    yield j, blend(mine, other, seam_weight(nxt, j)), [mine, other]
                else:
                    yield j, mine, [mine]
            frame = c.end
            del waiting[c.index]
            pos += 1
