"""The report page: series from the per-frame log, SVG plots whose values read back, refresh while running."""

import json
import math
import subprocess
import sys
from html.parser import HTMLParser

from stylemotion.io.report import page, series_of, svg_plot

from .test_sequence import ALL_CONTROLS, write_preset


class Plots(HTMLParser):
    """Collects what a reader of the page can get back: each series' values, the constants, the
    refresh tag, the images and the cut marks."""

    def __init__(self) -> None:
        super().__init__()
        self.series: dict[str, list[float]] = {}
        self.constants: dict[str, float] = {}
        self.refresh = False
        self.images: list[str] = []
        self.cuts: list[int] = []
        self.polylines = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "g" and a.get("class") == "series":
            self.series[a["data-key"]] = [float(v) for v in a["data-values"].split(",")]
        elif tag == "td" and "data-value" in a:
            self.constants[a["data-key"]] = float(a["data-value"])
        elif tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = True
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "line" and a.get("class") == "cut":
            self.cuts.append(int(a["data-frame"]))
        elif tag == "polyline":
            self.polylines += 1


def read(html: str) -> Plots:
    p = Plots()
    p.feed(html)
    return p


RECORDS = [
    {"frame": 0, "key": True, "zoom": 1.0, "loss": 0.5, "seconds": 2.0, "styles": {"a": 1.0}, "noise": 0.02},
    {"frame": 1, "key": False, "zoom": 1.02, "loss": None, "seconds": 0.1, "styles": {"a": 0.5, "b": 0.5}, "noise": 0.02},
    {"frame": 2, "key": True, "zoom": 1.04, "loss": 0.25, "seconds": 1.5, "styles": {"b": 1.0}, "noise": 0.02, "cut": True},
]


def test_series_take_every_number_and_each_style():
    s = series_of(RECORDS)
    assert s["zoom"] == [1.0, 1.02, 1.04]
    assert s["style:a"] == [1.0, 0.5, 0.0] and s["style:b"] == [0.0, 0.5, 1.0]
    assert math.isnan(s["loss"][1])  # an in-between frame has no loss
    assert "frame" not in s and "key" not in s and "cut" not in s


def test_page_plots_read_back_and_the_refresh_ends_with_the_render():
    running = read(page("t", RECORDS[:2], total_frames=3, running=True))
    assert running.refresh
    done = read(page("t", RECORDS, total_frames=3, running=False, latest="data:image/jpeg;base64,AA",
                     thumbs=[(0, "data:image/jpeg;base64,AA")]))
    assert not done.refresh
    assert done.series["zoom"] == [1.0, 1.02, 1.04]
    assert done.series["style:b"] == [0.0, 0.5, 1.0]
    assert done.series["loss"][0] == 0.5 and math.isnan(done.series["loss"][1])
    assert done.constants == {"noise": 0.02}  # a value that never changes is a table row, not a plot
    assert done.cuts and set(done.cuts) == {2}
    assert all(src.startswith("data:") for src in done.images)  # self-contained: no file or network


def test_svg_points_follow_the_values():
    svg = svg_plot([0, 1, 2, 3], {"v": [0.0, 1.0, math.nan, 2.0]})
    # the NaN breaks the line: one polyline for frames 0-1, a dot for frame 3
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    pts = [tuple(map(float, p.split(","))) for p in svg.split('points="')[1].split('"')[0].split()]
    assert pts[0][0] < pts[1][0] and pts[0][1] > pts[1][1]  # later frame to the right, larger value higher


def run(*args, umask=0o022):
    return subprocess.run([sys.executable, "-m", "stylemotion", *map(str, args)], capture_output=True, text=True, timeout=300,
                          umask=umask)


