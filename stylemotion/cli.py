"""Command line: ``stylemotion image|zoom|drift|presets|inspect|hires|upscale|reconstruct``.

The only module that prints. User mistakes become ``error: <one line>`` and exit code 2;
Ctrl-C exits 130 after the current frame's state is saved (animations can ``--resume``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from . import __version__
from .errors import UserError

MAX_SIZE = 8192  # long side limit of a single optimization (patch modes go beyond with --canvas)

EXAMPLES_IMAGE = """examples:
  stylemotion image samples/chelsea.png --style samples/starry_night.jpg -o cat.png --size 256
  stylemotion image photo.jpg --style a.jpg --style b.jpg --style-blend 0.7,0.3 -o out.png --size 512
  stylemotion image photo.jpg --style a.jpg --original-colors --pooling max --optimizer adam -o out.png
"""


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return v


def size_arg(text: str) -> int:
    v = positive_int(text)
    if v < 16 or v > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size {v} is outside the allowed 16..{MAX_SIZE}")
    return v


def float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def name_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """Flags for every engine option; defaults None mean "the dataclass default"."""
    g = p.add_argument_group("style loss")
    g.add_argument("--content-weight", type=float, help="content loss weight (default 1)")
    g.add_argument("--style-weight", type=float, help="style loss weight (default: see README)")
    g.add_argument("--tv-weight", type=float, help="total-variation weight, smooths fine noise")
    g.add_argument("--style-scale", type=float, help="style image size relative to the output (default 1)")
    g.add_argument("--content-layers", type=name_list, help="comma-separated, e.g. relu4_2")
    g.add_argument("--style-layers", type=name_list, help="comma-separated, e.g. relu1_1,relu2_1,relu3_1")
    g.add_argument("--style-layer-weights", type=float_list, help="one weight per style layer")
    g.add_argument("--style-loss", choices=["gram", "w2"], help="gram (default) or w2: means + covariances (slow on CPU)")
    g = p.add_argument_group("optimizer")
    g.add_argument("--iterations", type=int, help="iterations at the final pyramid level")
    g.add_argument("--optimizer", choices=["lbfgs", "adam"])
    g.add_argument("--lr", type=float, help="Adam learning rate on [0,1] pixels (default 0.02)")
    g.add_argument("--tol", type=float, help="early-stop relative loss tolerance per iteration (0 = never)")
    g.add_argument("--init", choices=["content", "noise", "image"])
    g.add_argument("--init-image", type=Path, help="start image for --init image")
    g.add_argument("--seed", type=int)
    g.add_argument("--pyramid-min", type=int, help="coarse-to-fine start size (long side); 0 disables")
    g.add_argument("--pyramid-step", type=float, help="size ratio between pyramid levels (default 2; 1.414 = sqrt 2)")
    g.add_argument("--avg-decay", type=float, help="return the moving average of the iterates (e.g. 0.9); 0 = off")
    g.add_argument("--original-colors", action="store_true", default=None, help="keep the content's colors")
    g = p.add_argument_group("backbone")
    g.add_argument("--backbone", choices=["vgg16-hed", "vgg19"], help="vgg16-hed is bundled; vgg19 needs its weights")
    g.add_argument("--weights", type=Path, help="weights file for the backbone (.pth or .safetensors)")
    g.add_argument("--pooling", choices=["avg", "max"])
    g.add_argument("--device", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")


STYLE_FLAGS = ("content_weight", "style_weight", "tv_weight", "style_scale", "content_layers", "style_layers", "style_layer_weights", "style_loss")
OPTIM_FLAGS = ("iterations", "optimizer", "lr", "tol", "init", "seed", "pyramid_min", "pyramid_step", "avg_decay", "original_colors")
BACKBONE_FLAGS = ("backbone", "weights", "pooling", "device")


def flag_overrides(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The flags the user actually gave (not None), as a dict."""
    out = {}
    for n in names:
        v = getattr(args, n, None)
        if v is not None:
            out[n] = tuple(v) if isinstance(v, list) else v
    return out


