"""Studies: planning, idempotent cells, the contact sheet and gallery, in-process vs Ray."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stylemotion.errors import UserError
from stylemotion.study.cells import render_cell, run_cells
from stylemotion.runtime.executors import InProcess
from stylemotion.study.plan import Cell, grid, load_jobs, parse_sweep, plan

from .conftest import SAMPLES

CONTENTS = [str(SAMPLES / "chelsea.png"), str(SAMPLES / "astronaut.png")]
STYLES = [str(SAMPLES / "starry_night.jpg"), str(SAMPLES / "the_scream.jpg")]
SWEEP = [("style.style_weight", [3.0, 10.0, 30.0]), ("optim.iterations", [3])]


def test_sweeps_parse_as_values_and_quoted_schedules():
    assert parse_sweep("style.style_weight=1,3,10") == ("style.style_weight", [1, 3, 10])
    assert parse_sweep('motion.zoom="0:(1), 9:(1.1)", "1.02"') == ("motion.zoom", ["0:(1), 9:(1.1)", "1.02"])
    assert parse_sweep("optim.optimizer=lbfgs,adam") == ("optim.optimizer", ["lbfgs", "adam"])
    assert parse_sweep("style.style_layers=[\"relu3_1\"], [\"relu4_1\", \"relu5_1\"]")[1] == [["relu3_1"], ["relu4_1", "relu5_1"]]
    with pytest.raises(UserError, match="section.key"):
        parse_sweep("weight=3")


def test_plan_is_the_cross_product_with_stable_keys_and_commands():
    cells = plan(CONTENTS, STYLES, SWEEP, size=48)
    assert len(cells) == 12 and len({c.key for c in cells}) == 12
    assert plan(CONTENTS, STYLES, SWEEP, size=48)[5].key == cells[5].key  # same settings, same file
    g = grid(cells)
    assert g.row_keys == ["content", "style"] and g.col_keys == ["style.style_weight"]
    assert len(g.rows) == 4 and g.cols == ["style_weight=3", "style_weight=10", "style_weight=30"]
    assert len(g.at) == 12
    cmd = cells[0].command("x")
    assert cmd.startswith("stylemotion image ") and "--style-weight 3.0" in cmd and "--iterations 3" in cmd and "--size 48" in cmd


@pytest.mark.parametrize("bad, message", [
    ([("style.style_weight", [float("nan")])], "finite"),
    ([("style.colour", [1])], "cannot be set in image mode"),
    ([("optim.optimizer", ["sgd"])], "optimizer 'sgd'"),
    ([("style.style_weight", ["loud"])], "expected a number, got 'loud'"),
    ([("run.size", [5])], "outside 16..8192"),
    ([("optim.palette", [0.5, 2])], r"palette must be in \[0, 1\]"),
])
def test_bad_sweeps_fail_before_any_work(bad, message):
    with pytest.raises(UserError, match=message):
        plan(CONTENTS[:1], STYLES[:1], bad)


def test_jobs_file(tmp_path):
    (tmp_path / "jobs.toml").write_text(f"""
[[job]]
content = ["{CONTENTS[0]}"]
style = "{STYLES[0]}"
size = 48
[job.set.style]
style_weight = [3.0, 30.0]
[job.set.optim]
iterations = 2

