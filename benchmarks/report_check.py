"""Open a render's report page in headless Chromium (Debian: apt-get install chromium): count the
images that decoded and the plots drawn, collect the console's messages, take a screenshot.

    python benchmarks/report_check.py zoom_report.html [--screenshot shot.png] [--width 1100]

The page has no script; the check loads a temporary copy with one added script that writes the
counts into the page, which Chromium's ``--dump-dom`` prints. Console messages come from Chromium's
own log (``--enable-logging=stderr``). Exit code 0 only if every image decoded, every plot has a
line and the console stayed silent.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from gallery_check import browser  # benchmarks/ is on sys.path when this runs as a script

PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const plots = document.querySelectorAll('.plot svg').length;
  const drawn = [...document.querySelectorAll('.plot svg')].filter(s => s.querySelector('polyline, circle')).length;
  const out = document.createElement('pre');
  out.id = 'report-check';
  out.textContent = `images=${imgs.length} loaded=${ok} plots=${plots} drawn=${drawn}`;
  document.body.appendChild(out);
});
</script>"""


def check(page: Path, width: int = 1100, height: int = 1400, screenshot: Path | None = None) -> dict:
    """{'images', 'loaded', 'plots', 'drawn', 'console'} from the browser; writes the screenshot."""
    html = page.read_text(encoding="utf-8")
    # the probe copy must not reload itself while Chromium reads it
    html = re.sub(r'<meta http-equiv="refresh"[^>]*>', "", html).replace("</body>", PROBE + "</body>")
    exe = browser()
    common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--virtual-time-budget=5000", f"--window-size={width},{height}"]
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=page.parent, delete=False, encoding="utf-8") as f:
        f.write(html)
    probe = Path(f.name)
    with tempfile.TemporaryDirectory() as profile:
        try:
            r = subprocess.run([exe, *common, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                                "--dump-dom", probe.resolve().as_uri()], capture_output=True, text=True, timeout=120)
            shot = screenshot or page.with_suffix(".png")
            subprocess.run([exe, *common, f"--user-data-dir={profile}", f"--screenshot={shot.resolve()}", page.resolve().as_uri()],
                           capture_output=True, timeout=120)
        finally:
            probe.unlink(missing_ok=True)
    m = re.search(r"images=(\d+) loaded=(\d+) plots=(\d+) drawn=(\d+)", r.stdout)
    if not m:
        raise SystemExit(f"the check did not run in the browser; its output: {r.stdout[-300:]!r}")
    out: dict = dict(zip(("images", "loaded", "plots", "drawn"), map(int, m.groups())))
    out["console"] = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page", type=Path)
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=1400)
    a = ap.parse_args()
    r = check(a.page, a.width, a.height, a.screenshot)
    print(f"{r['loaded']} of {r['images']} images decoded, {r['drawn']} of {r['plots']} plots drawn, "
          f"{len(r['console'])} console messages{': ' + ' | '.join(r['console']) if r['console'] else ''}")
    return 0 if r["loaded"] == r["images"] and r["drawn"] == r["plots"] and not r["console"] else 1


if __name__ == "__main__":
    sys.exit(main())
