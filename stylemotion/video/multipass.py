"""Ruder et al.'s multi-pass over one shot (their artistic_video_multiPass), after the clip loop's
forward pass: passes 2..N alternate backward and forward.

In each pass a frame starts from its own last result blended with its neighbour just refined in
this pass, carried by the flow, where that flow is reliable (blend weight 1, as theirs), and the
temporal loss holds it to that neighbour: changes spread both ways along the shot instead of only
forward. Each pass runs the run's per-frame iterations. Departs from theirs: the first pass is the
usual warm-started one (theirs starts from noise and holds no temporal loss for 8 passes), and the
frame that starts a pass is left as it is (it has no neighbour in that direction).

Images are ``(1, 3, H, W)`` float in [0, 1]; flows ``(1, 2, H, W)`` in pixels.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Iterator, Sequence

import torch

from ..engine.temporal import carry, consistency

Flows = tuple[torch.Tensor, torch.Tensor]  # (flow i -> i-1, flow i-1 -> i) at frame i


def refine_shot(shot: Sequence[tuple[Any, torch.Tensor, Flows | None]], passes: int, iters: Callable[[int], float],
                objective: Callable[[int, torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]], Any],
                optimize: Callable[..., Any], on_progress: Any = None) -> Iterator[Any]:
    """The shot's frames refined, in order.

    ``shot``: (ClipFrame, its content image, its flows to the previous frame or None at the shot's
    start) for each frame of the forward pass; ``iters(t)`` the run's iterations at frame t;
    ``objective(t, x, held)`` the run's objective for frame t held to ``held`` ((carried, weight)
    pairs); ``optimize(t, init, obj, n, on_progress)`` one frame's optimization (an OptimResult).
    The ClipFrames come back with the refined image, the iterations and seconds of every pass,
    and states pointing at the refined outputs (so a resume at the shot's end continues from them).
    """
    frames = [f for f, _, _ in shot]
    outs = [f.image for f in frames]
    extra = {i: {"iterations": 0, "seconds": 0.0, "loss": f.loss} for i, f in enumerate(frames)}
    masks: dict[tuple[int, bool], torch.Tensor] = {}  # (frame, backward) -> its consistency toward the neighbour, once per shot
    for k in range(2, passes + 1):
        backward = k % 2 == 0
        for i in (range(len(shot) - 2, -1, -1) if backward else range(1, len(shot))):
            j = i + 1 if backward else i - 1  # the neighbour refined just before, in this pass
            pair = shot[j][2] if backward else shot[i][2]
            if pair is None:
                continue
            t0 = time.perf_counter()
            back, fwd = pair
            to_i, from_i = (fwd, back) if backward else (back, fwd)  # the flow at frame i's pixels to the neighbour
            if (i, backward) not in masks:
                masks[(i, backward)] = consistency(to_i, from_i)
            carried, mask = carry(outs[j], to_i), masks[(i, backward)]
            init = (outs[i] + mask * carried) / (1.0 + mask)
            t = frames[i].index
            res = optimize(t, init, objective(t, shot[i][1], [(carried, mask)]), round(iters(t)), on_progress)
            outs[i] = res.image.cpu()
            extra[i]["iterations"] += res.iterations
            extra[i]["seconds"] += time.perf_counter() - t0
            extra[i]["loss"] = res.loss
    new = {id(f.image): outs[i] for i, f in enumerate(frames)}  # the states point at the refined outputs
    for i, f in enumerate(frames):
        st = replace(f.state, outputs={j: new.get(id(o), o) for j, o in f.state.outputs.items()})
        params = {**f.params, "passes": passes, "iterations": f.iterations + extra[i]["iterations"], "loss": extra[i]["loss"],
                  "seconds": round(f.params["seconds"] + extra[i]["seconds"], 3)}
        yield replace(f, image=outs[i], iterations=f.iterations + extra[i]["iterations"], loss=extra[i]["loss"], state=st, params=params)
