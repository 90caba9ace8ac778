"""Stylize a user's clip with temporal consistency (Ruder et al. 2016): the clip loop.

A generator like :class:`stylemotion.sequence.Sequencer`: it takes input frames and yields
stylized ones with a resumable state, and touches no files (the CLI decodes, saves and encodes).
Per frame t (images ``(1, 3, H, W)`` in [0, 1] at the working size):

1. optical flow between input t and each earlier input t-j (j in ``long_term``), both ways
   (:mod:`stylemotion.video.flow`), computed for the next frame in a worker thread while this one is
   optimized;
2. the consistency masks of Ruder et al. (disocclusions, motion boundaries), and their long-term
   weights (:mod:`stylemotion.engine.temporal`);
3. the previous output warped by the flow is the start image, and the temporal loss holds the
   result to the warped earlier outputs where the flow is reliable;
4. the usual content + style loss, with the playlist's style (crossfades included) at frame t;
5. with ``video.passes`` > 1, Ruder et al.'s multi-pass over each shot once its forward pass is
   done (backward, forward, ...); the shot's frames are held until then.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from .cuts import ClipPalette, ShotDetector
from .multipass import refine_shot
from ..animation.framestyle import FrameStyler
from ..engine.loop import Progress
from ..io.decode import read_video
from ..engine.optimize import StyleEngine, resize
from ..engine.terms import TemporalTerm
from ..settings.playlist import label_at, on_beats, weights_at
from ..settings.sections import Settings, bind_signals, song_uses
from ..engine.temporal import carry, consistency, fill_unreliable, long_term_weights


@dataclass
class ClipState:
    """What the next frame needs from the earlier ones (saved for ``--resume``)."""

    next_frame: int = 0  # index in the output sequence
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)  # lag j -> output of frame t-j
    inputs: dict[int, torch.Tensor] = field(default_factory=dict)  # lag j -> input of frame t-j
    palette: torch.Tensor | None = None  # (1, 3, 4) colour map of the shot (video.palette > 0), fitted on its first frame

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"out.{j}": v.clone().contiguous() for j, v in self.outputs.items()}
        out.update({f"in.{j}": v.clone().contiguous() for j, v in self.inputs.items()})
        if self.palette is not None:
            out["palette"] = self.palette.clone().contiguous()
        return out

    @classmethod
    def from_tensors(cls, next_frame: int, t: dict[str, torch.Tensor]) -> "ClipState":
        outs = {int(k[4:]): v for k, v in t.items() if k.startswith("out.")}
        ins = {int(k[3:]): v for k, v in t.items() if k.startswith("in.")}
        if set(t) - {f"out.{j}" for j in outs} - {f"in.{j}" for j in ins} - {"palette"}:
            raise ValueError(f"unknown tensors in a clip state: {sorted(t)}")
        pal = t.get("palette")
        if pal is not None and tuple(pal.shape) != (1, 3, 4):
            raise ValueError(f"a clip state's palette map is {tuple(pal.shape)}, expected (1, 3, 4)")
        return cls(next_frame, outs, ins, pal)


@dataclass
class ClipFrame:
    index: int  # in the output sequence
    source: int  # frame number in the input clip
    image: torch.Tensor  # (1, 3, H, W) on CPU
    label: str  # dominant style
    iterations: int
    loss: float
    state: ClipState
    params: dict = field(default_factory=dict)  # per-frame log: weights, reliable fraction, seconds
    key: bool = True


@dataclass
class _Prepared:
    source: int
    x: torch.Tensor  # input frame
    flows: dict[int, tuple[torch.Tensor, torch.Tensor]]  # lag -> (flow t -> t-j, flow t-j -> t)
    flow_seconds: float
    cut: bool = False  # the first frame of a new shot: started as frame 0 is
    hist: float = 0.0  # colour histogram distance to the previous input frame
    reliable: float = 1.0  # share of pixels whose flow from the previous frame is reliable
    mask1: torch.Tensor | None = None  # (1, 1, H, W) consistency of the flow to the previous frame (computed once, here)


class FlowPrefetch:
    """Input frames with their flows to the earlier inputs, one frame ahead in a worker thread: the
    next frame's flow is computed while this one is optimized. Keeps a ring of the last
    ``keep`` inputs; a cut empties it (nothing before a shot is carried into it)."""

    def __init__(self, shots: ShotDetector, lags: list[int], keep: int) -> None:
        self.shots, self.lags, self.keep = shots, lags, keep

    def __call__(self, source: Iterable[tuple[int, torch.Tensor]], ring: dict[int, torch.Tensor]) -> Iterator[_Prepared]:
        ring = dict(ring)  # lag -> input, as of the frame about to be prepared
        flow = self.shots.flow

        def prep(item: tuple[int, torch.Tensor]) -> _Prepared:
            src, x = item
            t0 = time.perf_counter()
            flows = {}
            cut, hist, reliable, mask1 = False, 0.0, 1.0, None
            if flow is not None and 1 in ring:
                c = self.shots.compare(ring[1], x, src)
                cut, hist, reliable, flows[1], mask1 = c.cut, c.hist, c.reliable, c.flows, c.mask
            if cut:  # a new shot: nothing before it is carried or held
                ring.clear()
                flows = {}
            elif flow is not None:
                for j in self.lags:
                    if j > 1 and j in ring:
                        flows[j] = flow.pair(x, ring[j])
            for j in range(self.keep, 1, -1):  # shift the ring for the next frame
                if j - 1 in ring:
                    ring[j] = ring[j - 1]
            if self.keep:
                ring[1] = x
            return _Prepared(src, x, flows, time.perf_counter() - t0, cut, round(hist, 4), round(reliable, 4), mask1 if not cut else None)

        it = iter(source)
        with ThreadPoolExecutor(max_workers=1) as pool:
            nxt = next(it, None)
            fut = pool.submit(prep, nxt) if nxt is not None else None
            while fut is not None:
                ready = fut.result()
                nxt = next(it, None)
                fut = pool.submit(prep, nxt) if nxt is not None else None  # the next frame's flow, in parallel
                yield ready


class ClipStylizer:
    """Stylize a stream of frames with the settings' [video] section: the loop that ties the shot
    detector, the flow prefetch, the clip's palette and the frame styler together."""

    def __init__(self, settings: Settings, engine: StyleEngine, styles: list[torch.Tensor], hw: tuple[int, int]) -> None:
        s = settings
        if len(styles) != len(s.playlist):
            raise ValueError(f"{len(styles)} style images for {len(s.playlist)} playlist entries")
        self.s, self.engine, self.hw, self.v = s, engine, hw, s.video
        self.styler = FrameStyler(s, engine, styles, hw)
        self.iters = s.schedule("run", "iterations")
        self.content_weight, self.style_weight = s.schedule("style", "content_weight"), s.schedule("style", "style_weight")
        self.temporal_weight = s.schedule("video", "temporal_weight")
        temporal = self.v.init == "warped" and any(self.temporal_weight(t) > 0 for t in range(s.run.frames))
        self.lags = sorted(set(self.v.long_term)) if temporal else []  # earlier frames in the temporal loss
        self.keep = max([1, *self.lags]) if self.v.init == "warped" else 0  # earlier frames to keep
        self.shots = ShotDetector.for_run(s)
        self.palette = ClipPalette(styles, self.v.palette)
        self.prefetch = FlowPrefetch(self.shots, self.lags, self.keep)
        # Ruder et al.'s multi-pass: after the forward pass, passes 2.. run over each shot backward,
        # forward, ... (needs the flow: per-frame mode has none)
        self.passes = self.v.passes if self.v.init == "warped" else 1

    def iterations_at(self, t: int) -> int:
        """The planned iterations of frame t, all passes (a cut, or many unreliable pixels, get more)."""
        again = (self.passes - 1) * round(self.iters(t))  # the refinement passes (video.passes > 1)
        if t == 0 or self.v.init == "content":
            return self.styler.first_frame_iterations(self.s.run.first_iterations) + again
        return round(self.iters(t)) + again

    def frames(
        self,
        source: Iterable[tuple[int, torch.Tensor]],
        state: ClipState | None = None,
        on_progress: Callable[[int, Progress], None] | None = None,
    ) -> Iterator[ClipFrame]:
        """Stylize ``source`` ((input frame number, (1, 3, H, W) at ``hw``), ...) from ``state``."""
        if self.passes <= 1:
            yield from self._forward(source, state, on_progress)
            return
        # multi-pass: a shot's frames are held until its passes are done, then yielded in order
        shot: list[tuple[ClipFrame, _Prepared]] = []
        for frame, p in self._forward(source, state, on_progress, prepared=True):  # type: ignore[misc]
            if p.cut and shot:
                yield from self._refined(shot, on_progress)
                shot = []
            shot.append((frame, p))
        if shot:
            yield from self._refined(shot, on_progress)

    def _forward(self, source: Iterable[tuple[int, torch.Tensor]], state: ClipState | None,
                 on_progress: Callable[[int, Progress], None] | None, prepared: bool = False) -> Iterator:
        """The forward pass: ClipFrames (with their _Prepared input, ``prepared``) in order."""
        state = state or ClipState()
        t = state.next_frame
        for p in self.prefetch(source, state.inputs):
            if tuple(p.x.shape[-2:]) != tuple(self.hw):
                raise ValueError(f"frame {p.source} is {tuple(p.x.shape)}, expected (1, 3, {self.hw[0]}, {self.hw[1]})")
            t0 = time.perf_counter()
            pal, raw = state.palette, p.x  # the state keeps raw inputs: the flow of the next frames reads them
            if self.palette.target is not None:
                # one map per shot, fitted on its first frame (or the first after a resume from a
                # state saved without one): steady colours within a shot, and a new shot recoloured
                # from its own colours as `image` recolours a photo (a map fitted on another shot's
                # colours muddies the style and the edges: docs/measurements.md)
                # per-frame mode (init "content") stylizes every frame as `image` does: each its own map
                refit = pal is None or p.cut or self.v.init == "content"
                pal = self.palette.fit(p.x) if refit else pal
                p = replace(p, x=self.palette.apply(p.x, pal))
            out, iters, loss, info = self._render(t, p, state, on_progress)
            outputs: dict[int, torch.Tensor] = {}
            inputs: dict[int, torch.Tensor] = {}
            if self.keep:
                for j in range(self.keep, 1, -1):
                    if j - 1 in state.outputs and not p.cut:
                        outputs[j], inputs[j] = state.outputs[j - 1], state.inputs[j - 1]
                outputs[1], inputs[1] = out, raw
            state = ClipState(t + 1, outputs, inputs, pal)
            mix = weights_at(self.s.playlist, t)
            params = {"frame": t, "source": p.source, "content_weight": self.content_weight(t), "style_weight": self.style_weight(t),
                      "temporal_weight": self.temporal_weight(t) if self.lags else 0.0,
                      "styles": {Path(self.s.playlist[i].style).stem: round(w, 4) for i, w in mix},
                      "iterations": iters, "loss": loss, "seconds": round(time.perf_counter() - t0, 3),
                      "flow_seconds": round(p.flow_seconds, 4), **info}
            if p.cut:
                params["cut"] = True
            frame = ClipFrame(t, p.source, out, label_at(self.s.playlist, t), iters, loss, state, params)
            yield (frame, p) if prepared else frame
            t += 1

    def _refined(self, shot: list[tuple[ClipFrame, _Prepared]], on_progress) -> Iterator[ClipFrame]:  # type: ignore[no-untyped-def]
        return refine_shot([(f, p.x, p.flows.get(1)) for f, p in shot], self.passes, self.iters, self._later_objective,
                           self.styler.optimize, on_progress)

    def _later_objective(self, t: int, x: torch.Tensor, held: list[tuple[torch.Tensor, torch.Tensor]]):  # type: ignore[no-untyped-def]
        """The run's objective set for a warm-started frame t: content ``x`` (1, 3, H, W), and the
        temporal loss holding it to ``held`` ((carried earlier output, weight (1, 1, H, W)) pairs)
        where the run has one (video.temporal_weight > 0 somewhere)."""
        weights = {"content": self.content_weight(t), "style": self.style_weight(t),
                   "temporal": self.temporal_weight(t) if self.lags else 0.0}
        obj = self.styler.objective(t, x, weights, [TemporalTerm([])] if self.lags else [])
        if self.lags:
            dev = self.engine.device
            obj.term("temporal").set_targets([(w.to(dev), m.to(dev)) for w, m in held])  # type: ignore[union-attr]
        return obj

    def _render(self, t: int, p: _Prepared, state: ClipState, on_progress) -> tuple[torch.Tensor, int, float, dict]:  # type: ignore[no-untyped-def]
        s = self.s
        info: dict = {}
        if p.cut or not (1 in p.flows and 1 in state.outputs):
            # the first frame of a shot (or every frame, per-frame): as `image` stylizes a photo
            weights = {"content": self.content_weight(t), "style": self.style_weight(t)}
            out, iters, loss = self.styler.first_frame(t, p.x, s.run.first_iterations, weights, on_progress)
            info["stop"] = "settled" if iters < self.styler.first_frame_iterations(s.run.first_iterations) else "limit"
            # the run's one objective (built here on a shot's first frame, as a later frame builds it)
            terms = self._terms(self._later_objective(t, p.x, []), out)
            terms.pop("temporal_term", None)  # nothing before a shot's first frame to hold it to
            return out, iters, loss, {**info, **terms}
        masks, warped = [], []
        for j in sorted(p.flows):
            back, fwd = p.flows[j]
            masks.append(p.mask1 if j == 1 and p.mask1 is not None else consistency(back, fwd))
            warped.append(carry(state.outputs[j], back))
        # the previous output carried along the flow is the start image (Ruder's "prevWarped"),
        # except where the flow cannot explain the pixel: there the input frame starts it
        init = fill_unreliable(warped[0], p.x, masks[0])
        info["reliable"], info["hist"] = p.reliable, p.hist
        # pixels started from the input need the iterations a first frame gets, in proportion
        n = max(round(self.iters(t)), round(s.run.first_iterations * (1.0 - p.reliable)))
        obj = self._later_objective(t, p.x, list(zip(warped, long_term_weights(masks))))
        res = self.styler.optimize(t, init, obj, n, on_progress)
        info["stop"] = res.stop
        if res.retries:
            info["retries"] = res.retries
        return res.image.cpu(), res.iterations, res.loss, {**info, **self._terms(obj, res.image)}

    def _terms(self, obj, out: torch.Tensor) -> dict[str, float]:  # type: ignore[no-untyped-def]
        """Each term's unweighted value on the finished frame: the report's curves of the style and
        the temporal term along a shot (where a shot's style fades, and what holds it)."""
        _, parts = obj.evaluate(out.to(self.engine.device))
        return {f"{k}_term": round(v, 6) for k, v in parts.items() if k in ("content", "style", "temporal")}


