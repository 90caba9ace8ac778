"""Style super-resolution against bicubic: consistency (PSNR) and fine detail, plus a comparison image.

    python benchmarks/upscale.py [--scale 4] [--iters 150] [--out upscale_compare.png]

Input: the left 60% of chelsea.png shrunk by --scale (the low-res image). Style: the right 60% of
chelsea.png at full resolution (the same cat, other pixels: "a high-resolution image of something
similar"). Reported, for bicubic and for stylemotion:
* PSNR of the output's downsample against the low-res input (8-bit PNG round trip): consistency;
* high-frequency energy (mean |Laplacian| of luminance): fine detail;
* PSNR against the true full-resolution crop (for reference: texture synthesis invents detail, so
  this is not expected to beat bicubic by much).
"""

from __future__ import annotations

import argparse

import torch

from stylemotion.engine.backbone import load_backbone
from stylemotion.io.images import load_image, montage, save_image, to_pil, to_tensor
from stylemotion.engine.optimize import OptimConfig, StyleEngine
from stylemotion.settings.presets import SAMPLES_DIR
from stylemotion.engine.measure import laplacian_energy
from stylemotion.stills.superres import UpscaleConfig, downsample, psnr, upscale


def _hf(x):
    return float(laplacian_energy(x)[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--out", default="upscale_compare.png")
    args = ap.parse_args()
    cat = to_tensor(load_image(SAMPLES_DIR / "chelsea.png"))
    w = cat.shape[-1]
    cut = int(w * 0.6) // args.scale * args.scale
    truth = cat[..., : cat.shape[-2] // args.scale * args.scale, :cut]
    style = cat[..., w - cut:]
    low = downsample(truth, (truth.shape[-2] // args.scale, truth.shape[-1] // args.scale))
    low = to_tensor(to_pil(low))  # an 8-bit image, as a user would have
    engine = StyleEngine(load_backbone())
    out, bicubic = upscale(engine, low, style, UpscaleConfig(scale=args.scale), OptimConfig(iterations=args.iters, tol=0))
    out8, bic8 = to_tensor(to_pil(out)), to_tensor(to_pil(bicubic))
    hw = tuple(low.shape[-2:])
    print(f"low-res {low.shape[-1]}x{low.shape[-2]} -> x{args.scale} = {out.shape[-1]}x{out.shape[-2]}, {args.iters} iterations")
    for name, img in [("bicubic", bic8), ("stylemotion", out8)]:
        print(f"  {name:12s} downsample PSNR vs input {psnr(downsample(img, hw), low):6.2f} dB | "
              f"high-frequency energy {_hf(img):.4f} | PSNR vs true full-res {psnr(img, truth):.2f} dB")
    print(f"  true full-res high-frequency energy {_hf(truth):.4f}")
    nearest = torch.nn.functional.interpolate(low, size=out.shape[-2:], mode="nearest")
    sheet = montage([nearest, bicubic, out, truth], ["low-res input", "bicubic", "stylemotion", "true full-res"], columns=4, tile=max(out.shape[-2:]))
    save_image(sheet, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
