"""hires, remix, upscale, reconstruct from the command line and from preset files."""

import pytest
import torch
from PIL import Image

from stylemotion.cli import main
from stylemotion.io.decode import probe
from stylemotion.io.images import load_image, to_tensor
from stylemotion.settings.presets import PRESET_DIR, list_presets, preset_command

from .conftest import SAMPLES

FAST = ["--iterations", "3"]
# the cat in The Starry Night by 64 px patches, 4 patches of 2 iterations: the hires runs' common part
HIRES = ["hires", str(SAMPLES / "chelsea.png"), "--style", str(SAMPLES / "starry_night.jpg"), "--patch", "64", "--steps", "4",
         "--patch-iterations", "2", *FAST]


def test_hires_multiscale(tmp_path, capsys):
    out = tmp_path / "big.png"
    code = main([*HIRES, "--canvas", "160", "--scales", "1,2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert max(Image.open(out).size) == 160


def test_hires_batch_flag_and_preset_key(tmp_path, capsys):
    out = tmp_path / "big.png"
    code = main([*HIRES, "--canvas", "192", "--batch", "2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert max(Image.open(out).size) == 192
    capsys.readouterr()
    p = tmp_path / "p.toml"
    p.write_text('command = "hires"\n[patches]\nbatch = 100\n')
    assert main(["hires", str(SAMPLES / "chelsea.png"), "--style", str(SAMPLES / "starry_night.jpg"), "--preset", str(p),
                 "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "batch must be in [1, 64] patches, got 100" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_remix_has_no_content(tmp_path, capsys):
    out = tmp_path / "remix.png"
    code = main(["remix", str(SAMPLES / "coffee.png"), "--canvas", "96", "--patch", "48", "--steps", "3",
                 "--patch-iterations", "2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (96, 64)


def test_upscale_with_compare(tmp_path, capsys):
    small = tmp_path / "small.png"
    Image.open(SAMPLES / "chelsea.png").resize((24, 16)).save(small)
    out, side = tmp_path / "up.png", tmp_path / "side.png"
    code = main(["upscale", str(small), "--style", str(SAMPLES / "chelsea.png"), "--scale", "4", "-o", str(out),
                 "--compare", str(side), *FAST])
    text = capsys.readouterr().out
    assert code == 0
    assert Image.open(out).size == (96, 64)
    assert Image.open(side).width >= 3 * 96
    assert "downsample PSNR" in text and "high-frequency energy" in text


def test_reconstruct_video(tmp_path, capsys):
    out, video = tmp_path / "r.png", tmp_path / "r.mp4"
    code = main(["reconstruct", str(SAMPLES / "chelsea.png"), "--layer", "relu4_1", "--size", "64", "--iterations", "6",
                 "--every", "2", "-o", str(out), "--video", str(video)])
    assert code == 0, capsys.readouterr().err
    n, w, h, _ = probe(video)
    assert (w, h) == (64, 42) and n == 1 + 3 + 1  # first, every 2nd, final
    # with a pyramid, coarse levels are filmed at the final size too
    video2 = tmp_path / "r2.mp4"
    code = main(["reconstruct", str(SAMPLES / "chelsea.png"), "--layer", "relu4_1", "--size", "64", "--iterations", "2",
                 "--pyramid-min", "32", "-o", str(out), "--video", str(video2)])
    assert code == 0, capsys.readouterr().err
    n, w, h, _ = probe(video2)
    # 3 levels (32, 45, 64 px) with 1, 2, 2 iterations (0.75x per coarser level, at least 1):
    # the first and every 2nd of each level, then the final image
    assert (w, h) == (64, 42) and n == 1 + 2 + 2 + 1
    # with restarts the film holds only the kept run: as many frames as one run, plus the final
    video3 = tmp_path / "r3.mp4"
    code = main(["reconstruct", str(SAMPLES / "chelsea.png"), "--layer", "relu4_1", "--size", "64", "--iterations", "2",
                 "--pyramid-min", "32", "--restarts", "3", "-o", str(out), "--video", str(video3)])
    assert code == 0, capsys.readouterr().err
    assert "of 3 (seed " in capsys.readouterr().out
    n, w, h, _ = probe(video3)
    assert (w, h) == (64, 42) and n == 1 + 2 + 2 + 1


def test_reconstruct_coarse_levels_flag_reaches_the_run(tmp_path, capsys):
    """--coarse-levels 2 adds the coarser levels' terms: the same seed gives another image."""
    outs = []
    for flag in ([], ["--coarse-levels", "2"]):
        out = tmp_path / f"r{len(outs)}.png"
        code = main(["reconstruct", str(SAMPLES / "chelsea.png"), "--layer", "relu4_1", "--size", "64", "--iterations", "3",
                     "--pyramid-min", "32", "-o", str(out), *flag])
        assert code == 0, capsys.readouterr().err
        outs.append(to_tensor(load_image(out)))
    assert outs[0].shape == outs[1].shape and not torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("name", [n for n in list_presets() if preset_command(n) not in ("zoom", "drift", "video")])
def test_mode_presets_run(tmp_path, capsys, name):
    cmd = preset_command(name)
    out = tmp_path / "o.png"
    extra = {"hires": ["--canvas", "128", "--patch", "64", "--steps", "2", "--patch-iterations", "1", "--iterations", "2"],
             "remix": ["--canvas", "96", "--patch", "48", "--steps", "2", "--patch-iterations", "1"],
             "upscale": ["--iterations", "1", "--input-shrink", "16"],
             "reconstruct": ["--iterations", "2", "--size", "48"]}[cmd]
    assert main([cmd, "--preset", name, "-o", str(out), *extra]) == 0, capsys.readouterr().err
    assert out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["hires", str(SAMPLES / "chelsea.png"), "-o", "x.png"], "no style image"),
        (["hires", str(SAMPLES / "chelsea.png"), "--style", str(SAMPLES / "starry_night.jpg"), "--canvas", "64", "--patch", "128"], "canvas must be in"),
        (["hires", "--preset", "deepdream-like"], "is a preset for 'stylemotion zoom', not for hires"),
        (["upscale", str(SAMPLES / "chelsea.png"), "--style", str(SAMPLES / "chelsea.png"), "--scale", "40"], "scale must be in [2, 16]"),
        (["reconstruct", str(SAMPLES / "chelsea.png"), "--layer", "fc7"], "unknown layer 'fc7'"),
        (["reconstruct", str(SAMPLES / "chelsea.png"), "--video", "x.avi"], "unknown extension '.avi'"),
        (["reconstruct", str(SAMPLES / "chelsea.png"), "--restarts", "0"], "--restarts"),
        (["reconstruct", str(SAMPLES / "chelsea.png"), "--coarse-levels", "-1"], "--coarse-levels"),
        (["remix"], "no photo"),
    ],
)
def test_mode_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_bad_mode_preset_key(tmp_path, capsys):
    p = tmp_path / "p.toml"
    p.write_text('command = "hires"\n[patches]\nsteps = "many"\n')
    assert main(["hires", "--preset", str(p)]) == 2
    assert "patches.steps: expected an integer" in capsys.readouterr().err


@pytest.mark.parametrize("key, value, message", [
    ("restarts", "100", "reconstruct.restarts must be in [1, 64], got 100"),
    ("coarse_levels", "20", "reconstruct.coarse_levels must be in [0, 8], got 20"),
])
def test_bad_reconstruct_value_in_preset(tmp_path, capsys, key, value, message):
    p = tmp_path / "p.toml"
    p.write_text(f'command = "reconstruct"\n[reconstruct]\n{key} = {value}\n')
    assert main(["reconstruct", str(SAMPLES / "chelsea.png"), "--preset", str(p), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_presets_list_and_show(capsys):
    assert main(["presets", "list"]) == 0
    listing = capsys.readouterr().out
    assert "deepdream-like" in listing and "hires-multiscale" in listing and "upscale" in listing
    assert main(["presets", "show", "spiral"]) == 0
    assert "[motion]" in capsys.readouterr().out
    assert (PRESET_DIR / "remix.toml").is_file()
