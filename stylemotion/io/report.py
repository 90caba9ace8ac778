"""A render's report page: one self-contained HTML file with inline SVG plots of the per-frame log.

Written by zoom, drift and video as frames finish (``OUT_report.html``), and by
``--preview-motion`` before any work. No network, no script: thumbnails are data URIs, plots are
SVG drawn here (a few polylines need no plotting library), and while a render runs the page
reloads itself with a ``<meta http-equiv="refresh">`` that the final page no longer carries.

Every plotted series carries its exact values in ``data-values`` (comma-separated, ``nan`` for a
frame without one), so that a test or a script can read the numbers back from the page. Pure
string building: no other imports of this package.
"""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

REFRESH_SECONDS = 10  # how often a running render's page reloads itself
# keys of the per-frame log that are bookkeeping, not values to plot
SKIP = {"frame", "key", "source", "styles", "dither", "cut", "stop"}
# the order plots appear in (the rest follow alphabetically): what users tune first
FIRST = ("loss", "seconds", "iterations", "reliable", "zoom", "angle", "tx", "ty", "content_weight", "style_weight",
         "temporal_weight")

CSS = """
:root { color-scheme: dark; }
body { margin: 0; padding: 12px; background: #181818; color: #e6e6e6; font: 15px/1.4 system-ui, sans-serif; }
h1 { font-size: 1.2rem; margin: 0 0 4px; }
h2 { font-size: 1rem; margin: 18px 0 6px; }
p.meta { margin: 0 0 12px; color: #aaa; }
.latest img { width: min(100%, 640px); height: auto; border-radius: 4px; display: block; }
.strip { display: flex; gap: 4px; overflow-x: auto; padding-bottom: 4px; }
.strip figure { margin: 0; flex: 0 0 auto; }
.strip img { height: 72px; width: auto; display: block; border-radius: 3px; }
.strip figcaption { font-size: 11px; color: #999; text-align: center; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 10px; }
.plot { background: #202020; border-radius: 4px; padding: 6px; }
.plot h3 { font-size: 13px; margin: 0 0 2px; font-weight: 600; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: #aaa; font: 10px system-ui, sans-serif; }
table.const, table.sections { border-collapse: collapse; font-size: 13px; }
table.sections td, table.sections th { padding: 2px 12px 2px 0; text-align: left; }
table.const td { padding: 2px 10px 2px 0; }
"""

COLORS = ("#5ab0ff", "#ffb35a", "#7ddc7d", "#ff6f8f", "#c49cff", "#e8e26a")


