"""Preset packs: one zip holding a preset and every file it uses, so that a friend renders it from
any folder on any machine, frames byte for byte those of the original files.

A pack is ``manifest.json`` (format, version, each file's SHA-256, size and kind), ``preset.toml``
and ``files/<sha256[:12]>/<name>``: the folder keeps two paintings with one name apart, the name
keeps the labels a render prints and logs. A pack is data from a stranger, read with limits:
the pack's size, each entry's size, the number of entries, the compression ratio (a zip bomb),
no entry outside the pack (``..``, absolute paths, drive letters, backslashes, links), no entry
the manifest does not list, only the kinds of file the tool reads (by their first bytes), every
hash checked, and a preset that names only files of the pack. Everything is checked before a byte
is written; a good pack is unpacked once into the user's cache (``$STYLEMOTION_CACHE``, else
``$XDG_CACHE_HOME/stylemotion``, else ``~/.cache/stylemotion``), by the pack's own hash, so that
``--resume`` finds its files again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterable

from ..errors import UserError
from ..io.paths import check_input_file, current_umask, parse_json, parse_toml, unique_temp
from .sections import Settings

FORMAT, VERSION = "stylemotion-pack", 1
SUFFIX = ".smpack"
MAX_PACK_BYTES = 2 * 1024**3  # the zip itself
MAX_FILE_BYTES = 1024**3  # one unpacked file (a clip for `video` can be large)
MAX_UNPACKED_BYTES = 2 * 1024**3  # all files together
MAX_ENTRIES = 512  # a long playlist of paintings fits
MAX_RATIO = 50  # unpacked/packed bytes of one entry: images, songs and clips are compressed already
MAX_TEXT_BYTES = 256 * 1024  # the manifest and the preset
CHUNK = 1 << 20

# the kinds of file a preset's keys name, by their first bytes (what the tool's readers accept)
IMAGE, AUDIO, VIDEO = "image", "audio", "video"
KIND_OF_KEY = {"run.content": IMAGE, "fx.color_reference": IMAGE, "playlist.style": IMAGE, "run.audio": AUDIO, "video.input": VIDEO}


def sniff(head: bytes) -> set[str]:
    """The kinds a file whose first 16 bytes are ``head`` can be read as."""
    kinds: set[str] = set()
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM")) or head[:4] in (b"II*\x00", b"MM\x00*") \
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        kinds.add(IMAGE)
    if head.startswith((b"GIF87a", b"GIF89a")):
        kinds |= {IMAGE, VIDEO}
    if head.startswith((b"OggS", b"fLaC", b"ID3")) or (head[:4] == b"RIFF" and head[8:12] == b"WAVE") \
            or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC")) or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        kinds.add(AUDIO)
    if head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3"):  # MP4/MOV/M4A, Matroska/WebM: sound, pictures or both
        kinds |= {AUDIO, VIDEO}
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        kinds.add(VIDEO)
    return kinds


@dataclass(frozen=True)
class PackedFile:
    where: str  # the key that names it, e.g. playlist[2].style
    path: Path  # on this disk
    kind: str
    sha256: str
    size: int

    @property
    def entry(self) -> str:
        return f"files/{self.sha256[:12]}/{self.path.name}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def used_files(s: Settings) -> list[tuple[str, str, str]]:
    """(key, path, kind) of every file a run's settings read ("" = the bundled photo: not a file)."""
    out = [(f"{sec}.{key}", getattr(getattr(s, sec), key), KIND_OF_KEY[f"{sec}.{key}"])
           for sec, key in (("run", "content"), ("fx", "color_reference"), ("run", "audio"), ("video", "input"))]
    out += [(f"playlist[{i}].style", e.style, IMAGE) for i, e in enumerate(s.playlist)]
    return [(w, p, k) for w, p, k in out if p]


def input_hashes(s: Settings) -> dict[str, str]:
    """The SHA-256 of every file a run reads, by the path its settings name (stored in a render)."""
    return {p: sha256_file(Path(p)) for _, p, _ in used_files(s) if Path(p).is_file()}


def _check_file(where: str, path: str, kind: str, expected: str | None = None) -> PackedFile:
    p = check_input_file(path, where)
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UserError(f"{where}: {p} is {size / 1024**2:.0f} MiB; a pack holds files up to {MAX_FILE_BYTES // 1024**2} MiB")
    with open(p, "rb") as f:
        head = f.read(16)
    if kind not in sniff(head):
        raise UserError(f"{where}: {p} is not an {kind} file the tool reads")
    digest = sha256_file(p)
    if expected is not None and digest != expected:
        raise UserError(f"{where}: {p} is not the file the render used (its SHA-256 is {digest[:12]}..., the render's {expected[:12]}...)")
    return PackedFile(where, p, kind, digest, size)


