"""``stylemotion study``: grids of photos x paintings x settings, local or on a Ray cluster."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

from ..engine.backbone import pick_device
from ..runtime.threads import threads
from ..study.cells import is_done, run_cells
from ..engine.factory import BackboneSpec, EngineCache, build_engine
from ..errors import UserError
from ..runtime.estimate import Estimate, Meter, probe_frames, probe_level
from ..runtime.executors import make_executor
from ..study.gallery import page
from ..io.images import grid_sheet, load_image, resize_long_side, save_image, to_tensor
from ..engine.optimize import Pyramid, Targets, resize
from ..io.paths import check_input_file, check_writable_folder, resolved
from ..animation.sequence import Sequencer
from ..settings.sections import style_config
from ..study.plan import grid, image_configs, load_jobs, parse_sweep, plan, zoom_settings
from .common import Bar, device_arg, positive_int, size_arg, warn_line
from .estimate import frame_io_seconds, print_estimate, probe_settings, setup_seconds
from .render import atomic_write_text

EXAMPLES_STUDY = """examples:
  stylemotion study --content samples/chelsea.png --content samples/astronaut.png \\
      --style samples/starry_night.jpg --style samples/the_scream.jpg --set style.style_weight=5,15,40 -o study/
  stylemotion study --content me.jpg --style a.jpg --set style.style_scale=0.5,1,2 --set optim.optimizer=lbfgs,adam -o scales/
  stylemotion study --jobs jobs.toml -o big_study/ --ray auto            # spread over a Ray cluster
  stylemotion study --content me.jpg --style a.jpg --mode zoom --preset spiral --set motion.zoom=1.01,1.03 -o zooms/
