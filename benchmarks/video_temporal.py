"""Stylize a short clip three ways and measure flicker (issue 10).

The clip is made from a shipped photo by a known camera move (a pan of a crop window, optionally
with a slow zoom), so the true motion is known. Each way is timed and scored:

- ``perframe``: every frame stylized on its own from its input (no temporal terms);
- ``warm``: each frame starts from the previous output warped by the flow (no temporal loss);
- ``temporal``: warm start + Ruder et al.'s temporal loss where the flow is reliable.

Printed per way: seconds per frame (and the flow's share), the style ratio of the middle frame
(``../shared/eval/metrics.py style``), Lai et al.'s warping error (consecutive outputs, the later
one warped back by the *input's* DIS flow, masked by the consistency check), and the metrics
tool's ``warp_error`` with the known shift. Videos and a strip of consecutive frames go to --out.

    python benchmarks/video_temporal.py --size 192 --frames 10
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylemotion.engine.backbone import DEFAULT_POOLING, load_backbone  # noqa: E402
from stylemotion.io.encode import VideoWriter  # noqa: E402
from stylemotion.video.flow import FlowEstimator  # noqa: E402
from stylemotion.io.images import load_image, montage, resize_long_side, save_image, to_tensor, to_uint8  # noqa: E402
from stylemotion.engine.optimize import StyleEngine, fit_style  # noqa: E402
from stylemotion.settings.playlist import Entry  # noqa: E402
from stylemotion.settings.schedule import Schedule  # noqa: E402
from stylemotion.settings.sections import Settings, style_config, validate  # noqa: E402
from stylemotion.engine.temporal import consistency, warping_error  # noqa: E402
from stylemotion.video.clip import ClipStylizer  # noqa: E402

METRICS = ROOT.parent / "shared" / "eval" / "metrics.py"


def make_clip(photo: Path, size: int, frames: int, dx: int) -> list[torch.Tensor]:
    """Frames of a window panning right by ``dx`` px per frame over ``photo`` (content moves left)."""
    w_out = size
    h_out = round(size * 0.75) // 2 * 2
    big = to_tensor(resize_long_side(load_image(photo), w_out + dx * frames + 8))
    y0 = max(0, (big.shape[-2] - h_out) // 2)
    return [big[..., y0:y0 + h_out, 4 + t * dx: 4 + t * dx + w_out].contiguous() for t in range(frames)]


def metrics(*args: str) -> str:
    p = subprocess.run([sys.executable, str(METRICS), *args], capture_output=True, text=True)
    return p.stdout.strip() or p.stderr.strip()[-200:]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", default=str(ROOT / "samples" / "astronaut.png"))
    ap.add_argument("--style", default=str(ROOT / "samples" / "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--dx", type=int, default=3, help="pan in pixels per frame")
    ap.add_argument("--first-iterations", type=int, default=150)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--temporal-weight", type=float, default=None)
    ap.add_argument("--long-term", default="1")
    ap.add_argument("--ways", default="perframe,warm,temporal")
    ap.add_argument("--palette", type=float, default=0.0, help="video.palette for every way (0 = off, the default)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="bench_out/video")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = make_clip(Path(a.photo), a.size, a.frames, a.dx)
    hw = tuple(clip[0].shape[-2:])
    w_in = VideoWriter(out / "input.mp4", 12)
    for f in clip:
        w_in.write(to_uint8(f))
    w_in.close()
    # the engine a `stylemotion video` run builds: the [style] section's layers and TV (animation
    # settings have their own defaults, apart from the image command's StyleConfig)
    engine = StyleEngine(load_backbone("vgg16-hed", DEFAULT_POOLING), style_config(Settings()))
    style = fit_style(to_tensor(load_image(a.style)), max(hw))
    est = FlowEstimator()
    t0 = time.perf_counter()
    flows = [est.pair(clip[t], clip[t + 1]) for t in range(len(clip) - 1)]  # input flow t -> t+1 and back
    flow_pair_s = (time.perf_counter() - t0) / max(1, len(flows))
    masks = [consistency(f, b) for f, b in flows]
    rows = []
    strips = []
    for way in a.ways.split(","):
        s = Settings()
        s.run.mode, s.run.frames, s.run.first_iterations, s.run.iterations = "video", len(clip), a.first_iterations, Schedule.parse(a.iterations)
        s.optim.tol = 0.0
        s.playlist = [Entry(a.style, 1000, 0)]
        if way == "perframe":
            s.video = replace(s.video, init="content")
        elif way == "warm":
            s.video = replace(s.video, temporal_weight=Schedule.parse("0"))
        if a.temporal_weight is not None and way == "temporal":
            s.video = replace(s.video, temporal_weight=Schedule.parse(a.temporal_weight))
        s.video = replace(s.video, long_term=tuple(int(x) for x in a.long_term.split(",")), palette=a.palette)
        validate(s)
        stz = ClipStylizer(s, engine, [style], hw)
        t0 = time.perf_counter()
        outs, flow_s = [], 0.0
        for fr in stz.frames(enumerate(clip)):
            outs.append(fr.image)
            flow_s += fr.params["flow_seconds"]
        secs = time.perf_counter() - t0
        vid = out / f"{way}.mp4"
        w = VideoWriter(vid, 12)
        for o in outs:
            w.write(to_uint8(o))
        w.close()
        mid = len(outs) // 2
        save_image(outs[mid], out / f"{way}_mid.png")
        save_image(clip[mid], out / "input_mid.png")
        style_line = metrics("style", str(out / f"{way}_mid.png"), a.style, str(out / "input_mid.png"))
        ratio = re.search(r"ratio=([0-9.e-]+)", style_line)
        lai = sum(warping_error(outs[t], outs[t + 1], flows[t][0], masks[t]) for t in range(len(outs) - 1)) / (len(outs) - 1)
        known = metrics("warp_error", str(vid), str(-a.dx / hw[1]), "0")
        rows.append({"way": way, "s_per_frame": secs / len(outs), "flow_share": flow_s / secs, "style_ratio": float(ratio.group(1)) if ratio else None,
                     "lai_warp_error": lai, "metrics_warp_error": known, "style_line": style_line})
        strips += [(o, f"{way} t={i}") for i, o in enumerate(outs[mid - 1: mid + 2], start=mid - 1)]
        print(json.dumps(rows[-1]), flush=True)
    save_image(montage([s for s, _ in strips], [lbl for _, lbl in strips], columns=3, tile=max(hw)), out / "consecutive.png")
    print(f"\nclip {len(clip)} frames {hw[1]}x{hw[0]}, pan {a.dx} px/frame; DIS flow pair (both ways) {flow_pair_s * 1000:.1f} ms")
    print(f"{'way':10s} {'s/frame':>8s} {'flow %':>7s} {'style ratio':>12s} {'Lai warp err':>13s}  metrics warp_error")
    base = rows[0]["lai_warp_error"]
    for r in rows:
        print(f"{r['way']:10s} {r['s_per_frame']:8.2f} {100 * r['flow_share']:6.2f}% {r['style_ratio'] or float('nan'):12.4f} "
              f"{r['lai_warp_error']:13.5f}  {r['metrics_warp_error']}  ({r['lai_warp_error'] / base:.2f}x of {rows[0]['way']})")
    print(f"wrote {out}/*.mp4 and {out}/consecutive.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