def write_pack(s: Settings, out: Path, hashes: dict[str, str] | None = None, overwrite: bool = False) -> list[PackedFile]:
    """Write ``out`` (.smpack): ``s`` with its files. ``hashes`` (path -> SHA-256, from a render's
    metadata): each file must still have it. The zip appears under its name only when whole."""
    out = Path(out)
    if out.suffix != SUFFIX:
        raise UserError(f"pack {out}: the file name must end in {SUFFIX}")
    if out.exists() and not overwrite:
        raise UserError(f"pack {out} exists; choose another name or pass --overwrite")
    if not out.parent.is_dir():
        raise UserError(f"output folder {out.parent} does not exist")
    files = [_check_file(w, p, k, None if hashes is None else hashes.get(p)) for w, p, k in used_files(s)]
    if sum(f.size for f in files) > MAX_UNPACKED_BYTES:
        raise UserError(f"pack {out}: its files add up to more than {MAX_UNPACKED_BYTES // 1024**3} GiB")
    entry = {f.path: f.entry for f in files}
    packed = copy.deepcopy(s)
    packed.run.content = entry.get(Path(s.run.content), "") if s.run.content else ""
    packed.fx.color_reference = entry[Path(s.fx.color_reference)] if s.fx.color_reference else ""
    packed.run.audio = entry[Path(s.run.audio)] if s.run.audio else ""
    packed.video.input = entry[Path(s.video.input)] if s.video.input else ""
    packed.playlist = [replace(e, style=entry[Path(e.style)]) for e in s.playlist]
    manifest = {"format": FORMAT, "version": VERSION, "preset": "preset.toml",
                "files": {f.entry: {"sha256": f.sha256, "bytes": f.size, "kind": f.kind} for f in files}}
    tmp = unique_temp(out)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            z.writestr("preset.toml", packed.to_toml())
            for f in {f.entry: f for f in files}.values():  # a painting used twice is packed once
                z.write(f.path, f.entry, compress_type=zipfile.ZIP_STORED)  # already compressed: stored as it is
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return files


# ---- reading a stranger's pack ----

def _entry_name(name: str, pack: Path) -> str:
    """``name`` if it stays inside the pack, else a UserError naming it."""
    bad = (not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name or any(ord(c) < 32 for c in name)
           or (len(name) > 1 and name[1] == ":"))
    parts = PurePosixPath(name.rstrip("/")).parts
    if bad or any(p in ("", ".", "..") for p in parts) or len(name) > 512:
        raise UserError(f"pack {pack}: entry {name!r} points outside the pack; refused")
    return name


def _read_capped(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, sink: BinaryIO | None = None) -> tuple[str, bytes, int]:
    """(sha256, first 16 bytes, size) of one entry, read in chunks and stopped past ``limit``
    bytes (an entry whose header understates its size is caught here)."""
    h, head, n = hashlib.sha256(), b"", 0
    with z.open(info) as f:
        while chunk := f.read(CHUNK):
            n += len(chunk)
            if n > limit:
                raise UserError(f"pack {z.filename}: entry {info.filename!r} unpacks past its limit of {limit} bytes; refused")
            if len(head) < 16:
                head = (head + chunk)[:16]
            h.update(chunk)
            if sink is not None:
                sink.write(chunk)
    return h.hexdigest(), head, n


