"""What every command shares: flag types, engine flags, the progress bar, input/output checks and
the one error path. Imported by the command modules; imports none of them.

The CLI package is the only code that prints. User mistakes become ``error: <one line>`` and exit
code 2; a bug becomes one line naming the file that holds the traceback (``--debug`` prints it);
Ctrl-C exits 130 after the current frame's state is saved (animations can ``--resume``).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
import tempfile
import time
import traceback
import unicodedata
from pathlib import Path
from tqdm import tqdm
from typing import Any, Callable, NoReturn, Sequence

import torch

from ..engine.backbone import check_precision, pick_device, precision_name
from ..engine.config import (BACKBONES, DEFAULT_POOLING, INITS, OPTIM_KEYS, OPTIMIZERS, POOLINGS, PRECISIONS, SEED_MAX, STYLE_KEYS,
                             STYLE_LOSSES, OptimConfig, StyleConfig, check_device_name)
from ..engine.factory import BackboneSpec
from ..errors import Diverged, UserError
from ..io.paths import release_output_locks
from ..settings.schema import Knob
from ..settings.schema import knob as schema_knob

MAX_SIZE = 8192  # long side limit of a single optimization (patch modes go beyond with --canvas)



def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def size_arg(text: str) -> int:
    v = positive_int(text)
    if v < 16 or v > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size {v} is outside the allowed 16..{MAX_SIZE}")
    return v


def finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def nonneg_float(text: str) -> float:
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def unit_float(text: str) -> float:
    v = finite_float(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1]")
    return v


def positive_float(text: str) -> float:
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return v


def fps_arg(text: str) -> float:
    v = finite_float(text)
    if not 1 <= v <= 120:
        raise argparse.ArgumentTypeError(f"frame rate {text} is outside 1..120")
    return v


def seed_arg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed {text} is outside 0..{SEED_MAX}")
    return v


def float_list(text: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not vals:
        raise argparse.ArgumentTypeError(f"{text!r} holds no numbers")
    if not all(math.isfinite(v) and v >= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be a finite number >= 0")
    return vals


def name_list(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no layer; give e.g. relu4_2")
    return names


def knob_type(k: Knob) -> Any:
    """The argparse converter for a settings key's flag: the number's sign checked here, its
    range by the settings (one message naming the flag and the key)."""
    lo = k.range[0] if k.range is not None else None
    if k.kind == "path":
        return Path
    if k.kind == "integer":
        return positive_int if lo is not None and lo >= 1 else nonneg_int if lo is not None and lo >= 0 else int
    if k.kind in ("number", "schedule"):
        return nonneg_float if lo is not None and lo >= 0 else finite_float
    return str


def knob_flag(p: Any, name: str, section: str, key: str, **kw: Any) -> None:
    """``--NAME`` setting ``section.key``: its help, choices and converter from the key's one
    schema entry (:mod:`stylemotion.settings.sections.schema`); ``kw`` only for what a flag adds (a
    metavar, a converter that parses a list)."""
    k = schema_knob(section, key)
    allowed = "" if k.choices else k.allowed()
    extra = f"; {allowed}" if allowed else ""
    args: dict[str, Any] = {"help": f"{k.help} (sets {k.name}{extra})"}
    if k.kind == "boolean":
        args.update(action="store_true", default=None)
    else:
        args["type"] = knob_type(k)
        if k.choices:
            args["choices"] = list(k.choices)
    args.update(kw)
    p.add_argument(f"--{name.replace('_', '-')}", dest=name, **args)


def device_arg(text: str) -> str:
    try:
        return check_device_name(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: stylemotion image: --size: ...`` and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """Flags for every engine option; defaults None mean "the dataclass default"."""
    g = p.add_argument_group("style loss")
    st, op = StyleConfig(), OptimConfig()
    g.add_argument("--content-weight", type=nonneg_float, help=f"content loss weight (default {st.content_weight:g})")
    g.add_argument("--style-weight", type=nonneg_float, help=f"style loss weight (default {st.style_weight:g})")
    g.add_argument("--tv-weight", type=nonneg_float, help=f"total-variation weight, smooths fine noise (default {st.tv_weight:g})")
    g.add_argument("--style-scale", type=positive_float, help=f"style image size relative to the output (default {st.style_scale:g})")
    g.add_argument("--content-layers", type=name_list, help="comma-separated, e.g. relu4_2")
    g.add_argument("--style-layers", type=name_list, help="comma-separated, e.g. relu1_1,relu2_1,relu3_1")
    g.add_argument("--style-layer-weights", type=float_list, help="one weight per style layer")
    g.add_argument("--style-loss", choices=STYLE_LOSSES, help="gram (default), w2: means + covariances (slow on CPU), or sw: sliced Wasserstein (whole distributions)")
    g = p.add_argument_group("optimizer")
    g.add_argument("--iterations", type=nonneg_int, help="most iterations at the final pyramid level (coarser levels get more); a level stops sooner when its loss settles (--tol)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {op.optimizer}")
    g.add_argument("--lr", type=positive_float, help=f"Adam learning rate on [0,1] pixels (default {op.lr:g})")
    g.add_argument("--tol", type=nonneg_float, help=f"stop a level when its loss moves less than this fraction per iteration (default {op.tol:g}; 0 = never)")
    g.add_argument("--coarse-tol", type=nonneg_float, help="the same for the coarser pyramid levels (cheap, so they run longer)")
    g.add_argument("--init", choices=INITS, help=f"the start image (default {op.init})")
    g.add_argument("--init-image", type=Path, help="start image for --init image")
    g.add_argument("--seed", type=seed_arg, help=f"0..{SEED_MAX}")
    g.add_argument("--pyramid-min", type=nonneg_int, help="coarse-to-fine start size (long side); 0 disables")
    g.add_argument("--pyramid-step", type=positive_float, help=f"size ratio between pyramid levels (default {op.pyramid_step:g}; 1.414 = sqrt 2)")
    g.add_argument("--pyramid-iter-factor", type=positive_float,
                   help=f"each coarser level gets this many times the next level's iterations (default {op.pyramid_iter_factor:g})")
    g.add_argument("--avg-decay", type=nonneg_float, help="return the moving average of the iterates (e.g. 0.9); 0 = off")
    g.add_argument("--original-colors", action="store_true", default=None, help="keep the content's colors")
    g.add_argument("--palette", type=unit_float,
                   help="recolour the photo toward the painting's colours first: 0 = its own, 1 = the painting's (default 1)")
    g = p.add_argument_group("backbone")
    g.add_argument("--backbone", choices=BACKBONES, help="vgg16-hed is bundled; vgg19 needs its weights")
    g.add_argument("--weights", type=Path, help="weights file for the backbone (.pth or .safetensors)")
    g.add_argument("--pooling", choices=POOLINGS, help=f"default {DEFAULT_POOLING}")
    g.add_argument("--device", type=device_arg, help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")
    g.add_argument("--precision", choices=PRECISIONS, help="arithmetic: auto = bf16 on CUDA and on CPUs with native bf16 (avx512_bf16, AMX), else fp32")


STYLE_FLAGS, OPTIM_FLAGS = STYLE_KEYS, OPTIM_KEYS  # one flag per field of the engine's two configs
BACKBONE_FLAGS = ("backbone", "weights", "pooling", "device", "precision")


def backbone_flags(args: argparse.Namespace, pooling: str | None = None) -> BackboneSpec:
    """The network the engine flags (``--backbone``, ``--weights``, ``--pooling``, ``--precision``)
    name; ``pooling``: the command's own default when ``--pooling`` is not given."""
    bo = flag_overrides(args, BACKBONE_FLAGS)
    weights = bo.get("weights")
    return BackboneSpec(bo.get("backbone", "vgg16-hed"), bo.get("pooling", pooling or DEFAULT_POOLING),
                        os.fspath(weights) if weights is not None else None, bo.get("precision", "auto"))


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
        self.bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def update(self, n: int = 1, **postfix: object) -> None:
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(n)

    def grow(self, n: int) -> None:
        """``n`` more iterations than planned (a frame that needed more: its progress is already counted)."""
        self.bar.total += n
        self.bar.refresh()

    def write(self, line: str) -> None:
        """A message on its own line above the bar."""
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def open_device(name: str, precision: str) -> tuple[torch.device, str]:
    """The run's device, with the precision checked (one warning line where bf16 is emulated), and
    the label a run's first line shows, e.g. "cpu, bf16"."""
    device = pick_device(name)
    warning = check_precision(device, precision)
    if warning:
        print(warning, file=sys.stderr)
    return device, f"{device.type}, {precision_name(device.type, precision)}"


