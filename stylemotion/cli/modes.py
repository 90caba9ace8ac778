"""Single-canvas experiment commands: hires, remix, upscale, reconstruct."""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..engine.backbone import precision_name
from ..engine.config import layer_names
from ..engine.color import match_color
from ..io.encode import VideoWriter, check_video_path
from ..engine.factory import build_engine
from ..errors import UserError
from ..runtime.estimate import Cost, Meter, image_estimate, probe_level, sync
from ..io.images import check_output_path, load_image, montage, resize_long_side, save_image, to_tensor, to_uint8
from ..engine.loop import report_interval
from ..engine.measure import laplacian_energy
from ..engine.optimize import OptimConfig, Pyramid, StyleConfig, Targets, resize, scaled_size
from ..stills.patches import REMIX, REMIX_STYLE, PatchConfig, PatchRenderer, base_iterations, canvas_hw, total_steps
from ..settings.presets import load_mode_preset
from ..stills.superres import RECONSTRUCT_COLORS, RECONSTRUCT_OPTIM, RECONSTRUCT_POOLING, RECONSTRUCT_STYLE, ReconstructConfig, UpscaleConfig, downsample, psnr, reconstruct, upscale
from .common import (BACKBONE_FLAGS, Bar, OPTIM_FLAGS, STYLE_FLAGS, add_engine_args, arch_of, backbone_flags, finite_float, flag_overrides, fps_arg, nonneg_float, nonneg_int,
                     open_device, positive_int, size_arg)
from .estimate import frame_io_seconds, print_estimate, setup_seconds

EXAMPLES_HIRES = """examples:
  stylemotion hires samples/astronaut.png --style samples/starry_night.jpg --canvas 2048 -o big.png
  stylemotion hires photo.jpg --style art.jpg --canvas 4096 --scales 1,2,4 --steps 2000 -o huge.png
  stylemotion hires photo.jpg --style art.jpg --style-mode localized --canvas 1024 -o local.png
  stylemotion hires --preset hires-multiscale -o big.png
"""
EXAMPLES_REMIX = """Remix: no content image. The canvas starts as PHOTO's colour layout, blurred to a few
cells per patch, and each patch takes its style statistics from the same relative region of
PHOTO (localized style): the result recombines the photo's own parts at the scale of the patch.

examples:
  stylemotion remix samples/coffee.png -o remix.png --canvas 512
  stylemotion remix --preset remix -o remix.png
"""
EXAMPLES_UPSCALE = """examples:
  stylemotion upscale small.jpg --style similar_hires.jpg --scale 4 -o big.png --compare side.png
  stylemotion upscale --preset superres -o big.png --compare side.png
"""
EXAMPLES_RECON = """examples:
  stylemotion reconstruct samples/chelsea.png --layer relu5_1 --size 256 -o cat_from_relu5.png --video wander.mp4
  stylemotion reconstruct --preset regenerate -o out.png --video wander.mp4
  stylemotion reconstruct samples/astronaut.png --size 192 --restarts 3 -o astronaut5.png   # best of 3 seeds
"""


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _engine(args: argparse.Namespace, style_cfg: Any, pooling: str | None = None):  # type: ignore[no-untyped-def]
    bo = flag_overrides(args, BACKBONE_FLAGS)
    device, _ = open_device(bo.get("device", "auto"), bo.get("precision", "auto"))
    return build_engine(backbone_flags(args, pooling), style_cfg, device), device


