"""Patch optimization on canvases larger than memory allows, with stochastic multiscale.

The canvas ``(1, 3, H, W)`` lives on the CPU. Each step draws a scale ``s`` from the configured
set and a position; the canvas region of side ``patch * s`` is resampled to the patch's native
size, optimized for a few iterations on the device, and written back through a feathered mask.
Memory is bounded by the patch size, not the canvas.

* Content: the *same relative region* of the content image (any resolution) is cropped and
  resized to the patch, so the canvas can be far larger than the content photo.
* Style, ``localized``: the same relative region of the style image gives the Gram targets, so
  style depends on position (sky stays sky). ``global``: Grams of the whole style image at the
  scale matching the canvas, computed once per scale in tiles (memory stays bounded too).
* No content image: start from noise and use localized style from a photo: a remix of the photo
  that keeps its rough layout.

Departures from the original experiment, and why:

* Writing back an upsampled patch at scale s > 1 blurred the fine detail that earlier steps had
  made (and pasted hard edges: seams). We write back only the *change* the optimization made,
  upsampled, so finer detail survives, through a raised-cosine feathered mask (no seams).
* Pixel values are clamped to [0, 1] after every write (the original wrapped around in 8 bits
  where changes overlapped: the "overflow" speckles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Optional

import torch

from ..engine.color import match_color
from ..errors import UserError
from ..engine.loop import Callback
from ..engine.optimize import OptimConfig, StyleConfig, StyleEngine, Targets, Pyramid, resize, scaled_size, stylize, to_palette

STYLE_MODES = ("global", "localized")
INITS = ("stylized", "content", "noise", "blurred")
MAX_CANVAS = 16384


@dataclass
class PatchConfig:
    canvas: int = 1024  # long side of the output canvas, pixels
    patch: int = 256  # side of the optimized patch (memory is bounded by this)
    steps: int = 0  # patches to optimize; 0 = auto: every scale's grid of positions covered `passes` times
    passes: int = 2  # coverage for auto steps
    iterations: int = 20  # optimizer iterations per patch
    scales: tuple[int, ...] = (1,)  # canvas region = patch * scale; e.g. (1, 2, 4) for multiscale
    style_mode: str = "global"  # global | localized
    feather: float = 0.25  # width of the blend ramp, as a fraction of the patch side
    # stylized: the whole image stylized at `base` px and upsampled (global style only; localized
    # starts from the content) | content | noise | blurred: the content (or, with none, the style
    # photo) shrunk to `blur` pixels per largest patch side, upsampled, plus faint noise
    init: str = "stylized"
    blur: int = 8  # cells per largest patch side in the blurred start: its colour layout, no detail
    # after the last patch, give the canvas the reference's luminance and chroma means and spreads
    # (match_color "yiq"): overlapping feathered patches average each other's contrast away
    final_colors: bool = False
    base: int = 384  # long side of the whole-image stylization that `stylized` starts from
    seed: int = 0  # positions, scales and noise
    # patches of one scale optimized together, as one batch through the network (they never
    # overlap, so each sees the canvas as it would alone). 1 = one at a time. Pays where one patch
    # leaves the device idle (small patches, GPUs): docs/measurements.md; memory grows with it
    batch: int = 1

    def check(self) -> None:
        if not (32 <= self.patch <= 4096):
            raise UserError(f"patch must be in [32, 4096], got {self.patch}")
        if not (self.patch <= self.canvas <= MAX_CANVAS):
            raise UserError(f"canvas must be in [patch={self.patch}, {MAX_CANVAS}], got {self.canvas}")
        if not (0 <= self.steps <= 1_000_000) or not (1 <= self.iterations <= 10_000) or not (1 <= self.passes <= 100):
            raise UserError(f"steps must be >= 0 (0 = auto), iterations and passes >= 1; got {self.steps}, {self.iterations}, {self.passes}")
        if not self.scales or any((not isinstance(s, int)) or s < 1 or s > 64 for s in self.scales):
            raise UserError(f"scales must be integers in [1, 64], got {self.scales}")
        if self.style_mode not in STYLE_MODES:
            raise UserError(f"style mode {self.style_mode!r} is not one of {', '.join(STYLE_MODES)}")
        if not (0 <= self.feather <= 0.5):
            raise UserError(f"feather must be in [0, 0.5], got {self.feather}")
        if self.init not in INITS:
            raise UserError(f"init {self.init!r} is not one of {', '.join(INITS)}")
        if not (1 <= self.blur <= 64):
            raise UserError(f"blur must be in [1, 64] cells per patch side, got {self.blur}")
        if not (64 <= self.base <= 2048):
            raise UserError(f"base must be in [64, 2048], got {self.base}")
        if not (1 <= self.batch <= 64):
            raise UserError(f"batch must be in [1, 64] patches, got {self.batch}")


# ``stylemotion remix`` (no content image) without a preset. Measured with
# benchmarks/seed_experiments.py on photos it was not tuned on (docs/measurements.md).
REMIX = PatchConfig(
    canvas=512,
    patch=128,  # the scale of the recombined parts: 128 px windows, and 256 px at scale 2
    iterations=50,  # per patch: 20 left the fine detail unresolved (soft, hazy parts)
    scales=(1, 2),
    style_mode="localized",  # each region's statistics from the same region of the photo
    init="blurred",
    # the remix's colours are the photo's: without it the patches' blending left it faded (colour
    # spread 0.80-0.82 of the photo's on the cat at canvas 256)
    final_colors=True,
)
REMIX_STYLE = StyleConfig(
    content_weight=0.0,  # there is no content image
    style_weight=3.0,
    # TV 2, with no content term: 10 washed the parts out into soft blobs (0.5 looked like 2)
    tv_weight=2.0,
    # the fine layers weighted as much as the deep ones: the deep-heavy image default covered flat
    # areas in grain; the photo's small parts (windows, tiles) live in relu2_1-relu3_1
    style_layer_weights=(0.25, 1.0, 1.0, 1.0, 1.0),
    # sliced Wasserstein: whole feature and colour distributions, not their second moments. On the
    # rocket the Gram remix spread the towers' lattice over the sky as a uniform grain; this one
    # keeps the sky clean and the lights and tower fragments distinct. 1.7x the time on a CPU
    style_loss="sw",
)


@dataclass
class PatchStep:
    step: int  # 1-based
    steps: int
    box: tuple[int, int, int, int]  # canvas region (top, left, height, width)
    scale: int
    loss: float
    canvas: torch.Tensor  # (1, 3, H, W) on CPU, live: do not modify


def feather_mask(h: int, w: int, ramp: int, device: torch.device | str = "cpu", sides: tuple[bool, bool, bool, bool] = (True, True, True, True)) -> torch.Tensor:
    """(1, 1, h, w) raised-cosine mask: 0 at the edge, 1 from ``ramp`` pixels inward.

    ``sides`` (top, bottom, left, right) say which edges get the ramp: an edge on the canvas
    border must not, or the border pixels would never be fully optimized.
    """
    def ramp1d(n: int, lo: bool, hi: bool) -> torch.Tensor:
        i = torch.arange(n, dtype=torch.float32, device=device)
        far = torch.full((n,), float(n), device=device)
        d = torch.minimum(i + 0.5 if lo else far, n - i - 0.5 if hi else far)  # distance to a ramped edge
        if ramp <= 0:
            return torch.ones(n, device=device)
        return 0.5 - 0.5 * torch.cos(math.pi * (d / ramp).clamp(0, 1))

    top, bottom, left, right = sides
    return (ramp1d(h, top, bottom)[:, None] * ramp1d(w, left, right)[None, :])[None, None]


def crop_relative(img: torch.Tensor, top: float, left: float, height: float, width: float, out_hw: tuple[int, int]) -> torch.Tensor:
    """Crop the region given as fractions of ``img`` (1, 3, H, W) and resize to ``out_hw``."""
    H, W = img.shape[-2:]
    t0, l0 = int(math.floor(top * H)), int(math.floor(left * W))
    t1, l1 = max(t0 + 1, int(math.ceil((top + height) * H))), max(l0 + 1, int(math.ceil((left + width) * W)))
    return resize(img[..., t0:min(t1, H), l0:min(l1, W)], out_hw)


@torch.no_grad()
def tiled_grams(engine: StyleEngine, img: torch.Tensor, tile: int) -> dict[str, torch.Tensor]:
    """Style targets of a large image (1, 3, H, W) on CPU: its tiles' targets blended by area
    (:meth:`StyleEngine.blend`: the mean of Grams, or a mixture of samples)."""
    H, W = img.shape[-2:]
    parts: list[dict[str, torch.Tensor]] = []
    areas: list[float] = []
    for y in range(0, H, tile):
        for x in range(0, W, tile):
            t = img[..., y:y + tile, x:x + tile]
            if min(t.shape[-2:]) < 16:
                continue
            parts.append(engine.style_grams(t.to(engine.device)))
            areas.append(float(t.shape[-2] * t.shape[-1]))
    if not parts:  # smaller than one tile
        return engine.style_grams(img.to(engine.device))
    return engine.blend(parts, areas)


def blurred_start(ref: torch.Tensor, hw: tuple[int, int], cell: float, gen: torch.Generator) -> torch.Tensor:
    """(1, 3, H, W) start: ``ref`` (1, 3, h, w) shrunk to cells of ``cell`` canvas pixels, upsampled,
    plus uniform noise of amplitude 0.1.

    Why a remix starts here rather than from noise: from noise, 20-50 iterations per patch left
    saturated false-colour blobs where the patches' statistics disagreed (the greens of a tree's
    region pulled into the sky's), a checkerboard grain, and none of the photo's parts. The cells
    carry only where the photo's colours are (8 per largest patch: less than the patch's own
    statistics describe); the shapes inside them come from the localized style.
    """
    H, W = hw
    small = resize(ref, (max(1, round(H / cell)), max(1, round(W / cell))))
    noise = 0.1 * (torch.rand((1, 3, H, W), generator=gen) - 0.5)
    return (resize(small, hw) + noise).clamp(0, 1).contiguous()


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes (top, left, height, width) share a pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def canvas_hw(cfg: PatchConfig, ref_hw: tuple[int, int]) -> tuple[int, int]:
    """Canvas (H, W): long side ``cfg.canvas``, the reference's aspect, at least one patch."""
    h, w = ref_hw
    s = cfg.canvas / max(h, w)
    return max(cfg.patch, round(h * s)), max(cfg.patch, round(w * s))