def clip_source(path: str, a: int, b: int, every: int, hw: tuple[int, int],
                fps: Fraction | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Input frames ``a, a + every, ... < b`` of a clip as (index, (1, 3, H, W) in [0, 1] at ``hw``);
    ``fps``: indices of the clip resampled to that rate (:func:`stylemotion.io.encode.read_video`)."""
    for i, arr in read_video(path, a, b, every, fps):
        x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div(255.0)
        yield i, resize(x, hw).clamp(0, 1).contiguous()


def bind_clip_song(s: Settings) -> Callable[[int], dict[str, float]] | None:
    """The clip's own audio as the run's song, when its schedules (or ``hold_beats`` playlist
    entries) use one: curves at the output's rate from the first frame used on, bound to the
    schedules. Returns the per-frame variables (None when no song is used). Every process that
    renders frames of the run calls it (a shot's worker too): same clip, same curves."""
    if not song_uses(s):
        return None
    from ..music import audio

    fps = s.run.fps
    song = audio.load(s.video.input, fps, None, audio.AudioConfig(attack=s.audio.attack, release=s.audio.release, tempo=s.audio.tempo,
                                                                 beats_per_bar=s.audio.beats_per_bar, bar_offset=s.audio.bar_offset))
    shift = round(s.video.start / s.video.every)  # output frames before the first frame used (run.fps = rate / every)

    def at(t: int) -> dict[str, float]:
        return song.at(t + shift)

    bind_signals(s, at)
    def marks(kind: str) -> list[int]:
        return [b - shift for b in song.event_frames(kind) if b >= shift]

    s.playlist = on_beats(s.playlist, marks("beat"), s.run.frames, song.beat_period(), marks("downbeat"), marks("section"), song.beats_per_bar)
    return at