def _configs(args: argparse.Namespace, command: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Defaults <- preset file <- command-line flags, for style, optim and the mode's own section."""
    sections = {"style": StyleConfig(), "optim": OptimConfig(), **extra}
    if getattr(args, "preset", None):
        cfg = load_mode_preset(args.preset, command, sections)
    else:
        cfg = {**sections, "inputs": {}}
    cfg["style"] = replace(cfg["style"], **flag_overrides(args, STYLE_FLAGS))
    cfg["optim"] = replace(cfg["optim"], **flag_overrides(args, OPTIM_FLAGS))
    # every value is checked here, before any file is read or the network is loaded
    cfg["style"].check(arch=arch_of(flag_overrides(args, BACKBONE_FLAGS).get("backbone")))
    cfg["optim"].check()
    return cfg


def _input(args_value: Path | None, cfg: dict[str, Any], key: str, what: str) -> Path:
    if args_value is not None:
        return args_value
    if key in cfg["inputs"]:
        return Path(cfg["inputs"][key])
    raise UserError(f"no {what}: give it on the command line or in the preset's [inputs] {key}")


def estimate_hires(engine, content, style, pc, optim, hw, device, out: Path) -> None:  # type: ignore[no-untyped-def]
    """--estimate for hires and remix: the base stylization's levels, then the patches, each timed."""
    meter = Meter(device)
    setup = setup_seconds()
    levels: list = []
    costs: list = []
    if base_iterations(pc, optim, hw, content is not None):
        bh, bw = scaled_size(*hw, min(pc.base, max(hw)))
        for size, n in Pyramid.of((bh, bw), optim).levels():
            c = resize(content, size).to(device)
            targets = Targets(engine.content_targets(c), engine.style_targets([style], None, size))
            costs.append(probe_level(lambda k: engine.optimize(c, targets, replace(optim, tol=0.0), k), device))
            levels.append((size, n))
    # the patches: a renderer of 3 steps from noise (no base), the first step a warm-up
    sync(device)
    t0 = time.perf_counter()
    probe = PatchRenderer(engine, content, style, replace(pc, init="noise", steps=3 * pc.batch), optim)
    grams = time.perf_counter() - t0
    stamps = []
    for _ in probe.steps():
        sync(device)
        stamps.append(time.perf_counter())
    steps = total_steps(pc, probe.hw)
    levels.append(((pc.patch, pc.patch), steps))
    b = pc.batch  # the patches of a batch finish together: time whole batches, after the first
    costs.append(Cost(0.0, (stamps[3 * b - 1] - stamps[b - 1]) / (2 * b)))  # one patch of pc.iterations iterations
    est = image_estimate(levels, costs, setup + grams, meter, tail=frame_io_seconds(hw, report=False))
    est.iterations = est.iterations - steps + steps * pc.iterations
    est.lines[-2] = f"{steps} patches of {pc.patch}px x {pc.iterations} iterations: {costs[-1].per_iteration:.2f} s each"
    h, w = hw
    print_estimate(est, f"{out.name}: a {w}x{h} canvas", device)


def cmd_hires(args: argparse.Namespace) -> int:
    remix = args.command == "remix"
    cfg = _configs(args, args.command, {"patches": REMIX, "style": REMIX_STYLE} if remix else {"patches": PatchConfig()})
    pc: PatchConfig = cfg["patches"]
    for name in ("canvas", "patch", "steps", "scales", "style_mode", "feather", "batch"):
        v = getattr(args, name, None)
        if v is not None:
            pc = replace(pc, **{name: v})
    if args.patch_iterations is not None:
        pc = replace(pc, iterations=args.patch_iterations)
    if args.seed is not None:
        pc = replace(pc, seed=args.seed)
    style_cfg = cfg["style"]
    content_path = None
    if remix:
        style_path = _input(args.photo, cfg, "style", "photo")
        style_cfg = replace(style_cfg, content_weight=0.0)
        pc = replace(pc, style_mode="localized", init=pc.init if pc.init in ("noise", "blurred") else "blurred")
    else:
        style_path = _input(args.style, cfg, "style", "style image (--style)")
        content_path = _input(args.content, cfg, "content", "content image")
    pc.check()
    out = check_output_path(args.output, [style_path, content_path])
    content = to_tensor(load_image(content_path, "content image")) if content_path is not None else None
    style = to_tensor(load_image(style_path, "style image" if not remix else "photo"))
    for img, path, what in ((content, content_path, "content image"), (style, style_path, "style image" if not remix else "photo")):
        if img is not None and min(img.shape[-2:]) < 16:
            raise UserError(f"{what} {path} is {img.shape[-1]}x{img.shape[-2]}: too small; the shorter side must be at least 16 pixels")
    engine, device = _engine(args, style_cfg)
    optim = cfg["optim"]
    hw = canvas_hw(pc, tuple((content if content is not None else style).shape[-2:]))
    n_base = base_iterations(pc, optim, hw, content is not None)
    if args.estimate:
        estimate_hires(engine, content, style, pc, optim, hw, device, out)
        return 0
    base_bar = Bar(n_base, "base: whole image stylized first") if n_base else None
    try:
        # optim.iterations drives the whole-image base stylization; each patch runs pc.iterations
        renderer = PatchRenderer(engine, content, style, pc, optim,
                                 base_callback=(lambda p: base_bar.update(p.advanced, loss=f"{p.loss:.4g}")) if base_bar else None)
    finally:
        if base_bar:
            base_bar.close()
    h, w = renderer.hw
    bar = Bar(renderer.total_steps, f"{out.name} {w}x{h} canvas, {pc.patch}px patches on {device.type}, {precision_name(device.type, engine.backbone.precision)}", unit="patch")
    try:
        for st in renderer.steps():
            bar.update(1, scale=st.scale, loss=f"{st.loss:.4g}")
            if args.save_every and st.step % args.save_every == 0:
                save_image(st.canvas, out.with_name(f"{out.stem}_{st.step:06d}{out.suffix}"))
    finally:
        bar.close()
    save_image(renderer.canvas, out)
    print(f"wrote {out} ({w}x{h})")
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    def _hf(x):  # type: ignore[no-untyped-def]
        return float(laplacian_energy(x)[0])

    cfg = _configs(args, "upscale", {"upscale": UpscaleConfig()})
    uc: UpscaleConfig = cfg["upscale"]
    for name in ("scale", "consistency_weight", "input_shrink"):
        if getattr(args, name) is not None:
            uc = replace(uc, **{name: getattr(args, name)})
    uc.check()
    low_path = _input(args.lowres, cfg, "content", "low-resolution image")
    style_path = _input(args.style, cfg, "style", "high-resolution style image (--style)")
    out = check_output_path(args.output, [low_path, style_path])
    if args.compare is not None:
        check_output_path(args.compare, [low_path, style_path, out], what="--compare")
    low = to_tensor(load_image(low_path, "low-resolution image"))
    if uc.input_shrink > 1:
        hw_small = (max(8, low.shape[-2] // uc.input_shrink), max(8, low.shape[-1] // uc.input_shrink))
        low = downsample(low, hw_small)
    style = to_tensor(load_image(style_path, "style image"))
    if max(low.shape[-2:]) * uc.scale > 8192:
        raise UserError(f"output would be {low.shape[-1] * uc.scale}x{low.shape[-2] * uc.scale}; the limit is 8192 on the long side")
    engine, device = _engine(args, cfg["style"])
    optim = cfg["optim"]
    bar = Bar(optim.iterations, f"upscale x{uc.scale} on {device.type}, {precision_name(device.type, engine.backbone.precision)}")
    try:
        result, bicubic = upscale(engine, low, style, uc, optim, lambda p: bar.update(p.advanced, loss=f"{p.loss:.4g}"))
    finally:
        bar.close()
    save_image(result, out)
    hw = tuple(low.shape[-2:])
    stats = (f"downsample PSNR vs input: ours {psnr(downsample(result, hw), low):.2f} dB, bicubic {psnr(downsample(bicubic, hw), low):.2f} dB; "
             f"high-frequency energy: ours {_hf(result):.4f}, bicubic {_hf(bicubic):.4f}")
    print(f"wrote {out} ({result.shape[-1]}x{result.shape[-2]}); {stats}")
    if args.compare is not None:
        nearest = torch.nn.functional.interpolate(low, size=result.shape[-2:], mode="nearest")
        sheet = montage([nearest, bicubic, result], ["input (nearest)", "bicubic", "stylemotion"], columns=3, tile=max(result.shape[-2:]))
        save_image(sheet, args.compare)
        print(f"wrote {args.compare}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    cfg = _configs(args, "reconstruct", {"reconstruct": ReconstructConfig()})
    rc: ReconstructConfig = cfg["reconstruct"]
    if args.restarts is not None:
        rc = replace(rc, restarts=args.restarts)
    if args.colors is not None:
        rc = replace(rc, colors=args.colors)
    if args.coarse_levels is not None:
        rc = replace(rc, coarse_levels=args.coarse_levels)
    rc.check()
    image_path = _input(args.image, cfg, "image", "image")
    out = check_output_path(args.output, [image_path])
    if args.video is not None:
        check_video_path(args.video, [image_path, out])
    names = layer_names(arch_of(flag_overrides(args, BACKBONE_FLAGS).get("backbone")))
    if args.layer not in names:
        raise UserError(f"unknown layer {args.layer!r} for --layer; valid: {', '.join(n for n in names if n.startswith('relu'))}")
    optim: OptimConfig = cfg["optim"]
    if not args.preset:  # the command's own defaults where no flag was given
        optim = replace(optim, iterations=RECONSTRUCT_OPTIM.iterations if args.iterations is None else optim.iterations,
                        pyramid_min=RECONSTRUCT_OPTIM.pyramid_min if args.pyramid_min is None else optim.pyramid_min,
                        pyramid_step=RECONSTRUCT_OPTIM.pyramid_step if args.pyramid_step is None else optim.pyramid_step,
                        pyramid_iter_factor=RECONSTRUCT_OPTIM.pyramid_iter_factor)
    optim = replace(optim, tol=RECONSTRUCT_OPTIM.tol if args.tol is None else optim.tol)
    layer = args.layer
    image = to_tensor(resize_long_side(load_image(image_path, "image"), args.size))
    tv = args.tv_weight if args.tv_weight is not None else RECONSTRUCT_STYLE.tv_weight
    engine, device = _engine(args, replace(cfg["style"], tv_weight=tv), pooling=RECONSTRUCT_POOLING)
    engine.backbone.check_layers([layer], "layer")
    writer = VideoWriter(args.video, args.fps, metadata={"command": "reconstruct", "layer": layer}) if args.video else None
    per_run = Pyramid.of(tuple(image.shape[-2:]), optim).total
    runs = f" x {rc.restarts} restarts" if rc.restarts > 1 else ""
    bar = Bar(per_run * rc.restarts, f"reconstruct from {layer}{runs} on {device.type}, {precision_name(device.type, engine.backbone.precision)}")
    # with restarts, film frames are held (uint8, the final size) for the current run and the best
    # run so far only; the kept run's are written at the end: the film shows the run that made the image
    films: dict[int, list] = {0: []}

    def on_restart(k: int, kept: int) -> None:
        for j in [j for j in films if j != kept]:
            del films[j]
        films[k] = []

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if rc.restarts > 1:
            bar.update(p.advanced, run=f"{max(films) + 1}/{rc.restarts}", loss=f"{p.loss:.4g}")
        else:
            bar.update(p.advanced, loss=f"{p.loss:.4g}")
        if writer is not None and (p.iteration == 1 or p.iteration % args.every == 0):
            # coarse pyramid levels are shown upsampled to the final size: the film zooms into focus
            frame = resize(p.image, (image.shape[-2], image.shape[-1])).clamp(0, 1)
            if rc.colors == "photo":  # the film in the colours the result will have
                frame = match_color(frame, image.to(frame.device), "yiq")
            frame = to_uint8(frame)
            if rc.restarts == 1:
                writer.write(frame)
            else:
                films[max(films)].append(frame)

    try:
        # the film needs the image at iteration 1 and every --every iterations: report that often
        report = math.gcd(args.every, report_interval(device)) if writer is not None else None
        result = reconstruct(engine, image, layer, optim, on_progress, rc, on_restart, report)
        if writer is not None and rc.restarts > 1:
            for frame in films[result.restart]:
                writer.write(frame)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        bar.close()
    save_image(result.image, out)
    if rc.restarts > 1:
        finals = ", ".join(f"{v:.4g}" for v in result.losses)
        print(f"kept run {result.restart + 1} of {rc.restarts} (seed {optim.seed + result.restart}; final losses {finals})")
    print(f"wrote {out}")
    if writer is not None:
        writer.write(to_uint8(result.image))
        print(f"wrote {writer.close()} ({writer.count} frames)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:

    fmt = argparse.RawDescriptionHelpFormatter

    def patch_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--canvas", type=positive_int, help="long side of the output canvas (default 1024; remix 512)")
        p.add_argument("--patch", type=positive_int, help="patch side in pixels: bounds memory (default 256; remix 128)")
        p.add_argument("--steps", type=positive_int, help="number of patches to optimize (default: cover every scale twice)")
        p.add_argument("--patch-iterations", type=positive_int, help="optimizer iterations per patch (default 20; remix 50)")
        p.add_argument("--scales", type=int_list, help="patch scales to draw from, e.g. 1,2,4 (multiscale)")
        p.add_argument("--feather", type=finite_float, help="blend ramp as a fraction of the patch (default 0.25)")
        p.add_argument("--batch", type=positive_int, help="patches of one scale optimized together as one batch "
                       "(default 1; pays on a GPU and with small patches, costs memory)")
        p.add_argument("--preset", help="a preset file or shipped name for this command")
        p.add_argument("-o", "--output", type=Path, default=Path("hires.png"))
        p.add_argument("--save-every", type=positive_int, help="also save the canvas every N patches")

    p = sub.add_parser("hires", help="large outputs by patches (localized or global style, multiscale)", epilog=EXAMPLES_HIRES, formatter_class=fmt)
    p.add_argument("content", type=Path, nargs="?", help="content image (or from --preset)")
    p.add_argument("--style", type=Path, help="style image")
    p.add_argument("--style-mode", choices=["global", "localized"], help="global: whole-style statistics; localized: the co-located style region")
    patch_args(p)
    add_engine_args(p)
    p.add_argument("--estimate", action="store_true", help="time the base and a few patches, print the expected time and peak memory, write nothing")
    p.set_defaults(func=cmd_hires)

    p = sub.add_parser("remix", help="no content: rebuild a photo's layout from its own local styles", description=EXAMPLES_REMIX, formatter_class=fmt)
    p.add_argument("photo", type=Path, nargs="?", help="the photo to remix (or from --preset)")
    patch_args(p)
    add_engine_args(p)
    p.add_argument("--estimate", action="store_true", help="time a few patches, print the expected time and peak memory, write nothing")
    p.set_defaults(func=cmd_hires, style_mode=None, content=None, style=None)

    p = sub.add_parser("upscale", help="style super-resolution from a similar high-res image", epilog=EXAMPLES_UPSCALE, formatter_class=fmt)
    p.add_argument("lowres", type=Path, nargs="?", help="low-resolution image (or from --preset)")
    p.add_argument("--style", type=Path, help="high-resolution image of a similar subject")
    p.add_argument("--scale", type=positive_int, help="upscale factor 2..16 (default 4)")
    p.add_argument("--consistency-weight", type=nonneg_float, help="weight of downsample(output) = input (default 2000)")
    p.add_argument("--input-shrink", type=positive_int, help="shrink the input by this factor first (to try it on a normal photo)")
    p.add_argument("--compare", type=Path, help="also write a side-by-side PNG: nearest, bicubic, ours")
    p.add_argument("--preset", help="a preset file or shipped name for this command")
    p.add_argument("-o", "--output", type=Path, default=Path("upscaled.png"))
    add_engine_args(p)
    p.set_defaults(func=cmd_upscale)

    p = sub.add_parser("reconstruct", help="rebuild an image from noise using one high layer; film it", epilog=EXAMPLES_RECON, formatter_class=fmt)
    p.add_argument("image", type=Path, nargs="?", help="image to reconstruct (or from --preset)")
    p.add_argument("--layer", default="relu5_1", help="the one content layer (default relu5_1)")
    p.add_argument("--size", type=size_arg, default=256, help="long side (default 256)")
    p.add_argument("--video", type=Path, help="record the optimization: .mp4, .webm or .gif")
    p.add_argument("--every", type=positive_int, default=2, help="one video frame every N iterations (default 2)")
    p.add_argument("--fps", type=fps_arg, default=24.0, help="video frame rate, 1..120 (default 24)")
    p.add_argument("--restarts", type=positive_int,
                   help="full runs from seeds seed, seed+1, ...; keeps the lowest final loss (default 1; N x the time)")
    p.add_argument("--colors", choices=list(RECONSTRUCT_COLORS),
                   help="photo (default): give the result the photo's luminance and chroma means and spreads "
                        "(edges unchanged); free: no colour information beyond the layer")
    p.add_argument("--coarse-levels", type=nonneg_int,
                   help="each pyramid level also matches the layer at this many coarser levels' sizes, "
                        "holding the layout found there (default 0; 2 costs about 1.6x the time; it helps some photos, not all)")
    p.add_argument("--preset", help="a preset file or shipped name for this command")
    p.add_argument("-o", "--output", type=Path, default=Path("reconstruct.png"))
    add_engine_args(p)
    p.set_defaults(func=cmd_reconstruct)