def base_iterations(cfg: PatchConfig, optim: OptimConfig, hw: tuple[int, int], has_content: bool) -> int:
    """Total iterations of the whole-image base stylization (0 when the canvas starts otherwise)."""
    if cfg.init != "stylized" or not has_content or cfg.style_mode != "global":
        return 0
    h, w = scaled_size(*hw, min(cfg.base, max(hw)))
    return Pyramid.of((h, w), optim).total


def grid_cells(cfg: PatchConfig, hw: tuple[int, int], scale: int) -> list[tuple[int, int]]:
    """Cell origins covering a canvas (H, W) with patches of this scale, overlapping by the feather."""
    H, W = hw
    side = cfg.patch * scale
    stride = max(1, int(side * (1 - cfg.feather)))
    ys = list(range(0, max(1, H - side + stride), stride))
    xs = list(range(0, max(1, W - side + stride), stride))
    return [(y, x) for y in ys for x in xs]


def total_steps(cfg: PatchConfig, hw: tuple[int, int]) -> int:
    """Patches a render of canvas (H, W) optimizes: ``cfg.steps``, or ``passes`` over every scale's grid."""
    if cfg.steps:
        return cfg.steps
    return cfg.passes * sum(len(grid_cells(cfg, hw, s)) for s in cfg.scales)


