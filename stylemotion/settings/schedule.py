"""Keyframe schedules: ``"0:(1.02), 48:(1.05), 96:(1.0)"`` or a constant, values may be expressions of ``t``.

Grammar (the form animation tools use)::

    schedule   := value | key ("," key)*
    key        := INT ":" "(" expression ")"
    expression := arithmetic on numbers, t (frame number), pi, e, the song's variables
                  s amp bass mid high onset beat beat_n downbeat bar_n section section_n bpm
                  (with --audio; see
                  stylemotion.audio), and the functions
                  sin cos tan asin acos atan abs sqrt exp log floor ceil min max clamp

Between keys the value is linearly interpolated (each key's expression evaluated at the current
``t``); before the first key the first value holds, after the last the last. Expressions are parsed
with :mod:`ast` and evaluated by a small whitelist interpreter: no ``eval``, no names but the ones
above, no attributes, no calls but the listed functions.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Union

from ..errors import UserError

MAX_EXPR_CHARS = 300
MAX_KEYS = 10_000

FUNCS: dict[str, Callable[..., float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "abs": abs, "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "floor": math.floor, "ceil": math.ceil,
    "min": min, "max": max, "clamp": lambda x, lo, hi: min(max(x, lo), hi),
}
CONSTS = {"pi": math.pi, "e": math.e}
# Per-frame variables a run binds (Schedule.bind): seconds, and a song's curves (stylemotion.audio)
SIGNALS = ("s", "amp", "bass", "mid", "high", "onset", "beat", "beat_n", "downbeat", "bar_n", "section", "section_n", "bpm")
Signals = Callable[[int], Mapping[str, float]]  # frame -> {name: value}
_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b, ast.FloorDiv: lambda a, b: a // b,
    ast.Pow: lambda a, b: _pow(a, b),
}


def _pow(a: float, b: float) -> float:
    if abs(b) > 100 or abs(a) > 1e6:
        raise ValueError("power too large")
    v = float(a) ** float(b)
    if isinstance(v, complex):  # (-1) ** 0.5: schedules are real numbers
        raise ValueError(f"{a:g} ** {b:g} is not a real number")
    return v


class Expr:
    """A parsed arithmetic expression of ``t``. ``Expr("1+0.1*sin(t)")(t=3)``."""

    def __init__(self, text: str, where: str = "expression") -> None:
        self.text = text.strip()
        self.where = where
        if not self.text:
            raise UserError(f"{where}: empty expression")
        if len(self.text) > MAX_EXPR_CHARS:
            raise UserError(f"{where}: expression longer than {MAX_EXPR_CHARS} characters")
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as e:
            raise UserError(f"{where}: cannot parse {self.text!r} at column {(e.offset or 1)}: {e.msg}") from None
        self.names: set[str] = set()  # the SIGNALS it uses
        self._check(tree.body)
        self.tree = tree.body

    def _check(self, node: ast.AST) -> None:
        col = getattr(node, "col_offset", 0) + 1
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise UserError(f"{self.where}: only numbers are allowed, found {node.value!r} at column {col}")
        elif isinstance(node, ast.Name):
            if node.id in SIGNALS:
                self.names.add(node.id)
            elif node.id != "t" and node.id not in CONSTS:
                raise UserError(f"{self.where}: unknown name {node.id!r} at column {col}; allowed: t, pi, e, "
                                f"the song's {', '.join(SIGNALS)} and functions {', '.join(FUNCS)}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise UserError(f"{self.where}: operator not allowed at column {col}; use + - * / % // **")
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.UAdd, ast.USub)):
                raise UserError(f"{self.where}: operator not allowed at column {col}")
            self._check(node.operand)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCS or node.keywords:
                raise UserError(f"{self.where}: call not allowed at column {col}; functions: {', '.join(FUNCS)}")
            for a in node.args:
                self._check(a)
        else:
            raise UserError(f"{self.where}: {type(node).__name__} not allowed at column {col} in {self.text!r}")

    def _eval(self, node: ast.AST, t: float, env: Mapping[str, float]) -> float:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id == "t":
                return float(t)
            return float(env[node.id]) if node.id in SIGNALS else CONSTS[node.id]
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](self._eval(node.left, t, env), self._eval(node.right, t, env))
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, t, env)
            return -v if isinstance(node.op, ast.USub) else v
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return float(FUNCS[node.func.id](*[self._eval(a, t, env) for a in node.args]))

    def __call__(self, t: float, env: Mapping[str, float] | None = None) -> float:
        """The value at frame t; ``env`` holds the SIGNALS it uses (a run binds them)."""
        missing = sorted(self.names - set(env or {}))
        if missing:
            raise UserError(f"{self.where}: {self.text!r} uses {', '.join(missing)}, which come from a song: "
                            "give --audio FILE (or run.audio in the preset)")
        try:
            v = self._eval(self.tree, t, env or {})
        except (ValueError, ZeroDivisionError, OverflowError, TypeError, RecursionError) as e:
            raise UserError(f"{self.where}: {self.text!r} fails at t={t:g}: {e}") from None
        if not math.isfinite(v):
            raise UserError(f"{self.where}: {self.text!r} is not finite at t={t:g}")
        return v


_KEY = re.compile(r"\s*(-?\d+)\s*:\s*\(")


@dataclass
class Schedule:
    """A value per frame: keyframes (frame -> expression), linearly interpolated."""

    keys: list[tuple[int, Expr]]
    name: str = "schedule"
    text: str = ""
    # the run's per-frame variables (bind); not part of the schedule's value
    signals: Optional[Signals] = field(default=None, compare=False, repr=False)

    @property
    def names(self) -> set[str]:
        """The SIGNALS the schedule uses."""
        return set().union(*(e.names for _, e in self.keys))

    def bind(self, signals: Signals | None) -> "Schedule":
        """Evaluate with ``signals(t)`` from now on (a run's seconds and song); returns self."""
        self.signals = signals
        return self

    @classmethod
    def parse(cls, spec: Union[str, float, int], name: str = "schedule") -> "Schedule":
        """Parse a number, an expression, or ``"0:(v), 10:(v2)"``. Errors name ``name`` and the position."""
        if isinstance(spec, bool):
            raise UserError(f"{name}: expected a number or schedule string, got {spec!r}")
        if isinstance(spec, (int, float)):
            return cls([(0, Expr(repr(float(spec)), name))], name, repr(spec))
        if not isinstance(spec, str):
            raise UserError(f"{name}: expected a number or schedule string, got {type(spec).__name__}")
        text = spec.strip()
        if not _KEY.match(text):
            return cls([(0, Expr(text, name))], name, text)
        keys: list[tuple[int, Expr]] = []
        pos = 0
        while pos < len(text):
            m = _KEY.match(text, pos)
            if not m:
                raise UserError(f"{name}: expected 'FRAME:(value)' at position {pos + 1} of {text!r}")
            frame = int(m.group(1))
            if frame < 0:
                raise UserError(f"{name}: negative frame {frame} at position {m.start(1) + 1}")
            depth, i = 1, m.end()
            while i < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            if depth:
                raise UserError(f"{name}: unbalanced parentheses after position {m.end()} of {text!r}")
            expr = Expr(text[m.end(): i - 1], f"{name} at frame {frame}")
            if keys and frame <= keys[-1][0]:
                raise UserError(f"{name}: frame {frame} at position {m.start(1) + 1} is not after frame {keys[-1][0]}; keys must increase")
            keys.append((frame, expr))
            if len(keys) > MAX_KEYS:
                raise UserError(f"{name}: more than {MAX_KEYS} keys")
            rest = text[i:].lstrip()
            pos = len(text) - len(rest)
            if rest.startswith(","):
                pos += 1
                if not text[pos:].strip():
                    raise UserError(f"{name}: trailing comma at position {pos}")
            elif rest:
                raise UserError(f"{name}: expected ',' at position {pos + 1} of {text!r}")
        return cls(keys, name, text)

    def __call__(self, t: int) -> float:
        keys = self.keys
        env = self.signals(t) if self.signals is not None and self.names else None
        if t <= keys[0][0]:
            return keys[0][1](t, env)
        for (f0, e0), (f1, e1) in zip(keys, keys[1:]):
            if f0 <= t < f1:
                a = (t - f0) / (f1 - f0)
                v0 = e0(t, env)
                return v0 if a == 0 else v0 + (e1(t, env) - v0) * a
        return keys[-1][1](t, env)

    def check_range(self, lo: float, hi: float, frames: int) -> None:
        """Raise UserError if any frame in [0, frames) falls outside [lo, hi]."""
        for t in range(frames):
            v = self(t)
            if not (lo <= v <= hi):
                raise UserError(f"{self.name} is {v:g} at frame {t}; allowed range is [{lo:g}, {hi:g}]")

    def __str__(self) -> str:
        return self.text