[[job]]
content = "{CONTENTS[1]}"
style = "{STYLES[1]}"
mode = "zoom"
preset = "gentle"
size = 48
[job.set.run]
frames = 2
""")
    cells = load_jobs(tmp_path / "jobs.toml")
    assert [c.mode for c in cells] == ["image", "image", "zoom"]
    assert cells[2].settings()["run"]["frames"] == 2
    (tmp_path / "bad.toml").write_text("[[job]]\ncontent = 3\nstyle = 'a.png'\n")
    with pytest.raises(UserError, match="content must be a path"):
        load_jobs(tmp_path / "bad.toml")


def test_cells_are_idempotent_and_atomic(tmp_path):
    cell = plan(CONTENTS[:1], STYLES[:1], [("optim.iterations", [2])], size=40)[0]
    r1 = render_cell(cell, tmp_path)
    assert not r1.skipped and (tmp_path / r1.path).is_file()
    side = json.loads((tmp_path / "cells" / f"{cell.key}.json").read_text())
    assert side["settings"]["run"]["size"] == 40 and side["command"].startswith("stylemotion image")
    mtime = (tmp_path / r1.path).stat().st_mtime_ns
    r2 = render_cell(cell, tmp_path)
    assert r2.skipped and (tmp_path / r1.path).stat().st_mtime_ns == mtime
    # stored settings that differ (a hand-edited sidecar) mean the cell is not done
    side["settings"]["run"]["size"] = 41
    (tmp_path / "cells" / f"{cell.key}.json").write_text(json.dumps(side))
    assert not render_cell(cell, tmp_path).skipped
    assert not list(tmp_path.rglob("*.part"))


def test_zoom_cell_writes_a_clip_and_its_last_frame(tmp_path):
    cell = Cell(CONTENTS[0], STYLES[0], (("run.frames", 2), ("run.first_iterations", 3), ("run.iterations", "2")), "zoom", "gentle", 40)
    r = render_cell(cell, tmp_path)
    assert r.path.endswith(".mp4") and (tmp_path / r.path).is_file() and (tmp_path / r.thumb).is_file()
    assert cell.command("z").startswith("stylemotion zoom --preset gentle")
    # its report page: the per-frame values, finished (no reload)
    report = (tmp_path / r.path).with_name(Path(r.path).stem + "_report.html").read_text()
    assert 'data-key="loss"' in report and 'http-equiv="refresh"' not in report


def test_gallery_links_a_cell_report():
    from stylemotion.study.gallery import page

    cell = {"src": "cells/a.mp4", "thumb": "cells/a_last.png", "caption": "x", "report": "cells/a_report.html"}
    html = page("t", ["r"], ["c"], {(0, 0): cell})
    assert '<a href="cells/a_report.html">report</a>' in html
    assert "report</a>" not in page("t", ["r"], ["c"], {(0, 0): {**cell, "report": ""}})


def study_cli(out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "stylemotion", "study", "--size", "40", "--cell-threads", "1", "-o", str(out)]
    for c in CONTENTS:
        args += ["--content", c]
    for s in STYLES:
        args += ["--style", s]
    args += ["--set", "style.style_weight=3,10,30", "--set", "optim.iterations=3", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_study_continues_where_it_stopped(tmp_path):
    out = tmp_path / "s"
    p = study_cli(out)
    deadline = time.time() + 300
    while len(list((out / "cells").glob("*.json"))) < 3 and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    p.kill()
    p.wait(timeout=60)
    done = {f.name: f.stat().st_mtime_ns for f in (out / "cells").glob("*.png")}
    assert 3 <= len(done) < 12
    p = study_cli(out)
    stdout, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert f"({len([f for f in (out / 'cells').glob('*.json')]) - (12 - len(done))} already done)" in stdout or "already done" in stdout
    assert len(list((out / "cells").glob("*.png"))) == 12
    for name, mtime in done.items():  # finished cells were skipped, not redone
        if (out / "cells" / name.replace(".png", ".json")).exists():
            assert (out / "cells" / name).stat().st_mtime_ns == mtime
    html = (out / "index.html").read_text()
    assert html.count("<img ") == 12 and "style_weight=30" in html and "stylemotion image" in html
    assert (out / "sheet.png").is_file() and not list(out.rglob("*.part"))


def test_ray_gives_the_same_images_as_in_process(tmp_path):
    ray = pytest.importorskip("ray")
    cells = plan(CONTENTS, STYLES, SWEEP, size=40)
    local = tmp_path / "local"
    results = dict((c.key, r) for c, r in run_cells(InProcess(), cells, local))
    from stylemotion.runtime.executors import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ex = RayExecutor("auto")
        remote = tmp_path / "ray"
        got = dict((c.key, r) for c, r in run_cells(ex, cells, remote))
        ex.close()
    finally:
        ray.shutdown()
    assert set(got) == set(results)
    for key, r in results.items():
        assert (local / r.path).read_bytes() == (remote / got[key].path).read_bytes(), key


def test_gallery_in_a_headless_browser(tmp_path):
    """Chromium (Debian's package) loads the gallery: every grid image decodes, a screenshot is taken."""
    import shutil

    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium here (apt-get install chromium)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gallery_check import check

    from stylemotion.cli import main

    out = tmp_path / "g"
    args = ["study", "--size", "32", "--cell-threads", "1", "-o", str(out), "--set", "optim.iterations=1,2"]
    for c in CONTENTS:
        args += ["--content", c]
    assert main(args + ["--style", STYLES[0]]) == 0
    r = check(out, 390, 800, tmp_path / "phone.png")
    assert r == {"images": 4, "loaded": 4, "cells": 4, "pending": 0}
    assert (tmp_path / "phone.png").stat().st_size > 10_000