class PatchPlacer:
    """Where the patches of each scale go: stratified (a shuffled grid, refilled when used up) plus
    a random jitter, so that every region is visited while seams never line up. Boxes are
    (top, left, height, width) in the canvas of size ``hw``."""

    def __init__(self, cfg: PatchConfig, hw: tuple[int, int], gen: torch.Generator) -> None:
        self.cfg, self.hw, self.gen = cfg, hw, gen
        self._queues: dict[int, list[tuple[int, int]]] = {}

    def next_box(self, scale: int) -> tuple[int, int, int, int]:
        """Next position for this scale: stratified (a shuffled grid, refilled when used up) plus
        a random jitter, so that every region is visited while seams never line up."""
        queue = self._queues.setdefault(scale, [])
        if not queue:
            cells = grid_cells(self.cfg, self.hw, scale)
            order = torch.randperm(len(cells), generator=self.gen).tolist()
            queue.extend(cells[i] for i in order)
        return self._jittered(scale, queue.pop())

    def _jittered(self, scale: int, cell: tuple[int, int]) -> tuple[int, int, int, int]:
        """The box (top, left, height, width) of a grid cell, moved by a random jitter, in the canvas."""
        H, W = self.hw
        side = self.cfg.patch * scale
        ph, pw = min(side, H), min(side, W)
        y, x = cell
        jitter = max(1, int(side * self.cfg.feather / 2))
        y += int(torch.randint(-jitter, jitter + 1, (1,), generator=self.gen))
        x += int(torch.randint(-jitter, jitter + 1, (1,), generator=self.gen))
        return min(max(0, y), H - ph), min(max(0, x), W - pw), ph, pw

    def boxes(self, scale: int, k: int) -> list[tuple[int, int, int, int]]:
        """Up to ``k`` boxes of this scale that do not overlap: the next one, then the next cells of
        the queue that clear the ones taken (those that do not go back, in order, for later)."""
        boxes = [self.next_box(scale)]
        queue = self._queues[scale]
        skipped: list[tuple[int, int]] = []
        while len(boxes) < k and queue:
            cell = queue.pop()
            box = self._jittered(scale, cell)
            if any(overlaps(box, b) for b in boxes):
                skipped.append(cell)
            else:
                boxes.append(box)
        queue.extend(reversed(skipped))
        return boxes


