"""Commands that read, never render: ``presets list|show`` and ``inspect``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io.encode import read_metadata
from ..errors import UserError
from ..settings.presets import find_preset, list_presets, load_preset, preset_command, preset_description, read_toml
from ..settings.sections import from_dict


def cmd_presets(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in list_presets():
            print(f"{name:18s} {preset_command(name):12s} {preset_description(name)}")
        return 0
    if not args.name:
        raise UserError("presets show needs a NAME, e.g. stylemotion presets show deepdream-like")
    path = find_preset(args.name)
    if read_toml(path).get("command", "zoom") in ("zoom", "drift", "video"):
        print(load_preset(args.name).to_toml())  # fully resolved, every default shown
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
    if args.toml:
        print(settings.to_toml())
    else:
        print(json.dumps(settings.to_dict(), indent=2, sort_keys=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list or show presets")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("name", nargs="?", help="preset name or file (for show)")
    p.set_defaults(func=cmd_presets)
    p = sub.add_parser("inspect", help="print the settings stored in a rendered video or its JSON")
    p.add_argument("file", help="video (.mp4/.webm/.gif) or settings .json")
    p.add_argument("--toml", action="store_true", help="print as a preset file (reproduce with --preset FILE.toml)")
    p.set_defaults(func=cmd_inspect)
