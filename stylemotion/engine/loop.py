"""The iteration loop of one optimization level, and what it reports.

:class:`LevelRun` evaluates an :class:`~stylemotion.terms.Objective`, takes the gradient and an L-BFGS
(:mod:`stylemotion.engine.lbfgs`) or Adam step, clamps to [0, 1], and keeps the loss, its parts, the
best image so far and an image-finite flag in device buffers. Only every ``report_every``
iterations (:data:`REPORT_EVERY`) are they read on the host; then the divergence checks, the
progress callback and the early stop (:func:`should_stop`) run. :class:`StyleEngine.optimize
<stylemotion.optimize.StyleEngine>` owns the retries with smaller steps.

Images are (B, 3, H, W) float32 RGB in [0, 1]: B = 1, or a batch scored by a
:class:`~stylemotion.terms.BatchObjective`. Nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import torch

from .config import OptimConfig
from ..errors import Diverged
from .lbfgs import MAX_STEP, LBFGS, LBFGSConfig
from .terms import BatchObjective, Objective


@dataclass
class Progress:
    """Reported to the callback every ``report_every`` iterations (and after the first)."""

    level: int  # pyramid level, 0-based
    levels: int
    iteration: int  # 1-based within the level
    iterations: int
    loss: float
    parts: dict[str, float]  # each term's unweighted value: content, style, tv, ...
    image: torch.Tensor  # current (1, 3, H, W); do not modify
    advanced: int = 1  # iterations since the previous report (see REPORT_EVERY)


Callback = Callable[[Progress], None]


@dataclass(frozen=True)
class Divergence:
    """Why an attempt at a level failed: the loss or the image went non-finite, the loss exploded,
    or no step lowered it. The engine retries with smaller steps unless ``at_start``."""

    message: str  # one clause, e.g. "the loss grew 2.3e+07x by iteration 12"
    at_start: bool = False  # the start image's own loss is not finite: smaller steps cannot help


@dataclass
class OptimResult:
    image: torch.Tensor  # (B, 3, H, W), as the start image
    iterations: int  # actually run (early stop may cut)
    loss: float
    adam_state: Optional[dict[str, torch.Tensor]] = None  # exp_avg, exp_avg_sq, step (Adam only)
    retries: int = 0  # restarts with smaller steps after a divergence (0 = none were needed)
    stop: str = "limit"  # why it ended: "settled" (the loss stopped moving, see should_stop) or "limit"


DIVERGE_FACTOR = 1e6  # a loss this many times the first one is an explosion, not a bad step
# a run whose every later loss is above the first by more than this fraction made no progress at
# all (a start already at the optimum shows later losses equal to the first, not above it)
NO_PROGRESS = 1e-4

# Iterations between reads of the loss on the host (progress, early stop, divergence checks). On
# CUDA every read waits for the device to catch up, so the engine reads once per K iterations and
# the GPU runs ahead in between; elsewhere a read costs nothing and every iteration is reported.
REPORT_EVERY = {"cuda": 10}


def report_interval(device: torch.device, every: int | None = None) -> int:
    """Iterations between host reads: ``every`` if given, else the device's default."""
    if every is not None:
        if every < 1:
            raise ValueError(f"report_every must be >= 1, got {every}")
        return every
    return REPORT_EVERY.get(device.type, 1)


