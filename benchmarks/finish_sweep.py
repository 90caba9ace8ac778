"""The finish's knobs swept on one draft, in one process: flicker, style and cost per variant.

    python benchmarks/finish_sweep.py DRAFT.mp4 --size 384 --frames 8 --photo PHOTO --style PAINTING \\
        --variant "" --variant "temporal_weight=2000" --variant "style_gain=3,temporal_weight=2000"

Each variant finishes the first --frames frames of the draft as one chunk (FinishConfig fields as
key=value, comma-separated) and prints: seconds per frame; the style ratio against the photo
(``../shared/eval/metrics.py``'s Gram distance, lower = more painting) of the first, middle and last
frame; flicker under the draft's motion (``flow_warp`` of the frames, the draft as the reference);
PSNR of the frames shrunk to the draft against it. Used to choose the defaults in
docs/measurements.md ("Finish").
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stylemotion.engine.factory import EngineCache
from stylemotion.finish.chunks import Chunk
from stylemotion.finish.config import FinishConfig
from stylemotion.finish.draft import open_draft
from stylemotion.finish.tasks import make_finisher
from stylemotion.io.encode import VideoWriter
from stylemotion.io.images import to_uint8
from stylemotion.stills.superres import downsample, psnr

ROOT = Path(__file__).resolve().parents[1]
METRICS = ROOT.parent / "shared" / "eval" / "metrics.py"


def metrics_module():
    spec = importlib.util.spec_from_file_location("metrics", METRICS)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)  # type: ignore[union-attr]
    return m


def parse(v: str) -> dict:
    out = {}
    for kv in filter(None, v.split(",")):
        k, val = kv.split("=")
        out[k.strip()] = type(getattr(FinishConfig(), k.strip()))(float(val)) if k.strip() != "precision" else val
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("draft")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--variant", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(2)
    m = metrics_module()
    draft = open_draft(args.draft)
    n = min(args.frames, draft.frames)
    frames = {t: draft.frame(t) for t in range(n)}
    cache = EngineCache()
    with tempfile.TemporaryDirectory() as tmp:
        dref = Path(tmp) / "draft.mp4"
        w = VideoWriter(dref, 12)
        for t in range(n):
            w.write(to_uint8(frames[t]))
        w.close()
        for v in args.variant or [""]:
            cfg = FinishConfig(size=args.size, **parse(v))
            cfg.check()
            fin = make_finisher(draft, cfg, torch.device("cpu"), cache, None)
            t0 = time.perf_counter()
            out = fin.render(Chunk(0, 0, n), frames)
            secs = (time.perf_counter() - t0) / n
            path = Path(tmp) / "v.mp4"
            w = VideoWriter(path, 12)
            for t in range(n):
                w.write(to_uint8(out[t].image))
            w.close()
            flick = subprocess.run([sys.executable, str(METRICS), "flow_warp", str(path), str(dref)], capture_output=True, text=True).stdout
            style = m.load(args.style, size=max(fin.hw))
            ratios = []
            for t in (0, n // 2, n - 1):
                x = out[t].image
                c = m.load(args.photo, like=(x.shape[3], x.shape[2]))
                ratios.append(m.style_dist(x, style) / m.style_dist(c, style))
            ps = min(psnr(downsample(out[t].image, draft.hw), frames[t]) for t in range(n))
            print(f"{v or 'defaults':45s} {secs:6.2f} s/frame  style {' '.join(f'{r:.5f}' for r in ratios)}  "
                  f"{flick.strip()}  psnr>= {ps:.1f}", flush=True)


if __name__ == "__main__":
    main()
