"""VGG feature extraction: the only module that knows VGG, its weights and its input convention.

Everything else asks for named layers (``relu4_2``, ``conv3_1``, ``pool2``, ...) and gets back
a dict of activations. The network runs only up to the deepest layer asked for, its weights
never require gradients, and the convolutions run in channels_last, in bf16 autocast where the
hardware has native bf16 (``precision``: CUDA, and CPUs with avx512_bf16 or AMX). Callers compute
Grams and losses in fp32 (see :mod:`stylemotion.engine.losses`).

Backbones:

* ``vgg16-hed`` (default, bundled): the 13 conv layers of VGG16 from the HED edge detector,
  ImageNet VGG16 fine-tuned at a tiny learning rate (see NOTICE). Caffe input: BGR, 0-255, mean
  subtracted.
* ``vgg19``: torchvision's ImageNet VGG19 (``vgg19-dcbb9e9d.pth``) from a file you give, from the
  torch hub cache, or downloaded by torch hub when online. Input: RGB, ImageNet mean/std.
"""

from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from .config import ARCHS, BACKBONES, DEFAULT_POOLING, POOLINGS, PRECISIONS, check_device_name, layer_names
from ..errors import UserError
from ..io.paths import check_input_file

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
VGG16_HED_FILE = WEIGHTS_DIR / "vgg16_hed.safetensors"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE_NAME = "vgg19-dcbb9e9d.pth"

# Convs per block; after each block comes a 2x2 pool.
CHANNELS = (64, 128, 256, 512, 512)


@functools.lru_cache(maxsize=None)  # asked at every forward pass; the CPU does not change
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX).

    torch's own CPU probe answers where it has one; otherwise /proc/cpuinfo's flags (False where
    neither can tell: an unknown CPU gets fp32, which is never wrong, only slower)."""
    caps = getattr(torch.cpu, "get_capabilities", None)  # torch's cpuinfo, where this torch has it
    if caps is not None:
        try:
            c = caps()
            return bool(c.get("avx512_bf16") or c.get("amx_bf16"))
        except Exception:  # noqa: BLE001 - fall back to the kernel's flags
            pass
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def autocast_dtype(device_type: str, precision: str) -> torch.dtype | None:
    """bf16 where ``precision`` asks for it on this device type (see PRECISIONS), else None (fp32)."""
    if precision == "bf16" and device_type in ("cuda", "cpu"):
        return torch.bfloat16
    if precision == "auto" and (device_type == "cuda" or (device_type == "cpu" and cpu_has_native_bf16())):
        return torch.bfloat16
    return None


def precision_name(device_type: str, precision: str) -> str:
    """What ``precision`` means on this device type: "bf16" or "fp32" (for the first line a run prints)."""
    return "bf16" if autocast_dtype(device_type, precision) is not None else "fp32"


_BF16_WORKS: dict[str, bool] = {}


def check_precision(device: torch.device, precision: str) -> str:
    """Check that ``precision`` can run on ``device`` before any work; returns a warning ("" if none).

    UserError (one line) where torch cannot compute a bf16 convolution here at all; a warning
    where ``bf16`` is asked for on a CPU that only emulates it (it works, several times slower)."""
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if autocast_dtype(device.type, precision) is None:
        return ""
    key = str(device)
    if key not in _BF16_WORKS:
        try:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                x = torch.ones(1, 3, 4, 4, device=device, requires_grad=True)
                F.conv2d(x, torch.ones(2, 3, 3, 3, device=device), padding=1).sum().backward()
            _BF16_WORKS[key] = bool(x.grad is not None and torch.isfinite(x.grad).all())
        except Exception:  # noqa: BLE001 - any failure means the same: no bf16 here
            _BF16_WORKS[key] = False
    if not _BF16_WORKS[key]:
        raise UserError(f"--precision bf16: this torch build cannot compute bf16 convolutions on {device.type}; use --precision fp32 or auto")
    if device.type == "cpu" and precision == "bf16" and not cpu_has_native_bf16():
        return ("warning: this CPU has no native bf16 (no avx512_bf16 or AMX): --precision bf16 is emulated "
                "and several times slower than fp32; --precision auto picks fp32 here")
    return ""


@dataclass(frozen=True)
class InputConvention:
    """How [0, 1] RGB images are turned into the network's input."""

    bgr: bool  # reverse channels (Caffe weights)
    scale: float  # multiply after the flip (255 for Caffe)
    mean: tuple[float, float, float]  # subtracted after scaling, in the network's channel order
    std: tuple[float, float, float]  # divided after the mean


