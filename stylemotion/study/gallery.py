"""A study's gallery: one static HTML page (no server, no network, no script), readable on a phone.

The grid's rows and columns are named by what varies; each cell shows its image (or clip), its
full settings and the command that reproduces it. Pure string building: no other imports.
"""

from __future__ import annotations

import html
import json
from typing import Any, Sequence

CSS = """
:root { color-scheme: dark; }
body { margin: 0; padding: 12px; background: #181818; color: #e6e6e6; font: 15px/1.4 system-ui, sans-serif; }
h1 { font-size: 1.2rem; margin: 0 0 4px; }
p.meta { margin: 0 0 12px; color: #aaa; }
.wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; }
th { font-weight: 600; padding: 6px; text-align: center; vertical-align: bottom; color: #ddd; }
th.row { text-align: right; vertical-align: middle; max-width: 10rem; }
td { padding: 4px; vertical-align: top; }
figure { margin: 0; width: min(260px, 70vw); }
figure img, figure video { width: 100%; height: auto; display: block; border-radius: 4px; background: #222; }
.pending { width: min(260px, 70vw); aspect-ratio: 4 / 3; border: 1px dashed #555; border-radius: 4px;
           display: flex; align-items: center; justify-content: center; color: #777; }
details { font-size: 12px; margin-top: 4px; }
details pre { white-space: pre-wrap; word-break: break-all; background: #222; padding: 6px; border-radius: 4px; max-height: 16rem; overflow: auto; }
code.cmd { display: block; white-space: pre-wrap; word-break: break-all; background: #26303a; padding: 6px; border-radius: 4px; }
figcaption { font-size: 12px; color: #aaa; }
@media (max-width: 600px) { body { padding: 6px; } th.row { max-width: 5rem; font-size: 12px; } }
"""


def page(title: str, row_labels: Sequence[str], col_labels: Sequence[str], cells: dict[tuple[int, int], dict[str, Any]], meta: str = "") -> str:
    """The gallery HTML. ``cells[(r, c)]`` has ``src`` (image or .mp4, relative), ``thumb``,
    ``caption``, ``settings`` (a dict), ``command`` and optionally ``report`` (a zoom cell's report
    page, linked under it); a missing cell shows as pending."""
    e = html.escape
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>", f'<p class="meta">{e(meta)}</p>',
           '<div class="wrap"><table>', "<tr><th></th>" + "".join(f'<th scope="col">{e(c)}</th>' for c in col_labels) + "</tr>"]
    for r, rl in enumerate(row_labels or [""]):
        out.append(f'<tr><th class="row" scope="row">{e(rl)}</th>')
        for c in range(len(col_labels)):
            cell = cells.get((r, c))
            if cell is None:
                out.append('<td><div class="pending">pending</div></td>')
                continue
            src = e(cell["src"])
            if src.endswith(".mp4"):
                media = f'<video src="{src}" poster="{e(cell.get("thumb", ""))}" controls loop muted playsinline></video>'
            else:
                media = f'<a href="{src}"><img src="{src}" alt="{e(cell.get("caption", ""))}" loading="lazy"></a>'
            settings = e(json.dumps(cell.get("settings", {}), indent=1, sort_keys=True))
            report = f' · <a href="{e(cell["report"])}">report</a>' if cell.get("report") else ""
            out.append(f'<td><figure>{media}<figcaption>{e(cell.get("caption", ""))}{report}</figcaption>'
                       f'<details><summary>reproduce</summary><code class="cmd">{e(cell.get("command", ""))}</code></details>'
                       f"<details><summary>settings</summary><pre>{settings}</pre></details></figure></td>")
        out.append("</tr>")
    out += ["</table></div>", "</body></html>", ""]
    return "\n".join(out)