class LevelRun:
    """One attempt at one level: the iteration loop, with the loss kept on the device between reads."""

    def __init__(self, objective: Objective | BatchObjective, optim: OptimConfig, device: torch.device, every: int,
                 callback: Callback | None, level: tuple[int, int]) -> None:
        self.obj, self.optim, self.device, self.every = objective, optim, device, every
        self.callback, self.level = callback, level

    def _stepper(self, x: torch.Tensor, adam_state: Mapping[str, torch.Tensor] | None,
                 scale: float) -> tuple[Callable[[torch.Tensor], None], torch.optim.Adam | None]:
        """A function that takes the gradient at x and moves x in place."""
        if self.optim.optimizer == "adam":
            # capturable keeps Adam's step count on the device (no host read per step on CUDA)
            opt = torch.optim.Adam([x], lr=self.optim.lr * scale, capturable=x.is_cuda)
            if adam_state is not None:
                step = adam_state["step"].detach().float().clone()
                opt.state[x] = {
                    "step": step.to(x.device) if x.is_cuda else step.cpu(),
                    "exp_avg": adam_state["exp_avg"].to(x).clone(),
                    "exp_avg_sq": adam_state["exp_avg_sq"].to(x).clone(),
                }

            def adam_step(g: torch.Tensor) -> None:
                x.grad = g
                opt.step()

            return adam_step, opt
        # a retry after a divergence shortens both the step and its cap
        lb = LBFGS(x.detach(), LBFGSConfig(lr=scale, max_step=MAX_STEP * scale))
        return (lambda g: lb.step(x.detach(), g)), None

    def run(self, init: torch.Tensor, n: int, adam_state: Mapping[str, torch.Tensor] | None,
           scale: float) -> tuple[OptimResult, Divergence | None]:
        """Returns (result, None) or (partial result, why it diverged)."""
        optim, dev = self.optim, self.device
        x = init.detach().to(dev, torch.float32).clone(memory_format=torch.contiguous_format).requires_grad_(True)
        step, opt = self._stepper(x, adam_state, scale)
        names = self.obj.names
        loss_buf = torch.zeros(max(n, 1), device=dev)
        parts_buf = torch.zeros(max(n, 1), len(names), device=dev)
        xbad_buf = torch.zeros(max(n, 1), dtype=torch.bool, device=dev)
        best = x.detach().clone()
        best_loss = torch.full((), math.inf, device=dev)
        before = torch.empty_like(best)
        ema = torch.zeros_like(best) if optim.avg_decay > 0 else None
        ema_weight = 0.0  # 1 - decay^k: the bias correction of Adam's moments, here for the average
        history: list[float] = []
        read = 0  # iterations read back to the host so far
        stop = "limit"
        for it in range(n):
            before.copy_(x.detach())  # the loss computed below belongs to this image
            loss, parts = self.obj(x)
            (grad,) = torch.autograd.grad(loss, x)
            loss = loss.detach()
            with torch.no_grad():
                loss_buf[it] = loss
                parts_buf[it] = parts
                better = loss < best_loss  # False for NaN
                best_loss = torch.where(better, loss, best_loss)
                torch.where(better, before, best, out=best)
                step(grad)
                x.clamp_(0, 1)  # NaN stays NaN: the sum below sees it
                xbad_buf[it] = ~torch.isfinite(x.sum())
                if ema is not None:
                    ema.mul_(optim.avg_decay).add_(x.detach(), alpha=1 - optim.avg_decay)
                    ema_weight = 1 - (1 - ema_weight) * optim.avg_decay
            k = it + 1
            if k == 1 or k % self.every == 0 or k == n:
                reason = self._check(*self._read(loss_buf, xbad_buf, read, k), read, history)
                if reason:
                    return OptimResult(best, len(history), float(best_loss)), reason
                if self.callback is not None:
                    parts_now = dict(zip(names, parts_buf[it].tolist()))
                    self.callback(Progress(self.level[0], self.level[1], k, n, history[-1], parts_now, x.detach(), k - read))
                read = k
                if should_stop(history, optim.tol):
                    stop = "settled"
                    break
        done = len(history)
        with torch.no_grad():
            if ema is not None and done > 0:
                # the average of the iterates is the result (crowsonkb): it is smoother than any one
                # iterate, and the loss it reports is its own
                best = (ema / ema_weight).clamp(0, 1)
                best_loss = self.obj(best)[0]
            elif done > 0:
                # final evaluation of the current x, so that the last step counts too
                final = self.obj(x.detach())[0]
                if bool(final <= best_loss):
                    best_loss, best = final, x.detach().clone()
                # every step made the loss worse: the start image is all this run would return.
                # That is a failure of the step size (Adam at lr 1 under a huge style weight), not
                # a result: the caller retries with smaller steps instead of passing it off as one
                later = history[1:] + [float(final)]
                if math.isfinite(later[-1]) and min(later) > history[0] * (1 + NO_PROGRESS) + 1e-12:
                    return OptimResult(best, done, float(best_loss)), Divergence("no step lowered the loss below the start image's")
            else:
                best = x.detach().clone()
        state = None
        if opt is not None and "exp_avg" in opt.state.get(x, {}):
            s = opt.state[x]
            state = {k: v.detach().clone() if torch.is_tensor(v) else torch.tensor(float(v)) for k, v in s.items()}
            state["step"] = state["step"].cpu()
        return OptimResult(best, done, float(best_loss), state, stop=stop), None

    @staticmethod
    def _read(loss_buf: torch.Tensor, xbad_buf: torch.Tensor, lo: int, hi: int) -> tuple[list[float], list[bool]]:
        """The losses and image checks of iterations lo..hi-1, on the host: the one place a run waits."""
        return loss_buf[lo:hi].tolist(), xbad_buf[lo:hi].tolist()

    @staticmethod
    def _check(losses_: list[float], xbad: list[bool], offset: int, history: list[float]) -> Divergence | None:
        """Append the losses read back to ``history``; the first sign of divergence, or None."""
        for j, (v, bad) in enumerate(zip(losses_, xbad)):
            it = offset + j + 1
            if not math.isfinite(v):
                if it == 1:
                    return Divergence("the loss is not finite at the start image", at_start=True)
                return Divergence(f"the loss is not finite at iteration {it}")
            if history and v > DIVERGE_FACTOR * max(history[0], 1e-30):
                return Divergence(f"the loss grew {v / max(history[0], 1e-30):.3g}x by iteration {it}")
            if bad:
                return Divergence(f"the image went non-finite at iteration {it}")
            history.append(v)
        return None


