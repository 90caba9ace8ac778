"""Run independent tasks (study cells, video shots) side by side and hand results back as each
finishes: in this process (:class:`InProcess`), in worker processes on this machine, one per
device (:class:`LocalPool`), or as Ray tasks on a cluster (:class:`RayExecutor`; ``ray`` is an
optional extra, imported only here). Library code: no printing.

A task is a module-level function ``fn(item, device, shared)`` (a ``functools.partial`` of one
is fine): it must pickle to reach another process. ``share = (key, compute)`` lets items that
need the same expensive input (a painting's style targets) have it computed once per key, on the
cluster, and passed to each task as ``shared``; locally ``shared`` is None and the task computes
(and caches) it itself.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Hashable, Iterator, Optional, Sequence, Tuple

import torch

from .errors import UserError

Task = Callable[[Any, str, Any], Any]  # (item, device, shared) -> result
Share = Optional[Tuple[Callable[[Any], Optional[Hashable]], Callable[[Any, str], Any]]]  # (key of an item or None, compute(item, device))


class InProcess:
    """One task at a time in this process (the default)."""

    name = "in-process"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def map(self, fn: Task, items: Sequence[Any], share: Share = None) -> Iterator[tuple[Any, Any]]:
        for it in items:
            yield it, fn(it, self.device, None)

    def close(self) -> None:
        pass


_WORKER_DEVICE = "cpu"  # the device of this pool worker, set once when it starts


def _pool_init(devices: Any) -> None:
    """Each pool worker takes one device from the queue (one worker per GPU)."""
    global _WORKER_DEVICE
    _WORKER_DEVICE = devices.get()


def _pool_call(fn: Task, item: Any) -> Any:
    return fn(item, _WORKER_DEVICE, None)


class LocalPool:
    """Worker processes on this machine, one per device (``cuda:0``, ``cuda:1``, ... or CPUs)."""

    name = "local pool"

    def __init__(self, devices: Sequence[str]) -> None:
        ctx = mp.get_context("spawn")  # CUDA cannot be forked
        q = ctx.Manager().Queue()
        for d in devices:
            q.put(d)
        self.name = f"local pool of {len(devices)}"
        self.pool = ProcessPoolExecutor(len(devices), mp_context=ctx, initializer=_pool_init, initargs=(q,))

    def map(self, fn: Task, items: Sequence[Any], share: Share = None) -> Iterator[tuple[Any, Any]]:
        futures: dict[Future, Any] = {self.pool.submit(_pool_call, fn, it): it for it in items}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futures[f], f.result()
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


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


def _ray_call(fn: Task, item: Any, device: str, shared: Any) -> Any:
    return fn(item, device, shared)


def _ray_compute(compute: Callable[[Any, str], Any], item: Any, device: str) -> Any:
    return compute(item, device)


class RayExecutor:
    """Tasks as Ray tasks, one GPU each where the cluster has GPUs (else one CPU each).

    ``address``: ``auto`` joins a running cluster (``ray start --head`` / ``RAY_ADDRESS``) or, if
    there is none, starts a local one; ``ray://host:10001`` or ``host:6379`` joins that cluster.
    """

    name = "ray"

    def __init__(self, address: str = "auto", **init_kwargs: Any) -> None:
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
        task = ray.remote(**self.opts)(_ray_call)  # Ray takes functions, not partials: fn travels as an argument
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
            futures[task.remote(fn, it, self.device, shared)] = it
        pending = list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                yield futures[r], ray.get(r)

    def close(self) -> None:
        if self._owned:
            self.ray.shutdown()


def make_executor(device: str = "cpu", workers: int = 0, ray_address: str | None = None) -> InProcess | LocalPool | RayExecutor:
    """``ray`` if an address is given, a local pool for several workers (default: one per CUDA
    GPU when there are several), else in-process."""
    if ray_address:
        return RayExecutor(ray_address)
    if workers == 0 and device in ("auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        workers = torch.cuda.device_count()
    if workers > 1:
        if device in ("auto", "cuda") and torch.cuda.is_available():
            devices = [f"cuda:{i % torch.cuda.device_count()}" for i in range(workers)]
        else:
            devices = ["cpu"] * workers
        return LocalPool(devices)
    return InProcess(device)
