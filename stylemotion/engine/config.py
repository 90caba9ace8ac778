"""The engine's settings and the names it knows: a leaf of the package (it imports nothing of it
but the error type). The loss (:class:`StyleConfig`), how one image is optimized
(:class:`OptimConfig`), the networks, poolings, precisions and devices a run may name. Read by the
engine (:mod:`stylemotion.engine.optimize`), its loop (:mod:`stylemotion.engine.loop`), the network
(:mod:`stylemotion.engine.backbone`), the settings schema and the CLI."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from ..errors import UserError

# ---- networks ----
ARCHS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # convs per block
BACKBONES = ("vgg16-hed", "vgg19")
POOLINGS = ("max", "avg")
# Average pooling, as Gatys et al. recommend: measured against max pooling on the quality benchmark
# it transfers the painting's large-scale statistics (relu4/relu5) several times better
# (docs/defaults.md).
DEFAULT_POOLING = "avg"
# The convolutions' arithmetic. auto = bf16 autocast where the hardware computes bf16 natively: on
# CUDA (tensor cores) and on CPUs with avx512_bf16 or AMX, where the quality benchmark scores bf16
# as fp32 (docs/defaults.md) and an iteration runs 1.6-1.9x faster; fp32 elsewhere, because on an
# AVX2-only CPU bf16 is emulated and a 3x3 conv ran 10x slower under it. bf16 asks for it anyway;
# fp32 = float32 throughout (TF32 where torch allows it). Losses and the image stay float32.
PRECISIONS = ("auto", "bf16", "fp32")


def layer_names(arch: str) -> list[str]:
    """All addressable layer names in forward order, e.g. conv1_1, relu1_1, ..., pool5."""
    names = []
    for b, n in enumerate(ARCHS[arch], start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,2})?)$")


def check_device_name(name: str) -> str:
    """The device name if it is one this program supports (an explicit list: torch knows more
    device types, e.g. ``meta``, that cannot render anything)."""
    if not isinstance(name, str) or not _DEVICE_RE.match(name):
        raise UserError(f"unsupported device {name!r}; use {DEVICE_NAMES}")
    return name


# ---- the loss ----
STYLE_LOSSES = ("gram", "w2", "sw")


@dataclass
class StyleConfig:
    """The loss: layers and weights. Defaults chosen with benchmarks/quality.py at 384 px and by
    looking at the results (docs/defaults.md)."""

    # Departs from Gatys' single relu4_2: relu3_2 keeps the layout under a strong style and relu2_2
    # keeps thin lines on flat ground (a rocket's towers); the screen is in docs/defaults.md
    content_layers: tuple[str, ...] = ("relu2_2", "relu3_2", "relu4_2")
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # Gatys' five
    # Per style layer, rising with depth: the deep layers carry the painting's large strokes and
    # swirls (equal weights left them 5-10x further from the painting than the shallow ones); a
    # low weight on relu1_1 keeps the pixel-level grain down.
    style_layer_weights: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    content_weight: float = 1.0  # relative content loss weight
    # relative style loss weight (sum over layers, weights normalized), set against the three
    # content layers' hold (docs/defaults.md)
    style_weight: float = 20.0
    # total variation on [0,1] pixels: keeps grain no finer than the painting's own without
    # flattening skies into a wash (docs/defaults.md)
    tv_weight: float = 4.0
    style_scale: float = 1.0  # style image long side = style_scale * output long side
    # gram: Gatys' Gram matrices (fast everywhere); w2: Wasserstein-2 between Gaussians fitted to the
    # features (means + covariances, crowsonkb), needs eigendecompositions: meant for GPUs; sw:
    # sliced Wasserstein (whole distributions, pixel colours included; Heitz et al.), for remixes
    style_loss: str = "gram"

    def check(self, backbone: Any = None, arch: str = "vgg16") -> None:
        """Every value, before any work; layer names against ``backbone``'s ``names`` (or ``arch``'s)."""
        names = backbone.names if backbone is not None else layer_names(arch)
        for what, layers in (("content layer", self.content_layers), ("style layer", self.style_layers)):
            for name in layers:
                if name not in names:
                    raise UserError(f"unknown {what} {name!r}; valid: {', '.join(n for n in names if n.startswith('relu'))}")
        if not self.style_layers and not self.content_layers:
            raise UserError("content_layers and style_layers are both empty; name at least one layer, e.g. relu3_1")
        if len(self.style_layer_weights) != len(self.style_layers):
            raise UserError(
                f"style_layer_weights has {len(self.style_layer_weights)} values but style_layers has {len(self.style_layers)}"
            )
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise UserError(f"{name} must be a finite number >= 0, got {v}")
        if any(not (math.isfinite(w) and w >= 0) for w in self.style_layer_weights):
            raise UserError(f"style_layer_weights must be finite and >= 0, got {self.style_layer_weights}")
        if self.style_layers and not sum(self.style_layer_weights) > 0:
            raise UserError(f"style_layer_weights are all zero {self.style_layer_weights}: at least one must be > 0")
        if self.content_weight == 0 and self.style_weight == 0 and self.tv_weight == 0:
            raise UserError("content_weight, style_weight and tv_weight are all 0: there is nothing to optimize")
        if self.style_loss not in STYLE_LOSSES:
            raise UserError(f"style_loss {self.style_loss!r} is not one of {', '.join(STYLE_LOSSES)}")
        for name, (lo, hi) in STYLE_RANGES.items():
            check_range(name, getattr(self, name), lo, hi)



# ---- the optimization ----

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "image")


@dataclass
class OptimConfig:
    """How one image is optimized."""

    optimizer: str = "lbfgs"  # lbfgs: best quality per iteration; adam: cheaper steps, carries state across frames
    iterations: int = 200  # at the final pyramid level (coarser levels get more, they are cheap)
    lr: float = 0.02  # Adam step on [0,1] pixels; L-BFGS uses its own curvature scaling
    # Each pyramid level stops when its loss has settled: when it moves by less than this fraction
    # of itself per iteration (over 10 iterations; loop.should_stop); ``iterations`` is the ceiling.
    # 0 = never: every level runs its full count
    tol: float = 2e-3
    # the same rule on the coarser pyramid levels; None = tol / 4. They are cheap (a quarter of the
    # pixels per halving) and the big strokes they settle carry over to the final level, so they
    # run to a tighter rule
    coarse_tol: float | None = None
    init: str = "content"  # content | noise | image (the image is passed to stylize)
    seed: int = 0  # noise init and anything random: same seed, same pixels on CPU (0 .. SEED_MAX)
    pyramid_min: int = 128  # coarse-to-fine: start at this long side (halving from the target); 0 = off
    pyramid_iter_factor: float = 2.0  # each coarser level gets this many times the next level's iterations (< 1: fewer)
    pyramid_step: float = 2.0  # size ratio between pyramid levels (crowsonkb uses sqrt(2))
    # exponential moving average of the iterates, returned instead of the last one (crowsonkb's
    # avg_decay): averages away the step-to-step pixel jitter; 0 = off
    avg_decay: float = 0.0
    original_colors: bool = False  # keep the content's colors, transfer luminance only
    # how far the photo is recoloured toward the painting's colour mean and covariance before the
    # transfer (0 = its own colours, 1 = the painting's), so the content loss stops holding the
    # photo's palette against the style; the relu2_2 content layer keeps thin structures through
    # it (docs/defaults.md). Ignored with original_colors.
    palette: float = 1.0

    def level_tol(self, coarse: bool) -> float:
        """The early-stop tolerance of a coarse pyramid level or of the final one."""
        if not coarse:
            return self.tol
        return self.tol / 4 if self.coarse_tol is None else self.coarse_tol

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.init not in INITS:
            raise UserError(f"init {self.init!r} is not one of {', '.join(INITS)}")
        for name, (lo, hi) in OPTIM_RANGES.items():
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), lo, hi)
        if self.pyramid_min < 0:
            raise UserError(f"pyramid_min must be >= 0 (0 turns the pyramid off), got {self.pyramid_min}")


SEED_MAX = 2**32 - 1  # torch.manual_seed takes any 64-bit value; 32 bits are plenty and fit every tool's field


# ---- the one table of ranges: the configs' checks, the settings schema and the CLI read it ----
OPTIM_RANGES: dict[str, tuple[float, float]] = {
    "iterations": (0, 100_000), "lr": (1e-5, 1.0), "tol": (0.0, 0.5), "coarse_tol": (0.0, 0.5), "palette": (0.0, 1.0),
    "pyramid_step": (1.1, 4.0), "avg_decay": (0.0, 0.999), "pyramid_iter_factor": (0.25, 8.0),
}
STYLE_RANGES: dict[str, tuple[float, float]] = {"style_scale": (0.05, 8.0), "tv_weight": (0.0, 1e4)}


def check_range(name: str, value: float, lo: float, hi: float) -> None:
    """UserError naming ``name`` unless ``value`` is a finite number in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and lo <= value <= hi):
        raise UserError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")


# every key of the two engine configs: the image command has a flag for each, a study can sweep each
STYLE_KEYS = tuple(f.name for f in fields(StyleConfig))
OPTIM_KEYS = tuple(f.name for f in fields(OptimConfig))