def test_a_render_writes_its_report_and_goes_on_without_one(tmp_path):
    preset = write_preset(tmp_path, extra=ALL_CONTROLS)
    out = tmp_path / "r.mp4"
    p = run("zoom", "--preset", preset, "--frames", 3, "-o", out, "--threads", 1, umask=0o027)
    assert p.returncode == 0, p.stderr
    # every file the user gets has the mode the umask gives (0640 under 027, 0644 under 022)
    for f in (out, tmp_path / "r.json", tmp_path / "r_params.jsonl", tmp_path / "r_report.html", tmp_path / "r_frames" / "frame_00002.png"):
        assert f.stat().st_mode & 0o777 == 0o640, f
    log = [json.loads(x) for x in (tmp_path / "r_params.jsonl").read_text().splitlines()]
    rep = read((tmp_path / "r_report.html").read_text())
    assert not rep.refresh
    values = {**rep.series, **{k: [v] * len(log) for k, v in rep.constants.items()}}
    for key in ("zoom", "angle", "style_weight", "content_weight", "loss", "seconds"):
        assert values[key] == [float(r[key]) for r in log], key
    assert len(rep.images) == 1 + len(log)  # the latest frame and the strip

    # no place for the page (its name is taken by a folder): one warning line, and the render goes on
    out2 = tmp_path / "s.mp4"
    (tmp_path / "s_report.html").mkdir()
    p = run("zoom", "--preset", preset, "--frames", 2, "-o", out2, "--threads", 1)
    assert p.returncode == 0, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "s_report.html" in warnings[0]
    assert out2.is_file() and len((tmp_path / "s_params.jsonl").read_text().splitlines()) == 2


def test_preview_motion_writes_the_schedules_page(tmp_path):
    preset = write_preset(tmp_path, extra=ALL_CONTROLS)
    out = tmp_path / "z.mp4"
    p = run("zoom", "--preset", preset, "--preview-motion", "--frames", 6, "-o", out, "--threads", 1)
    assert p.returncode == 0, p.stderr
    rep = read((tmp_path / "z_report.html").read_text())
    assert not rep.refresh and "loss" not in rep.series
    assert rep.series["unsharp_amount"][:2] == [0.3, 0.4]  # the preset's ramp, 0.3 at frame 0 to 0.8 at frame 5


def test_a_stopped_render_says_so_and_stops_reloading():
    html = page("t", RECORDS[:1], total_frames=3, running=False, stopped="interrupted; continue with: stylemotion zoom --resume -o z.mp4")
    assert not read(html).refresh
    assert "stopped after 1 of 3 frames: interrupted; continue with: stylemotion zoom --resume" in html


def test_the_report_in_a_headless_browser(tmp_path):
    """Chromium (Debian's package) opens a render's report: every image decodes, every plot is drawn,
    and the console stays silent."""
    import shutil

    import pytest

    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium here (apt-get install chromium)")
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from report_check import check

    preset = write_preset(tmp_path, extra=ALL_CONTROLS)
    p = run("zoom", "--preset", preset, "--preview-motion", "--frames", 6, "-o", tmp_path / "z.mp4", "--threads", 1)
    assert p.returncode == 0, p.stderr
    r = check(tmp_path / "z_report.html", screenshot=tmp_path / "shot.png")
    assert r["images"] > 1 and r["loaded"] == r["images"]
    assert r["plots"] > 0 and r["drawn"] == r["plots"]
    assert r["console"] == []
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_a_long_render_keeps_a_bounded_strip_of_thumbnails(tmp_path):
    """2,000 frames: the page holds at most 2 x STRIP thumbnails in memory, evenly spread, and the
    newest frame is always last in the strip."""
    import torch

    from stylemotion.cli.render import Report

    r = Report(tmp_path / "r_report.html", "t", 2000)
    img = torch.rand(1, 3, 8, 8)
    sizes = []
    for t in range(2000):
        r.add(t, img, {"frame": t, "loss": 1.0})
        sizes.append(len(r.thumbs))
    assert max(sizes) <= 2 * Report.STRIP and len(r.thumbs) >= Report.STRIP // 2
    keys = sorted(r.thumbs)
    assert keys[0] == 0 and len({b - a for a, b in zip(keys, keys[1:])}) == 1  # evenly spaced
    r.write(running=False)
    text = r.path.read_text()
    shown = [int(x) for x in __import__("re").findall(r"<figcaption>(\d+)</figcaption>", text)]
    assert shown[-1] == 1999 and len(shown) <= Report.STRIP + 2 and shown == sorted(shown)