STOP_WINDOW = 10  # the early stop looks at the loss over this many iterations


def should_stop(history: Sequence[float], tol: float) -> bool:
    """Early stop: the last STOP_WINDOW + 1 losses all lie within a band of ``tol`` x STOP_WINDOW
    of their minimum, i.e. the loss moved by less than ``tol`` of itself per iteration. tol 0: never.

    The band, not the net change, is the test: L-BFGS without a line search sometimes overshoots
    and the loss jumps (4.3 -> 10.5 in the second step of a new pyramid level), and a window that
    ends higher than it began has a negative "gain" that the net-change rule took for convergence.
    On one CPU thread that stopped coffee + The Scream 11 iterations into its final level (the
    upsampled coarse image: style ratio 0.036 against 0.0020 when run on).
    """
    if tol <= 0 or len(history) <= STOP_WINDOW:
        return False
    window = history[-1 - STOP_WINDOW:]
    low = min(window)
    return (max(window) - low) / max(abs(low), 1e-12) < tol * STOP_WINDOW


RETRY_STEP_SCALES = (0.25, 0.0625)  # step sizes tried after a divergence, relative to the first


def run_level(objective: Objective | BatchObjective, optim: OptimConfig, device: torch.device, init: torch.Tensor, iterations: int,
              every: int, callback: Callback | None = None, level: tuple[int, int] = (0, 1),
              adam_state: Mapping[str, torch.Tensor] | None = None) -> OptimResult:
    """One level from ``init``; if the loss goes non-finite or explodes, again from ``init`` with
    smaller steps (RETRY_STEP_SCALES; Adam's carried moments are dropped then). :class:`Diverged`
    when that fails too, or at once when the loss overflows at the start (smaller steps cannot help)."""
    failed = None
    for attempt, scale in enumerate((1.0, *RETRY_STEP_SCALES)):
        run = LevelRun(objective, optim, device, every, callback, level)
        result, failed = run.run(init, iterations, adam_state if attempt == 0 else None, scale)
        if failed is None:
            result.retries = attempt
            return result
        if failed.at_start:
            break
    raise Diverged(f"the optimization diverged ({failed.message if failed else ''}) and did not recover with smaller steps; "
                   "lower the style/content weights or --lr, or check the weights file")
