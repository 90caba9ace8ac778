"""Image files in and out, and conversion to tensors. The only module that imports PIL.

Tensor convention for the whole package: images are ``(B, 3, H, W)`` float32 RGB in [0, 1].
"""

from __future__ import annotations

import base64
import io
import numpy as np
import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageDraw, ImageFile, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from ..errors import UserError
from .paths import check_input_file, check_output_file, unique_temp

MAX_PIXELS = 64_000_000  # larger inputs are refused as possible decompression bombs (~8000x8000)
MAX_ASPECT = 20.0  # wider or taller than 20:1 is refused: the network sees a 1-pixel strip
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a grey half image


def load_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """Open an image file as an 8-bit RGB PIL image, whatever its mode; EXIF rotation applied.

    Raises UserError (one line naming the file) for a missing file, a directory, a non-image,
    a truncated file, or one over MAX_PIXELS.
    """
    p = check_input_file(path, what)
    old_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                im.load()
                im = ImageOps.exif_transpose(im)
                rgb = _to_rgb(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{what} {p} has more than {MAX_PIXELS:,} pixels (the limit for inputs); downscale it first") from None
    except UnidentifiedImageError:
        raise UserError(f"{what} {p} is not an image PIL can read (PNG, JPEG, WebP, TIFF, BMP, GIF, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise UserError(f"{what} {p} could not be decoded (truncated or corrupt?): {_one_line(e)}") from None
    except MemoryError:
        raise UserError(f"{what} {p}: not enough memory to decode it; downscale it first") from None
    except Exception as e:  # noqa: BLE001 - PIL's many decoders raise many types; all mean "bad file"
        raise UserError(f"{what} {p} could not be decoded ({type(e).__name__}: {_one_line(e)})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    w, h = rgb.size
    if max(w, h) / min(w, h) > MAX_ASPECT:
        raise UserError(f"{what} {p} is {w}x{h}: aspect ratios beyond {MAX_ASPECT:g}:1 are not supported; crop it first")
    return rgb


def image_size(path: str | os.PathLike, what: str = "image") -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it; UserError for a bad file."""
    p = check_input_file(path, what)
    try:
        with Image.open(p) as im:
            return im.size
    except Exception as e:  # noqa: BLE001 - any reason PIL cannot read the header means "bad file"
        raise UserError(f"{what} {p} is not an image PIL can read ({type(e).__name__}: {_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200]


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: alpha is composited on white, 16/32-bit and float are rescaled."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            hi = 1.0 if a.max() <= 1.0 else 255.0
        else:
            hi = 255.0 if a.max() <= 255 else 65535.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(a, "L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return im


def resize_long_side(im: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side is ``size`` pixels (Lanczos), keeping the aspect ratio."""
    w, h = im.size
    s = size / max(w, h)
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL RGB image -> (1, 3, H, W) float32 in [0, 1]."""
    a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> 8-bit RGB PIL image."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_pil takes one image, got batch shape {tuple(x.shape)}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"expected (3, H, W), got {tuple(x.shape)}")
    a = (x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(a, "RGB")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor in [0, 1] -> (H, W, 3) uint8 array (for the encoder)."""
    return np.asarray(to_pil(x))


def data_uri(x: torch.Tensor, long_side: int, quality: int = 82) -> str:
    """(1, 3, H, W) in [0, 1] as a JPEG ``data:`` URI scaled to ``long_side`` (never up): for pages
    that must stand alone (the render report)."""
    im = to_pil(x)
    if max(im.size) > long_side:
        im = resize_long_side(im, long_side)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def check_output_path(path: str | os.PathLike, inputs: Sequence[str | os.PathLike | None] = (), what: str = "output") -> Path:
    """Validate an image output before any work starts: known extension, existing writable
    folder, not a folder, not one of ``inputs`` (the run's own files are never overwritten)."""
    return check_output_file(path, what, SAVE_FORMATS, inputs)


def save_image(x: torch.Tensor | Image.Image, path: str | os.PathLike, pnginfo: dict[str, str] | None = None) -> None:
    """Save atomically: write a temporary file in the same folder, then rename over ``path``."""
    p = Path(path)
    fmt = SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise UserError(f"output {p}: unknown extension {p.suffix!r}; use one of {', '.join(sorted(SAVE_FORMATS))}")
    im = x if isinstance(x, Image.Image) else to_pil(x)
    kwargs: dict = {}
    if fmt == "PNG" and pnginfo:
        info = PngInfo()
        for k, v in pnginfo.items():
            info.add_text(k, v)
        kwargs["pnginfo"] = info
    if fmt == "JPEG":
        kwargs["quality"] = 95
    tmp = unique_temp(p)
    try:
        with open(tmp, "wb") as f:
            im.save(f, format=fmt, **kwargs)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def montage(frames: Sequence[torch.Tensor], labels: Sequence[str], columns: int = 4, tile: int = 256) -> Image.Image:
    """A labeled contact sheet: each (1, 3, H, W) frame scaled so its long side is ``tile``."""
    if not frames:
        raise ValueError("montage needs at least one frame")
    thumbs = [resize_long_side(to_pil(f), tile) for f in frames]
    tw = max(t.width for t in thumbs)
    th = max(t.height for t in thumbs)
    label_h = 18
    cols = max(1, min(columns, len(thumbs)))
    rows = (len(thumbs) + cols - 1) // cols
    pad = 4
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, rows * (th + label_h + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (t, label) in enumerate(zip(thumbs, labels)):
        r, c = divmod(i, cols)
        x0 = pad + c * (tw + pad)
        y0 = pad + r * (th + label_h + pad)
        sheet.paste(t, (x0 + (tw - t.width) // 2, y0))
        draw.text((x0 + 2, y0 + th + 3), label[:40], fill=(230, 230, 230))
    return sheet


def quantize(frame: np.ndarray, colors: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 -> ((H, W) palette indices, (256, 3) uint8 RGB palette), median cut (for GIF)."""
    q = Image.fromarray(frame, "RGB").quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal = np.array(q.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)
    pal = np.concatenate([pal, np.zeros((256 - len(pal), 3), np.uint8)])
    return np.asarray(q, dtype=np.uint8), pal


def grid_sheet(tiles: dict[tuple[int, int], Image.Image], row_labels: Sequence[str], col_labels: Sequence[str], tile: int = 192) -> Image.Image:
    """A contact sheet with named rows and columns; ``tiles[(r, c)]`` may be missing (not done yet)."""
    pad, head, side = 6, 22, 0
    if any(row_labels):
        side = min(220, 12 + 7 * max(len(x) for x in row_labels))
    cols, rows = max(1, len(col_labels)), max(1, len(row_labels))
    th = max([round(tile * im.height / im.width) for im in tiles.values()] or [tile * 3 // 4])
    th = min(th, 2 * tile)
    sheet = Image.new("RGB", (side + cols * (tile + pad) + pad, head + rows * (th + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(col_labels):
        draw.text((side + pad + c * (tile + pad) + 2, 5), label[: tile // 6], fill=(230, 230, 230))
    for r, label in enumerate(row_labels):
        draw.text((4, head + pad + r * (th + pad) + th // 2 - 6), label[: max(1, side // 7)], fill=(230, 230, 230))
    for (r, c), im in tiles.items():
        k = min(tile / im.width, th / im.height)  # fit the tile, up or down
        t = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.LANCZOS)
        x0 = side + pad + c * (tile + pad) + (tile - t.width) // 2
        y0 = head + pad + r * (th + pad) + (th - t.height) // 2
        sheet.paste(t, (x0, y0))
    for r in range(rows):
        for c in range(cols):
            if (r, c) not in tiles:
                x0, y0 = side + pad + c * (tile + pad), head + pad + r * (th + pad)
                draw.rectangle([x0, y0, x0 + tile - 1, y0 + th - 1], outline=(90, 90, 90))
                draw.text((x0 + 6, y0 + th // 2 - 6), "pending", fill=(140, 140, 140))
    return sheet