def arch_of(backbone: str | None) -> str:
    return "vgg19" if backbone == "vgg19" else "vgg16"


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Flags every command takes."""
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: all cores)")
    p.add_argument("--debug", action="store_true", help="on an internal error, print the Python traceback")


# ---------------------------------------------------------------------------------------------
# the one error path

EXIT_USER = 2  # a user mistake or a known failure (bad file, disk full, ...): one "error:" line
EXIT_MEMORY = 3  # out of GPU or CPU memory
EXIT_DIVERGED = 4  # the optimization diverged even with smaller steps
EXIT_BUG = 70  # an internal error: one line naming the traceback file (EX_SOFTWARE)
EXIT_INTERRUPTED = 130


def one_line(text: object) -> str:
    """Collapse whitespace and newlines, and escape what a terminal would act on: every message
    the CLI prints is a single line, and a file name or preset value holding an escape sequence
    (which can retitle or clear the terminal) or a bidi override is shown, not obeyed."""
    return "".join(_visible(c) for c in " ".join(str(text).split()))


def _visible(c: str) -> str:
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a byte of a file name that is not UTF-8 (Python's surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co"):
        return c.encode("unicode_escape", "backslashreplace").decode("ascii")
    return c


def warn_line(message: str) -> None:
    """Print one warning line to stderr (what a library callback reports while work goes on)."""
    print(f"warning: {one_line(message)}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    print(f"error: {one_line(message)}", file=sys.stderr)


def os_error_message(e: OSError) -> str:
    """A failed read or write as one line naming the file."""
    where = f"{e.filename}: " if getattr(e, "filename", None) else ""
    if e.errno == errno.ENOSPC:
        return f"{where}no space left on the device"
    if e.errno == errno.EROFS:
        return f"{where}the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{where}permission denied"
    return f"{where}{e.strerror or e}"


def write_bug_report(exc: BaseException, argv: Sequence[str]) -> Path | None:
    """The traceback of an internal error, in a fresh file in the system temp folder."""
    try:
        fd, name = tempfile.mkstemp(prefix=f"stylemotion-bug-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("stylemotion " + " ".join(argv) + "\n\n")
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return Path(name)
    except OSError:
        return None


def run_command(func: Callable[[argparse.Namespace], Any], args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run one command; every failure becomes one line on stderr and an exit code."""
    try:
        return _run(func, args, argv)
    finally:
        release_output_locks()  # the command is over, however it ended


def _run(func: Callable[[argparse.Namespace], Any], args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        return int(func(args) or 0)
    except Diverged as e:
        fail(str(e))
        return EXIT_DIVERGED
    except UserError as e:
        fail(str(e))
        return EXIT_USER
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except torch.cuda.OutOfMemoryError:
        fail("the GPU ran out of memory; use a smaller --size (or a patch mode: stylemotion hires)")
        return EXIT_MEMORY
    except MemoryError:
        fail("out of memory (RAM); use a smaller --size or fewer/smaller style images")
        return EXIT_MEMORY
    except OSError as e:  # disk full, read-only or vanished folder while writing
        fail(os_error_message(e))
        return EXIT_USER
    except Exception as e:  # noqa: BLE001 - the one place that turns a bug into one line
        if getattr(args, "debug", False):
            raise
        report = write_bug_report(e, argv)
        where = f"traceback in {report}" if report else "no traceback file could be written"
        fail(f"internal error (a bug in stylemotion, please report it): {type(e).__name__}: {one_line(e)[:200]}; "
             f"{where}; run again with --debug to print it")
        return EXIT_BUG
