"""The one place that sets torch's CPU thread count.

A render, a study cell, a pool worker and a Ray task all set it through :func:`set_threads` (or,
for a scoped change, :func:`threads`): on a shared 2-core machine the count decides a run's speed
and, in the last bit, its pixels, so who set it must be findable in one grep.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


def set_threads(n: int | None) -> None:
    """Use ``n`` CPU threads from now on (None or 0: leave torch's choice alone)."""
    if n:
        torch.set_num_threads(int(n))


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """``n`` CPU threads inside the block, the previous count after it (None or 0: unchanged)."""
    old = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        set_threads(old)
