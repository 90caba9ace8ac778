"""Preset files: shipped names and users' TOML/JSON files -> validated settings. Presets are data, never code.

The schema and its checks are :mod:`stylemotion.settings.sections`; here are the files (size-limited,
UTF-8, TOML only), the shipped presets' sample paths, and ``--set section.key=value`` overrides
(values parsed as TOML literals, falling back to plain strings).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io.paths import check_input_file, parse_json, parse_toml, read_text, resolved
from .packs import SUFFIX, open_pack, preset_files
from .sections import SECTIONS, Settings, resolve_path, check_value, from_dict, set_value, validate

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"
MAX_PRESET_BYTES = 256 * 1024


def load_preset(name_or_path: str) -> Settings:
    """A shipped preset by name (``deepdream-like``), a .toml or .json file, or a pack (.smpack:
    its files checked and unpacked into the cache, :mod:`.packs`)."""
    p = Path(name_or_path)
    if p.suffix == SUFFIX:
        inner = open_pack(p)
        return from_dict(read_toml(inner), str(p), inner.parent)
    if p.suffix == ".json":  # settings saved beside a render: also data
        data = parse_json(read_text(p, "preset", MAX_PRESET_BYTES), f"preset {p}")
        return from_dict(data.get("settings", data) if isinstance(data, dict) else data, str(p), resolved(p).parent)
    p = find_preset(name_or_path)
    data = read_toml(p)
    base = resolved(p).parent
    s = from_dict(data, str(p), base)
    if p.parent.resolve() == PRESET_DIR.resolve():
        _point_shipped_paths_at_samples(s)
    return s


def reaching_outside(name_or_path: str) -> list[str]:
    """The paths a loose preset file names outside its own folder (absolute, ``~``, ``..``): a
    stranger's preset could read a private picture into a render that is then shared back. Empty
    for shipped presets, packs (which hold only their own files) and .json settings."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        return []
    path = find_preset(name_or_path)
    base = resolved(path).parent
    out = []
    for _, value in preset_files(read_toml(path)):
        if not isinstance(value, str):
            continue
        target = Path(resolve_path(value, base))
        outside = value.startswith("~") or Path(value).is_absolute() or not resolved(target).is_relative_to(base)
        if outside and value not in out:
            out.append(value)
    return out


def read_toml(p: Path) -> dict[str, Any]:
    """Parse a preset file as data (size-limited, UTF-8, TOML only)."""
    return parse_toml(read_text(p, "preset", MAX_PRESET_BYTES), f"preset {p}")


def find_preset(name_or_path: str) -> Path:
    """A shipped preset name or a .toml path -> the file."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = PRESET_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            raise UserError(f"unknown preset {name_or_path!r}; shipped presets: {', '.join(list_presets())} (or give a .toml, .json or .smpack path)")
    return check_input_file(p, "preset")


def load_mode_preset(name_or_path: str, command: str, sections: dict[str, Any]) -> dict[str, Any]:
    """Load a preset for a single-image mode (hires, remix, upscale, reconstruct).

    ``sections`` maps section names to default dataclass instances; the file's values replace
    the defaults after type and range checks (each dataclass's ``check`` runs later). Returns
    new instances, plus ``"inputs"``: a dict of resolved paths from an optional [inputs] section.
    """
    p = find_preset(name_or_path)
    data = read_toml(p)
    src = str(p)
    got = data.pop("command", None)
    if got != command:
        raise UserError(f"{src} is a preset for 'stylemotion {got or 'zoom'}', not for {command}")
    out: dict[str, Any] = {name: dataclasses.replace(obj) for name, obj in sections.items()}
    inputs: dict[str, str] = {}
    base = resolved(p).parent
    for name, body in data.items():
        valid = list(sections) + ["inputs"]
        if name not in valid:
            raise UserError(f"{src}: unknown section [{name}]; valid: {', '.join(valid)}")
        if not isinstance(body, dict):
            raise UserError(f"{src}: [{name}] must be a table of keys")
        if name == "inputs":
            for key, value in body.items():
                if key not in ("content", "style", "image"):
                    raise UserError(f"{src}: unknown key inputs.{key}; valid: content, style, image")
                if not isinstance(value, str):
                    raise UserError(f"{src}: inputs.{key}: expected a path string, got {value!r}")
                path = Path(resolve_path(value, base))
                if not path.exists() and p.parent.resolve() == PRESET_DIR.resolve():
                    path = SAMPLES_DIR / Path(value).name
                inputs[key] = str(path)
            continue
        obj = out[name]
        valid_keys = [f.name for f in dataclasses.fields(obj)]
        for key, value in body.items():
            if key not in valid_keys:
                raise UserError(f"{src}: unknown key {name}.{key}; valid keys in [{name}]: {', '.join(valid_keys)}")
            setattr(obj, key, check_value(f"{src}: {name}.{key}", getattr(obj, key), value, (name, key)))
    out["inputs"] = inputs
    return out


def preset_command(name: str) -> str:
    """The command a shipped preset is for (top-level ``command`` key, default zoom)."""
    data = read_toml(PRESET_DIR / f"{name}.toml")
    command = str(data.get("command", "zoom"))
    if command == "zoom":  # animation presets say zoom or drift in run.mode
        run = data.get("run", {})
        command = str(run.get("mode", "zoom")) if isinstance(run, dict) else "zoom"
    return command


def preset_description(name: str) -> str:
    """The leading comment block of a shipped preset, joined into one line."""
    lines = []
    for line in (PRESET_DIR / f"{name}.toml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(x for x in lines if x)


def _point_shipped_paths_at_samples(s: Settings) -> None:
    """Shipped presets name sample images by file name: find them in the bundled samples."""
    def fix(path: str) -> str:
        p = Path(path)
        return path if (not path or p.exists()) else str(SAMPLES_DIR / p.name)

    s.run.content = fix(s.run.content)
    s.run.audio = fix(s.run.audio)
    s.playlist = [dataclasses.replace(e, style=fix(e.style)) for e in s.playlist]


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` (value as a TOML literal, else a string) -> (section, key, value)."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected section.key=value, e.g. motion.zoom=1.03")
    lhs, rhs = text.split("=", 1)
    parts = lhs.strip().split(".")
    if len(parts) != 2:
        raise UserError(f"--set {text!r}: the key must be section.key; sections: {', '.join(SECTIONS)}")
    if len(rhs) > 4096:
        raise UserError(f"--set {lhs.strip()}: value longer than 4096 characters")
    try:
        value = parse_toml(f"v = {rhs.strip()}", f"--set {lhs.strip()}")["v"]
    except UserError as e:
        if "nested deeper" in str(e):
            raise
        value = rhs.strip()
    return parts[0], parts[1], value


def apply_overrides(s: Settings, overrides: list[str], cwd: Path | None = None) -> Settings:
    """A copy of ``s`` with ``--set`` overrides (paths relative to the current folder), validated."""
    return apply_values(s, [("--set", *parse_override(text)) for text in overrides], cwd)


def apply_values(s: Settings, values: list[tuple[str, str, str, Any]], cwd: Path | None = None) -> Settings:
    """A copy of ``s`` with ``(source, section, key, value)`` values set (``--set``, flags,
    sweeps; typed values are taken as they are), validated once. ``source`` names the value
    in errors (``--set``, ``--size``)."""
    s = copy.deepcopy(s)
    for source, sec, key, value in values:
        set_value(s, sec, key, value, source, cwd or Path.cwd())
    validate(s, values[0][0] if values else "settings")
    return s