class PatchRenderer:
    """Owns the canvas and the per-scale targets; :meth:`steps` yields after every patch."""

    def __init__(
        self,
        engine: StyleEngine,
        content: Optional[torch.Tensor],
        style: torch.Tensor,
        cfg: PatchConfig,
        optim: OptimConfig,
        aspect_hw: tuple[int, int] | None = None,
        base_callback: Callback | None = None,
    ) -> None:
        """``base_callback`` gets the progress of the whole-image base stylization (init stylized)."""
        cfg.check()
        optim.check()
        if content is not None and optim.palette > 0 and not optim.original_colors:
            # recolour once here, so the base stylization and every patch's content target agree
            content = to_palette(content, [style], strength=optim.palette)
            optim = replace(optim, palette=0.0)
        self.engine, self.content, self.style, self.cfg, self.optim = engine, content, style, cfg, optim
        ref = content if content is not None else style
        self.hw = canvas_hw(cfg, aspect_hw or tuple(ref.shape[-2:]))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        if base_iterations(cfg, optim, self.hw, content is not None) > 0:
            # Large style features first: the whole image, stylized at a size one optimization
            # handles, upsampled; the patches then add detail at the canvas's own resolution.
            small = resize(content, scaled_size(*self.hw, min(cfg.base, max(self.hw))))
            self.canvas = resize(stylize(engine, small, [style], optim, callback=base_callback), self.hw).clamp(0, 1).contiguous()
        elif cfg.init in ("content", "stylized") and content is not None:
            self.canvas = resize(content, self.hw).clamp(0, 1).contiguous()
        elif cfg.init == "blurred":
            self.canvas = blurred_start(ref, self.hw, cfg.patch * max(cfg.scales) / cfg.blur, self.gen)
        else:
            noise = torch.rand((1, 3, *self.hw), generator=self.gen)
            # smooth the noise a little (white noise at canvas resolution only adds fizz), and give
            # it the colors of the image whose statistics we chase (grey noise came out washed out)
            noise = resize(resize(noise, (max(1, self.hw[0] // 4), max(1, self.hw[1] // 4))), self.hw)
            self.canvas = match_color(noise, ref, "meanstd").contiguous()
        self.placer = PatchPlacer(cfg, self.hw, self.gen)  # after the canvas: they draw from one generator
        self.global_grams: dict[int, dict[str, torch.Tensor]] = {}
        if cfg.style_mode == "global":
            for sc in cfg.scales:
                # the style at the canvas's scale, then shrunk by the patch's sampling scale
                side = max(16, round(engine.style.style_scale * max(self.hw) / sc))
                sh, sw = style.shape[-2:]
                k = side / max(sh, sw)
                self.global_grams[sc] = tiled_grams(engine, resize(style, (max(16, round(sh * k)), max(16, round(sw * k)))), 512)

    @property
    def total_steps(self) -> int:
        return total_steps(self.cfg, self.hw)

    def targets(self, box: tuple[int, int, int, int], scale: int, patch_hw: tuple[int, int]) -> Targets:
        top, left, ph, pw = box
        H, W = self.hw
        rel = (top / H, left / W, ph / H, pw / W)
        content = {}
        if self.content is not None and self.engine.style.content_weight > 0:
            content = self.engine.content_targets(crop_relative(self.content, *rel, patch_hw))
        if self.cfg.style_mode == "global":
            style = self.global_grams[scale]
        else:
            style = self.engine.style_grams(crop_relative(self.style, *rel, patch_hw))
        return Targets(content, style)

    def steps(self, callback: Callable[[PatchStep], None] | None = None) -> Iterator[PatchStep]:
        cfg = self.cfg
        dev = self.engine.device
        n = self.total_steps
        # a scale is drawn in proportion to how many cells its grid has: each scale gets the same coverage
        weights = torch.tensor([float(len(grid_cells(cfg, self.hw, s))) for s in cfg.scales])
        H, W = self.hw
        i = 0
        while i < n:
            scale = cfg.scales[int(torch.multinomial(weights, 1, generator=self.gen))]
            boxes = self.placer.boxes(scale, min(cfg.batch, n - i))
            ph, pw = boxes[0][2:]  # one scale: every box has the same size
            patch_hw = (max(16, round(ph / scale)), max(16, round(pw / scale)))
            regions = [self.canvas[..., top:top + ph, left:left + pw] for top, left, _, _ in boxes]
            start = torch.cat([resize(r, patch_hw) for r in regions]).to(dev)
            targets = [self.targets(box, scale, patch_hw) for box in boxes]
            res = self.engine.optimize(start, targets[0] if len(boxes) == 1 else targets, self.optim, cfg.iterations)
            ramp = max(1, round(cfg.feather * min(ph, pw))) if cfg.feather > 0 else 0
            for b, ((top, left, _, _), region) in enumerate(zip(boxes, regions)):
                i += 1
                delta = resize((res.image[b:b + 1] - start[b:b + 1]).cpu(), (ph, pw))  # only the change goes back: finer detail survives
                mask = feather_mask(ph, pw, ramp, sides=(top > 0, top + ph < H, left > 0, left + pw < W))
                region.add_(delta * mask).clamp_(0, 1)
                if i == n and cfg.final_colors:
                    self.canvas.copy_(match_color(self.canvas, self.content if self.content is not None else self.style, "yiq"))
                # a batch reports its mean loss for each of its patches
                step = PatchStep(i, n, boxes[b], scale, res.loss / len(boxes), self.canvas)
                if callback is not None:
                    callback(step)
                yield step
