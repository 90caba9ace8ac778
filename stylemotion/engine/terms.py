"""Loss terms as small modules, and the :class:`Objective` that sums them.

Terms whose math belongs to one mode live with it (``superres.LowResTerm``). Each term holds its targets and its weight; the objective runs the backbone once for the union
of the layers its terms read and returns the weighted total and every term's unweighted value,
all as device tensors (nothing here reads a number back to the host, so an iteration never waits
for the device).

A term's weight is a 0-dim float32 buffer on the term's device. :meth:`Term.set_weight` writes
into it in place, so a per-frame schedule changes the weight without building a new objective,
and a captured graph that read the buffer sees the new value. Targets are replaced in place the
same way (:meth:`Objective.set_targets` copies when the shape is unchanged).

Images are (B, 3, H, W) float32 in [0, 1]; every term returns a 0-dim float32 tensor.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from . import losses
from .backbone import VGGFeatures
from .temporal import temporal_loss

Features = Mapping[str, torch.Tensor]
RGB = "rgb"  # a sliced-Wasserstein target key for the image's own pixels


class Term(nn.Module):
    """One weighted loss term. Subclasses set ``name`` and ``layers`` and implement ``forward``."""

    name: str = "term"
    layers: tuple[str, ...] = ()  # backbone layers the term reads (empty: a pixel-space term)

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("weight", torch.tensor(float(weight), dtype=torch.float32))

    def set_weight(self, value: float) -> None:
        """Set the weight in place (the buffer keeps its identity and device)."""
        self.weight.fill_(float(value))

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _copy_into(old: dict[str, torch.Tensor], new: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``new`` copied into ``old``'s tensors where the keys and shapes match (a captured graph keeps
    reading the same memory); otherwise fresh copies of ``new``."""
    if set(old) == set(new) and all(old[k].shape == new[k].shape for k in new):
        for k, v in new.items():
            old[k].copy_(v)
        return old
    return own(new)


