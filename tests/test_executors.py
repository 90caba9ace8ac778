"""Executors survive lost workers: a task whose worker dies runs again elsewhere and gives what an
undisturbed run gives; a task that keeps killing its worker is named in one line."""

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from stylemotion.errors import UserError
from stylemotion.runtime.executors import MAX_ATTEMPTS, InProcess, LocalPool, Worker


@dataclass(frozen=True)
class Job:
    n: int
    marker: str = ""  # a file: the first worker to run this job kills itself (once)
    always_die: bool = False
    fail: bool = False

    @property
    def task_label(self) -> str:
        return f"job {self.n}"


def square(job: Job, worker: Worker) -> tuple[int, str]:
    if job.always_die or (job.marker and not os.path.exists(job.marker)):
        if job.marker:
            Path(job.marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if job.fail:
        raise ValueError(f"job {job.n} is bad")
    worker.keep["tasks"] = worker.keep.get("tasks", 0) + 1  # lives as long as the worker process
    return job.n * job.n, worker.device


def kill_first_task_after(delay: float):
    """An ``on_start`` that SIGKILLs the worker of the first task ``delay`` seconds after it starts."""
    fired = []

    def on_start(item, pid: int) -> None:
        if not fired:
            fired.append(pid)
            threading.Timer(delay, lambda: os.kill(pid, signal.SIGKILL)).start()

    return on_start, fired


def test_a_task_whose_worker_dies_runs_again_and_the_pool_goes_on(tmp_path):
    lines: list[str] = []
    pool = LocalPool(["cpu", "cpu"], notify=lines.append)
    try:
        jobs = [Job(i, str(tmp_path / "m3") if i == 3 else "") for i in range(6)]
        got = dict((j.n, r) for j, r in pool.map(square, jobs))
        assert got == {i: (i * i, "cpu") for i in range(6)}
        [line] = pool.lost
        assert lines == pool.lost and "killed by SIGKILL during job 3 (attempt 1 of 3)" in line
        # the pool still works after the loss, with both workers alive
        assert sorted(r for _, r in pool.map(square, [Job(7), Job(8)])) == [(49, "cpu"), (64, "cpu")]
        assert all(s.proc.is_alive() for s in pool.slots)
    finally:
        pool.close()
    assert all(s.proc is None for s in pool.slots)


def test_a_task_that_always_kills_its_worker_is_named_in_one_line():
    pool = LocalPool(["cpu", "cpu"])
    try:
        with pytest.raises(UserError, match=rf"^job 1 lost its worker {MAX_ATTEMPTS} times \(last: killed by SIGKILL on cpu\); giving up$"):
            dict(pool.map(square, [Job(0), Job(1, always_die=True), Job(2)]))
        assert len(pool.lost) == MAX_ATTEMPTS
    finally:
        pool.close()


def test_an_error_in_a_task_is_raised_not_retried():
    pool = LocalPool(["cpu"])
    try:
        with pytest.raises(ValueError, match="job 2 is bad"):
            dict(pool.map(square, [Job(1), Job(2, fail=True)]))
        assert not pool.lost
    finally:
        pool.close()


def test_a_study_with_a_worker_killed_mid_cell_equals_an_undisturbed_run(tmp_path):
    """8 cells on 2 workers; the worker of the first cell is killed 0.5 s into it."""
    from stylemotion.study.cells import run_cells
    from stylemotion.study.plan import plan

    from .test_study import CONTENTS, STYLES

    cells = plan(CONTENTS, STYLES, [("style.style_weight", [3.0, 30.0]), ("optim.iterations", [3])], size=40)
    assert len(cells) == 8
    calm = dict((c.key, r) for c, r in run_cells(InProcess(), cells, tmp_path / "calm"))
    on_start, fired = kill_first_task_after(0.5)
    pool = LocalPool(["cpu", "cpu"], on_start=on_start)
    try:
        hit = dict((c.key, r) for c, r in run_cells(pool, cells, tmp_path / "hit"))
    finally:
        pool.close()
    assert fired and len(pool.lost) == 1 and "killed by SIGKILL during cell" in pool.lost[0]
    assert set(hit) == set(calm)
    for key, r in calm.items():
        assert (tmp_path / "calm" / r.path).read_bytes() == (tmp_path / "hit" / hit[key].path).read_bytes(), key
    assert not list((tmp_path / "hit").rglob("*.part"))


def test_a_clip_with_a_worker_killed_mid_shot_gives_the_sequential_frames(tmp_path, capsys, monkeypatch):
    import stylemotion.cli.video as cli_video
    from stylemotion.cli import main

    from .clips import cut_frames, write_clip
    from .conftest import SAMPLES

    src = write_clip(tmp_path / "two.mp4", cut_frames(6, 48, at=3), fps=12)
    base = ["video", str(src), "--style", str(SAMPLES / "the_scream.jpg"), "--size", "48", "--set", "run.first_iterations=6",
            "--set", "run.iterations=3", "--threads", "1"]
    assert main(base + ["-o", str(tmp_path / "seq.mp4")]) == 0, capsys.readouterr().err
    on_start, fired = kill_first_task_after(1.0)
    monkeypatch.setattr(cli_video, "make_executor", lambda device, workers, ray, notify, threads: LocalPool(["cpu", "cpu"], notify, on_start, threads))
    assert main(base + ["--workers", "2", "-o", str(tmp_path / "pool.mp4")]) == 0
    err = capsys.readouterr().err
    assert fired and "2 shots on local pool of 2" in err
    assert "warning: worker" in err and "during the shot of frames 0..2 (attempt 1 of 3)" in err, err
    for t in range(6):
        a = (tmp_path / "seq_frames" / f"frame_{t:05d}.png").read_bytes()
        assert (tmp_path / "pool_frames" / f"frame_{t:05d}.png").read_bytes() == a, t


def test_ray_runs_a_task_again_when_its_worker_dies_and_names_one_that_always_does(tmp_path):
    ray = pytest.importorskip("ray")
    from stylemotion.runtime.executors import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ex = RayExecutor("auto")
        jobs = [Job(i, str(tmp_path / "m1") if i == 1 else "") for i in range(4)]
        assert dict((j.n, r[0]) for j, r in ex.map(square, jobs)) == {i: i * i for i in range(4)}
        assert (tmp_path / "m1").exists()  # its first worker did die
        with pytest.raises(UserError, match=rf"^job 5 lost its Ray worker {MAX_ATTEMPTS} times \(WorkerCrashedError\); giving up$"):
            dict(ex.map(square, [Job(5, always_die=True)]))
        ex.close()
    finally:
        ray.shutdown()
