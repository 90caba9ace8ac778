"""Ray's overhead per study cell against in-process, on this machine (issue 11).

    python benchmarks/study_overhead.py --cells 12 --size 64 --iterations 10

Runs the same cells three ways and prints wall time per cell: in-process (one at a time), Ray on
a local cluster with 1 worker (same parallelism: the difference is Ray's overhead) and with
--workers workers (the speed-up a pool of CPUs gives). Ray's start-up is reported separately.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylemotion.study.cells import run_cells  # noqa: E402
from stylemotion.runtime.executors import InProcess, RayExecutor  # noqa: E402
from stylemotion.study.plan import plan  # noqa: E402


def run(executor, cells, out: Path) -> float:
    t0 = time.perf_counter()
    for _ in run_cells(executor, cells, out):
        pass
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=12)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    import ray

    s = ROOT / "samples"
    weights = [float(3 + i) for i in range(max(1, a.cells // 4))]
    cells = plan([str(s / "chelsea.png"), str(s / "astronaut.png")], [str(s / "starry_night.jpg"), str(s / "the_scream.jpg")],
                 [("style.style_weight", weights), ("optim.iterations", [a.iterations])], size=a.size)
    tmp = Path(tempfile.mkdtemp())
    try:
        run_cells(InProcess(), cells[:1], tmp / "warm").__next__()  # load the network once, as a long study would
        t_local = run(InProcess(), cells, tmp / "local")
        rows = [("in-process", 0.0, t_local)]
        for workers in sorted({1, a.workers}):
            t0 = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            ex = RayExecutor("auto")
            start = time.perf_counter() - t0
            t = run(ex, cells, tmp / f"ray{workers}")
            ex.close()
            ray.shutdown()
            rows.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", start, t))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(cells)
    print(f"{n} cells, {a.size} px, {a.iterations} iterations each, 1 thread per cell")
    print(f"{'executor':18s} {'start s':>8s} {'total s':>8s} {'s/cell':>7s} {'overhead/cell':>14s}")
    for name, start, t in rows:
        print(f"{name:18s} {start:8.2f} {t:8.2f} {t / n:7.3f} {(t - t_local) / n:+14.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