def own(targets: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float32 copies that the term owns: later in-place updates never reach the caller's tensors
    (a playlist's cached Grams, a study's shared targets)."""
    return {k: v.detach().float().clone() for k, v in targets.items()}


class ContentTerm(Term):
    """Mean over layers of the relative squared error to the content activations (B, C, H, W)."""

    name = "content"

    def __init__(self, targets: Mapping[str, torch.Tensor], weight: float = 1.0) -> None:
        super().__init__(weight)
        if not targets:
            raise ValueError("ContentTerm needs at least one target layer")
        self.targets = own(targets)
        self.layers = tuple(self.targets)

    def set_targets(self, targets: Mapping[str, torch.Tensor]) -> None:
        if set(targets) != set(self.targets):
            raise ValueError(f"content targets for {sorted(targets)}, expected {sorted(self.targets)}")
        self.targets = _copy_into(self.targets, targets)

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return sum(losses.content_loss(feats[k], t) for k, t in self.targets.items()) / len(self.targets)


class GramStyleTerm(Term):
    """Gatys' style loss: relative squared error of Gram matrices (B, C, C), layers weighted."""

    name = "style"

    def __init__(self, targets: Mapping[str, torch.Tensor], layer_weights: Mapping[str, float], weight: float = 1.0) -> None:
        super().__init__(weight)
        if not targets:
            raise ValueError("a style term needs at least one target layer")
        self.targets = own(targets)
        self.layers = tuple(self.targets)
        total = sum(layer_weights[k] for k in self.targets) or 1.0
        self.layer_weights = {k: layer_weights[k] / total for k in self.targets}  # normalized to sum 1

    def set_targets(self, targets: Mapping[str, torch.Tensor]) -> None:
        if set(targets) != set(self.targets):
            raise ValueError(f"style targets for {sorted(targets)}, expected {sorted(self.targets)}")
        self.targets = _copy_into(self.targets, targets)

    def layer_loss(self, feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return losses.style_loss(feat, target)

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return sum(self.layer_weights[k] * self.layer_loss(feats[k], t) for k, t in self.targets.items())


class W2StyleTerm(GramStyleTerm):
    """Wasserstein-2 between Gaussians fitted to the features and the target's mean-Grams
    (B, C+1, C+1, see :func:`losses.mean_gram`). S_t^1/2 depends on the target alone: computed when
    the targets are set, not at every iteration."""

    def __init__(self, targets: Mapping[str, torch.Tensor], layer_weights: Mapping[str, float], weight: float = 1.0) -> None:
        super().__init__(targets, layer_weights, weight)
        self.sqrts = {k: losses.w2_target_sqrt(v) for k, v in self.targets.items()}

    def set_targets(self, targets: Mapping[str, torch.Tensor]) -> None:
        super().set_targets(targets)
        self.sqrts = {k: losses.w2_target_sqrt(v) for k, v in self.targets.items()}

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return sum(self.layer_weights[k] * losses.w2_loss(feats[k], t, self.sqrts[k]) for k, t in self.targets.items())


class SlicedStyleTerm(GramStyleTerm):
    """Sliced-Wasserstein style (see :func:`losses.sw_loss`): targets are feature samples
    (B, C, N) from :func:`losses.sw_sample`; the key ``"rgb"``, when present, holds pixel samples
    (B, 3, N) matched the same way on the image itself (its colour distribution), weighted as the
    shallowest layer. Each layer's directions are a fixed random basis (seeded by its position),
    drawn once: a loss that changed every iteration would break L-BFGS's curvature pairs."""

    def __init__(self, targets: Mapping[str, torch.Tensor], layer_weights: Mapping[str, float], weight: float = 1.0) -> None:
        feats = {k: v for k, v in targets.items() if k != RGB}
        lw = dict(layer_weights)
        if RGB in targets:
            lw[RGB] = min((layer_weights[k] for k in feats), default=1.0)
        super().__init__(targets, lw, weight)
        self.layers = tuple(feats)
        self._resampled: dict[tuple[str, int, int, int], torch.Tensor] = {}
        self._sort_targets()

    def _sort_targets(self) -> None:
        dev = next(iter(self.targets.values())).device
        if not hasattr(self, "dirs") or any(self.dirs[k].shape[0] != v.shape[1] for k, v in self.targets.items()):
            self.dirs = {k: losses.sw_directions(v.shape[1], i, dev) for i, (k, v) in enumerate(self.targets.items())}
        new = {k: losses.sw_project(v, self.dirs[k]) for k, v in self.targets.items()}
        # in place when the shapes allow, as the other terms' targets (a captured graph reads them)
        self.sorted = _copy_into(self.sorted, new) if hasattr(self, "sorted") else new
        self._resampled.clear()

    def set_targets(self, targets: Mapping[str, torch.Tensor]) -> None:
        super().set_targets(targets)
        self._sort_targets()

    def _target(self, k: str, n: int) -> torch.Tensor:
        """Layer k's sorted target resampled to n points, kept until the next one (an image of
        another size than its target's would otherwise resample it at every iteration)."""
        t = self.sorted[k]
        if t.shape[-1] == n:
            return t
        key = (k, n, t.data_ptr(), t._version)
        if key not in self._resampled:
            self._resampled[key] = torch.nn.functional.interpolate(t.float(), size=n, mode="linear", align_corners=True)
        return self._resampled[key]

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        total = x.new_zeros((), dtype=torch.float32)
        for k in self.sorted:
            f = x if k == RGB else feats[k]
            total = total + self.layer_weights[k] * losses.sw_loss(f, self._target(k, f.shape[-2] * f.shape[-1]), self.dirs[k])
        return total


class TVTerm(Term):
    """Squared total variation, scaled by the pixel count / 65536 so that a weight means the same
    smoothing at every image size."""

    name = "tv"

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return losses.tv_loss(x) * (x.shape[-1] * x.shape[-2] / 65536.0)


class TVL1Term(Term):
    """Edge-preserving (Charbonnier) total variation: the natural-image prior of ``reconstruct``."""

    name = "prior"

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return losses.tv_l1_loss(x)


class TemporalTerm(Term):
    """Ruder et al.'s temporal loss: sum over (warped earlier output, per-pixel weight) of the
    mean weighted squared difference, each (1, 3 or 1, H, W). The per-frame temporal weight is the
    term's weight; the masks carry only the consistency (and long-term) weights."""

    name = "temporal"

    def __init__(self, targets: Sequence[tuple[torch.Tensor, torch.Tensor]], weight: float = 1.0) -> None:
        super().__init__(weight)
        self.set_targets(targets)

    def set_targets(self, targets: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """This frame's (warped earlier output, weight) pairs; an empty list makes the term 0."""
        self.targets = [(w.detach().float(), m.detach().float()) for w, m in targets]

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return temporal_loss(x, self.targets).float()


class FnTerm(Term):
    """Any function of the image as a term (experiments, tests): ``fn(x) -> 0-dim tensor``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str = "extra", weight: float = 1.0) -> None:
        super().__init__(weight)
        self.fn = fn
        self.name = name

    def forward(self, x: torch.Tensor, feats: Features) -> torch.Tensor:
        return self.fn(x).float()


class Objective(nn.Module):
    """The sum of weighted terms over one backbone pass.

    forward(x (1, 3, H, W)) -> (total, parts): the weighted sum (0-dim) and each term's unweighted
    value (len(terms),), both float32 on x's device. A term of weight 0 is still evaluated, so that a
    schedule can raise its weight later without building a new objective.
    """

    def __init__(self, backbone: VGGFeatures | None, terms: Sequence[Term]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("an objective needs at least one term")
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"term names must be unique, got {names}")
        self.backbone = backbone
        self.terms = nn.ModuleList(terms)
        layers: list[str] = []
        for t in terms:
            layers += [k for k in t.layers if k not in layers]
        if layers and backbone is None:
            raise ValueError(f"terms read layers {layers} but no backbone was given")
        self.layers = tuple(layers)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.terms]

    def term(self, name: str) -> Term | None:
        """The term called ``name``, or None."""
        return next((t for t in self.terms if t.name == name), None)

    def set_weight(self, name: str, value: float) -> None:
        """Set a term's weight in place; a term that is not there is left alone (e.g. no style)."""
        t = self.term(name)
        if t is not None:
            t.set_weight(value)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"Objective expects (B, 3, H, W), got {tuple(x.shape)}")
        return self.score(x, self.backbone(x, self.layers) if self.layers else {})

    def score(self, x: torch.Tensor, feats: Features) -> tuple[torch.Tensor, torch.Tensor]:
        """(total, parts) of ``x`` from features already computed (a batch computes them once)."""
        parts = torch.stack([t(x, feats).reshape(()).float() for t in self.terms])
        weights = torch.stack([t.weight for t in self.terms])
        return (weights * parts).sum(), parts.detach()

    def evaluate(self, x: torch.Tensor) -> tuple[float, dict[str, float]]:
        """Total and parts as Python numbers, without gradients (reads back: not for the hot loop)."""
        with torch.no_grad():
            total, parts = self(x)
        return float(total), dict(zip(self.names, parts.tolist()))


class BatchObjective(nn.Module):
    """B objectives scored over one backbone pass of a (B, 3, H, W) batch.

    Item b is scored by objective b alone (its own targets and weights) and the total is the sum,
    so each item's gradient is the one it would get by itself: the batch changes how the work
    reaches the device (one network pass for B images), not the loss. ``parts`` are summed over
    the items. All objectives must share the backbone and the term names.
    """

    def __init__(self, objectives: Sequence[Objective]) -> None:
        super().__init__()
        if not objectives:
            raise ValueError("a batch objective needs at least one objective")
        first = objectives[0]
        for o in objectives[1:]:
            if o.backbone is not first.backbone or o.names != first.names:
                raise ValueError(f"batched objectives must share the backbone and the terms; got {first.names} and {o.names}")
        self.items = nn.ModuleList(objectives)
        self.backbone = first.backbone
        layers: list[str] = []
        for o in objectives:
            layers += [k for k in o.layers if k not in layers]
        self.layers = tuple(layers)

    @property
    def names(self) -> list[str]:
        return self.items[0].names

    def __len__(self) -> int:
        return len(self.items)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] != len(self.items):
            raise ValueError(f"BatchObjective of {len(self.items)} expects ({len(self.items)}, 3, H, W), got {tuple(x.shape)}")
        feats = self.backbone(x, self.layers) if self.layers else {}
        total, parts = self.items[0].score(x[:1], {k: v[:1] for k, v in feats.items()})
        for b in range(1, len(self.items)):
            t, p = self.items[b].score(x[b:b + 1], {k: v[b:b + 1] for k, v in feats.items()})
            total, parts = total + t, parts + p
        return total, parts
