import numpy as np
import pytest

from stylemotion.io.decode import decode_frames, probe

from stylemotion.io.encode import VideoWriter, read_metadata
from stylemotion.errors import UserError


def frames(n, h=48, w=64):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, i * 3, axis=1) for i in range(n)]


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".gif"])
def test_round_trip_count_size_fps_metadata(tmp_path, ext):
    path = tmp_path / f"v{ext}"
    w = VideoWriter(path, fps=12, metadata={"run": {"frames": 7}})
    for f in frames(7):
        w.write(f)
    assert not path.exists()  # only the temporary file exists while encoding
    w.close()
    n, width, height, fps = probe(path)
    assert (n, width, height) == (7, 64, 48)
    assert abs(fps - 12) < (1.0 if ext == ".gif" else 0.01)  # GIF delays are in 1/100 s
    if ext != ".gif":
        assert read_metadata(path) == {"run": {"frames": 7}}
    assert not list(tmp_path.glob(".*.part"))


def test_mp4_frames_are_close_to_input(tmp_path):
    path = tmp_path / "v.mp4"
    smooth = [np.full((32, 32, 3), 40 * i + 20, np.uint8) for i in range(5)]
    w = VideoWriter(path, fps=5, crf=10)
    for f in smooth:
        w.write(f)
    w.close()
    out = decode_frames(path)
    assert len(out) == 5
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(out, smooth)) < 3


def test_odd_sizes_are_cropped_even_and_abort_leaves_nothing(tmp_path):
    path = tmp_path / "odd.mp4"
    w = VideoWriter(path, fps=10)
    w.write(np.zeros((33, 45, 3), np.uint8))
    w.abort()
    assert not path.exists() and not list(tmp_path.iterdir())
    w = VideoWriter(path, fps=10)
    w.write(np.zeros((33, 45, 3), np.uint8))
    w.close()
    assert probe(path)[1:3] == (44, 32)


