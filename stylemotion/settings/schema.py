"""The preset vocabulary in one table: every key of a zoom, drift or video run as a :class:`Knob`
(name, type, default, range or choices, one line of help), joined from the one place each part is
written (the section dataclasses in :mod:`.sections` and their range and choice tables).

Everything that shows or checks a key reads this table: the TOML and ``--set`` checks (through
:func:`.sections.check_value`), the CLI flags that set a key (``stylemotion.cli.common.knob_flag``),
``presets show`` (each key's help beside it), the JSON Schema of a preset file
(``stylemotion presets schema``) and the tables in docs/commands.md (``stylemotion presets
schema --markdown``); tests fail where any of them disagree.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .playlist import Entry
from .schedule import Schedule
from .sections import CHOICES, ENTRY_RANGES, PATH_KEYS, RANGES, SCHEDULE_RANGES, SECTIONS, Settings

SCHEMA_ID = "https://stylemotion.invalid/preset.schema.json"  # a name, never fetched


@dataclass(frozen=True)
class Knob:
    section: str
    key: str
    kind: str  # integer | number | string | boolean | schedule | path | list of strings | list of numbers | list of integers
    default: Any  # as a preset file writes it (a schedule as its text)
    help: str
    choices: tuple[Any, ...] = ()
    range: tuple[float, float] | None = None  # a value's, or a schedule's over every frame

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    def allowed(self) -> str:
        """What a value may be, in words (for help lines and the docs)."""
        if self.choices:
            return ", ".join(str(c) for c in self.choices)
        if self.range is not None:
            return f"{_num(self.range[0])} .. {_num(self.range[1])}"
        return ""


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e12 else f"{v:g}"


def _kind(default: Any, section: str, key: str) -> str:
    if isinstance(default, Schedule):
        return "schedule"
    if (section, key) in PATH_KEYS:
        return "path"
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    if isinstance(default, (list, tuple)):
        first = default[0] if default else ""
        return "list of integers" if isinstance(first, int) else "list of numbers" if isinstance(first, float) else "list of strings"
    return "string"


def knobs() -> list[Knob]:
    """Every key of every section, in the sections' order."""
    fresh = Settings()
    out = []
    for section in SECTIONS:
        sec = getattr(fresh, section)
        for f in dataclasses.fields(sec):
            value = getattr(sec, f.name)
            default = value.text if isinstance(value, Schedule) else list(value) if isinstance(value, tuple) else value
            rng = RANGES.get((section, f.name)) or SCHEDULE_RANGES.get((section, f.name))
            out.append(Knob(section, f.name, _kind(value, section, f.name), default, f.metadata.get("help", ""),
                            tuple(CHOICES.get((section, f.name), ())), rng))
    return out


def knob(section: str, key: str) -> Knob:
    for k in knobs():
        if (k.section, k.key) == (section, key):
            return k
    raise KeyError(f"{section}.{key}")


ENTRY_HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(Entry)}  # a [[playlist]] table's keys


def _property(k: Knob) -> dict[str, Any]:
    desc = k.help + (f" ({k.allowed()})" if k.allowed() and not k.choices else "")
    p: dict[str, Any] = {"description": desc, "default": k.default}
    if k.kind == "schedule":
        number: dict[str, Any] = {"type": "number"}
        if k.range is not None:
            number.update(minimum=k.range[0], maximum=k.range[1])
        p["anyOf"] = [number, {"type": "string", "description": "a schedule: an expression of t, or keyframes \"0:(1), 24:(2)\""}]
        return p
    types = {"integer": "integer", "number": "number", "string": "string", "path": "string", "boolean": "boolean"}
    if k.kind in types:
        p["type"] = types[k.kind]
    else:
        item = {"list of strings": "string", "list of numbers": "number", "list of integers": "integer"}[k.kind]
        p.update(type="array", items={"type": item}, minItems=1)
    if k.choices:
        p["enum"] = list(k.choices)
    elif k.range is not None and p.get("type") in ("integer", "number"):
        p.update(minimum=k.range[0], maximum=k.range[1])
    return p


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a zoom, drift or video preset file."""
    by_section: dict[str, dict[str, Any]] = {}
    for k in knobs():
        by_section.setdefault(k.section, {})[k.key] = _property(k)
    props: dict[str, Any] = {
        "command": {"description": "the command this preset is for", "enum": ["zoom", "drift", "video"], "default": "zoom"},
    }
    for section, keys in by_section.items():
        doc = (SECTIONS[section].__doc__ or "").strip().splitlines()[0]
        props[section] = {"type": "object", "properties": keys, "additionalProperties": False,
                          **({"description": doc} if doc and not doc.startswith(section.capitalize() + "Section(") else {})}
    entry: dict[str, Any] = {"style": {"type": "string", "description": ENTRY_HELP["style"]}}
    for key, (lo, hi) in ENTRY_RANGES.items():
        entry[key] = {"type": "integer", "minimum": lo, "maximum": hi, "default": getattr(Entry, key), "description": ENTRY_HELP[key]}
    props["playlist"] = {"type": "array", "description": "the paintings in turn ([[playlist]] tables)",
                         "items": {"type": "object", "properties": entry, "required": ["style"], "additionalProperties": False}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, "title": "stylemotion preset",
            "description": "a zoom, drift or video preset file for stylemotion (TOML)", "type": "object",
            "properties": props, "additionalProperties": False}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def markdown() -> str:
    """One table per section: key, type, default, allowed values, help (docs/commands.md)."""
    lines: list[str] = []
    section = None
    for k in knobs():
        if k.section != section:
            section = k.section
            lines += ["", f"`[{section}]`", "", "| key | type | default | allowed | what it does |", "| --- | --- | --- | --- | --- |"]
        default = json.dumps(k.default) if not isinstance(k.default, str) else f'"{k.default}"'
        lines.append(f"| `{k.key}` | {k.kind} | `{default}` | {k.allowed()} | {k.help.replace('|', '/')} |")
    lines += ["", "`[[playlist]]`", "", "| key | type | default | allowed | what it does |", "| --- | --- | --- | --- | --- |",
              f"| `style` | path | (required) |  | {ENTRY_HELP['style']} |"]
    for key, (lo, hi) in ENTRY_RANGES.items():
        lines.append(f"| `{key}` | integer | `{getattr(Entry, key)}` | {_num(lo)} .. {_num(hi)} | {ENTRY_HELP[key]} |")
    return "\n".join(lines).strip() + "\n"