CAFFE = InputConvention(bgr=True, scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0))
TORCHVISION = InputConvention(bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def pool(h: torch.Tensor, kind: str) -> torch.Tensor:
    """VGG's 2x2 stride-2 pooling (B, C, H, W) -> (B, C, H // 2, W // 2), ``kind`` max or avg.

    Floor mode, as in VGG and the classic implementations: an odd last row or column is dropped.
    Ceil mode (this package's first choice) adds a half-empty window on the odd edge; its
    activations are edge artifacts with their own statistics, and at relu4/relu5, where the
    maps are 10-24 cells wide, that one column or row weighs a tenth of the Gram. The optimizer
    then matched the painting's *edge artifact* instead of its big strokes: on rocket + Matisse
    at 384 px the engine reported a relu5_1 style loss of 0.012 where the same network in floor
    mode measured 0.137 (docs/defaults.md). Ceil only where floor would
    leave nothing (a map 1 cell high or wide), so tiny inputs still reach relu5_1.
    """
    ceil = h.shape[-1] < 2 or h.shape[-2] < 2
    if kind == "max":
        return F.max_pool2d(h, 2, ceil_mode=ceil)
    return F.avg_pool2d(h, 2, ceil_mode=ceil)


class VGGFeatures(nn.Module):
    """VGG conv stack that returns named activations.

    forward(x: (B, 3, H, W) in [0, 1], layers) -> {name: (B, C, H', W')}
    """

    def __init__(self, arch: str, convention: InputConvention, pooling: str = DEFAULT_POOLING,
                 precision: str = "auto") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise UserError(f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
        if precision not in PRECISIONS:
            raise UserError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        self.arch = arch
        self.pooling = pooling
        self.precision = precision  # see PRECISIONS; read at every forward, so it may be changed
        self.names = layer_names(arch)
        self.convs = nn.ModuleDict()
        cin = 3
        for b, n in enumerate(ARCHS[arch], start=1):
            for i in range(1, n + 1):
                # Departure from VGG: conv1_1 pads by replicating the edge pixels instead of zeros
                # (as crowsonkb/style-transfer-pytorch does). A zero (= mean colour) border is a
                # strong edge the style loss "sees" along every side, and the optimizer answered it
                # with a bright band in the top rows of the output.
                mode = "replicate" if (b, i) == (1, 1) else "zeros"
                self.convs[f"conv{b}_{i}"] = nn.Conv2d(cin, CHANNELS[b - 1], 3, padding=1, padding_mode=mode)
                cin = CHANNELS[b - 1]
        order = [0, 1, 2]
        if convention.bgr:
            order = [2, 1, 0]
        self.register_buffer("order", torch.tensor(order), persistent=False)
        self.register_buffer("mean", torch.tensor(convention.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(convention.std).view(1, 3, 1, 1), persistent=False)
        self.scale = convention.scale
        self.requires_grad_(False)
        self.eval()

    def check_layers(self, layers: Iterable[str], what: str = "layer") -> None:
        """Raise UserError naming the first unknown layer and listing the valid ones."""
        for name in layers:
            if name not in self.names:
                raise UserError(f"unknown {what} {name!r} for {self.arch}; valid: {', '.join(self.names)}")

    def depth(self, name: str) -> int:
        return self.names.index(name)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB [0, 1] -> the network's input convention."""
        x = x.index_select(1, self.order) * self.scale
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects (B, 3, H, W), got {tuple(x.shape)}")
        wanted = set(layers)
        self.check_layers(wanted)
        last = max(self.depth(n) for n in wanted)
        out: dict[str, torch.Tensor] = {}
        dtype = autocast_dtype(x.device.type, self.precision)
        ctx = torch.autocast(x.device.type, dtype=dtype) if dtype is not None else nullcontext()
        with ctx:
            # channels_last (NHWC) is what cuDNN and oneDNN run fastest: measured 15% faster on a
            # 2-core CPU at 512 px, no reorders between layers (benchmarks/engine_speed.py)
            h = self.preprocess(x).contiguous(memory_format=torch.channels_last)
            for name in self.names[: last + 1]:
                if name.startswith("conv"):
                    h = self.convs[name](h)
                elif name.startswith("relu"):
                    h = F.relu(h)
                else:
                    h = pool(h, self.pooling)
                if name in wanted:
                    out[name] = h
        return out


def _load_state(model: VGGFeatures, state: Mapping[str, torch.Tensor], source: str) -> VGGFeatures:
    expected = {f"{n}.{p}" for n in model.convs for p in ("weight", "bias")}
    missing = expected - set(state)
    if missing:
        raise UserError(f"weights {source} lack {len(missing)} tensors, e.g. {sorted(missing)[0]}; is it a {model.arch} file?")
    with torch.no_grad():
        for name, conv in model.convs.items():
            for p in ("weight", "bias"):
                t = state[f"{name}.{p}"]
                target = getattr(conv, p)
                if tuple(t.shape) != tuple(target.shape):
                    raise UserError(f"weights {source}: {name}.{p} has shape {tuple(t.shape)}, expected {tuple(target.shape)}")
                if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
                    raise UserError(f"weights {source}: {name}.{p} is not a finite floating-point tensor")
                target.copy_(t.float())
    return model


def torchvision_vgg_keys(arch: str) -> dict[str, str]:
    """Map torchvision ``features.N.weight`` keys to our ``convB_I.weight`` names."""
    mapping: dict[str, str] = {}
    idx = 0
    for b, n in enumerate(ARCHS[arch], start=1):
        for i in range(1, n + 1):
            for p in ("weight", "bias"):
                mapping[f"features.{idx}.{p}"] = f"conv{b}_{i}.{p}"
            idx += 2  # conv, relu
        idx += 1  # pool
    return mapping


def convert_torchvision_state(state: Mapping[str, torch.Tensor], arch: str = "vgg19") -> dict[str, torch.Tensor]:
    """Rename a torchvision VGG state dict (classifier keys are ignored)."""
    return {ours: state[theirs] for theirs, ours in torchvision_vgg_keys(arch).items() if theirs in state}


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or .pth (never unpickling code); UserError for a bad file."""
    check_input_file(path, "weights")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as e:  # noqa: BLE001 - a damaged or foreign file
            raise UserError(f"weights file {path} is not a readable .safetensors file ({' '.join(str(e).split())[:120]})") from None
    try:
        # weights_only: a .pth from elsewhere is data, never code.
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise UserError(f"weights file {path} could not be read as a PyTorch state dict: {e}".splitlines()[0]) from None
    if not isinstance(obj, dict):
        raise UserError(f"weights file {path} does not hold a state dict")
    return {k: v for k, v in obj.items() if isinstance(k, str) and torch.is_tensor(v)}


def _vgg19_state(weights: str | os.PathLike | None) -> tuple[dict[str, torch.Tensor], str]:
    if weights is not None:
        path = Path(weights)
        return _read_weights_file(path), str(path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE_NAME
    if cached.is_file():
        return _read_weights_file(cached), str(cached)
    try:
        state = torch.hub.load_state_dict_from_url(VGG19_URL, map_location="cpu", progress=False, weights_only=True)
    except Exception:  # noqa: BLE001 - offline, proxy, DNS: all mean the same to the user
        raise UserError(
            f"vgg19 weights are not available offline: download {VGG19_URL} on a machine with internet, "
            f"then pass --weights /path/to/{VGG19_FILE_NAME} or put it in {cached.parent}"
        ) from None
    return state, VGG19_URL


def load_backbone(
    name: str = "vgg16-hed",
    pooling: str = DEFAULT_POOLING,
    weights: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    precision: str = "auto",
) -> VGGFeatures:
    """Build a backbone with loaded weights on ``device``. ``weights`` overrides the file.

    ``precision`` (PRECISIONS): the convolutions' arithmetic on CUDA; VGGFeatures checks it."""
    if name == "vgg16-hed":
        path = Path(weights) if weights is not None else VGG16_HED_FILE
        model = _load_state(VGGFeatures("vgg16", CAFFE, pooling, precision), _read_weights_file(path), str(path))
    elif name == "vgg19":
        state, source = _vgg19_state(weights)
        if any(k.startswith("features.") for k in state):
            state = convert_torchvision_state(state, "vgg19")
        model = _load_state(VGGFeatures("vgg19", TORCHVISION, pooling, precision), state, source)
    else:
        raise UserError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")
    return model.to(device=device, memory_format=torch.channels_last)


def conv_flops(model: VGGFeatures, height: int, width: int, upto: str) -> float:
    """Forward FLOPs (2 per multiply-add) of the convs up to layer ``upto`` at this input size."""
    flops = 0.0
    h, w = height, width
    for name in model.names[: model.depth(upto) + 1]:
        if name.startswith("conv"):
            c = model.convs[name]
            flops += 2.0 * c.in_channels * c.out_channels * 9 * h * w
        elif name.startswith("pool"):
            h, w = -(-h // 2), -(-w // 2)
    return flops


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; otherwise the named device, checked."""
    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but no CUDA GPU is available; use --device cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UserError(f"device {name!r}: only {torch.cuda.device_count()} CUDA GPU(s) here (cuda:0..)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError(f"device {name!r} asked for, but MPS is not available; use --device cpu or auto")
    return dev
