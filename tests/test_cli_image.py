"""The image command end to end, and its error paths (one line, exit 2, no output file)."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylemotion.cli import main

from .conftest import SAMPLES


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_image_command_writes_output(tmp_path, capsys):
    out = tmp_path / "cat.png"
    code, stdout, err = run(
        ["image", SAMPLES / "chelsea.png", "--style", SAMPLES / "starry_night.jpg", "-o", out, "--size", "64",
         "--iterations", "3", "--pyramid-min", "0", "--save-every", "2"], capsys)
    assert code == 0, err
    assert Image.open(out).size == (64, 43)
    assert (tmp_path / "cat_l0_00002.png").exists()
    assert "wrote" in stdout


def test_palette_flag(tmp_path, capsys):
    # with no iterations the output is the start image: the photo recoloured, or the photo itself
    base = ["image", SAMPLES / "chelsea.png", "--style", SAMPLES / "the_scream.jpg", "--size", "48", "--iterations", "0", "--pyramid-min", "0"]
    outs = {}
    for palette in ("1", "0"):
        outs[palette] = tmp_path / f"{palette}.png"
        code, _, err = run([*base, "--palette", palette, "-o", outs[palette]], capsys)
        assert code == 0, err
    photo = Image.open(SAMPLES / "chelsea.png").convert("L").resize(Image.open(outs["0"]).size, Image.BICUBIC)
    mean = lambda im: float(np.asarray(im, dtype=np.float64).mean())  # noqa: E731
    assert abs(mean(Image.open(outs["0"]).convert("L")) - mean(photo)) < 3  # its own colours
    assert mean(Image.open(outs["0"]).convert("L")) - mean(Image.open(outs["1"]).convert("L")) > 10  # The Scream is darker than the cat
    for bad, why in (("paint", "is not a number"), ("1.5", "must be in [0, 1]")):
        code, _, err = run([*base, "--palette", bad, "-o", tmp_path / "x.png"], capsys)
        assert code == 2 and "--palette" in err and why in err, err
        assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--style-layers", "relu1_1,relu9_1"], "unknown style layer 'relu9_1'"),
        (["--style-blend", "0.5,0.5"], "--style-blend has 2 weights for 1 --style"),
        (["--iterations", "-3"], "must be >= 0"),
    ],
)
def test_bad_values_one_line_no_output(tmp_path, capsys, extra, message):
    out = tmp_path / "o.png"
    code, _, err = run(["image", SAMPLES / "chelsea.png", "--style", SAMPLES / "starry_night.jpg", "-o", out, "--size", "32", *extra], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_missing_style_file(tmp_path, capsys):
    code, _, err = run(["image", SAMPLES / "chelsea.png", "--style", tmp_path / "no.jpg", "-o", tmp_path / "o.png"], capsys)
    assert code == 2 and "style image file not found" in err and "no.jpg" in err


@pytest.mark.parametrize("size", ["0", "-5", "abc", "99999"])
def test_bad_sizes_rejected_by_parser(tmp_path, size):
    proc = subprocess.run(
        [sys.executable, "-m", "stylemotion", "image", str(SAMPLES / "chelsea.png"), "--style", str(SAMPLES / "starry_night.jpg"),
         "-o", str(tmp_path / "o.png"), "--size", size], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--size" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.png").exists()


def test_bad_output_extension(tmp_path, capsys):
    code, _, err = run(["image", SAMPLES / "chelsea.png", "--style", SAMPLES / "starry_night.jpg", "-o", tmp_path / "o.txt"], capsys)
    assert code == 2 and "unknown extension '.txt'" in err