def test_errors(tmp_path):
    with pytest.raises(UserError, match="unknown extension '.avi'"):
        VideoWriter(tmp_path / "x.avi", fps=10)
    with pytest.raises(UserError, match="video file not found"):
        read_metadata(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    with pytest.raises(UserError, match="junk.mp4 is not a readable video"):
        read_metadata(tmp_path / "junk.mp4")


# ---- real-world input: phone clips as phones record them ----

def portrait() -> np.ndarray:
    """A 48x64 portrait picture (H=64) with detail: the astronaut's face and shoulder."""
    from .clips import to_uint8
    from .conftest import sample

    big = sample("astronaut.png", 96)  # 96x96
    return to_uint8(big[..., 8:72, 24:72])


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("clockwise", [90, 270, 180])
def test_a_display_matrix_is_honoured_upright_with_its_aspect(tmp_path, clockwise):
    """A portrait phone clip is stored landscape with a display matrix that turns it for the player:
    decoding gives the picture as the phone showed it, and its display size."""
    from stylemotion.io.decode import probe_video, read_video

    from .clips import set_display_rotation, write_format_clip

    pic = portrait()
    stored = np.ascontiguousarray(np.rot90(pic, clockwise // 90))  # turned counterclockwise; the player turns it back
    clip = set_display_rotation(write_format_clip(tmp_path / "phone.mp4", [stored] * 4, options={"crf": "12"}), clockwise)
    info = probe_video(clip)
    assert (info.width, info.height) == (48, 64) and info.rotation == (360 - clockwise) % 360
    frames = list(read_video(clip))
    assert len(frames) == 4 and frames[0][1].shape == (64, 48, 3)
    assert diff(frames[0][1], pic) < 4
    [note] = info.notes("phone.mp4")
    assert "phone.mp4 is stored" in note and "rendered upright, 48x64" in note


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_hdr_is_tone_mapped_to_sdr_in_range(tmp_path, transfer):
    """10-bit HEVC, BT.2020, PQ or HLG: the picture an HDR camera made of an sRGB scene decodes
    back to that scene (white at 203 nits); read as SDR it would be washed out and off hue."""
    import av

    from stylemotion.io.decode import probe_video, read_video

    from .clips import write_hdr_clip

    pic = np.ascontiguousarray(np.rot90(portrait()))  # 64x48 landscape
    clip = write_hdr_clip(tmp_path / f"{transfer}.mp4", [pic] * 3, transfer)
    info = probe_video(clip)
    assert info.transfer == transfer and info.wide and info.pix_fmt == "yuv420p10le"
    got = next(read_video(clip))[1]
    with av.open(str(clip)) as c:
        naive = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert diff(got, pic) < 5 < diff(naive, pic)
    assert abs(float(got.mean()) - float(pic.mean())) < 4  # no global brightening or darkening
    [note] = info.notes("clip")
    assert "HDR" in note and "tone-mapped to SDR BT.709" in note


@pytest.mark.parametrize("codec,pix_fmt,full_range,size", [
    ("libx264", "yuv444p", False, (63, 47)),  # odd width and height
    ("libx264", "yuvj420p", False, (64, 48)),  # JPEG-range format (older Android phones)
    ("libx264", "yuv420p", True, (64, 48)),  # full range flagged in the stream (iPhones)
    ("libx264rgb", "rgb24", False, (64, 48)),
    ("libx265", "yuv420p10le", False, (64, 48)),  # 10-bit SDR
    ("libx264", "yuv422p", False, (50, 34)),
])
def test_pixel_formats_and_odd_sizes_decode_as_the_picture(tmp_path, codec, pix_fmt, full_range, size):
    from stylemotion.io.decode import probe_video, read_video

    from .clips import write_format_clip

    pic = np.ascontiguousarray(np.rot90(portrait()))[: size[1], : size[0]]
    opts = {"crf": "10"} if codec.startswith("libx264") else {"x265-params": "log-level=error:crf=8"} if codec == "libx265" else {}
    clip = write_format_clip(tmp_path / "f.mkv", [pic] * 3, codec, pix_fmt, opts, full_range)
    info = probe_video(clip)
    assert (info.width, info.height, info.frames, info.transfer) == (*size, 3, "sdr") and not info.notes("f")
    got = [a for _, a in read_video(clip)]
    assert len(got) == 3 and got[0].shape == pic.shape
    assert diff(got[0], pic) < (5 if "420" in pix_fmt else 3), (pix_fmt, diff(got[0], pic))  # 4:2:0 halves the colour detail
    if full_range:  # the stream really holds full-range luma (read as limited range it would clip)
        import av

        with av.open(str(clip)) as c:
            f = next(c.decode(video=0))
            luma = f.to_ndarray()[: f.height]
            assert int(f.color_range) == 2 and (luma.max() > 235 or luma.min() < 16)


def test_frames_too_thin_are_refused_in_one_line(tmp_path):
    from stylemotion.io.decode import probe_video

    from .clips import write_format_clip

    clip = write_format_clip(tmp_path / "thin.mov", [np.zeros((1080, 1, 3), np.uint8)] * 2, "png", "rgb24")
    with pytest.raises(UserError, match=r"thin.mov is 1x1080; frames must be at least 16x16"):
        probe_video(clip)


@pytest.mark.parametrize("name,opts", [("cut.mkv", {}), ("cut.mp4", {"movflags": "+faststart"})])
def test_a_clip_that_breaks_off_is_read_to_its_break(tmp_path, name, opts):
    """A recording whose last seconds are missing: the frames that decode are the clip, and one
    warning says so; probe's count is what the reader yields."""
    from stylemotion.io.decode import probe_video, read_video

    from .clips import truncate, write_format_clip

    pics = [np.roll(np.ascontiguousarray(np.rot90(portrait())), 3 * i, axis=1) for i in range(24)]
    every_frame_a_key = {"x264-params": "keyint=1", "crf": "12"}  # bytes spread evenly over the frames
    clip = truncate(write_format_clip(tmp_path / name, pics, options=every_frame_a_key, container_options=opts), 0.6)
    info = probe_video(clip)
    assert info.truncated == "its header promises 2.00 s" and 6 <= info.frames <= 18
    got = list(read_video(clip))
    assert [i for i, _ in got] == list(range(info.frames))
    n = info.frames
    assert diff(got[-1][1], pics[n - 1]) < min(6, diff(got[-1][1], pics[n - 2]) / 3)  # the last one is whole, and in its place
    [warning] = info.notes(name)
    assert warning.startswith(f"warning: {name} breaks off") and f"the {info.frames} frames that decode" in warning


def test_an_mp4_cut_before_its_index_is_one_error_line(tmp_path):
    """An MP4 written index-last and cut short has nothing a reader can find: one line, no traceback."""
    from stylemotion.io.decode import probe_video

    from .clips import truncate, write_format_clip

    clip = truncate(write_format_clip(tmp_path / "lost.mp4", [portrait()] * 12), 0.7)
    with pytest.raises(UserError, match=r"lost.mp4 is not a readable video"):
        probe_video(clip)
