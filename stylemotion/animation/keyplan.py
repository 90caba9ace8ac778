"""Which frames of a zoom or drift are optimized, how hard, and how strongly a looping run is
pulled back to its first frame: the key-frame plan, from the settings' [run] section alone."""

from __future__ import annotations

from ..settings.sections import Settings


class KeyPlan:
    """Key frames (every ``cadence``-th, and always the first and last), their iterations and the
    loop weight."""

    def __init__(self, s: Settings) -> None:
        self.run = s.run
        self.iters = s.schedule("run", "iterations")
        n, c = s.run.frames, s.run.cadence
        self._keys = sorted(set(range(0, n, c)) | {n - 1})  # computed once: asked about every frame
        self._key_set = set(self._keys)

    def key_frames(self) -> list[int]:
        return list(self._keys)

    def next_key(self, after: int) -> int:
        """The first key frame after frame ``after`` (-1: the first frame)."""
        return next(k for k in self._keys if k > after)

    def iterations_at(self, t: int) -> int:
        """Optimizer iterations frame t gets (0 for an in-between frame)."""
        if t == 0:
            return self.run.first_iterations
        return round(self.iters(t)) if t in self._key_set else 0

    def loop_weight(self, t: int) -> float:
        """How far frame t is pulled back toward frame 0 (0 = not at all, 1 at the last frame)."""
        r = self.run
        if not r.loop or t == 0:
            return 0.0
        first = r.frames - r.loop_frames
        return max(0.0, (t - first + 1) / r.loop_frames)
