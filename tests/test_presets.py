import json

import pytest

from stylemotion.errors import UserError
from stylemotion.settings.presets import apply_overrides, list_presets, load_preset, parse_override
from stylemotion.settings.sections import from_dict


@pytest.mark.parametrize("name", ["deepdream-like", "drift", "spiral", "gentle", "loop"])
def test_every_shipped_preset_loads_with_existing_images(name):
    s = load_preset(name)
    assert s.playlist
    from pathlib import Path

    assert Path(s.run.content).is_file()
    assert all(Path(e.style).is_file() for e in s.playlist)


def test_shipped_list():
    assert {"deepdream-like", "drift", "spiral", "gentle", "loop"} <= set(list_presets())


def test_relative_paths_resolve_against_preset_folder(tmp_path):
    sub = tmp_path / "shared"
    sub.mkdir()
    (sub / "p.toml").write_text('[run]\ncontent = "img/photo.jpg"\n[[playlist]]\nstyle = "../art.jpg"\nhold = 3\n')
    s = load_preset(str(sub / "p.toml"))
    assert s.run.content == str(sub / "img" / "photo.jpg")
    assert s.playlist[0].style == str(sub / ".." / "art.jpg") and s.playlist[0].hold == 3


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[run]\nframez = 3\n", "unknown key run.framez; valid keys in \\[run\\]: mode, content, frames"),
        ("[render]\nx = 1\n", "unknown section \\[render\\]; valid: run, motion"),
        ("[run]\nframes = 1000000\n", "run.frames: 1000000 is outside the allowed range"),
        ("[run]\nframes = \"ten\"\n", "run.frames: expected an integer"),
        ("[run]\nsize = 99999\n", "run.size"),
        ("[run]\nmode = \"explode\"\n", "run.mode: 'explode' is not one of zoom, drift"),
        ("[fx]\nnoise_type = \"pink\"\n", "fx.noise_type: 'pink' is not one of uniform, perlin"),
        ("[fx]\ncolor_coherence = \"cmyk\"\n", "fx.color_coherence: 'cmyk' is not one of none, rgb, lab, hsv"),
        ("[fx]\ncontrast = \"0:(1), 40:(3)\"\n", "fx.contrast"),
        ("[fx]\nnoise = \"0.02*t\"\n", "fx.noise"),
        ("[fx]\nunsharp_amount = \"-1\"\n", "fx.unsharp_amount"),
        ("[fx]\nunsharp_kernel = 99\n", "fx.unsharp_kernel"),
        ("[fx]\nnoise_octaves = 0\n", "fx.noise_octaves"),
        ("[fx]\nnoise_persistence = 2.0\n", "fx.noise_persistence"),
        ("[fx]\nsharpen = 1\n", "unknown key fx.sharpen"),
        ("[run]\ncadence = 0\n", "run.cadence: 0 is outside the allowed range"),
        ("[run]\ncadence = 1.5\n", "run.cadence: expected an integer"),
        ("[run]\nloop = \"yes\"\n", "run.loop: expected true or false"),
        ("[run]\nloop = true\nloop_frames = 48\n", "run.loop_frames \\(48\\) must be smaller than run.frames"),
        ("[style]\nstyle_loss = \"kl\"\n", "style.style_loss: 'kl' is not one of gram, w2"),
        ("[run]\nprecision = \"fp16\"\n", "run.precision: 'fp16' is not one of auto, bf16, fp32"),
        ("[motion]\nzoom = \"0:(1.0), 10:(5.0)\"\n", "motion.zoom is .* at frame .*allowed range is \\[0.5, 2\\]"),
        ("[motion]\nangle = \"__import__('os').system('x')\"\n", "call not allowed"),
        ("[style]\nstyle_layer_weights = [1.0]\n", "style_layer_weights has 1 values for 5"),
        ("[optim]\ncarry_moments = true\n", "carry_moments needs optim.optimizer"),
        ("[[playlist]]\nhold = 2\n", "playlist\\[0\\].style: a style image path is required"),
        ("[[playlist]]\nstyle = \"a.jpg\"\nhold = 0\n", "playlist\\[0\\].hold: expected an integer in \\[1,"),
        ("[[playlist]]\nstyle = \"a.jpg\"\nspeed = 2\n", "unknown key speed"),
        ("[run\n", "not valid TOML"),
    ],
)
def test_bad_presets_are_rejected_with_the_key(tmp_path, toml, message):
    p = tmp_path / "bad.toml"
    p.write_text(toml)
    with pytest.raises(UserError, match=message) as e:
        load_preset(str(p))
    assert "bad.toml" in str(e.value) and "\n" not in str(e.value)


def test_unknown_preset_name_lists_shipped():
    with pytest.raises(UserError, match="unknown preset 'nope'; shipped presets: deepdream-like"):
        load_preset("nope")


def test_overrides_parse_toml_values_and_validate():
    assert parse_override("motion.zoom=1.03") == ("motion", "zoom", 1.03)
    assert parse_override('motion.zoom="0:(1), 5:(1.1)"')[2] == "0:(1), 5:(1.1)"
    assert parse_override("run.content=me.jpg")[2] == "me.jpg"  # not TOML: kept as text
    s = apply_overrides(load_preset("gentle"), ["run.frames=5", "motion.angle=2"])
    assert s.run.frames == 5 and s.motion.angle.text == "2.0" and s.motion.angle(7) == 2.0
    with pytest.raises(UserError, match="unknown key run.nope"):
        apply_overrides(load_preset("gentle"), ["run.nope=1"])
    with pytest.raises(UserError, match="expected section.key=value"):
        apply_overrides(load_preset("gentle"), ["frames"])


def test_settings_round_trip_through_toml_and_json(tmp_path):
    s = load_preset("spiral")
    (tmp_path / "again.toml").write_text(s.to_toml())
    assert load_preset(str(tmp_path / "again.toml")).to_dict() == s.to_dict()
    (tmp_path / "run.json").write_text(json.dumps({"settings": s.to_dict()}))
    assert load_preset(str(tmp_path / "run.json")).to_dict() == s.to_dict()
    assert from_dict(s.to_dict()).to_dict() == s.to_dict()