def _text_entry(z: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], name: str, pack: Path) -> str:
    if name not in infos:
        raise UserError(f"pack {pack} has no {name}: it is not a stylemotion pack")
    with z.open(infos[name]) as f:
        data = f.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise UserError(f"pack {pack}: {name} is larger than {MAX_TEXT_BYTES // 1024} KiB; refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"pack {pack}: {name} is not UTF-8 text") from None


def cache_root() -> Path:
    env = os.environ.get("STYLEMOTION_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylemotion"


def _check_pack(pack: Path) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo], dict[str, Any], str]:
    """Everything about ``pack`` but its files' bytes: (open zip, entries, manifest files, preset text)."""
    p = check_input_file(pack, "pack")
    if p.stat().st_size > MAX_PACK_BYTES:
        raise UserError(f"pack {p} is larger than {MAX_PACK_BYTES // 1024**3} GiB; refused")
    try:
        z = zipfile.ZipFile(p)
        infos_list = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise UserError(f"pack {p} is not a readable zip ({' '.join(str(e).split())[:120]})") from None
    try:
        if len(infos_list) > MAX_ENTRIES + 2:
            raise UserError(f"pack {p} has {len(infos_list)} entries; at most {MAX_ENTRIES} files are allowed")
        infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos_list:
            name = _entry_name(info.filename, p)
            if name in infos:
                raise UserError(f"pack {p}: entry {name!r} appears twice; refused")
            mode = info.external_attr >> 16
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded (a plain file)
                raise UserError(f"pack {p}: entry {name!r} is a link or a special file; refused")
            if info.flag_bits & 0x1:
                raise UserError(f"pack {p}: entry {name!r} is encrypted; refused")
            if info.file_size > MAX_FILE_BYTES:
                raise UserError(f"pack {p}: entry {name!r} unpacks to {info.file_size} bytes, over the limit of {MAX_FILE_BYTES}; refused")
            if info.file_size > CHUNK and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise UserError(f"pack {p}: entry {name!r} unpacks {info.file_size // max(info.compress_size, 1)}x its packed size "
                                f"(a zip bomb?); refused")
            total += info.file_size
            if not info.is_dir():
                infos[name] = info
        if total > MAX_UNPACKED_BYTES:
            raise UserError(f"pack {p} unpacks to more than {MAX_UNPACKED_BYTES // 1024**3} GiB; refused")
        manifest = parse_json(_text_entry(z, infos, "manifest.json", p), f"pack {p}: manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise UserError(f"pack {p}: manifest.json is not a stylemotion pack manifest")
        if manifest.get("version") != VERSION:
            raise UserError(f"pack {p} is version {manifest.get('version')!r}; this stylemotion reads version {VERSION}")
        files = manifest.get("files")
        if not isinstance(files, dict) or any(not isinstance(v, dict) or not isinstance(v.get("sha256"), str) or v.get("kind") not in
                                              (IMAGE, AUDIO, VIDEO) for v in files.values()):
            raise UserError(f"pack {p}: manifest.json's files must map each entry to its sha256 and kind")
        for name in files:
            _entry_name(name, p)
            if not name.startswith("files/") or name not in infos:
                raise UserError(f"pack {p}: the manifest lists {name!r}, which the pack does not hold under files/")
        extra = sorted(set(infos) - set(files) - {"manifest.json", "preset.toml"})
        if extra:
            raise UserError(f"pack {p}: entry {extra[0]!r} is not in its manifest; refused")
        return z, infos, files, _text_entry(z, infos, "preset.toml", p)
    except BaseException:
        z.close()
        raise


def preset_files(data: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(key, path) of every file the pack's preset names, as written."""
    for sec, key in (("run", "content"), ("fx", "color_reference"), ("run", "audio"), ("video", "input")):
        body = data.get(sec)
        v = body.get(key) if isinstance(body, dict) else None
        if v:
            yield f"{sec}.{key}", v
    entries = data.get("playlist", [])
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(e, dict) and e.get("style"):
            yield f"playlist[{i}].style", e["style"]


def open_pack(pack: str | os.PathLike) -> Path:
    """The folder of ``pack``'s checked files (unpacked into the cache once, by the pack's hash):
    its ``preset.toml`` renders as the pack's maker rendered it. Refusals name the entry and write
    nothing."""
    pack = Path(pack)
    z, infos, files, preset_text = _check_pack(pack)
    with z:
        data = parse_toml(preset_text, f"pack {pack}: preset.toml")
        for where, value in preset_files(data):
            if not isinstance(value, str) or value not in files:
                raise UserError(f"pack {pack}: its preset's {where} names {value!r}, which is not a file of the pack "
                                f"(a pack's preset may name only its own files)")
            kind = KIND_OF_KEY["playlist.style" if where.startswith("playlist") else where]
            if files[value]["kind"] != kind:
                raise UserError(f"pack {pack}: {where} needs an {kind} file, and {value!r} is listed as {files[value]['kind']}")
        for name, meta in files.items():  # every byte hashed before one is written
            digest, head, _ = _read_capped(z, infos[name], MAX_FILE_BYTES)
            if digest != meta["sha256"]:
                raise UserError(f"pack {pack}: entry {name!r} does not match its SHA-256 in the manifest; refused")
            if meta["kind"] not in sniff(head):
                raise UserError(f"pack {pack}: entry {name!r} is not an {meta['kind']} file the tool reads; refused")
        key = hashlib.sha256(json.dumps(files, sort_keys=True).encode() + preset_text.encode()).hexdigest()[:20]
        folder = cache_root() / "packs" / key
        if (folder / "preset.toml").is_file() and all(
                (folder / n).is_file() and sha256_file(folder / n) == m["sha256"] for n, m in files.items()):
            return folder / "preset.toml"
        return _unpack(z, infos, files, preset_text, folder) / "preset.toml"


def _unpack(z: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], files: dict[str, Any], preset_text: str, folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        for name, meta in files.items():
            dest = tmp / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as f:
                digest, _, _ = _read_capped(z, infos[name], MAX_FILE_BYTES, f)
            if digest != meta["sha256"]:
                raise UserError(f"pack {z.filename}: entry {name!r} changed while it was unpacked; refused")
        (tmp / "preset.toml").write_text(preset_text, encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)  # an incomplete earlier copy of the same pack
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
