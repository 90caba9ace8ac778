"""One schema per knob: the TOML checks, --set, the CLI flags, presets show, the docs' tables and
the JSON Schema all come from it, and agree."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jsonschema
import pytest

from stylemotion.cli import build_parser, main
from stylemotion.cli import anim as anim_cmd
from stylemotion.cli import video as video_cmd
from stylemotion.engine.config import OPTIM_RANGES, SEED_MAX, OptimConfig
from stylemotion.errors import UserError
from stylemotion.settings.presets import PRESET_DIR, list_presets, load_preset, preset_command, read_toml
from stylemotion.settings.schema import json_schema, knobs, markdown
from stylemotion.settings.sections import Settings, set_value

ROOT = Path(__file__).resolve().parents[1]
ANIM = [n for n in list_presets() if preset_command(n) in ("zoom", "drift", "video")]


def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_key_has_help_a_type_and_a_default():
    ks = knobs()
    assert len(ks) == len({k.name for k in ks}) > 60
    for k in ks:
        assert k.help and len(k.help) < 200, k.name
        assert k.kind != "number" or math.isfinite(k.default), k.name


@pytest.mark.parametrize("name", ANIM)
def test_every_shipped_preset_and_its_inspect_toml_validate(name, tmp_path, capsys):
    v = validator()
    raw = read_toml(PRESET_DIR / f"{name}.toml")
    assert not list(v.iter_errors(raw)), [e.message for e in v.iter_errors(raw)]
    import tomllib

    full = tomllib.loads(load_preset(name).to_toml())
    assert not list(v.iter_errors(full)), [e.message for e in v.iter_errors(full)]
    capsys.readouterr()
    assert main(["presets", "show", name]) == 0
    shown = capsys.readouterr().out
    assert not list(v.iter_errors(tomllib.loads(shown)))
    assert "# frames to render" in shown  # each key's help beside it


def bad_values(k):  # type: ignore[no-untyped-def]
    if k.choices:
        yield "not-a-choice"
    if k.range is not None and k.kind in ("integer", "number", "schedule"):
        lo, hi = k.range
        yield (hi + 1) if k.kind == "integer" else (hi * 1.5 + 1)
        yield (lo - 1) if k.kind == "integer" else (lo - abs(lo) - 1)
    if k.kind in ("integer", "number", "boolean"):
        yield "text"


def good_values(k):  # type: ignore[no-untyped-def]
    yield k.default
    if k.choices:
        yield from k.choices
    elif k.range is not None and k.kind in ("integer", "number"):
        yield from k.range


@pytest.mark.parametrize("k", knobs(), ids=lambda k: k.name)
def test_the_schema_and_the_settings_accept_and_refuse_the_same_values(k):
    v = validator()
    for value in good_values(k):
        value = int(value) if k.kind == "integer" else float(value) if k.kind == "number" else value
        assert not list(v.iter_errors({k.section: {k.key: value}})), (k.name, value)
        set_value(Settings(), k.section, k.key, value, "test")
    for value in bad_values(k):
        assert list(v.iter_errors({k.section: {k.key: value}})), (k.name, value)
        s = Settings()
        with pytest.raises(UserError, match=k.key):
            set_value(s, k.section, k.key, value, "test")
            if k.kind == "schedule":
                from stylemotion.settings.sections import validate

                validate(s)


def flag_actions(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions}


@pytest.mark.parametrize("command,flags", [("zoom", anim_cmd.FLAGS), ("drift", anim_cmd.FLAGS), ("video", video_cmd.FLAGS)])
def test_the_flags_that_set_a_key_come_from_its_schema(command, flags):
    actions = flag_actions(command)
    by_name = {k.name: k for k in knobs()}
    for dest, (sec, key) in flags.items():
        if command == "video" and dest == "input":
            continue  # the positional
        k, a = by_name[f"{sec}.{key}"], actions[dest]
        assert k.help in " ".join((a.help or "").split()), (dest, a.help)
        assert f"sets {k.name}" in a.help, a.help
        assert list(a.choices or []) == list(k.choices), (dest, a.choices, k.choices)


def test_zoom_and_video_take_tol_and_the_seed_range_is_one():
    assert flag_actions("zoom")["tol"].help and flag_actions("video")["tol"].help
    s = Settings()
    set_value(s, "run", "seed", SEED_MAX, "test")
    with pytest.raises(UserError):
        set_value(s, "run", "seed", SEED_MAX + 1, "test")
    parser = build_parser()
    args = parser.parse_args(["image", "x.png", "--style", "y.png", "--seed", str(SEED_MAX)])
    assert args.seed == SEED_MAX
    assert Settings().optim.optimizer == OptimConfig.optimizer and Settings().optim.lr == OptimConfig.lr
    tol = next(k for k in knobs() if k.name == "optim.tol")
    assert tol.range == OPTIM_RANGES["tol"]


def test_the_docs_tables_are_the_schemas():
    text = (ROOT / "docs" / "commands.md").read_text()
    block = text.split("<!-- knobs:start -->\n", 1)[1].split("<!-- knobs:end -->", 1)[0]
    assert block == markdown(), "docs/commands.md's key tables are stale: paste `stylemotion presets schema --markdown` there"


def test_presets_schema_prints_it(capsys):
    assert main(["presets", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_the_image_flags_and_the_study_cover_every_engine_key():
    from stylemotion.engine.config import OPTIM_KEYS, STYLE_KEYS
    from stylemotion.study.plan import Cell, image_configs

    actions = flag_actions("image")
    assert set(STYLE_KEYS) | set(OPTIM_KEYS) <= set(actions), (set(STYLE_KEYS) | set(OPTIM_KEYS)) - set(actions)
    # a study sweeps every engine key an image flag sets, coarse_tol among them
    _, optim, _ = image_configs(Cell("a.png", "b.png", (("optim.coarse_tol", 5e-4), ("optim.pyramid_iter_factor", 1.5))))
    assert (optim.coarse_tol, optim.pyramid_iter_factor) == (5e-4, 1.5)
