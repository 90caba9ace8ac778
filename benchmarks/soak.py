"""A long render, watched from outside: a 2,000-frame zoom at 64 px (or as many frames as
``--minutes`` allows, stated), with the render process's resident memory, open files, threads,
bytes on disk and seconds per frame sampled every ``--every`` frames, and how often the report
page was rewritten. Fails (exit 1) on growth after the first window:

- resident memory more than 5% above its value at frame ``--every``;
- open file descriptors or threads more than 2 above it;
- seconds per frame: the last window's median more than 25% above the first window's;
- bytes on disk per frame (frames, state, log) not flat within 25%;
- the report page rewritten more often than once per ``Report.MIN_SECONDS`` on average.

    python benchmarks/soak.py                       # 2000 frames at 64 px, deepdream-like
    python benchmarks/soak.py --frames 400 --every 50 --minutes 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def proc_status(pid: int) -> dict[str, int]:
    """Resident memory (KiB), threads and open file descriptors of a running process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = int(value.split()[0])
    fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return fields


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != "soak_stderr.txt")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--every", type=int, default=100, help="sample every N frames")
    ap.add_argument("--minutes", type=float, default=20.0, help="stop the render after this long and report the frames reached")
    ap.add_argument("--preset", default="deepdream-like")
    ap.add_argument("--keep", type=Path, help="render into this folder and keep it (default: a temporary folder)")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="soak-"))
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        sys.exit(f"--keep {args.keep}: give a new or empty folder (the frames counted are the ones in it)")
    work.mkdir(parents=True, exist_ok=True)
    out = work / "soak.mp4"
    frames_dir = work / "soak_frames"
    report = work / "soak_report.html"
    cmd = [sys.executable, "-m", "stylemotion", "zoom", "--preset", args.preset, "--size", str(args.size),
           "--frames", str(args.frames), "--content", str(ROOT / "samples" / "rocket.jpg"), "-o", str(out), "--overwrite"]
    print(" ".join(cmd[2:]))
    log = open(work / "soak_stderr.txt", "w")  # a file, not a pipe: an unread pipe fills and stalls the render
    # SIGINT as a user's Ctrl-C (a background shell would pass it on ignored, and --minutes could not stop the render)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.perf_counter()
    rows: list[dict[str, float]] = []
    report_mtimes: set[int] = set()
    next_mark, last_t, last_n = args.every, t0, 0
    stopped = False
    try:
        while proc.poll() is None:
            time.sleep(0.2)
            if report.exists():
                report_mtimes.add(report.stat().st_mtime_ns)
            n = len(list(frames_dir.glob("frame_*.png"))) if frames_dir.exists() else 0
            now = time.perf_counter()
            if n >= next_mark:
                try:
                    st = proc_status(proc.pid)
                except (FileNotFoundError, ProcessLookupError):
                    break
                rows.append({"frame": n, "rss_mib": st["VmRSS"] / 1024, "threads": st["Threads"], "fds": st["fds"],
                             "disk_mib": disk_bytes(work) / 2**20, "s_per_frame": (now - last_t) / max(1, n - last_n),
                             "elapsed": now - t0})
                r = rows[-1]
                print(f"frame {n:5d}  rss {r['rss_mib']:7.1f} MiB  threads {r['threads']:3d}  fds {r['fds']:3d}  "
                      f"disk {r['disk_mib']:7.1f} MiB  {r['s_per_frame']:.3f} s/frame  ({r['elapsed'] / 60:.1f} min)", flush=True)
                last_t, last_n = now, n
                next_mark = (n // args.every + 1) * args.every
            if now - t0 > args.minutes * 60 and not stopped:
                print(f"stopping at frame {n}: --minutes {args.minutes} reached", flush=True)
                proc.send_signal(signal.SIGINT)
                stopped = True
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    elapsed = time.perf_counter() - t0
    log.close()
    err = (work / "soak_stderr.txt").read_text(errors="replace")
    if proc.returncode not in (0, 130):
        print(err[-2000:])
        print(f"FAIL: the render exited with {proc.returncode}")
        return 1
    if len(rows) < 3:
        print(f"FAIL: only {len(rows)} samples; run longer or sample more often")
        return 1
    base, last = rows[0], rows[-1]
    first_window = [r["s_per_frame"] for r in rows[1:4]]
    last_window = [r["s_per_frame"] for r in rows[-3:]]
    disk_per_frame = [(b["disk_mib"] - a["disk_mib"]) / (b["frame"] - a["frame"]) for a, b in zip(rows, rows[1:])]
    rewrites = len(report_mtimes)
    print()
    print(f"frames rendered: {last['frame']}{' (stopped by --minutes)' if stopped else ''} in {elapsed / 60:.1f} min")
    print(f"resident memory: {base['rss_mib']:.1f} MiB at frame {base['frame']} -> {last['rss_mib']:.1f} MiB "
          f"({(last['rss_mib'] / base['rss_mib'] - 1) * 100:+.2f}%), peak {max(r['rss_mib'] for r in rows):.1f} MiB")
    print(f"threads: {base['threads']} -> {last['threads']}; open files: {base['fds']} -> {last['fds']}")
    print(f"seconds per frame: first windows {statistics.median(first_window):.3f}, last windows {statistics.median(last_window):.3f}")
    print(f"disk per frame: {min(disk_per_frame) * 1024:.1f} to {max(disk_per_frame) * 1024:.1f} KiB")
    print(f"report page: {rewrites} versions seen over {elapsed:.0f} s")
    failures = []
    if last["rss_mib"] > base["rss_mib"] * 1.05:
        failures.append("resident memory grew more than 5%")
    if last["fds"] > base["fds"] + 2 or last["threads"] > base["threads"] + 2:
        failures.append("open files or threads grew")
    if statistics.median(last_window) > statistics.median(first_window) * 1.25:
        failures.append("seconds per frame grew more than 25%")
    if max(disk_per_frame) > 1.25 * statistics.median(disk_per_frame) + 1 / 1024:
        failures.append("disk per frame is not flat")
    sys.path.insert(0, str(ROOT))
    from stylemotion.cli.render import Report

    if rewrites > elapsed / Report.MIN_SECONDS + 3:
        failures.append(f"the report page was rewritten {rewrites} times in {elapsed:.0f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
