"""Commands that read, never render: ``presets list|show|pack`` and ``inspect`` (``--pack``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..io.encode import read_metadata
from ..errors import UserError
from ..settings.packs import SUFFIX, write_pack
from ..settings.schema import markdown, schema_text
from ..io.paths import parse_json, read_text
from ..settings.presets import MAX_PRESET_BYTES, find_preset, list_presets, load_preset, preset_command, preset_description, read_toml
from ..settings.sections import from_dict


def cmd_presets(args: argparse.Namespace) -> int:
    if args.action == "schema":
        print(markdown() if args.markdown else schema_text(), end="")
        return 0
    if args.action == "list":
        for name in list_presets():
            print(f"{name:18s} {preset_command(name):12s} {preset_description(name)}")
        return 0
    if not args.name:
        raise UserError(f"presets {args.action} needs a NAME, e.g. stylemotion presets {args.action} deepdream-like")
    if args.action == "pack":
        return _pack(load_preset(args.name), args, f"preset {args.name}")
    if Path(args.name).suffix in (SUFFIX, ".json"):
        print(load_preset(args.name).to_toml())
        return 0
    path = find_preset(args.name)
    if read_toml(path).get("command", "zoom") in ("zoom", "drift", "video"):
        print(load_preset(args.name).to_toml(helps=True))  # fully resolved, every default shown with its help
    else:
        print(path.read_text(encoding="utf-8"))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.suffix == ".json":  # the settings file beside a render: the preset loader reads it
        settings = load_preset(str(path))
    else:
        data = read_metadata(path)
        settings = from_dict(data.get("settings", data), str(path))
    if args.pack:
        files = data.get("files") if path.suffix != ".json" else _json_files(path)
        if not isinstance(files, dict):
            files = None
            print(f"note: {path} stores no hashes of its files (made by an older stylemotion): they are packed as they are now",
                  file=sys.stderr)
        return _pack(settings, args, str(path), files)
    if args.toml:
        print(settings.to_toml())
    else:
        print(json.dumps(settings.to_dict(), indent=2, sort_keys=True))
    return 0


def _json_files(path: Path) -> dict | None:
    data = parse_json(read_text(path, "settings", MAX_PRESET_BYTES), str(path))  # bounded, as load_preset read it
    return data.get("files") if isinstance(data, dict) else None


def _pack(settings, args: argparse.Namespace, what: str, hashes: dict | None = None) -> int:  # type: ignore[no-untyped-def]
    out = Path(args.pack if getattr(args, "pack", None) else args.output or "")
    if not str(out) or out == Path("."):
        raise UserError(f"presets pack needs -o NAME{SUFFIX}")
    files = write_pack(settings, out, hashes, overwrite=args.overwrite)
    size = out.stat().st_size
    print(f"wrote {out} ({len({f.sha256 for f in files})} files, {size / 1024**2:.1f} MiB): {what} and "
          f"{', '.join(sorted({f.path.name for f in files})) or 'no files'}; render it anywhere with --preset {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list or show presets")
    p.add_argument("action", choices=["list", "show", "pack", "schema"],
                   help="pack: one .smpack zip of the preset and every file it uses; schema: the JSON Schema of a preset file")
    p.add_argument("name", nargs="?", help="preset name or file (for show and pack)")
    p.add_argument("-o", "--output", type=Path, help=f"the pack to write (pack: NAME{SUFFIX})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing pack of that name")
    p.add_argument("--markdown", action="store_true", help="schema: the keys as Markdown tables instead")
    p.set_defaults(func=cmd_presets)
    p = sub.add_parser("inspect", help="print the settings stored in a rendered video or its JSON")
    p.add_argument("file", help="video (.mp4/.webm/.gif) or settings .json")
    p.add_argument("--toml", action="store_true", help="print as a preset file (reproduce with --preset FILE.toml)")
    p.add_argument("--pack", type=Path, metavar=f"OUT{SUFFIX}", help="pack what made the render: its settings and the files they name, "
                   "each checked against the hash the render stored")
    p.add_argument("--overwrite", action="store_true", help="replace an existing pack of that name")
    p.set_defaults(func=cmd_inspect)
