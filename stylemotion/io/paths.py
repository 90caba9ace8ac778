"""Checks on the files a run reads and writes, done before any work starts.

Inputs must be regular files (never a FIFO, a device such as ``/dev/stdin``, or a folder: those
hang or mislead a reader). Outputs must go to an existing, writable folder, must not be a folder
themselves, and must not be one of the run's inputs. Parsed documents (presets, settings stored in
videos and state files) are bounded in size and nesting depth.
"""

from __future__ import annotations

import atexit
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..errors import UserError

MAX_DOC_BYTES = 256 * 1024  # presets and stored settings are a few KiB; anything larger is refused
MAX_DEPTH = 12  # settings are section -> key -> list at most; deeper documents are refused


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is a readable regular file; else UserError naming it."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {p}") from None
    except PermissionError:
        raise UserError(f"{what} {p}: permission denied") from None
    except OSError as e:
        raise UserError(f"{what} {p}: cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{what} {p} is a directory; give a file")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what} {p} is not a regular file (a pipe or device?); give a file on disk")
    try:
        with open(p, "rb"):
            pass
    except PermissionError:
        raise UserError(f"{what} {p}: permission denied") from None
    except OSError as e:
        raise UserError(f"{what} {p}: cannot be read ({e.strerror})") from None
    return p


def read_text(path: str | os.PathLike, what: str, max_bytes: int = MAX_DOC_BYTES) -> str:
    """A small UTF-8 text file (preset, settings), size-checked before it is read."""
    p = check_input_file(path, what)
    if p.stat().st_size > max_bytes:
        raise UserError(f"{what} {p} is larger than {max_bytes // 1024} KiB")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what} {p} is not UTF-8 text") from None


def depth(obj: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of dicts and lists (iterative: never a RecursionError); stops past ``limit``."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (dict, list, tuple)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def check_depth(obj: Any, where: str, limit: int = MAX_DEPTH) -> Any:
    if depth(obj, limit) > limit:
        raise UserError(f"{where}: nested deeper than {limit} levels; settings are never that deep")
    return obj


def parse_json(text: str, where: str, max_bytes: int = MAX_DOC_BYTES) -> Any:
    """JSON with bounded size and depth; every failure is a UserError naming ``where``."""
    if len(text) > max_bytes:
        raise UserError(f"{where}: larger than {max_bytes // 1024} KiB")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise UserError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, ValueError) as e:
        raise UserError(f"{where}: not valid JSON: {str(e).splitlines()[0]}") from None
    return check_depth(data, where)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def parse_toml(text: str, where: str, max_bytes: int = MAX_DOC_BYTES) -> dict[str, Any]:
    """TOML with bounded size and depth; every failure is a UserError naming ``where``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    if len(text) > max_bytes:
        raise UserError(f"{where}: larger than {max_bytes // 1024} KiB")
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise UserError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{where}: not valid TOML: {str(e).splitlines()[0]}") from None
    return check_depth(data, where)


def resolved(path: str | os.PathLike) -> Path:
    """``path`` made absolute with its links followed; UserError naming it for a link loop."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):  # RuntimeError: Python < 3.13's "Symlink loop from ..."
        raise UserError(f"{path}: cannot follow its symbolic links (a link loop?)") from None


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one existing file (links and other spellings included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return resolved(a) == resolved(b)


def check_output_file(path: str | os.PathLike, what: str, extensions: Iterable[str], inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Validate an output path before any work: known extension, an existing writable folder,
    not a folder or special file itself, not one of the run's ``inputs``."""
    p = Path(path)
    exts = sorted(extensions)
    if p.suffix.lower() not in exts:
        raise UserError(f"{what} {p}: unknown extension {p.suffix!r}; use one of {', '.join(exts)}")
    if p.is_dir():
        raise UserError(f"{what} {p} is a directory; give a file name")
    if p.exists() and not p.is_file():
        raise UserError(f"{what} {p} exists and is not a regular file")
    for src in inputs:
        if src is not None and same_file(p, Path(src)):
            raise UserError(f"{what} {p} is also an input of this run ({src}); it would be overwritten: choose another name")
    check_writable_folder(p.parent if str(p.parent) else Path("."), what)
    return p


def check_writable_folder(folder: Path, what: str = "output") -> Path:
    """The folder exists and a file can be created in it (tested, not guessed: root ignores modes)."""
    if not folder.exists():
        raise UserError(f"{what} folder {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{what} folder {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".stylemotion-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"{what} folder {folder} is not writable ({e.strerror})") from None
    return folder


def unique_temp(final: Path) -> Path:
    """A fresh temporary name beside ``final`` (two renders never share one); the file exists, empty,
    with the mode a new file gets under the user's umask (mkstemp makes it 0600, and the rename
    would keep that: a video meant for a web server or a shared folder would be private)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent if str(final.parent) else ".")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())
    return Path(tmp)


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) all at once: a reader sees the old file or the new one."""
    tmp = unique_temp(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class OutputLock:
    """An exclusive lock on a render's output while one process renders it: a second render,
    resume or overwrite of the same output is refused with the first one's process id.

    A lock file ``.NAME.lock`` beside the output holds the process id under an ``flock`` that
    the kernel drops when the process ends, however it ends: after a ``kill -9`` the file stays
    and the next render takes it over. Where ``flock`` does not exist (Windows) nothing is locked.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out.with_name(f".{out.name}.lock")
        self.fd: int | None = None

    def acquire(self) -> "OutputLock":
        try:
            import fcntl
        except ImportError:  # no flock here: renders go unguarded, as before
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
            except OSError as e:
                raise UserError(f"cannot create the lock {self.path} for {self.out}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise UserError(f"{self.out} is being rendered right now by process {pid}; wait for it to finish or stop it "
                                f"(then --resume continues it)") from None
            try:  # the file may have been released and removed between our open and our lock: lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:  # a full disk or a quota: nothing is rendered, and no lock file stays behind
            self.path.unlink(missing_ok=True)
            os.close(fd)
            raise UserError(f"cannot write the lock {self.path} for {self.out}: {e.strerror or e}") from None
        self.fd = fd
        _HELD.append(self)
        return self

    def release(self) -> None:
        """Remove the lock file, then drop the lock."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
            if self in _HELD:
                _HELD.remove(self)


_HELD: list[OutputLock] = []  # the locks this process holds


def release_output_locks() -> None:
    """Release every output lock this process holds: a command is over (the CLI calls it once its
    command has returned or failed, so that a later command in the same process may take them)."""
    for lock in list(_HELD):
        lock.release()


atexit.register(release_output_locks)
