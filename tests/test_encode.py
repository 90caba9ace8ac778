import numpy as np
import pytest

from stylemotion.encode import VideoWriter, decode_frames, probe, read_metadata
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
