"""Open a study's gallery in a real headless browser: screenshot it, and check that every image
of the grid loaded (Chromium from Debian: apt-get install chromium).

    python benchmarks/gallery_check.py study/ [--width 390]      # 390 px wide = a phone

The gallery has no script of its own; the check loads a temporary copy with one added script that
counts the images that decoded (``img.complete && naturalWidth > 0``) and writes the count into the
page, which Chromium's ``--dump-dom`` prints. Exit code 0 only if every image loaded.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const out = document.createElement('pre');
  out.id = 'gallery-check';
  out.textContent = `images=${imgs.length} loaded=${ok} cells=${document.querySelectorAll('td figure').length} pending=${document.querySelectorAll('.pending').length}`;
  document.body.appendChild(out);
});
</script>"""


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install chromium")


def check(study: Path, width: int = 1280, height: int = 900, screenshot: Path | None = None) -> dict[str, int]:
    """{'images', 'loaded', 'cells', 'pending'} counted in the browser; writes the screenshot."""
    index = study / "index.html"
    html = index.read_text(encoding="utf-8").replace(' loading="lazy"', "").replace("</body>", PROBE + "</body>")
    exe = browser()
    common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--allow-file-access-from-files",
              "--virtual-time-budget=10000", f"--window-size={width},{height}"]
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=study, delete=False, encoding="utf-8") as f:
        f.write(html)
        probe = Path(f.name)
    try:
        dom = subprocess.run([exe, *common, "--dump-dom", probe.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout
        shot = screenshot or study / f"screenshot_{width}.png"
        subprocess.run([exe, *common, f"--screenshot={shot.resolve()}", index.resolve().as_uri()], capture_output=True, timeout=120)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r"images=(\d+) loaded=(\d+) cells=(\d+) pending=(\d+)", dom)
    if not m:
        raise SystemExit(f"the check did not run in the browser; its output: {dom[-300:]!r}")
    return dict(zip(("images", "loaded", "cells", "pending"), map(int, m.groups())))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    a = ap.parse_args()
    r = check(a.study, a.width, a.height)
    shot = a.study / f"screenshot_{a.width}.png"
    print(f"{r['loaded']} of {r['images']} images loaded, {r['cells']} cells, {r['pending']} pending; screenshot {shot}")
    return 0 if r["images"] and r["loaded"] == r["images"] else 1


if __name__ == "__main__":
    sys.exit(main())
