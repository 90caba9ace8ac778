"""Warm start vs cold start per frame, and frame-to-frame consistency of zoom movies.

    python benchmarks/warm_start.py [--size 128] [--frames 8] [--iters 20]

1. Warm vs cold (Adam, the optimizer whose state can be carried): for each frame t > 0, both
   runs start from the same warped previous frame. *Warm* also carries Adam's moments, warped
   with the same transform; *cold* starts with a fresh optimizer. The warm run gets ``--iters``
   iterations; the cold run continues until it reaches the warm run's final loss (cap 10x).
   Reported: iterations and seconds per frame for each, at the same final loss.
2. Consistency: mean absolute difference between frame t and the warped frame t-1 over the area
   both show (pixels in [0, 1]); lower = less flicker. For the deepdream-like preset (L-BFGS,
   no carried state) and the same with carried Adam moments.
"""

from __future__ import annotations

import argparse
import time

import torch

from stylemotion.engine.backbone import load_backbone
from stylemotion.animation.framestyle import frame_objective
from stylemotion.io.images import load_image, to_tensor
from stylemotion.engine.optimize import OptimConfig, StyleConfig, StyleEngine, Targets
from stylemotion.settings.presets import apply_overrides, load_preset
from stylemotion.animation.sequence import Sequencer
from stylemotion.animation.warp import valid_mask, warp, warp_image


def consistency(seq: Sequencer, frames: list[torch.Tensor]) -> float:
    diffs = []
    for t in range(1, len(frames)):
        theta = seq.path.theta(t)
        prev = warp_image(frames[t - 1], theta, "replicate")
        m = valid_mask(theta, seq.hw).float()
        diffs.append(((frames[t] - prev).abs().mean(1, keepdim=True) * m).sum() / m.sum())
    return float(torch.stack(diffs).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    base = apply_overrides(load_preset("deepdream-like"), [f"run.size={args.size}", f"run.frames={args.frames}", "run.first_iterations=80"])
    content = to_tensor(load_image(base.run.content))
    styles = [to_tensor(load_image(e.style)) for e in base.playlist]
    backbone = load_backbone()
    st = base.style
    engine = StyleEngine(backbone, StyleConfig(tuple(st.content_layers), tuple(st.style_layers), tuple(st.style_layer_weights), tv_weight=st.tv_weight))

    # 1. warm vs cold with Adam
    s = apply_overrides(base, ['optim.optimizer="adam"', "optim.carry_moments=true", "optim.lr=0.02", f"run.iterations={args.iters}"])
    seq = Sequencer(s, engine, content, styles)
    optim = OptimConfig(optimizer="adam", lr=0.02, tol=0, pyramid_min=0)
    warm_it, cold_it, warm_s, cold_s = [], [], [], []
    state = None
    for frame in seq.frames():
        if frame.index == 0:
            state = frame.state
            continue
        t = frame.index
        theta = seq.path.theta(t)
        content_t = warp_image(state.prev, theta, s.motion.border)
        targets = frame_objective(engine, None, Targets(engine.content_targets(content_t), seq.styler.style_targets(t)),
                                         {"content": seq.content_weight(t), "style": seq.style_weight(t)})
        adam = dict(state.adam)
        adam["exp_avg"] = warp(adam["exp_avg"], theta, "replicate", "bilinear")
        adam["exp_avg_sq"] = warp(adam["exp_avg_sq"], theta, "replicate", "bilinear").clamp_min(0)
        t0 = time.perf_counter()
        warm = engine.optimize(content_t, targets, optim, args.iters, adam_state=adam)
        warm_s.append(time.perf_counter() - t0)
        warm_it.append(args.iters)
        reached = {"n": None}

        def cb(p, goal=warm.loss):  # type: ignore[no-untyped-def]
            if reached["n"] is None and p.loss <= goal:
                reached["n"] = p.iteration

        t0 = time.perf_counter()
        cold = engine.optimize(content_t, targets, optim, 10 * args.iters, callback=cb)
        n_cold = reached["n"] or 10 * args.iters
        cold_it.append(n_cold)
        cold_s.append((time.perf_counter() - t0) * n_cold / max(1, cold.iterations))
        state = frame.state
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"warm vs cold, {args.size}px, {args.frames - 1} frames, Adam lr 0.02, same final loss:")
    print(f"  warm start (carried, warped moments): {mean(warm_it):.1f} iterations, {mean(warm_s):.2f} s per frame")
    print(f"  cold start (fresh optimizer):         {mean(cold_it):.1f} iterations, {mean(cold_s):.2f} s per frame")
    print(f"  ratio cold/warm: {mean(cold_it) / mean(warm_it):.2f}x iterations, {mean(cold_s) / mean(warm_s):.2f}x time")

    # 2. consistency figures
    for name, sets in [("deepdream-like (L-BFGS)", []),
                       ("deepdream-like, Adam carried moments", ['optim.optimizer="adam"', "optim.carry_moments=true", "optim.lr=0.02", f"run.iterations={args.iters}"])]:
        s2 = apply_overrides(base, sets)
        seq2 = Sequencer(s2, engine, content, styles)
        frames = [f.image for f in seq2.frames()]
        print(f"consistency {name}: mean |frame t - warp(frame t-1)| = {consistency(seq2, frames):.4f}")


if __name__ == "__main__":
    main()
