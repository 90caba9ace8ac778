"""Finish against a direct render at the finished size, side by side in one run.

    python benchmarks/finish.py [--content ../shared/images/coffee.png] [--draft-size 128] [--size 384]
                                [--frames 16] [--out bench_out/finish] [--skip-direct] [--no-workers] [--no-fps]

Renders, with the ``deepdream-like`` preset on a photo nobody here made:
  * a draft zoom at --draft-size, and a direct zoom at --size (the same preset, frames, seed);
  * ``finish draft.mp4 --size N`` (one process), with ``--estimate`` first, to compare with the wall time;
  * ``finish --workers 2 --chunk 8`` against a ``--chunk 8`` finish in one process (same bits?);
  * ``finish --fps 24`` from the 12 fps draft (judder: largest step between frames / mean step).
Prints, from ``../shared/eval/metrics.py`` (its own VGG16):
  * the cost per frame: the finish's seconds per frame (seams and chunk starts included) against
    the direct zoom's later frames (frame 0 excluded), from each render's per-frame log;
  * per finished frame shrunk to the draft's size: PSNR and edge structure against the draft frame;
  * fine detail (mean |Laplacian|, ``detail``) of the finish, the bicubic upscale of the draft and
    the direct render; style ratio against the photo (``style``), finish and direct, frames 0, 5, 10, 15;
  * flicker (``flow_warp``): the finish under the draft's motion, the direct render under its own.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stylemotion.io.encode import VideoWriter
from stylemotion.io.images import load_image, save_image, to_tensor, to_uint8

ROOT = Path(__file__).resolve().parents[1]
METRICS = ROOT.parent / "shared" / "eval" / "metrics.py"
STYLE = ROOT / "samples" / "starry_night.jpg"


def sh(*args: str) -> str:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(args)}\n{r.stderr[-2000:]}")
    sh.last = time.perf_counter() - t  # type: ignore[attr-defined]
    return r.stdout + r.stderr


def cli(*args: str) -> str:
    return sh("-m", "stylemotion", *args)


def metric(*args: str) -> dict[str, float]:
    out = sh(str(METRICS), *args)
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.e]+)", out)}


def log(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def frames_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("frame_*.png"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--content", default=str(ROOT.parent / "shared" / "images" / "coffee.png"))
    ap.add_argument("--draft-size", type=int, default=128)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--out", default="bench_out/finish")
    ap.add_argument("--skip-direct", action="store_true", help="reuse the direct render and the draft of an earlier run")
    ap.add_argument("--no-workers", action="store_true")
    ap.add_argument("--no-fps", action="store_true")
    ap.add_argument("--finish-args", default="", help="more flags for the finish (e.g. '--iterations 10')")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--preset", "deepdream-like", "--content", args.content, "--frames", str(args.frames), "--threads", "2"]
    draft, direct, fin = out / "draft.mp4", out / "direct.mp4", out / "finish.mp4"
    if not args.skip_direct or not draft.exists():
        cli("zoom", *common, "--size", str(args.draft_size), "-o", str(draft), "--overwrite")
        print(f"draft {args.draft_size} px: {sh.last:.1f} s")  # type: ignore[attr-defined]
        cli("zoom", *common, "--size", str(args.size), "-o", str(direct), "--overwrite")
        print(f"direct {args.size} px: {sh.last:.1f} s")  # type: ignore[attr-defined]
    extra = args.finish_args.split()
    est = cli("finish", str(draft), "--size", str(args.size), "--estimate", "--threads", "2", *extra)
    m = re.search(r"at most ([\d.]+) (s|min|h)", est)
    est_s = float(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)] if m else float("nan")
    cli("finish", str(draft), "--size", str(args.size), "-o", str(fin), "--overwrite", "--threads", "2", *extra)
    wall = sh.last  # type: ignore[attr-defined]
    print(f"finish {args.size} px: {wall:.1f} s (estimate said at most {est_s:.0f} s: {est_s / wall:.2f}x the wall time)")

    dlog, flog = log(out / "direct_params.jsonl"), log(out / "finish_params.jsonl")
    direct_later = np.mean([r["seconds"] for r in dlog[1:]])
    fin_per = np.sum([r["seconds"] for r in flog]) / len(flog)
    print(f"cost per frame: finish {fin_per:.2f} s (all frames, seams included), direct later frames {direct_later:.2f} s: "
          f"{fin_per / direct_later:.2f}x")

    dframes, fframes, xframes = frames_of(out / "draft_frames"), frames_of(out / "finish_frames"), frames_of(out / "direct_frames")
    ps, st = [], []
    for d, f in zip(dframes, fframes):
        small = out / "small.png"
        x = to_tensor(load_image(f))
        dh, dw = to_tensor(load_image(d)).shape[-2:]
        save_image(F.interpolate(x, size=(dh, dw), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1), small)
        ps.append(metric("psnr", str(d), str(small))["psnr"])
        st.append(metric("structure", str(small), str(d))["structure"])
    print(f"finished frames shrunk to the draft against it: PSNR min {min(ps):.1f} mean {np.mean(ps):.1f} dB, "
          f"structure min {min(st):.3f} mean {np.mean(st):.3f}")

    hw = to_tensor(load_image(fframes[0])).shape[-2:]
    bic = out / "bicubic.mp4"
    w = VideoWriter(bic, 12)
    for d in dframes:
        w.write(to_uint8(F.interpolate(to_tensor(load_image(d)), size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)))
    w.close()
    det = {k: metric("detail", str(v))["detail"] for k, v in (("finish", fin), ("bicubic", bic), ("direct", direct))}
    print(f"detail: finish {det['finish']:.4f}, bicubic {det['bicubic']:.4f} ({det['finish'] / det['bicubic']:.2f}x), "
          f"direct {det['direct']:.4f} ({det['finish'] / det['direct']:.2f}x of direct)")
    picks = [i for i in (0, 5, 10, 15) if i < len(fframes)]
    sf = [metric("style", str(fframes[i]), str(STYLE), args.content)["style_ratio"] for i in picks]
    sx = [metric("style", str(xframes[i]), str(STYLE), args.content)["style_ratio"] for i in picks]
    print("style ratio (lower = more painting), frames " + ",".join(map(str, picks)) + ": finish "
          + " ".join(f"{v:.3f}" for v in sf) + " | direct " + " ".join(f"{v:.3f}" for v in sx)
          + f" | mean finish/direct {np.mean(sf) / np.mean(sx):.2f}x")
    fw = metric("flow_warp", str(fin), str(draft))["flow_warp_error"]
    xw = metric("flow_warp", str(direct), str(direct))["flow_warp_error"]
    print(f"flicker: finish under the draft's motion {fw:.5f}, direct under its own {xw:.5f}: {fw / xw:.2f}x")

    if not args.no_workers:
        one, two = out / "chunks1.mp4", out / "chunks2.mp4"
        cli("finish", str(draft), "--size", str(args.size), "--chunk", "8", "-o", str(one), "--overwrite", "--threads", "2", *extra)
        t1 = sh.last  # type: ignore[attr-defined]
        cli("finish", str(draft), "--size", str(args.size), "--chunk", "8", "--workers", "2", "-o", str(two), "--overwrite",
            "--threads", "2", *extra)
        t2 = sh.last  # type: ignore[attr-defined]
        a, b = frames_of(out / "chunks1_frames"), frames_of(out / "chunks2_frames")
        same = len(a) == len(b) and all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
        print(f"--chunk 8: one process {t1:.1f} s, --workers 2 {t2:.1f} s; frames identical: {same} ({len(a)} frames)")
    if not args.no_fps:
        f24 = out / "fps24.mp4"
        cli("finish", str(draft), "--size", str(args.size), "--fps", "24", "-o", str(f24), "--overwrite", "--threads", "2", *extra)
        imgs = [to_tensor(load_image(p)) for p in frames_of(out / "fps24_frames")]
        steps = [float((imgs[i] - imgs[i - 1]).abs().mean()) for i in range(1, len(imgs))]
        print(f"--fps 24: {len(imgs)} frames from {len(dframes)}; step between frames mean {np.mean(steps):.4f}, "
              f"largest {max(steps):.4f} ({max(steps) / np.mean(steps):.2f}x the mean)")
    shutil.rmtree(out / "small.png", ignore_errors=True)


if __name__ == "__main__":
    main()
