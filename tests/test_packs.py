"""Preset packs: made on one machine, rendered byte for byte in a folder without the originals;
a stranger's hostile pack refused in one line, with nothing written anywhere."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from stylemotion.cli import main
from stylemotion.settings import packs
from stylemotion.settings.presets import load_preset, reaching_outside

from .conftest import SAMPLES

PRESET = """[run]
content = "chelsea.png"
frames = 2
size = 48
first_iterations = 8
iterations = "3"
precision = "fp32"

[motion]
zoom = "1.03"

[[playlist]]
style = "art/starry_night.jpg"
hold = 1

[[playlist]]
style = "art/the_scream.jpg"
hold = 1

[[playlist]]
style = "art/starry_night.jpg"
hold = 1
"""


@pytest.fixture
def made(tmp_path, monkeypatch):
    """A preset in its own folder with its files, and the pack made from it."""
    monkeypatch.setenv("STYLEMOTION_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "maker"
    (src / "art").mkdir(parents=True)
    shutil.copy(SAMPLES / "chelsea.png", src)
    for n in ("starry_night.jpg", "the_scream.jpg"):
        shutil.copy(SAMPLES / n, src / "art")
    (src / "my.toml").write_text(PRESET)
    assert main(["presets", "pack", str(src / "my.toml"), "-o", str(tmp_path / "my.smpack")]) == 0
    return src, tmp_path / "my.smpack"


def one_error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_a_pack_renders_its_frames_anywhere(made, tmp_path, capsys, monkeypatch):
    src, pack = made
    with zipfile.ZipFile(pack) as z:
        names = sorted(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
    # the preset, the photo and two paintings (one of them used twice: packed once)
    assert len(names) == 5 and {"manifest.json", "preset.toml"} <= set(names), names
    assert {Path(n).name for n in manifest["files"]} == {"chelsea.png", "starry_night.jpg", "the_scream.jpg"}
    for name, meta in manifest["files"].items():
        assert meta["sha256"] == hashlib.sha256((SAMPLES / Path(name).name).read_bytes()).hexdigest()
    monkeypatch.chdir(src)
    assert main(["zoom", "--preset", "my.toml", "-o", str(tmp_path / "orig.mp4"), "--threads", "1"]) == 0
    # a friend's folder: the pack alone, the maker's files gone
    friend = tmp_path / "friend"
    friend.mkdir()
    shutil.copy(pack, friend / "their.smpack")
    shutil.rmtree(src)
    monkeypatch.chdir(friend)
    assert main(["zoom", "--preset", "their.smpack", "-o", "f.mp4", "--threads", "1"]) == 0
    for i in range(2):
        name = f"frame_{i:05d}.png"
        assert (friend / "f_frames" / name).read_bytes() == (tmp_path / "orig_frames" / name).read_bytes(), name
    # and the render made from the pack can be packed again: its files are the pack's, checked by hash
    assert main(["inspect", "f.mp4", "--pack", "again.smpack"]) == 0
    with zipfile.ZipFile(friend / "again.smpack") as z:
        assert json.loads(z.read("manifest.json"))["files"] == manifest["files"]


def rewrite(pack: Path, out: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """A copy of ``pack`` whose entries pass through ``change(name, data) -> [(ZipInfo or name, data), ...]``."""
    with zipfile.ZipFile(pack) as z, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as w:
        for info in z.infolist():
            for name, data in change(info.filename, z.read(info)):
                w.writestr(name, data)
    return out


def link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def manifest_plus(extra: dict):  # type: ignore[no-untyped-def]
    def change(name, data):
        if name == "manifest.json":
            m = json.loads(data)
            m["files"].update(extra)
            return [(name, json.dumps(m))]
        return [(name, data)]
    return change


def retarget(key: str, value: str):  # type: ignore[no-untyped-def]
    def change(name, data):
        if name == "preset.toml":
            text = data.decode()
            line = next(x for x in text.splitlines() if x.startswith(f"{key} = "))
            return [(name, text.replace(line, f"{key} = {json.dumps(value)}", 1).encode())]
        return [(name, data)]
    return change


HOSTILE = {
    "dot-dot entry": (lambda n, d: [(n, d)] + ([("../evil.png", d)] if n.endswith("chelsea.png") else []), "points outside the pack"),
    "absolute entry": (lambda n, d: [(n, d)] + ([("/tmp/evil.png", d)] if n.endswith("chelsea.png") else []), "points outside the pack"),
    "backslash entry": (lambda n, d: [(n, d)] + ([("files\\..\\..\\evil.png", d)] if n.endswith("chelsea.png") else []),
                        "points outside the pack"),
    "a link": (lambda n, d: [(n, d)] + ([(link("files/x/link.png"), b"/etc/passwd")] if n.endswith("chelsea.png") else []),
               "is a link"),
    "unlisted entry": (lambda n, d: [(n, d)] + ([("files/x/extra.png", d)] if n.endswith("chelsea.png") else []), "not in its manifest"),
    "zip bomb": (lambda n, d: [(n, d)] + ([("files/x/bomb.png", b"\0" * (8 << 20))] if n.endswith("chelsea.png") else []),
                 "zip bomb"),
    "wrong bytes": (lambda n, d: [(n, d[:-10] + b"0123456789" if n.endswith("chelsea.png") else d)], "does not match its SHA-256"),
    "not an image": (lambda n, d: [(n, b"#!/bin/sh\nrm -rf ~\n" if n.endswith("chelsea.png") else d)], "SHA-256"),
    "preset reads /etc": (retarget("content", "/etc/passwd"), "not a file of the pack"),
    "preset reads ../": (retarget("content", "../../secret.png"), "not a file of the pack"),
    "preset reads ~": (retarget("content", "~/.ssh/id_rsa"), "not a file of the pack"),
    "no manifest": (lambda n, d: [] if n == "manifest.json" else [(n, d)], "no manifest.json"),
    "twice": (lambda n, d: [(n, d), (n, d)] if n.endswith("chelsea.png") else [(n, d)], "appears twice"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_pack_is_one_line_and_writes_nothing(made, tmp_path, capsys, case):
    _, pack = made
    change, expect = HOSTILE[case]
    bad = rewrite(pack, tmp_path / "bad.smpack", change)
    before = sorted(p for p in tmp_path.rglob("*"))
    err = one_error(capsys, ["zoom", "--preset", str(bad), "-o", str(tmp_path / "out.mp4")])
    assert expect in err and "bad.smpack" in err, err
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no output, no cache, no unpacked file anywhere
    assert not (tmp_path / "cache").exists()


def test_a_pack_whose_file_is_another_kind_is_refused(made, tmp_path, capsys):
    _, pack = made

    def as_script(name, data):
        if name.endswith("chelsea.png"):
            return [(name, b"#!/bin/sh\n")]
        if name == "manifest.json":
            m = json.loads(data)
            for k, v in m["files"].items():
                if k.endswith("chelsea.png"):
                    v["sha256"] = hashlib.sha256(b"#!/bin/sh\n").hexdigest()
            return [(name, json.dumps(m))]
        return [(name, data)]

    err = one_error(capsys, ["zoom", "--preset", str(rewrite(pack, tmp_path / "kind.smpack", as_script)), "-o", str(tmp_path / "o.mp4")])
    assert "is not an image file the tool reads" in err, err


def test_limits_on_size_and_entries(made, tmp_path, capsys, monkeypatch):
    _, pack = made
    monkeypatch.setattr(packs, "MAX_FILE_BYTES", 100_000)
    err = one_error(capsys, ["presets", "show", str(pack)])
    assert "over the limit of 100000" in err, err
    monkeypatch.setattr(packs, "MAX_FILE_BYTES", 1 << 30)
    monkeypatch.setattr(packs, "MAX_PACK_BYTES", 1000)
    assert "larger than" in one_error(capsys, ["presets", "show", str(pack)])
    (tmp_path / "junk.smpack").write_bytes(b"not a zip at all")
    assert "is not a readable zip" in one_error(capsys, ["presets", "show", str(tmp_path / "junk.smpack")])


def test_packing_checks_what_it_packs(made, tmp_path, capsys):
    src, pack = made
    assert "exists" in one_error(capsys, ["presets", "pack", str(src / "my.toml"), "-o", str(pack)])
    (src / "art" / "the_scream.jpg").write_text("not a picture")
    err = one_error(capsys, ["presets", "pack", str(src / "my.toml"), "-o", str(tmp_path / "two.smpack")])
    assert "playlist[1].style" in err and "not an image file" in err, err
    assert not (tmp_path / "two.smpack").exists() and not list(tmp_path.glob(".two.smpack*"))


def test_inspect_pack_names_a_file_that_changed_or_went(made, tmp_path, capsys, monkeypatch):
    src, _ = made
    monkeypatch.chdir(src)
    assert main(["zoom", "--preset", "my.toml", "-o", "r.mp4", "--threads", "1"]) == 0
    (src / "art" / "the_scream.jpg").write_bytes((SAMPLES / "the_scream.jpg").read_bytes()[:-1] + b"\0")
    err = one_error(capsys, ["inspect", "r.mp4", "--pack", "r.smpack"])
    assert "playlist[1].style" in err and "not the file the render used" in err, err
    (src / "art" / "the_scream.jpg").unlink()
    err = one_error(capsys, ["inspect", "r.json", "--pack", "r.smpack"])
    assert "playlist[1].style" in err and "the_scream.jpg" in err, err
    assert not (src / "r.smpack").exists()


def test_a_loose_preset_that_reaches_outside_its_folder_says_so(tmp_path, capsys):
    folder = tmp_path / "p"
    (folder / "art").mkdir(parents=True)
    shutil.copy(SAMPLES / "the_scream.jpg", folder / "art")
    shutil.copy(SAMPLES / "chelsea.png", tmp_path / "outside.png")
    text = PRESET.replace('content = "chelsea.png"', 'content = "../outside.png"').replace("art/starry_night.jpg", str(SAMPLES / "starry_night.jpg"))
    (folder / "x.toml").write_text(text)
    assert reaching_outside(str(folder / "x.toml")) == ["../outside.png", str(SAMPLES / "starry_night.jpg")]
    assert reaching_outside("deepdream-like") == []  # shipped presets name the bundled samples
    (folder / "in.toml").write_text(PRESET)
    assert reaching_outside(str(folder / "in.toml")) == []
    load_preset(str(folder / "x.toml"))  # still renders: it is a note, not a refusal
    capsys.readouterr()
    main(["zoom", "--preset", str(folder / "x.toml"), "--estimate"])
    err = capsys.readouterr().err
    assert "note: preset" in err and "reads files outside its folder: ../outside.png" in err, err
