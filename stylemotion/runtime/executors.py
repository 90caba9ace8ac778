"""Run independent tasks (study cells, video shots) side by side and hand results back as each
finishes: in this process (:class:`InProcess`), in worker processes on this machine, one per
device (:class:`LocalPool`), or as Ray tasks on a cluster (:class:`RayExecutor`; ``ray`` is an
optional extra, imported only here). Library code: no printing.

A task is a module-level function ``fn(item, worker)`` (a ``functools.partial`` of one is
fine): it must pickle to reach another process. ``worker`` (:class:`Worker`) names the device,
carries what is shared by key, and holds ``keep``: a dict that lives as long as the worker process
(one render's engine cache lives there, owned by the worker, not by a module). ``share = (key,
compute)`` lets items that need the same expensive input (a painting's style targets) have it
computed once per key, on the cluster, and passed as ``worker.shared``; locally it is None and the
task computes (and keeps) it itself. ``threads``: torch's CPU thread count, set once in each worker
process (the last bits of every pixel depend on it).
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
import socket
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Hashable, Iterator, Optional, Sequence, Tuple

import torch

from ..errors import UserError
from .threads import set_threads



@dataclass
class Worker:
    """What a task gets besides its item."""

    device: str  # the device of the process the task runs in
    shared: Any = None  # the value shared by the item's key (Ray), else None
    keep: dict = field(default_factory=dict)  # lives as long as the worker process: caches go here


Task = Callable[[Any, Worker], Any]  # (item, worker) -> result
Share = Optional[Tuple[Callable[[Any], Optional[Hashable]], Callable[[Any, str], Any]]]  # (key of an item or None, compute(item, device))


class InProcess:
    """One task at a time in this process (the default)."""

    name = "in-process"

    def __init__(self, device: str = "cpu") -> None:
        self.worker = Worker(device)  # this process is the worker: its keep lives as long as the executor

    def map(self, fn: Task, items: Sequence[Any], share: Share = None) -> Iterator[tuple[Any, Any]]:
        for it in items:
            yield it, fn(it, self.worker)

    def close(self) -> None:
        pass


MAX_ATTEMPTS = 3  # a task whose worker dies under it is tried at most this often in all
MAX_DEATHS_IN_A_ROW = 3  # a worker slot (a device) whose process dies this often running tasks is retired

Notify = Callable[[str], None]  # one line about a lost worker, for the caller to show


def describe(item: Any) -> str:
    """How a task is named in messages: its ``task_label`` (``cell ab12``, ``the shot of frames 24..47``)."""
    return str(getattr(item, "task_label", None) or type(item).__name__)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "vanished"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(conn: Connection, device: str, threads: int | None) -> None:
    """A pool worker: run (fn, item) messages until told to stop; Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_threads(threads)
    worker = Worker(device)
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone
        if not msg:
            return
        fn, item = pickle.loads(msg)
        try:
            reply = pickle.dumps((True, fn(item, worker)))
        except BaseException as e:  # noqa: BLE001 - raised again in the parent
            try:
                reply = pickle.dumps((False, e))
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                reply = pickle.dumps((False, RuntimeError(f"{type(e).__name__}: {e}")))
        conn.send_bytes(reply)


@dataclass
class _Slot:
    """One worker process on one device, and the task it runs."""

    device: str
    proc: Any = None
    conn: Any = None
    task: tuple[int, Any] | None = None  # (index, item)
    deaths: int = 0  # in a row, while running tasks