def fmt(v: float) -> str:
    """A short label for an axis value."""
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def series_of(records: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Every numeric per-frame value of the log, by key (styles as ``style:NAME``), one entry per
    record (NaN where a record lacks it). Booleans and bookkeeping keys are left out."""
    keys: list[str] = []
    for r in records:
        for k, v in r.items():
            if k == "styles" and isinstance(v, Mapping):
                keys += [f"style:{n}" for n in v if f"style:{n}" not in keys]
            elif k not in SKIP and k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.append(k)
    out: dict[str, list[float]] = {}
    for k in keys:
        vals = []
        for r in records:
            v = r.get("styles", {}).get(k[6:], 0.0) if k.startswith("style:") else r.get(k)
            vals.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan)
        out[k] = vals
    return out


def svg_plot(frames: Sequence[int], series: Mapping[str, Sequence[float]], marks: Sequence[int] = (),
             width: int = 360, height: int = 140, beats: Sequence[int] = (), sections: Sequence[int] = ()) -> str:
    """An SVG line plot over the frame number: one polyline per series (non-finite values break the
    line), min and max labelled, vertical marks at ``marks`` (cuts, red), ``beats`` (a song's
    beats, grey, dashed) and ``sections`` (where a song's sections start, orange)."""
    e = html.escape
    left, right, top, bottom = 48, 8, 8, 20
    w, h = width - left - right, height - top - bottom
    finite = [v for vals in series.values() for v in vals if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - (abs(lo) or 1) * 0.05, hi + (abs(hi) or 1) * 0.05
    f0, f1 = (min(frames), max(frames)) if frames else (0, 1)
    span = max(1, f1 - f0)

    def px(f: float) -> float:
        return left + (f - f0) / span * w

    def py(v: float) -> float:
        return top + (hi - v) / (hi - lo) * h

    out = [f'<svg viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'data-min="{lo!r}" data-max="{hi!r}" data-first="{f0}" data-last="{f1}">',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#444"/>',
           f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{e(fmt(hi))}</text>',
           f'<text x="{left - 4}" y="{top + h}" text-anchor="end">{e(fmt(lo))}</text>',
           f'<text x="{left}" y="{height - 6}">{f0}</text>',
           f'<text x="{left + w}" y="{height - 6}" text-anchor="end">{f1}</text>',
           f'<text x="{left + w / 2}" y="{height - 6}" text-anchor="middle">frame</text>']
    for cls, color, dash, where in (("beat", "#666", "3 2", beats), ("section", "#ff9f1a", "", sections), ("cut", "#ff5050", "3 2", marks)):
        for m in where:
            style = f' stroke-dasharray="{dash}"' if dash else ' stroke-width="2"'
            out.append(f'<line class="{cls}" x1="{px(m):.1f}" x2="{px(m):.1f}" y1="{top}" y2="{top + h}" stroke="{color}"'
                       f'{style} data-frame="{m}"/>')
    for i, (name, vals) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        runs: list[list[str]] = [[]]
        for f, v in zip(frames, vals):
            if math.isfinite(v):
                runs[-1].append(f"{px(f):.1f},{py(v):.1f}")
            elif runs[-1]:
                runs.append([])
        data = ",".join(repr(float(v)) if math.isfinite(v) else "nan" for v in vals)
        out.append(f'<g class="series" data-key="{e(name)}" data-values="{data}" stroke="{color}" fill="{color}">')
        for pts in runs:
            if len(pts) > 1:
                out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke-width="1.5"/>')
            elif pts:
                x, y = pts[0].split(",")
                out.append(f'<circle cx="{x}" cy="{y}" r="2"/>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def page(title: str, records: Sequence[Mapping[str, Any]], *, total_frames: int, running: bool,
         latest: str | None = None, thumbs: Sequence[tuple[int, str]] = (), meta: str = "", stopped: str = "") -> str:
    """The report HTML. ``records`` are the per-frame log lines (dicts with ``frame``), ``latest``
    a data URI of the newest frame, ``thumbs`` (frame, data URI) for the strip. A frame whose
    record has ``cut`` true is marked on every plot. ``stopped`` (with running False): why the
    render ended early, shown as its status."""
    e = html.escape
    frames = [int(r.get("frame", i)) for i, r in enumerate(records)]
    cuts = [int(r.get("frame", i)) for i, r in enumerate(records) if r.get("cut")]
    beats = [int(r.get("frame", i)) for i, r in enumerate(records) if r.get("beat") == 1]  # a song's (--audio)
    sections = [int(r.get("frame", i)) for i, r in enumerate(records) if r.get("section") == 1]
    series = series_of(records)
    varying = {k: v for k, v in series.items() if len({x for x in v if math.isfinite(x)}) > 1}
    constant = {k: v for k, v in series.items() if k not in varying}
    order = [k for k in FIRST if k in varying] + sorted(k for k in varying if k not in FIRST)
    if running:
        status = f"rendering: {len(records)} of {total_frames} frames"
    elif stopped:
        status = f"stopped after {len(records)} of {total_frames} frames: {stopped}"
    else:
        status = f"finished: {len(records)} frames"
    head = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">']
    if running:
        head.append(f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">')
    head += [f"<title>{e(title)}</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>", f'<p class="meta" id="status">{e(status)}{" · " + e(meta) if meta else ""}</p>']
    body: list[str] = []
    if latest:
        last = frames[-1] if frames else 0
        body.append(f'<h2>Latest frame ({last})</h2><div class="latest"><img src="{latest}" alt="frame {last}"></div>')
    if thumbs:
        body.append('<h2>Frames</h2><div class="strip">')
        body += [f'<figure><img src="{uri}" alt="frame {i}"><figcaption>{i}</figcaption></figure>' for i, uri in thumbs]
        body.append("</div>")
    if order:
        body.append('<h2>Per frame</h2><div class="plots">')
        stops = [r.get("stop") for r in records if r.get("stop")]
        settled = sum(1 for x in stops if x == "settled")
        for k in order:
            # the optimizer stops a frame whose loss has settled before its ceiling: say how often
            note = f" (settled early on {settled} of {len(stops)} frames)" if k == "iterations" and stops else ""
            body.append(f'<div class="plot"><h3>{e(k)}{e(note)}</h3>{svg_plot(frames, {k: varying[k]}, cuts, beats=beats, sections=sections)}</div>')
        body.append("</div>")
    if constant:
        body.append('<h2>Constant over the run</h2><table class="const">')
        for k in sorted(constant):
            v = next((x for x in constant[k] if math.isfinite(x)), math.nan)
            body.append(f'<tr><td>{e(k)}</td><td data-key="{e(k)}" data-value="{v!r}">{e(fmt(v))}</td></tr>')
        body.append("</table>")
    if cuts:
        body.append(f'<p class="meta">cuts at frames {e(", ".join(map(str, cuts)))}</p>')
    return "\n".join(head + body + ["</body></html>", ""])


def audio_page(title: str, curves: Mapping[str, Sequence[float]], beats: Sequence[int], meta: str,
               sections: Sequence[tuple[int, float]] = (), fps: float = 24.0) -> str:
    """A song's curves (one value per output frame) as a page of plots, each with the beats and
    the sections marked, and a table of the sections ``[(frame, seconds), ...]``
    (``stylemotion audio SONG -o song.html``)."""
    e = html.escape
    n = max((len(v) for v in curves.values()), default=0)
    frames = list(range(n))
    starts = [f for f, _ in sections]
    body = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title>", f"<style>{CSS}</style></head><body>",
            f"<h1>{e(title)}</h1>", f'<p class="meta" id="status">{e(meta)}</p>']
    if sections:
        body.append('<h2>Sections</h2><table class="sections"><tr><th>section</th><th>starts</th><th>frame</th><th>lasts</th></tr>')
        for i, (f, sec) in enumerate(sections):
            end = sections[i + 1][1] if i + 1 < len(sections) else n / fps
            body.append(f"<tr><td>{i + 1}</td><td>{sec:.2f} s</td><td>{f}</td><td>{end - sec:.1f} s</td></tr>")
        body.append("</table>")
    body.append('<h2>Per frame (beats dashed, sections orange)</h2><div class="plots">')
    for k, v in curves.items():
        body.append(f'<div class="plot"><h3>{e(k)}</h3>{svg_plot(frames, {k: list(v)}, beats=beats, sections=starts)}</div>')
    body += ["</div>", "</body></html>", ""]
    return "\n".join(body)
