"""A new shot's colour map: the first frame after a cut (the cat, after a shot of the astronaut)
stylized by the video loop with (B) the map fitted on the previous shot, (C) a map fitted on
itself, against (A) `stylemotion image` on the frame; scored with ../shared/eval/metrics.py.

    python benchmarks/shot_palette.py starry_night.jpg [OUT_DIR] [TOL]   # TOL: the video loop's optim.tol (preset: 0)
"""
import subprocess, sys
from pathlib import Path
import torch
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stylemotion.io.images import load_image, to_tensor, save_image, resize_long_side
from stylemotion.settings.sections import Settings, validate
from stylemotion.settings.playlist import Entry
from stylemotion.animation.framestyle import run_engine
from stylemotion.video.clip import ClipStylizer
from stylemotion.video.cuts import ClipPalette
from stylemotion.settings.schedule import Schedule
S = ROOT / "samples"
METRICS = ROOT.parent / "shared" / "eval" / "metrics.py"
size = 128
shot1 = to_tensor(resize_long_side(load_image(S / "astronaut.png"), size))[..., :96, :]
shot2 = to_tensor(resize_long_side(load_image(S / "chelsea.png"), size))[..., :84, :].contiguous()
hw = tuple(shot2.shape[-2:])
shot1 = torch.nn.functional.interpolate(shot1, size=hw, mode="bilinear")
s = Settings(); s.run.mode = "video"; s.run.frames = 2; s.run.first_iterations = 200; s.run.iterations = Schedule.parse("50")
s.playlist = [Entry(str(S / sys.argv[1]), 1000, 0)]
from dataclasses import replace
s.video = replace(s.video, palette=1.0, init="content")
s.optim.tol = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0  # the video preset's; `image` uses 2e-3
validate(s)
engine, styles = run_engine(s, "cpu")
st = ClipStylizer(s, engine, styles, hw)
pal = ClipPalette(styles, 1.0)
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench_out/shot_palette"); out.mkdir(parents=True, exist_ok=True)
save_image(shot2, out / "input.png")
for name, m in (("B_clipmap", pal.fit(shot1)), ("C_ownmap", pal.fit(shot2))):
    x = pal.apply(shot2, m)
    img, it, loss = st.styler.first_frame(1, x, 200, {"content": 1.0, "style": 20.0}, None)
    save_image(img, out / f"{name}.png")
subprocess.run([sys.executable, "-m", "stylemotion", "image", str(out / "input.png"), "--style", str(S / sys.argv[1]), "--size", str(max(hw)), "-o", str(out / "A_image.png")], check=True, capture_output=True)
for n in ("A_image", "B_clipmap", "C_ownmap"):
    r = subprocess.run([sys.executable, str(METRICS), "style", str(out / f"{n}.png"), str(S / sys.argv[1]), str(out / "input.png")], capture_output=True, text=True)
    print(n, r.stdout.strip()[-300:], r.stderr.strip()[-200:])
