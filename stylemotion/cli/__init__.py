"""Command line: ``stylemotion image|zoom|drift|finish|video|study|presets|inspect|hires|remix|upscale|reconstruct|audio``.

One module per command group (``image``, ``anim``, ``finish``, ``video``, ``study``, ``info``, ``modes``, ``music``), built on
``common`` (flags, progress bar, the error path) and ``render`` (the files of a resumable frame
render); those two import no command module. This package is the only code that prints.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


from .. import __version__
from ..runtime.threads import set_threads
from . import anim
from . import finish
from . import image
from . import info
from . import modes
from . import music
from . import study
from . import video
from .common import Parser, add_common_args, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="stylemotion",
        description="Neural style transfer (Gatys et al.) for images, zoom movies and style-drift videos.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'stylemotion COMMAND --help' for each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"stylemotion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (image, anim, finish, video, study, info, modes, music):
        module.register(sub)
    for command in sub.choices.values():
        add_common_args(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line usage error (common.Parser)
        return int(e.code or 0)
    if args.threads:
        set_threads(args.threads)
    return run_command(args.func, args, argv)