Stopped? Run the same command again: finished cells are skipped.
"""


def cmd_study(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"study folder {out} exists and is not a folder")
    check_writable_folder(out if out.exists() else (out.parent if str(out.parent) else Path(".")), "study")
    cells = []
    if args.jobs is not None:
        cells += load_jobs(args.jobs, args.cell_threads)
    if args.content or args.style:
        sweeps = [parse_sweep(t) for t in args.overrides]
        cells += plan([str(resolved(c)) for c in args.content or []], [str(resolved(s)) for s in args.style or []],
                      sweeps, args.mode, args.preset, args.size, args.cell_threads)
    elif args.overrides:
        raise UserError("--set sweeps apply to --content/--style; in a jobs file put them in [job.set]")
    if not cells:
        raise UserError("nothing to render: give --content and --style (repeatable), or --jobs FILE")
    for path in sorted({c.content for c in cells} | {c.style for c in cells}):
        load_image(check_input_file(path, "study input"), "study input")  # decodes: a broken file fails now, not in cell 37
    seen: dict[str, object] = {}
    cells = [seen.setdefault(c.key, c) for c in cells if c.key not in seen]  # type: ignore[misc]
    if args.estimate:
        estimate_study(cells, out, args)
        return 0
    out.mkdir(exist_ok=True)
    return run_study(cells, out, make_executor(device=args.device or "cpu", workers=args.workers, ray_address=args.ray,
                                                   notify=warn_line))


def estimate_study(cells, out: Path, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    """--estimate: each cell's cost from probes shared by the cells that cost the same (same mode,
    size, layers, loss and pooling), cells already done cost nothing; summed, and divided among
    parallel workers when there are several."""
    device = pick_device(args.device or "cpu")
    meter = Meter(device)
    setup = setup_seconds()
    probes: dict[tuple, object] = {}
    seconds, iterations, todo = 0.0, 0, [c for c in cells if not is_done(c, out)]
    cache = EngineCache()
    for cell in todo:
        with threads(cell.threads):
            content = to_tensor(resize_long_side(load_image(cell.content, "content image"), cell.size))
            style = to_tensor(resize_long_side(load_image(cell.style, "style image"), cell.size))
            if cell.mode == "image":
                style_cfg, optim, run = image_configs(cell)
                engine = build_engine(BackboneSpec(pooling=run["pooling"]), style_cfg, device, cache)
                pyramid = Pyramid.of(tuple(content.shape[-2:]), optim)
                for hw, n in pyramid.levels():
                    key = ("image", hw, run["pooling"], style_cfg.content_layers, style_cfg.style_layers, style_cfg.style_loss, optim.optimizer)
                    if key not in probes:
                        c = resize(content, hw).to(device)
                        targets = Targets(engine.content_targets(c), engine.style_targets([style], None, hw))
                        probes[key] = probe_level(lambda k: engine.optimize(c, targets, dataclasses.replace(optim, tol=0.0), k), device)
                    seconds += probes[key](n)  # type: ignore[operator]
                    iterations += n
                seconds += frame_io_seconds(pyramid.sizes[-1], report=False)
            else:
                st = zoom_settings(cell)
                engine = build_engine(BackboneSpec(pooling=st.run.pooling), style_config(st), device, cache)
                seq = Sequencer(st, engine, content, [style])
                key = ("zoom", seq.hw, st.run.pooling, tuple(st.style.content_layers), tuple(st.style.style_layers), st.optim.optimizer)
                if key not in probes:
                    probes[key] = probe_frames(iter(Sequencer(probe_settings(st), engine, content, [style]).frames()), device)
                n = [seq.iterations_at(t) for t in seq.key_frames()]
                seconds += sum(probes[key](k) for k in n) + st.run.frames * frame_io_seconds(seq.hw)  # type: ignore[operator]
                iterations += sum(n)
    workers = max(1, args.workers or 1) if not args.ray else 1
    est = Estimate(setup + seconds / workers, meter.peak(), meter.kind, iterations,
                   [f"{len(todo)} cells to render ({len(cells) - len(todo)} already done), {len(probes)} probed sizes",
                    f"{seconds:.0f} s of cell work" + (f" over {workers} workers" if workers > 1 else "") +
                    ("; on Ray the cluster's size divides it" if args.ray else "")])
    print_estimate(est, f"study {out.name}", device)


def run_study(cells, out: Path, executor) -> int:  # type: ignore[no-untyped-def]
    for stale in [*out.glob(".*.part"), *(out / "cells").glob(".*.part")]:  # left by a killed run
        stale.unlink(missing_ok=True)
    g = grid(cells)
    where = {c.key: rc for rc, c in g.at.items()}
    done = {c.key for c in cells if is_done(c, out)}
    todo = [c for c in cells if c.key not in done]
    thumbs: dict[tuple[int, int], object] = {}
    info: dict[tuple[int, int], dict] = {}

    def record(cell, thumb: str, seconds: float | None) -> None:  # type: ignore[no-untyped-def]
        rc = where.get(cell.key)
        if rc is None:
            return
        thumbs[rc] = load_image(out / thumb, "study cell")
        caption = cell.label(g.row_keys + g.col_keys) + (f" ({seconds:.0f} s)" if seconds else "")
        info[rc] = {"src": f"cells/{cell.key}{cell.suffix}", "thumb": thumb, "caption": caption,
                    "settings": cell.settings(), "command": cell.command(cell.key)}
        if cell.mode != "image" and (out / "cells" / f"{cell.key}_report.html").is_file():
            info[rc]["report"] = f"cells/{cell.key}_report.html"

    def publish() -> None:  # the sheet and the page, rewritten as cells finish
        save_image(grid_sheet(thumbs, g.rows if g.row_keys else [""], g.cols, tile=192), out / "sheet.png")  # type: ignore[arg-type]
        meta = (f"{len(info)} of {len(cells)} cells; rows: {', '.join(g.row_keys) or '-'}; columns: {', '.join(g.col_keys)}; "
                f"{executor.name}; updated {time.strftime('%Y-%m-%d %H:%M:%S')}")
        atomic_write_text(out / "index.html", page(f"stylemotion study: {out.name}", g.rows if g.row_keys else [""], g.cols, info, meta))

    for c in cells:
        if c.key in done:
            record(c, f"cells/{c.key}.png" if c.mode == "image" else f"cells/{c.key}_last.png", None)
    atomic_write_text(out / "study.json", json.dumps({"stylemotion": 1, "cells": [
        {"key": c.key, "row": g.rows[where[c.key][0]] if c.key in where else "", "column": g.cols[where[c.key][1]] if c.key in where else "",
         "command": c.command(c.key), "settings": c.settings()} for c in cells]}, indent=1, sort_keys=True))
    publish()
    print(f"study: {len(cells)} cells ({len(done)} already done), {len(g.rows)} x {len(g.cols)} grid, {executor.name}")
    bar = Bar(len(todo), f"study {out.name}", unit="cell")
    t0 = time.perf_counter()
    try:
        for cell, res in run_cells(executor, todo, out):
            record(cell, res.thumb, res.seconds)
            publish()
            bar.update(1, last=f"{res.seconds:.1f}s")
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: {len(info)} of {len(cells)} cells are done; run the same command again to continue")
        return 130
    finally:
        bar.close()
        executor.close()
    if not todo:
        print(f"nothing to do: all {len(cells)} cells were already done; contact sheet {out / 'sheet.png'}, gallery {out / 'index.html'}")
        return 0
    print(f"rendered {len(todo)} cells in {time.perf_counter() - t0:.1f} s; contact sheet {out / 'sheet.png'}, gallery {out / 'index.html'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="a grid of photos x paintings x settings (local, pool or Ray), with a gallery", epilog=EXAMPLES_STUDY,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", action="append", help="photo; repeat for several (rows)")
    p.add_argument("--style", action="append", help="painting; repeat for several")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=V1,V2,...",
                   help="sweep a setting over values, e.g. style.style_weight=1,3,10 (repeatable: the cross product)")
    p.add_argument("--mode", choices=["image", "zoom"], default="image", help="each cell one image (default) or a short zoom clip")
    p.add_argument("--preset", help="zoom mode: the preset the swept values apply to (default deepdream-like)")
    p.add_argument("--size", type=size_arg, default=256, help="long side of each cell (default 256)")
    p.add_argument("--jobs", help="a jobs file: [[job]] tables with content, style, mode, preset, size and [job.set]")
    p.add_argument("--workers", type=positive_int, default=0, help="local worker processes (default: one per GPU when there are several)")
    p.add_argument("--ray", metavar="ADDRESS", help="run the cells on Ray: 'auto' (a running cluster, else a local one) or host:port")
    p.add_argument("--device", type=device_arg, help="cpu (default), cuda, auto")
    p.add_argument("--cell-threads", type=positive_int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="CPU threads per cell (the same in every executor, so results are identical)")
    p.add_argument("-o", "--output", default="study", help="the study folder (default study/)")
    p.add_argument("--estimate", action="store_true", help="time each kind of cell briefly, print the expected time and peak memory, write nothing")
    p.set_defaults(func=cmd_study)
