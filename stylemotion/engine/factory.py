"""A run's engine and style images, built one way for every command and every worker.

:class:`EngineCache` belongs to whoever renders several things with the same network: one render,
one study worker process, one shot worker. It holds the networks by what they are (architecture,
pooling, weights file, device, precision), the style images by file and size, and the style
targets a study shares between cells (the last ``MAX_TARGETS`` kinds). Nothing here is a module
global: a process that wants to reuse a network across tasks keeps its cache and passes it in.

Images are ``(1, 3, H, W)`` float in [0, 1].
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import torch

from .backbone import VGGFeatures, load_backbone
from .config import DEFAULT_POOLING
from ..io.images import load_image, to_tensor
from .optimize import StyleConfig, StyleEngine, fit_style


@dataclass(frozen=True)
class BackboneSpec:
    """Which network a run uses (its device comes with the run)."""

    name: str = "vgg16-hed"  # the bundled VGG16; vgg19 needs a weights file
    pooling: str = DEFAULT_POOLING
    weights: str | None = None  # a weights file instead of the bundled one
    precision: str = "auto"  # auto | bf16 | fp32 (config.PRECISIONS)


def style_long_side(size: int, style: StyleConfig | float) -> int:
    """The long side a run's style images are kept at: ``style_scale`` x the output's, at least 8."""
    scale = style.style_scale if isinstance(style, StyleConfig) else style
    return max(8, round(size * scale))


class EngineCache:
    """Networks, style images and shared style targets, reused by one owner's renders."""

    MAX_TARGETS = 16  # kinds of shared style targets kept (a study sweeps a few paintings x sizes)
    MAX_STYLES = 64  # style images kept (a long playlist or a study of many paintings: the oldest go)

    def __init__(self) -> None:
        self._backbones: dict[tuple, VGGFeatures] = {}
        self._styles: OrderedDict[Hashable, Any] = OrderedDict()
        self._targets: OrderedDict[Hashable, Any] = OrderedDict()

    def backbone(self, spec: BackboneSpec, device: torch.device | str) -> VGGFeatures:
        key = (spec, str(device))
        if key not in self._backbones:
            self._backbones[key] = load_backbone(spec.name, spec.pooling, spec.weights, device, spec.precision)
        return self._backbones[key]

    def style_image(self, path: str | os.PathLike, long_side: int, what: str = "style image") -> torch.Tensor:
        """A painting read once and kept only at ``long_side`` (never at full resolution)."""
        return _lru(self._styles, (os.fspath(path), long_side), lambda: fit_style(to_tensor(load_image(path, what)), long_side),
                    self.MAX_STYLES)

    def targets(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Shared style targets by ``key``, computed on first use; the oldest kinds are dropped."""
        return _lru(self._targets, key, compute, self.MAX_TARGETS)


def _lru(store: OrderedDict, key: Hashable, compute: Callable[[], Any], limit: int) -> Any:
    """``store[key]``, computed on first use; the least recently used entries beyond ``limit`` go."""
    if key in store:
        store.move_to_end(key)
        return store[key]
    value = store[key] = compute()
    while len(store) > limit:
        store.popitem(last=False)
    return value


def build_engine(spec: BackboneSpec, style: StyleConfig, device: torch.device | str, cache: EngineCache | None = None) -> StyleEngine:
    """The engine for ``style`` on ``spec``'s network (from ``cache`` when it holds it). The style
    settings are checked against the network's layers before anything runs."""
    backbone = (cache or EngineCache()).backbone(spec, device)
    return StyleEngine(backbone, style)


def load_styles(paths: Sequence[str | os.PathLike], long_side: int, cache: EngineCache | None = None,
                what: str = "style image") -> list[torch.Tensor]:
    """One (1, 3, h, w) tensor per path; a path listed twice is read once and shares its tensor
    (a playlist may name the same painting many times)."""
    cache = cache or EngineCache()
    return [cache.style_image(p, long_side, what) for p in paths]
