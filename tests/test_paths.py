"""Output locks on a disk that fills up: a render that cannot start leaves nothing behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stylemotion.errors import UserError
from stylemotion.io import paths
from stylemotion.io.paths import OutputLock


def test_a_lock_that_cannot_be_written_is_removed_and_named(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(paths.os, "pwrite", full)
    with pytest.raises(UserError, match=r"cannot write the lock .*\.z\.mp4\.lock for .*z\.mp4: No space left on device"):
        OutputLock(tmp_path / "z.mp4").acquire()
    assert not list(tmp_path.iterdir())  # no .z.mp4.lock
    monkeypatch.undo()
    lock = OutputLock(tmp_path / "z.mp4").acquire()  # and the next start is not blocked by it
    lock.release()
    assert not list(tmp_path.iterdir())


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs with ``room`` bytes left (root only: skipped where mount is refused)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs to make a full disk")

    def fill(room: int) -> Path:
        with open(mnt / "fill", "wb") as f:
            f.write(b"\0" * (64 * 1024 - room))
        return mnt

    yield fill
    subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("room", [0, 4096])
def test_a_render_on_a_full_disk_is_one_line_and_leaves_no_lock(full_disk, room):
    disk = full_disk(room)
    p = subprocess.run([sys.executable, "-m", "stylemotion", "zoom", "--preset", "deepdream-like", "--frames", "2", "--size", "48",
                        "--set", "run.first_iterations=3", "--set", "run.iterations=2", "-o", str(disk / "z.mp4")],
                       capture_output=True, text=True, timeout=300)
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert p.returncode == 2 and len(errors) == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "space" in errors[0], errors
    assert sorted(f.name for f in disk.iterdir()) == ["fill"]  # no lock, no half-written output