class Bar:
    """tqdm progress bar over iterations, showing loss and (for animations) the frame."""

    def __init__(self, total: int, desc: str, unit: str = "it") -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def update(self, n: int = 1, **postfix: object) -> None:
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def cmd_image(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .backbone import DEFAULT_POOLING, load_backbone, pick_device
    from .images import check_output_path, load_image, resize_long_side, save_image, to_tensor
    from .optimize import OptimConfig, StyleConfig, StyleEngine, level_iterations, pyramid_sizes, stylize

    out = check_output_path(args.output)
    style_cfg = replace(StyleConfig(), **flag_overrides(args, STYLE_FLAGS))
    optim = replace(OptimConfig(), **flag_overrides(args, OPTIM_FLAGS))
    optim.check()
    if args.init_image is not None and optim.init != "image":
        optim = replace(optim, init="image")
    content_im = load_image(args.content, "content image")
    content = to_tensor(resize_long_side(content_im, args.size))
    styles = [to_tensor(load_image(s, "style image")) for s in args.style]
    if args.style_blend is not None and len(args.style_blend) != len(args.style):
        raise UserError(f"--style-blend has {len(args.style_blend)} weights for {len(args.style)} --style images; give one per style")
    init_image = to_tensor(load_image(args.init_image, "init image")) if args.init_image else None
    bo = flag_overrides(args, BACKBONE_FLAGS)
    device = pick_device(bo.get("device", "auto"))
    backbone = load_backbone(bo.get("backbone", "vgg16-hed"), bo.get("pooling", DEFAULT_POOLING), bo.get("weights"), device)
    engine = StyleEngine(backbone, style_cfg)
    sizes = pyramid_sizes(content.shape[-2], content.shape[-1], optim.pyramid_min, optim.pyramid_step)
    total = sum(level_iterations(optim.iterations, len(sizes), optim.pyramid_iter_factor))
    bar = Bar(total, f"{out.name} {content.shape[-1]}x{content.shape[-2]} on {device.type}")
    seen = {"level": 0, "done": 0}  # early stop ends a level before its budget: skip ahead for a true ETA

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.level != seen["level"]:
            budgets = level_iterations(optim.iterations, len(sizes), optim.pyramid_iter_factor)
            bar.update(sum(budgets[: p.level]) - seen["done"])
            seen["level"], seen["done"] = p.level, sum(budgets[: p.level])
        seen["done"] += 1
        bar.update(1, level=f"{p.level + 1}/{p.levels}", loss=f"{p.loss:.4g}")
        if args.save_every and p.iteration % args.save_every == 0:
            save_image(p.image, out.with_name(f"{out.stem}_l{p.level}_{p.iteration:05d}{out.suffix}"))

    try:
        result = stylize(engine, content, styles, optim, blend=args.style_blend, init_image=init_image, callback=on_progress)
    finally:
        bar.close()
    save_image(result, out)
    print(f"wrote {out} ({result.shape[-1]}x{result.shape[-2]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylemotion",
        description="Neural style transfer (Gatys et al.) for images, zoom movies and style-drift videos.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'stylemotion COMMAND --help' for each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"stylemotion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("image", help="stylize one image", epilog=EXAMPLES_IMAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("content", type=Path, help="content image (photo)")
    p.add_argument("--style", type=Path, action="append", required=True, help="style image; repeat for several")
    p.add_argument("--style-blend", type=float_list, help="blend weights, one per --style, e.g. 0.7,0.3")
    p.add_argument("-o", "--output", type=Path, default=Path("out.png"), help="output image (default out.png)")
    p.add_argument("--size", type=size_arg, default=512, help="long side of the output in pixels (default 512)")
    p.add_argument("--save-every", type=positive_int, help="also save the image every N iterations")
    add_engine_args(p)
    p.set_defaults(func=cmd_image)

    from . import cli_anim, cli_modes

    cli_anim.register(sub)
    cli_modes.register(sub)
    for command in sub.choices.values():  # every command: on a shared machine, fewer threads run faster
        command.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: all cores)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except torch.cuda.OutOfMemoryError:
        print("error: the GPU ran out of memory; use a smaller --size (or a patch mode: stylemotion hires)", file=sys.stderr)
        return 3
