"""Every kind of bad or odd input file: a clear UserError naming the file, or it just works."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylemotion.errors import UserError
from stylemotion.io.images import MAX_PIXELS, load_image, montage, save_image, to_pil, to_tensor


def test_missing_and_directory(tmp_path):
    with pytest.raises(UserError, match="not found: .*nope.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(UserError, match="is a directory"):
        load_image(tmp_path)


def test_not_an_image_and_truncated(tmp_path):
    txt = tmp_path / "notes.jpg"
    txt.write_text("hello")
    with pytest.raises(UserError, match="notes.jpg is not an image"):
        load_image(txt)
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.randint(0, 255, (64, 64, 3), np.uint8)).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match="cut.jpg could not be decoded"):
        load_image(cut)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "1", "I;16", "I", "F"])
def test_odd_modes_become_rgb(tmp_path, mode):
    rgb = Image.fromarray(np.random.randint(0, 255, (20, 30, 3), np.uint8))
    if mode == "I;16":
        im = Image.fromarray((np.random.rand(20, 30) * 65535).astype(np.uint16))
    elif mode == "I":
        im = Image.fromarray((np.random.rand(20, 30) * 65535).astype(np.int32))
    elif mode == "F":
        im = Image.fromarray(np.random.rand(20, 30).astype(np.float32))
    else:
        im = rgb.convert(mode)
    ext = {"CMYK": ".jpg", "F": ".tif", "I": ".tif"}.get(mode, ".png")
    path = tmp_path / f"x{ext}"
    im.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (30, 20)
    if mode in ("I;16", "I", "F"):
        assert np.asarray(out).std() > 20  # rescaled, not clipped to white/black


def test_rgba_alpha_composited_on_white(tmp_path):
    im = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    im.save(tmp_path / "a.png")
    assert np.asarray(load_image(tmp_path / "a.png")).min() == 255


def test_exif_rotation_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "r.jpg").size == (20, 40)


def test_extreme_aspect_and_bomb(tmp_path):
    Image.new("RGB", (400, 10)).save(tmp_path / "strip.png")
    with pytest.raises(UserError, match="strip.png is 400x10"):
        load_image(tmp_path / "strip.png")
    # a PNG header claiming a huge size: refused before decoding
    side = int(MAX_PIXELS**0.5) + 100
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")
    with pytest.raises(UserError, match="bomb.png has more than"):
        load_image(tmp_path / "bomb.png")


def test_tensor_round_trip_and_atomic_save(tmp_path):
    x = torch.rand(1, 3, 10, 12)
    assert (to_tensor(to_pil(x)) - x).abs().max() <= 1 / 255 + 1e-6
    save_image(x, tmp_path / "o.png")
    assert Image.open(tmp_path / "o.png").size == (12, 10)
    assert list(tmp_path.glob("*.part")) == []
    with pytest.raises(UserError, match="unknown extension '.xyz'"):
        save_image(x, tmp_path / "o.xyz")


def test_montage_grid():
    sheet = montage([torch.rand(1, 3, 32, 32)] * 5, [str(i) for i in range(5)], columns=2, tile=32)
    assert sheet.width >= 2 * 32 and sheet.height >= 3 * 32
