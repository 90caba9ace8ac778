"""``stylemotion image``: stylize one image."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from ..engine.factory import EngineCache, build_engine, load_styles, style_long_side
from ..errors import UserError
from ..runtime.estimate import Meter, image_estimate, probe_level
from ..io.images import check_output_path, load_image, resize_long_side, save_image, to_tensor
from ..engine.loop import report_interval
from ..engine.optimize import OptimConfig, Pyramid, StyleConfig, Targets, resize, stylize
from .common import (BACKBONE_FLAGS, Bar, OPTIM_FLAGS, STYLE_FLAGS, add_engine_args, arch_of, backbone_flags, flag_overrides, float_list,
                     open_device, positive_int, size_arg)
from .estimate import check_fits, frame_io_seconds, print_estimate, setup_seconds

EXAMPLES_IMAGE = """examples:
  stylemotion image samples/chelsea.png --style samples/starry_night.jpg -o cat.png --size 256
  stylemotion image photo.jpg --style a.jpg --style b.jpg --style-blend 0.7,0.3 -o out.png --size 512
  stylemotion image photo.jpg --style a.jpg --original-colors --pooling max --optimizer adam -o out.png
"""


def estimate_image(engine, content, styles, blend, optim, pyramid: Pyramid, device, out: Path) -> None:  # type: ignore[no-untyped-def]
    """--estimate: time each pyramid level's iterations, count them, print, write nothing."""
    sizes = pyramid.sizes
    meter = Meter(device)
    setup = setup_seconds()
    costs = []
    for hw in sizes:
        c = resize(content, hw).to(device)
        targets = Targets(engine.content_targets(c), engine.style_targets(styles, blend, hw))
        costs.append(probe_level(lambda n: engine.optimize(c, targets, replace(optim, tol=0.0), n), device))
    h, w = sizes[-1]
    est = image_estimate(pyramid.levels(), costs, setup, meter, tail=frame_io_seconds(sizes[-1], report=False))
    print_estimate(est, f"{out.name} at {w}x{h}", device)


def cmd_image(args: argparse.Namespace) -> int:
    # every value and every path is checked before anything is read, loaded or written
    out = check_output_path(args.output, [args.content, *args.style, args.init_image])
    if args.save_every:
        check_output_path(out.with_name(f"{out.stem}_l0_00001{out.suffix}"), [args.content, *args.style, args.init_image])
    style_cfg = replace(StyleConfig(), **flag_overrides(args, STYLE_FLAGS))
    bo = flag_overrides(args, BACKBONE_FLAGS)
    style_cfg.check(arch=arch_of(bo.get("backbone")))
    optim = replace(OptimConfig(), **flag_overrides(args, OPTIM_FLAGS))
    if args.init_image is not None and optim.init != "image":
        optim = replace(optim, init="image")
    if optim.init == "image" and args.init_image is None:
        raise UserError("--init image needs --init-image FILE")
    optim.check()
    if args.style_blend is not None:
        if len(args.style_blend) != len(args.style):
            raise UserError(f"--style-blend has {len(args.style_blend)} weights for {len(args.style)} --style images; give one per style")
        if not sum(args.style_blend) > 0:
            raise UserError(f"--style-blend weights {args.style_blend} are all zero; at least one must be > 0")
    device, where = open_device(bo.get("device", "auto"), bo.get("precision", "auto"))
    content = to_tensor(resize_long_side(load_image(args.content, "content image"), args.size))
    # styles are kept at the size the run needs (style_scale x output), never at full resolution
    cache = EngineCache()
    styles = load_styles(args.style, style_long_side(args.size, style_cfg), cache)
    init_image = to_tensor(load_image(args.init_image, "init image")) if args.init_image else None
    engine = build_engine(backbone_flags(args), style_cfg, device, cache)
    pyramid = Pyramid.of(tuple(content.shape[-2:]), optim)
    sizes = list(pyramid.sizes)
    if args.estimate:
        estimate_image(engine, content, styles, args.style_blend, optim, pyramid, device, out)
        return 0
    check_fits(device, args.size, lambda: engine.optimize(
        content.to(device), Targets(engine.content_targets(content), engine.style_targets(styles, args.style_blend, sizes[-1])),
        replace(optim, tol=0.0), 1), "this image")
    total = pyramid.total
    bar = Bar(total, f"{out.name} {content.shape[-1]}x{content.shape[-2]} on {where}")
    seen = {"level": 0, "done": 0}  # early stop ends a level before its budget: skip ahead for a true ETA

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.level != seen["level"]:
            budgets = pyramid.iterations
            bar.update(sum(budgets[: p.level]) - seen["done"])
            seen["level"], seen["done"] = p.level, sum(budgets[: p.level])
        seen["done"] += p.advanced
        bar.update(p.advanced, level=f"{p.level + 1}/{p.levels}", loss=f"{p.loss:.4g}")
        if args.save_every and p.iteration % args.save_every == 0:
            save_image(p.image, out.with_name(f"{out.stem}_l{p.level}_{p.iteration:05d}{out.suffix}"))

    try:
        # --save-every needs the image at its iterations: report at least that often
        report = math.gcd(args.save_every, report_interval(device)) if args.save_every else None
        result = stylize(engine, content, styles, optim, blend=args.style_blend, init_image=init_image, callback=on_progress,
                         report_every=report)
    finally:
        bar.close()
    save_image(result, out)
    print(f"wrote {out} ({result.shape[-1]}x{result.shape[-2]})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("image", help="stylize one image", epilog=EXAMPLES_IMAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("content", type=Path, help="content image (photo)")
    p.add_argument("--style", type=Path, action="append", required=True, help="style image; repeat for several")
    p.add_argument("--style-blend", type=float_list, help="blend weights, one per --style, e.g. 0.7,0.3")
    p.add_argument("-o", "--output", type=Path, default=Path("out.png"), help="output image (default out.png)")
    p.add_argument("--size", type=size_arg, default=512, help="long side of the output in pixels (default 512)")
    p.add_argument("--save-every", type=positive_int, help="also save the image every N iterations")
    add_engine_args(p)
    p.add_argument("--estimate", action="store_true", help="time a few iterations, print the expected time and peak memory, write nothing")
    p.set_defaults(func=cmd_image)
