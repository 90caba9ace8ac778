"""The bad-input corpus: every command, hostile files and values, one promise.

For every case: exit code 2 (4 for a divergence), exactly one ``error:`` line on stderr, no
traceback, nothing new left in the folder and no existing file changed. The hostile files are
made here: nested documents, a FIFO, truncated, empty, mislabelled and bomb images, damaged render
states, a video whose metadata is not an object, and (where the machine allows mounting) a
read-only and a full folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylemotion.cli import main

from .conftest import SAMPLES


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels, with almost no data: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _state(path: Path, next_frame: str, settings: str, prev: torch.Tensor | None = None) -> None:
    from safetensors.torch import save_file

    t = {"rng": torch.Generator().manual_seed(0).get_state(), "prev_index": torch.tensor([0])}
    if prev is not None:
        t["prev"] = prev
    save_file(t, str(path), metadata={"next_frame": next_frame, "settings": settings, "weights": "bundled"})


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((48, 32)).save(d / "cat.png")
    Image.open(SAMPLES / "starry_night.jpg").convert("RGB").resize((48, 38)).save(d / "art.png")
    good = (d / "cat.png").read_bytes()
    (d / "truncated.png").write_bytes(good[: len(good) // 2])
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("this is not an image\n")
    (d / "text.mp4").write_text("this is not a video\n")
    (d / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    _png_header_only(d / "bomb.png", 30000, 30000)
    Image.new("RGB", (1000, 10)).save(d / "strip.png")
    (d / "adir.png").mkdir()
    (d / "outdir.png").mkdir()
    (d / "outdir.mp4").mkdir()
    os.mkfifo(d / "fifo.png")
    os.mkfifo(d / "fifo.toml")
    os.mkfifo(d / "fifo.mp4")
    (d / "nested.toml").write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    (d / "nested.json").write_text("[" * 100000 + "]" * 100000)
    (d / "deep.json").write_text(json.dumps({"run": {"frames": 2}, "x": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]}))
    (d / "big.json").write_text(json.dumps({"run": {"content": "x" * 300_000}}))
    (d / "list.json").write_text("[1, 2, 3]")
    (d / "nan.json").write_text('{"run": {"fps": NaN}}')
    (d / "bad.toml").write_text("[run\nframes = = 3\n")
    for name, body in {
        "complex": 'motion.zoom = "(-1)**0.5"',
        "divzero": 'motion.zoom = "0:(1), 1:(1/0)"',
        "hugepow": 'motion.zoom = "0:(1), 1:(t**400)"',
        "meta": 'run.device = "meta"',
        "xla": 'run.device = "xla"',
        "fps0": "run.fps = 0",
        "fpsnan": "run.fps = nan",
        "layers_empty": "style.style_layers = []",
        "weights_zero": "style.style_layer_weights = [0.0, 0.0, 0.0, 0.0, 0.0]",
        "weights_nan": "style.style_layer_weights = [nan, 1.0, 1.0, 1.0, 1.0]",
        "seed_huge": "run.seed = 9223372036854775807",
        "unknown_key": "run.speed = 3",
        "unknown_section": "[magic]\nx = 1",
        "hires_cmd": 'command = "hires"',
        "missing_abs": 'run.content = "/no/such/photo.png"',
        "fifo_ref": 'fx.color_reference = "fifo.png"',
        "loop_long": "run.frames = 4\nrun.loop = true\nrun.loop_frames = 9",
        "weights_inf": "style.style_weight = inf",
    }.items():
        lines = body.split("\n")
        if lines[0].startswith("command"):
            text = body + "\n"
        elif lines[0].startswith("["):
            text = body + "\n"
        else:  # dotted keys -> tables
            text = "\n".join(f"[{ln.split('.', 1)[0]}]\n{ln.split('.', 1)[1]}" for ln in lines) + "\n"
        (d / f"p_{name}.toml").write_text(text)
    (d / "p_mode_nested.toml").write_text('command = "hires"\n[patches]\nscales = [[[[1]]]]\n')
    # damaged render states, each in its own output's frames folder
    from stylemotion.settings.sections import Settings

    settings = Settings()
    settings.run.content = str(d / "cat.png")
    settings.run.frames, settings.run.size = 3, 32
    from stylemotion.settings.playlist import Entry

    settings.playlist = [Entry(str(d / "art.png"), 24, 0)]
    sj = json.dumps(settings.to_dict())
    for name, writer in {
        "garbage": lambda p: p.write_bytes(os.urandom(300)),
        "truncated": lambda p: (_state(p, "1", sj), p.write_bytes(p.read_bytes()[:60])),
        "negative": lambda p: _state(p, "-5", sj),
        "beyond": lambda p: _state(p, "99", sj),
        "notint": lambda p: _state(p, "one", sj),
        "nanprev": lambda p: _state(p, "1", sj, torch.full((1, 3, 21, 32), float("nan"))),
        "badsettings": lambda p: _state(p, "1", json.dumps({"run": {"frames": "many"}})),
        "nestedsettings": lambda p: _state(p, "1", "[" * 5000 + "]" * 5000),
        "wrongshape": lambda p: _state(p, "1", sj, torch.zeros(1, 3, 5, 5)),
    }.items():
        (d / f"s_{name}_frames").mkdir()
        writer(d / f"s_{name}_frames" / "state.safetensors")
    # a valid, resumable state (frame 0 rendered) for the flag-conflict cases
    (d / "s_ok_frames").mkdir()
    Image.new("RGB", (32, 21)).save(d / "s_ok_frames" / "frame_00000.png")
    _state(d / "s_ok_frames" / "state.safetensors", "1", sj, torch.rand(1, 3, 21, 32))
    # the same, but its finished frame was replaced by an image of another size
    (d / "s_resized_frames").mkdir()
    Image.new("RGB", (40, 30)).save(d / "s_resized_frames" / "frame_00000.png")
    _state(d / "s_resized_frames" / "state.safetensors", "1", sj, torch.rand(1, 3, 20, 32))  # the frames are 32x20
    # a symbolic link loop, a one-pixel photo
    (d / "loop_a.png").symlink_to(d / "loop_b.png")
    (d / "loop_b.png").symlink_to(d / "loop_a.png")
    Image.new("RGB", (1, 1)).save(d / "dot.png")
    # an unfinished render that a new start must not clobber
    (d / "busy_frames").mkdir()
    Image.new("RGB", (32, 21)).save(d / "busy_frames" / "frame_00000.png")
    _state(d / "busy_frames" / "state.safetensors", "1", sj)
    # videos: settings metadata that is a list, and none at all
    import av

    for name, meta in (("list_meta.mp4", "[1, 2]"), ("no_meta.mp4", None), ("deep_meta.mp4", "[" * 5000 + "]" * 5000)):
        with av.open(str(d / name), "w", format="mp4") as c:
            if meta is not None:
                c.metadata["comment"] = meta
            s = c.add_stream("libx264", rate=12)
            s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                c.mux(p)
            for p in s.encode():
                c.mux(p)
    from .clips import pan_frames, write_broken_clips, write_clip

    write_broken_clips(d)
    write_clip(d / "clip.mp4", pan_frames(4, 48))
    return d


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: type, size and content hash (FIFOs are never opened)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = ("f", st.st_size, hashlib.sha1(p.read_bytes()).hexdigest())
        else:
            out[str(p.relative_to(root))] = ("d" if stat.S_ISDIR(st.st_mode) else "other",)
    return out


IMG = ["image", "{d}/cat.png", "--style", "{d}/art.png", "-o", "{d}/o.png", "--size", "32", "--iterations", "1"]
ZOOM = ["zoom", "--content", "{d}/cat.png", "--style", "{d}/art.png", "--size", "32", "--frames", "2", "-o", "{d}/z.mp4"]
DRIFT = ["drift", "--content", "{d}/cat.png", "--style", "{d}/art.png", "--size", "32", "--frames", "2", "-o", "{d}/dr.mp4"]
HIRES = ["hires", "{d}/cat.png", "--style", "{d}/art.png", "--canvas", "64", "--patch", "32", "--steps", "1", "-o", "{d}/h.png"]
REMIX = ["remix", "{d}/cat.png", "--canvas", "64", "--patch", "32", "--steps", "1", "-o", "{d}/r.png"]
UP = ["upscale", "{d}/cat.png", "--style", "{d}/art.png", "--scale", "2", "--iterations", "1", "-o", "{d}/u.png"]
STUDY = ["study", "--content", "{d}/cat.png", "--style", "{d}/art.png", "--size", "32", "-o", "{d}/st"]
VID = ["video", "{d}/clip.mp4", "--style", "{d}/art.png", "--size", "32", "-o", "{d}/v.mp4"]
REC = ["reconstruct", "{d}/cat.png", "--size", "32", "--iterations", "1", "-o", "{d}/rc.png"]


def swap(base: list[str], old: str, new: str) -> list[str]:
    """``base`` with the argument ``old`` replaced by ``new`` (which must occur)."""
    assert old in base, old
    return [new if a == old else a for a in base]


def drop(base: list[str], flag: str, n: int = 1) -> list[str]:
    i = base.index(flag)
    return base[:i] + base[i + 1 + n:]


CASES: dict[str, list[str]] = {
    # --- image: files
    "image-missing": swap(IMG, "{d}/cat.png", "{d}/nope.png"),
    "image-dir": swap(IMG, "{d}/cat.png", "{d}/adir.png"),
    "image-fifo": swap(IMG, "{d}/cat.png", "{d}/fifo.png"),
    "image-stdin": swap(IMG, "{d}/cat.png", "/dev/stdin"),
    "image-devzero": swap(IMG, "{d}/cat.png", "/dev/zero"),
    "image-truncated": swap(IMG, "{d}/cat.png", "{d}/truncated.png"),
    "image-empty": swap(IMG, "{d}/cat.png", "{d}/empty.png"),
    "image-text": swap(IMG, "{d}/cat.png", "{d}/text.png"),
    "image-bomb": swap(IMG, "{d}/cat.png", "{d}/bomb.png"),
    "image-strip": swap(IMG, "{d}/cat.png", "{d}/strip.png"),
    "image-style-fifo": swap(IMG, "{d}/art.png", "{d}/fifo.png"),
    "image-style-truncated": swap(IMG, "{d}/art.png", "{d}/truncated.png"),
    "image-style-bomb": swap(IMG, "{d}/art.png", "{d}/bomb.png"),
    "image-init-fifo": IMG + ["--init-image", "{d}/fifo.png"],
    "image-init-without-file": IMG + ["--init", "image"],
    # --- image: outputs
    "image-out-is-content": swap(IMG, "{d}/o.png", "{d}/cat.png"),
    "image-out-is-style": swap(IMG, "{d}/o.png", "{d}/art.png"),
    "image-out-ext": swap(IMG, "{d}/o.png", "{d}/o.xyz"),
    "image-out-dir": swap(IMG, "{d}/o.png", "{d}/outdir.png"),
    "image-out-missing-folder": swap(IMG, "{d}/o.png", "{d}/no/such/o.png"),
    "image-out-fifo": swap(IMG, "{d}/o.png", "{d}/fifo.png"),
    # --- image: values
    "image-size-0": swap(IMG, "32", "0"),
    "image-size-huge": swap(IMG, "32", "99999"),
    "image-size-text": swap(IMG, "32", "big"),
    "image-sw-nan": IMG + ["--style-weight", "nan"],
    "image-sw-inf": IMG + ["--style-weight", "inf"],
    "image-sw-neg": IMG + ["--style-weight", "-1"],
    "image-cw-nan": IMG + ["--content-weight", "nan"],
    "image-tv-neg": IMG + ["--tv-weight", "-2"],
    "image-all-zero": IMG + ["--content-weight", "0", "--style-weight", "0", "--tv-weight", "0"],
    "image-scale-0": IMG + ["--style-scale", "0"],
    "image-scale-huge": IMG + ["--style-scale", "100"],
    "image-layers-empty": IMG + ["--style-layers", ","],
    "image-layers-unknown": IMG + ["--style-layers", "relu9_9"],
    "image-content-layer-unknown": IMG + ["--content-layers", "fc7"],
    "image-layer-weights-zero": IMG + ["--style-layer-weights", "0,0,0,0,0"],
    "image-layer-weights-nan": IMG + ["--style-layer-weights", "nan,1,1,1,1"],
    "image-layer-weights-count": IMG + ["--style-layer-weights", "1,2"],
    "image-blend-nan": IMG + ["--style", "{d}/art.png", "--style-blend", "nan,1"],
    "image-blend-zero": IMG + ["--style", "{d}/art.png", "--style-blend", "0,0"],
    "image-blend-count": IMG + ["--style", "{d}/art.png", "--style-blend", "1"],
    "image-seed-neg": IMG + ["--seed", "-1"],
    "image-seed-huge": IMG + ["--seed", "99999999999999999999999"],
    "image-device-meta": IMG + ["--device", "meta"],
    "image-device-xla": IMG + ["--device", "xla"],
    "image-device-inject": IMG + ["--device", "cpu; rm -rf /"],
    "image-device-cuda-absent": IMG + ["--device", "cuda:0"] if not torch.cuda.is_available() else IMG + ["--device", "cuda:99"],
    "image-lr-0": IMG + ["--lr", "0"],
    "image-lr-big": IMG + ["--lr", "5"],
    "image-tol": IMG + ["--tol", "2"],
    "image-iterations-neg": IMG + ["--iterations", "-1"],
    "image-iterations-huge": IMG + ["--iterations", "10000000"],
    "image-pyramid-step": IMG + ["--pyramid-step", "1"],
    "image-avg-decay-1": IMG + ["--avg-decay", "1"],
    "image-avg-decay-nan": IMG + ["--avg-decay", "nan"],
    "image-weights-missing": IMG + ["--weights", "{d}/none.pth"],
    "image-weights-fifo": IMG + ["--weights", "{d}/fifo.png"],
    "image-weights-text": IMG + ["--weights", "{d}/text.png"],
    "image-optimizer": IMG + ["--optimizer", "sgd"],
    "image-threads-0": IMG + ["--threads", "0"],
    "image-save-every-0": IMG + ["--save-every", "0"],
    "image-unknown-flag": IMG + ["--colour", "red"],
    # --- zoom / drift: presets and --set
    "zoom-preset-nested-toml": ZOOM + ["--preset", "{d}/nested.toml"],
    "zoom-preset-nested-json": ZOOM + ["--preset", "{d}/nested.json"],
    "zoom-preset-deep-json": ZOOM + ["--preset", "{d}/deep.json"],
    "zoom-preset-big-json": ZOOM + ["--preset", "{d}/big.json"],
    "zoom-preset-list-json": ZOOM + ["--preset", "{d}/list.json"],
    "zoom-preset-nan-json": ZOOM + ["--preset", "{d}/nan.json"],
    "zoom-preset-fifo": ZOOM + ["--preset", "{d}/fifo.toml"],
    "zoom-preset-bad-toml": ZOOM + ["--preset", "{d}/bad.toml"],
    "zoom-preset-binary": ZOOM + ["--preset", "{d}/binary.toml"],
    "zoom-preset-unknown": ZOOM + ["--preset", "no-such-preset"],
    "zoom-preset-complex": ZOOM + ["--preset", "{d}/p_complex.toml"],
    "zoom-preset-divzero": ZOOM + ["--preset", "{d}/p_divzero.toml"],
    "zoom-preset-hugepow": ZOOM + ["--preset", "{d}/p_hugepow.toml"],
    "zoom-preset-meta": ZOOM + ["--preset", "{d}/p_meta.toml"],
    "zoom-preset-xla": ZOOM + ["--preset", "{d}/p_xla.toml"],
    "zoom-preset-fps0": ZOOM + ["--preset", "{d}/p_fps0.toml"],
    "zoom-preset-fpsnan": ZOOM + ["--preset", "{d}/p_fpsnan.toml"],
    "zoom-preset-layers-empty": ZOOM + ["--preset", "{d}/p_layers_empty.toml"],
    "zoom-preset-weights-zero": ZOOM + ["--preset", "{d}/p_weights_zero.toml"],
    "zoom-preset-weights-nan": ZOOM + ["--preset", "{d}/p_weights_nan.toml"],
    "zoom-preset-weights-inf": ZOOM + ["--preset", "{d}/p_weights_inf.toml"],
    "zoom-preset-seed-huge": ZOOM + ["--preset", "{d}/p_seed_huge.toml"],
    "zoom-preset-unknown-key": ZOOM + ["--preset", "{d}/p_unknown_key.toml"],
    "zoom-preset-unknown-section": ZOOM + ["--preset", "{d}/p_unknown_section.toml"],
    "zoom-preset-hires": ZOOM + ["--preset", "{d}/p_hires_cmd.toml"],
    "zoom-preset-missing-abs": drop(ZOOM, "--content") + ["--preset", "{d}/p_missing_abs.toml"],
    "zoom-preset-fifo-ref": ZOOM + ["--preset", "{d}/p_fifo_ref.toml"],
    "zoom-preset-loop": drop(ZOOM, "--frames") + ["--preset", "{d}/p_loop_long.toml"],
    "zoom-set-complex": ZOOM + ["--set", "motion.zoom=(-1)**0.5"],
    "zoom-set-nested": ZOOM + ["--set", "motion.zoom=" + "[" * 3000 + "]" * 3000],
    "zoom-set-device": ZOOM + ["--set", 'run.device="meta"'],
    "zoom-set-fps-neg": ZOOM + ["--set", "run.fps=-1"],
    "zoom-set-fps-nan": ZOOM + ["--set", "run.fps=nan"],
    "zoom-set-noeq": ZOOM + ["--set", "motion.zoom"],
    "zoom-set-3parts": ZOOM + ["--set", "a.b.c=1"],
    "zoom-set-section": ZOOM + ["--set", "nosuch.key=1"],
    "zoom-set-key": ZOOM + ["--set", "run.nosuch=1"],
    "zoom-set-seed-overflow": ZOOM + ["--set", "run.seed=99999999999999999999"],
    "zoom-set-name": ZOOM + ["--set", "motion.zoom=__import__('os').system('true')"],
    "zoom-set-weights-empty": ZOOM + ["--set", "style.style_layer_weights=[]"],
    # --- zoom: files and values
    "zoom-content-fifo": swap(ZOOM, "{d}/cat.png", "{d}/fifo.png"),
    "zoom-content-missing": swap(ZOOM, "{d}/cat.png", "{d}/nope.png"),
    "zoom-content-stdin": swap(ZOOM, "{d}/cat.png", "/dev/stdin"),
    "zoom-style-truncated": swap(ZOOM, "{d}/art.png", "{d}/truncated.png"),
    "zoom-style-bomb": swap(ZOOM, "{d}/art.png", "{d}/bomb.png"),
    "zoom-frames-0": swap(ZOOM, "2", "0"),
    "zoom-frames-huge": swap(ZOOM, "2", "999999"),
    "zoom-size-small": swap(ZOOM, "32", "5"),
    "zoom-cadence-0": ZOOM + ["--cadence", "0"],
    "zoom-cadence-99": ZOOM + ["--cadence", "99"],
    "zoom-hold-0": ZOOM + ["--hold", "0"],
    "zoom-crossfade-neg": ZOOM + ["--crossfade", "-1"],
    "zoom-hold-without-style": drop(ZOOM, "--style") + ["--hold", "5"],
    "zoom-device": ZOOM + ["--device", "meta"],
    "zoom-out-ext": swap(ZOOM, "{d}/z.mp4", "{d}/z.avi"),
    "zoom-out-dir": swap(ZOOM, "{d}/z.mp4", "{d}/outdir.mp4"),
    "zoom-out-missing-folder": swap(ZOOM, "{d}/z.mp4", "{d}/no/z.mp4"),
    "zoom-out-fifo": swap(ZOOM, "{d}/z.mp4", "{d}/fifo.mp4"),
    "zoom-settings-is-preset": drop(drop(ZOOM, "--content"), "--style") + ["--preset", "{d}/deep.json", "-o", "{d}/deep.mp4"],
    "zoom-busy": swap(ZOOM, "{d}/z.mp4", "{d}/busy.mp4"),
    "zoom-weights-missing": ZOOM + ["--weights", "{d}/none.safetensors"],
    # --- zoom: resume
    "resume-nothing": ["zoom", "--resume", "-o", "{d}/never.mp4"],
    "resume-garbage": ["zoom", "--resume", "-o", "{d}/s_garbage.mp4"],
    "resume-truncated": ["zoom", "--resume", "-o", "{d}/s_truncated.mp4"],
    "resume-negative": ["zoom", "--resume", "-o", "{d}/s_negative.mp4"],
    "resume-beyond": ["zoom", "--resume", "-o", "{d}/s_beyond.mp4"],
    "resume-notint": ["zoom", "--resume", "-o", "{d}/s_notint.mp4"],
    "resume-nan": ["zoom", "--resume", "-o", "{d}/s_nanprev.mp4"],
    "resume-badsettings": ["zoom", "--resume", "-o", "{d}/s_badsettings.mp4"],
    "resume-nestedsettings": ["zoom", "--resume", "-o", "{d}/s_nestedsettings.mp4"],
    "resume-wrongshape": ["zoom", "--resume", "-o", "{d}/s_wrongshape.mp4"],
    "resume-other-size": ["zoom", "--resume", "-o", "{d}/s_ok.mp4", "--size", "64"],
    "resume-other-set": ["zoom", "--resume", "-o", "{d}/s_ok.mp4", "--set", "style.style_weight=99"],
    "resume-other-preset": ["zoom", "--resume", "-o", "{d}/s_ok.mp4", "--preset", "spiral"],
    "resume-other-weights": ["zoom", "--resume", "-o", "{d}/s_ok.mp4", "--weights", "{d}/cat.png"],
    "resume-overwrite": ["zoom", "--resume", "--overwrite", "-o", "{d}/s_ok.mp4"],
    # --- drift
    "drift-style-fifo": swap(DRIFT, "{d}/art.png", "{d}/fifo.png"),
    "drift-content-dir": swap(DRIFT, "{d}/cat.png", "{d}/adir.png"),
    "drift-out-is-content": swap(DRIFT, "{d}/dr.mp4", "{d}/cat.png"),
    "drift-preset-nested": DRIFT + ["--preset", "{d}/nested.toml"],
    "drift-set-complex": DRIFT + ["--set", "style.style_weight=(-8)**(1/3)"],
    # --- hires / remix
    "hires-content-fifo": swap(HIRES, "{d}/cat.png", "{d}/fifo.png"),
    "hires-style-missing": swap(HIRES, "{d}/art.png", "{d}/nope.png"),
    "hires-no-style": drop(HIRES, "--style"),
    "hires-canvas-0": swap(HIRES, "64", "0"),
    "hires-patch-small": swap(HIRES, "32", "5"),
    "hires-scales-0": HIRES + ["--scales", "0"],
    "hires-scales-text": HIRES + ["--scales", "a,b"],
    "hires-feather-nan": HIRES + ["--feather", "nan"],
    "hires-style-mode": HIRES + ["--style-mode", "wild"],
    "hires-preset-nested": HIRES + ["--preset", "{d}/nested.toml"],
    "hires-preset-zoom": HIRES + ["--preset", "deepdream-like"],
    "hires-preset-deep": HIRES + ["--preset", "{d}/p_mode_nested.toml"],
    "hires-out-is-style": swap(HIRES, "{d}/h.png", "{d}/art.png"),
    "remix-fifo": swap(REMIX, "{d}/cat.png", "{d}/fifo.png"),
    "remix-out-is-photo": swap(REMIX, "{d}/r.png", "{d}/cat.png"),
    "remix-bomb": swap(REMIX, "{d}/cat.png", "{d}/bomb.png"),
    # --- upscale
    "upscale-scale-0": swap(UP, "2", "0"),
    "upscale-scale-huge": swap(UP, "2", "100"),
    "upscale-consistency-nan": UP + ["--consistency-weight", "nan"],
    "upscale-consistency-neg": UP + ["--consistency-weight", "-1"],
    "upscale-shrink-0": UP + ["--input-shrink", "0"],
    "upscale-compare-is-out": UP + ["--compare", "{d}/u.png"],
    "upscale-compare-is-input": UP + ["--compare", "{d}/cat.png"],
    "upscale-out-is-input": swap(UP, "{d}/u.png", "{d}/cat.png"),
    "upscale-truncated": swap(UP, "{d}/cat.png", "{d}/truncated.png"),
    "upscale-sw-nan": UP + ["--style-weight", "nan"],
    # --- reconstruct
    "reconstruct-layer": REC + ["--layer", "relu9_1"],
    "reconstruct-layer-fc": REC + ["--layer", "fc7"],
    "reconstruct-fps-0": REC + ["--video", "{d}/rc.mp4", "--fps", "0"],
    "reconstruct-fps-nan": REC + ["--video", "{d}/rc.mp4", "--fps", "nan"],
    "reconstruct-every-0": REC + ["--video", "{d}/rc.mp4", "--every", "0"],
    "reconstruct-video-dir": REC + ["--video", "{d}/outdir.mp4"],
    "reconstruct-video-ext": REC + ["--video", "{d}/rc.avi"],
    "reconstruct-image-fifo": swap(REC, "{d}/cat.png", "{d}/fifo.png"),
    "reconstruct-out-is-image": swap(REC, "{d}/rc.png", "{d}/cat.png"),
    # --- video
    "video-not-a-video": swap(VID, "{d}/clip.mp4", "{d}/text.mp4"),
    "video-palette-2": VID + ["--palette", "2"],
    "video-precision-fp16": VID + ["--precision", "fp16"],
    "image-precision-fp16": IMG + ["--precision", "fp16"],
    "zoom-precision-set": ZOOM + ["--set", 'run.precision="half"'],
    "video-audio-only": swap(VID, "{d}/clip.mp4", "{d}/audio_only.m4a"),
    "video-zero-frames": swap(VID, "{d}/clip.mp4", "{d}/zero_frames.mkv"),
    "video-huge": swap(VID, "{d}/clip.mp4", "{d}/huge.mp4"),
    "video-cuts-outside": VID + ["--cuts", "5000"],
    "video-cuts-words": VID + ["--cuts", "scene"],
    "video-cuts-set": VID + ["--set", 'video.cuts="1,x"'],
    "video-fps-zero": VID + ["--fps", "0"],
    "video-workers-0": VID + ["--workers", "0"],
    "video-ray-unreachable": VID + ["--ray", "127.0.0.1:9"],
    "video-ray-garbage": VID + ["--ray", "nowhere"],
    "video-fifo": swap(VID, "{d}/clip.mp4", "{d}/fifo.mp4"),
    "video-missing": swap(VID, "{d}/clip.mp4", "{d}/nope.mp4"),
    "video-image-as-video": swap(VID, "{d}/clip.mp4", "{d}/cat.png"),
    "video-no-input": drop(VID, "{d}/clip.mp4", 0),
    "video-out-is-input": swap(VID, "{d}/v.mp4", "{d}/clip.mp4"),
    "video-start-past-end": VID + ["--start", "50"],
    "video-end-before-start": VID + ["--start", "3", "--end", "2"],
    "video-every-0": VID + ["--every", "0"],
    "video-long-term-no-1": VID + ["--long-term", "2,4"],
    "video-long-term-huge": VID + ["--long-term", "1,99"],
    "video-temporal-nan": VID + ["--temporal-weight", "nan"],
    "video-temporal-neg": VID + ["--temporal-weight", "-1"],
    "video-flow-method": VID + ["--set", 'video.flow="raft"'],
    "video-style-bomb": swap(VID, "{d}/art.png", "{d}/bomb.png"),
    "video-preset-zoomish": VID + ["--preset", "{d}/p_complex.toml"],
    "video-resume-nothing": ["video", "--resume", "-o", "{d}/never.mp4"],
    # --- study
    "study-content-fifo": STUDY + ["--content", "{d}/fifo.png"],
    "study-style-missing": swap(STUDY, "{d}/art.png", "{d}/nope.png"),
    "study-style-truncated": swap(STUDY, "{d}/art.png", "{d}/truncated.png"),
    "study-no-style": drop(STUDY, "--style"),
    "study-nothing": ["study", "-o", "{d}/st"],
    "study-set-nan": STUDY + ["--set", "style.style_weight=3,nan"],
    "study-set-unknown": STUDY + ["--set", "style.colour=1,2"],
    "study-set-type": STUDY + ["--set", "optim.iterations=1.5,2"],
    "study-set-noeq": STUDY + ["--set", "style.style_weight"],
    "study-set-twice": STUDY + ["--set", "style.style_weight=1", "--set", "style.style_weight=2"],
    "study-set-huge": STUDY + ["--set", "optim.seed=" + ",".join(map(str, range(101)))],
    "study-set-nested": STUDY + ["--set", "style.style_weight=" + "[" * 3000 + "]" * 3000],
    "study-out-is-file": swap(STUDY, "{d}/st", "{d}/cat.png"),
    "study-out-missing-parent": swap(STUDY, "{d}/st", "{d}/no/such/st"),
    "study-jobs-nested": ["study", "--jobs", "{d}/nested.toml", "-o", "{d}/st"],
    "study-jobs-fifo": ["study", "--jobs", "{d}/fifo.toml", "-o", "{d}/st"],
    "study-jobs-missing": ["study", "--jobs", "{d}/none.toml", "-o", "{d}/st"],
    "study-jobs-wrong": ["study", "--jobs", "{d}/p_meta.toml", "-o", "{d}/st"],
    "study-mode": STUDY + ["--mode", "dream"],
    "study-zoom-bad-preset": STUDY + ["--mode", "zoom", "--preset", "{d}/p_complex.toml"],
    "study-cell-threads-0": STUDY + ["--cell-threads", "0"],
    "study-device": STUDY + ["--device", "meta"],
    # --- presets / inspect
    "presets-show-unknown": ["presets", "show", "no-such"],
    "presets-show-nested": ["presets", "show", "{d}/nested.toml"],
    "presets-show-fifo": ["presets", "show", "{d}/fifo.toml"],
    "presets-show-no-name": ["presets", "show"],
    "presets-bad-action": ["presets", "explode"],
    "inspect-missing": ["inspect", "{d}/none.mp4"],
    "inspect-fifo": ["inspect", "{d}/fifo.mp4"],
    "inspect-text": ["inspect", "{d}/text.mp4"],
    "inspect-list-meta": ["inspect", "{d}/list_meta.mp4"],
    "inspect-deep-meta": ["inspect", "{d}/deep_meta.mp4"],
    "inspect-no-meta": ["inspect", "{d}/no_meta.mp4"],
    "inspect-nested-json": ["inspect", "{d}/nested.json"],
    "inspect-list-json": ["inspect", "{d}/list.json"],
    "no-command": [],
    "unknown-command": ["paint"],
    # --- symbolic link loops, a replaced frame, a photo too small to remix
    "image-content-link-loop": ["image", "{d}/loop_a.png", "--style", "{d}/art.png", "-o", "{d}/o.png"],
    "image-style-link-loop": ["image", "{d}/cat.png", "--style", "{d}/loop_a.png", "-o", "{d}/o.png"],
    "zoom-content-link-loop": ["zoom", "--content", "{d}/loop_a.png", "--style", "{d}/art.png", "-o", "{d}/z.mp4"],
    "video-link-loop": ["video", "{d}/loop_a.png", "--style", "{d}/art.png", "-o", "{d}/v.mp4"],
    "study-link-loop": ["study", "--content", "{d}/loop_a.png", "--style", "{d}/art.png", "-o", "{d}/st"],
    "resume-replaced-frame": ["zoom", "--resume", "-o", "{d}/s_resized.mp4"],
    "remix-one-pixel": ["remix", "{d}/dot.png", "-o", "{d}/o.png"],
    "hires-one-pixel-style": ["hires", "{d}/cat.png", "--style", "{d}/dot.png", "-o", "{d}/o.png"],
    "estimate-with-preview": ZOOM + ["--estimate", "--preview-motion"],
}


def check_promise(argv: list[str], d: Path, capsys, code: int = 2) -> str:
    """Run the CLI in-process; assert the promise; return the error line."""
    args = [a.replace("{d}", str(d)) for a in argv]
    before = snapshot(d)
    capsys.readouterr()
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("the command hung")))
    signal.alarm(60)  # a FIFO or /dev/stdin must never block
    try:
        got = main(args)
    finally:
        signal.alarm(0)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip() and "it/s]" not in ln and "%|" not in ln]
    assert got == code, f"exit {got}, stderr: {err!r}"
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert snapshot(d) == before, "files were created or changed"
    return lines[0]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_keeps_the_promise(name, d, capsys):
    check_promise(CASES[name], d, capsys)


def test_corpus_is_large_and_covers_every_command():
    assert len(CASES) >= 100
    commands = {argv[0] for argv in CASES.values() if argv}
    assert commands >= {"image", "zoom", "drift", "video", "study", "hires", "remix", "upscale", "reconstruct", "presets", "inspect"}


def test_messages_name_the_thing(d, capsys):
    assert "fifo.png" in check_promise(CASES["image-fifo"], d, capsys)
    assert "meta" in check_promise(CASES["image-device-meta"], d, capsys)
    assert "--size" in check_promise(CASES["resume-other-size"], d, capsys) and "run.size" in check_promise(CASES["resume-other-size"], d, capsys)
    assert "cat.png" in check_promise(CASES["image-out-is-content"], d, capsys)
    assert "next_frame" in check_promise(CASES["resume-negative"], d, capsys)


def test_terminal_escapes_in_names_are_shown_not_obeyed(d, capsys):
    """A file name holding an escape sequence (it could retitle or clear the terminal) or a bidi
    override is printed escaped; a name that is not UTF-8 shows its bytes."""
    line = check_promise(["image", "{d}/\x1b]0;pwned\x07\u202e.png", "--style", "{d}/art.png", "-o", "{d}/o.png"], d, capsys)
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert "\\x1b]0;pwned\\x07\\u202e.png" in line
    raw = os.fsdecode(b"caf\xe9.png")  # a Latin-1 file name on a UTF-8 system
    assert "caf\\xe9.png" in check_promise(["image", "{d}/" + raw, "--style", "{d}/art.png", "-o", "{d}/o.png"], d, capsys)


def test_messages_for_the_new_cases(d, capsys):
    assert "link loop" in check_promise(CASES["image-content-link-loop"], d, capsys)
    line = check_promise(CASES["resume-replaced-frame"], d, capsys)
    assert "frame_00000.png is 40x30" in line and "--overwrite" in line
    assert "too small" in check_promise(CASES["remix-one-pixel"], d, capsys)


def test_a_preset_reading_stdin_while_it_is_an_open_pipe(d, tmp_path):
    """run.content = /dev/stdin with stdin an open pipe: one line, exit 2, and the process ends
    (the pipe is never read)."""
    import subprocess
    import sys

    preset = tmp_path / "stdin.toml"
    preset.write_text(f'[run]\ncontent = "/dev/stdin"\n[[playlist]]\nstyle = "{d / "art.png"}"\nhold = 4\n')
    p = subprocess.Popen([sys.executable, "-m", "stylemotion", "zoom", "--preset", str(preset), "-o", str(tmp_path / "z.mp4")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        code = p.wait(timeout=120)  # stdin stays open: a read of it would block forever
    finally:
        p.kill()
    err = [ln for ln in p.stderr.read().splitlines() if ln.strip()]
    p.stdin.close()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: content image /dev/stdin is not a regular file"), err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["stdin.toml"]


def test_a_full_disk_before_the_first_state_leaves_nothing(d, tmp_path, capsys, monkeypatch):
    """The disk fills after frame 0's PNG and log line but before its state: nothing can be resumed,
    so nothing is left (no frames folder, no log, no report), and the line says so."""
    import errno

    import stylemotion.cli.render as render

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "z_frames" / "state.safetensors"))

    monkeypatch.setattr(render, "save_state", full)
    capsys.readouterr()
    code = main(["zoom", "--content", str(d / "cat.png"), "--style", str(d / "art.png"), "--size", "32", "--frames", "2",
                 "--set", 'run.iterations="1"', "--set", "run.first_iterations=1", "-o", str(tmp_path / "z.mp4")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error")]
    assert code == 2 and len(err) == 1 and "no space left" in err[0] and "nothing was kept" in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_divergence_is_reported_not_hidden(d, capsys):
    """A loss that overflows cannot be fixed by smaller steps: exit 4 and one line, no output."""
    line = check_promise(IMG + ["--style-weight", "1e300", "--pyramid-min", "0"], d, capsys, code=4)
    assert "diverged" in line


def test_internal_error_is_one_line_with_a_report(d, capsys, monkeypatch):
    import stylemotion.cli.image as image_cmd

    def boom(*a, **k):
        raise RuntimeError("simulated bug\nsecond line")

    monkeypatch.setattr(image_cmd, "cmd_image", boom)
    import stylemotion.cli as cli

    parser_main = cli.main
    capsys.readouterr()
    code = parser_main([a.replace("{d}", str(d)) for a in IMG])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 70 and len(lines) == 1 and "internal error" in lines[0] and "Traceback" not in err
    report = Path(lines[0].split("traceback in ")[1].split(";")[0])
    assert "simulated bug" in report.read_text() and "Traceback" in report.read_text()
    report.unlink()
    with pytest.raises(RuntimeError):
        parser_main([a.replace("{d}", str(d)) for a in IMG] + ["--debug"])


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.fixture
def readonly_dir(tmp_path):
    ro = tmp_path / "ro"
    if not _mount_tmpfs(ro, "size=1m,ro"):
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    yield ro
    subprocess.run(["umount", str(ro)], check=False)


def test_read_only_folder_fails_before_work(d, readonly_dir, capsys):
    line = check_promise(swap(IMG, "{d}/o.png", f"{readonly_dir}/o.png"), d, capsys)
    assert "not writable" in line
    line = check_promise(swap(ZOOM, "{d}/z.mp4", f"{readonly_dir}/z.mp4"), d, capsys)
    assert "not writable" in line


def test_a_content_name_that_is_not_utf8_is_read(d, tmp_path, capsys):
    """Flags are set as typed values, never re-parsed as text: a Latin-1 file name that exists is
    found (it once became a quoted TOML string and 'not found')."""
    raw = tmp_path / os.fsdecode(b"caf\xe9.png")
    shutil.copy(d / "cat.png", raw)
    code = main(["zoom", "--content", str(raw), "--style", str(d / "art.png"), "--size", "32", "--frames", "2",
                 "--preview-motion", "-o", str(tmp_path / "z.mp4")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert (tmp_path / "z_preview.mp4").is_file()