class LocalPool:
    """Worker processes on this machine, one per device (``cuda:0``, ``cuda:1``, ... or CPUs).

    A worker that dies under a task (killed, out of memory, a crashed driver) is replaced and the
    task runs again from its start on the next free worker: tasks are pure functions of their
    item, so the result is the one an undisturbed run gives. A task lost ``MAX_ATTEMPTS`` times,
    or every worker retired after ``MAX_DEATHS_IN_A_ROW`` deaths, ends the run with one line.
    ``on_start(item, pid)`` is told where each task starts; ``notify`` gets one line per loss."""

    name = "local pool"

    def __init__(self, devices: Sequence[str], notify: Notify | None = None,
                 on_start: Callable[[Any, int], None] | None = None, threads: int | None = None) -> None:
        self.ctx = mp.get_context("spawn")  # CUDA cannot be forked
        self.threads = threads
        self.slots = [_Slot(d) for d in devices]
        self.name = f"local pool of {len(devices)}"
        self.notify = notify
        self.on_start = on_start
        self.lost: list[str] = []  # one line per worker lost under a task
        for slot in self.slots:
            self._start(slot)

    def _start(self, slot: _Slot) -> None:
        parent, child = self.ctx.Pipe()
        slot.proc = self.ctx.Process(target=_worker_main, args=(child, slot.device, self.threads), daemon=True)
        slot.proc.start()
        child.close()
        slot.conn, slot.task = parent, None

    def _lose(self, slot: _Slot, attempts: Counter) -> tuple[int, Any]:
        """The worker of ``slot`` died under its task: note it, retire or restart the slot."""
        idx, item = slot.task  # type: ignore[misc]
        slot.proc.join(timeout=5)
        why = _exit_reason(slot.proc.exitcode)
        attempts[idx] += 1
        slot.deaths += 1
        line = f"worker {slot.proc.pid} on {slot.device} {why} during {describe(item)} (attempt {attempts[idx]} of {MAX_ATTEMPTS})"
        self.lost.append(line)
        if self.notify:
            self.notify(line)
        slot.conn.close()
        if attempts[idx] >= MAX_ATTEMPTS:
            raise UserError(f"{describe(item)} lost its worker {attempts[idx]} times (last: {why} on {slot.device}); giving up")
        if slot.deaths >= MAX_DEATHS_IN_A_ROW:
            slot.proc, slot.task = None, None
            if self.notify:
                self.notify(f"the worker on {slot.device} died {slot.deaths} times in a row ({why}); going on without it")
            if not any(s.proc is not None for s in self.slots):
                raise UserError(f"every worker died {MAX_DEATHS_IN_A_ROW} times in a row (last: {why} on {slot.device})")
        else:
            self._start(slot)
        return idx, item

    def map(self, fn: Task, items: Sequence[Any], share: Share = None) -> Iterator[tuple[Any, Any]]:
        todo: deque[tuple[int, Any]] = deque(enumerate(items))
        attempts: Counter = Counter()
        while todo or any(s.task is not None for s in self.slots):
            for slot in self.slots:
                if slot.proc is not None and slot.task is None and todo:
                    if not slot.proc.is_alive():  # died between tasks: nothing lost, a fresh one takes over
                        slot.conn.close()
                        self._start(slot)
                    slot.task = todo.popleft()
                    slot.conn.send_bytes(pickle.dumps((fn, slot.task[1])))
                    if self.on_start:
                        self.on_start(slot.task[1], slot.proc.pid)
            busy = [s for s in self.slots if s.task is not None]
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy])
            for slot in busy:
                if slot.conn not in ready and slot.proc.sentinel not in ready:
                    continue
                try:
                    reply = slot.conn.recv_bytes() if slot.conn.poll() else None
                except (EOFError, OSError):
                    reply = None
                if reply is None:  # the process is gone and said nothing
                    todo.appendleft(self._lose(slot, attempts))
                    continue
                (_, item), slot.task, slot.deaths = slot.task, None, 0  # type: ignore[misc]
                ok, value = pickle.loads(reply)
                if not ok:
                    raise value
                yield item, value

    def close(self) -> None:
        for slot in self.slots:
            if slot.proc is None:
                continue
            try:
                slot.conn.send_bytes(b"")  # stop after the task in hand: there is none once map is done
            except (OSError, ValueError):
                pass
        for slot in self.slots:
            if slot.proc is None:
                continue
            slot.proc.join(timeout=2 if slot.task is None else 0)
            if slot.proc.is_alive():
                slot.proc.kill()  # interrupted mid-task: its result is not wanted
                slot.proc.join(timeout=5)
            slot.conn.close()
            slot.proc = None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """UserError unless something accepts TCP connections at a Ray address (host:port or ray://host:port)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--ray {address!r}: expected auto, host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise UserError(f"cannot reach a Ray cluster at {address!r} ({e.strerror or e})") from None


def _ray_call(fn: Task, item: Any, device: str, shared: Any, threads: int | None) -> Any:
    set_threads(threads)  # Ray owns the process: set for each task it is given
    return fn(item, Worker(device, shared))


def _ray_compute(compute: Callable[[Any, str], Any], item: Any, device: str) -> Any:
    return compute(item, device)


class RayExecutor:
    """Tasks as Ray tasks, one GPU each where the cluster has GPUs (else one CPU each).

    ``address``: ``auto`` joins a running cluster (``ray start --head`` / ``RAY_ADDRESS``) or, if
    there is none, starts a local one; ``ray://host:10001`` or ``host:6379`` joins that cluster.
    """

    name = "ray"

    def __init__(self, address: str = "auto", threads: int | None = None, **init_kwargs: Any) -> None:
        self.threads = threads
        try:
            import ray
        except ImportError:
            raise UserError("--ray needs Ray: pip install 'stylemotion[ray]'") from None
        self.ray = ray
        if address != "auto":
            _check_reachable(address)  # Ray itself waits minutes on an address where nothing answers
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, **init_kwargs)
            except ConnectionError:
                if address != "auto":
                    raise UserError(f"cannot reach a Ray cluster at {address!r}") from None
                ray.init(include_dashboard=False, log_to_driver=False, **init_kwargs)
            self._owned = True
        else:
            self._owned = False
        gpus = ray.cluster_resources().get("GPU", 0)
        self.opts = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        self.device = "cuda" if gpus else "cpu"

    def map(self, fn: Task, items: Sequence[Any], share: Share = None) -> Iterator[tuple[Any, Any]]:
        ray = self.ray
        # Ray runs a task again when its worker process or node is lost (not when it raises)
        task = ray.remote(max_retries=MAX_ATTEMPTS - 1, retry_exceptions=False, **self.opts)(_ray_call)  # fn travels as an argument
        compute = ray.remote(**self.opts)(_ray_compute)
        refs: dict[Hashable, Any] = {}
        futures = {}
        for it in items:
            shared = None
            key = share[0](it) if share else None
            if key is not None:
                if key not in refs:  # once per key, computed on the cluster, kept in the object store
                    refs[key] = compute.remote(share[1], it, self.device)  # type: ignore[index]
                shared = refs[key]
            futures[task.remote(fn, it, self.device, shared, self.threads)] = it
        lost = tuple(getattr(ray.exceptions, n) for n in ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError")
                     if hasattr(ray.exceptions, n))
        pending = list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                try:
                    value = ray.get(r)
                except lost as e:
                    raise UserError(f"{describe(futures[r])} lost its Ray worker {MAX_ATTEMPTS} times ({type(e).__name__}); giving up") from None
                yield futures[r], value

    def close(self) -> None:
        if self._owned:
            self.ray.shutdown()


def make_executor(device: str = "cpu", workers: int = 0, ray_address: str | None = None,
                  notify: Notify | None = None, threads: int | None = None) -> InProcess | LocalPool | RayExecutor:
    """``ray`` if an address is given, a local pool for several workers (default: one per CUDA
    GPU when there are several), else in-process. ``notify``: one line per worker lost;
    ``threads``: torch's CPU threads in each worker process (in-process: the caller's)."""
    if ray_address:
        return RayExecutor(ray_address, threads)
    if workers == 0 and device in ("auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        workers = torch.cuda.device_count()
    if workers > 1:
        if device in ("auto", "cuda") and torch.cuda.is_available():
            devices = [f"cuda:{i % torch.cuda.device_count()}" for i in range(workers)]
        else:
            devices = ["cpu"] * workers
        return LocalPool(devices, notify, threads=threads)
    return InProcess(device)
