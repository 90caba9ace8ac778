"""Animation CLI pieces: motion preview, the per-frame log as subtitles, preset listing, --threads."""

import json
import subprocess
import sys

from stylemotion.cli.render import srt_text
from stylemotion.io.decode import decode_frames

from .test_sequence import ALL_CONTROLS, write_preset


def run(*args):
    return subprocess.run([sys.executable, "-m", "stylemotion", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_preview_motion_renders_quickly_without_style_and_touches_nothing_else(tmp_path):
    preset = write_preset(tmp_path, extra=ALL_CONTROLS)
    out = tmp_path / "z.mp4"
    p = run("zoom", "--preset", preset, "--preview-motion", "--frames", 8, "-o", out, "--threads", 1)
    assert p.returncode == 0, p.stderr
    frames = decode_frames(tmp_path / "z_preview.mp4")
    assert len(frames) == 8
    assert not out.exists() and not (tmp_path / "z_frames").exists()  # a preview never starts a render
    assert "motion preview" in p.stdout


def test_srt_cues_show_each_frame():
    recs = [
        {"frame": 0, "key": True, "zoom": 1.04, "angle": 0.6, "styles": {"starry_night": 1.0}, "style_weight": 6.0, "loss": 0.5},
        {"frame": 1, "key": False, "zoom": 1.04, "angle": 0.6, "styles": {"starry_night": 0.5, "the_scream": 0.5}, "noise": 0.02},
    ]
    text = srt_text(recs, fps=12)
    cues = text.strip().split("\n\n")
    assert len(cues) == 2
    assert cues[0].splitlines()[:2] == ["1", "00:00:00,000 --> 00:00:00,083"]
    assert "zoom 1.04" in cues[0] and "loss 0.5" in cues[0]
    assert "(warped)" in cues[1] and "starry_night 0.5 + the_scream 0.5" in cues[1] and "noise 0.02" in cues[1]


def test_render_writes_parameter_log_and_srt(tmp_path):
    preset = write_preset(tmp_path, extra=ALL_CONTROLS, run_extra="cadence = 2\n")
    out = tmp_path / "r.mp4"
    p = run("zoom", "--preset", preset, "--frames", 4, "--srt", "-o", out)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in (tmp_path / "r_params.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == [0, 1, 2, 3] and [r["key"] for r in lines] == [True, False, True, True]
    assert lines[1]["loss"] is None and lines[2]["iterations"] == 4
    assert (tmp_path / "r.srt").read_text().count(" --> ") == 4


def test_presets_list_names_the_right_command_and_whole_description():
    p = run("presets", "list")
    assert p.returncode == 0
    rows = {line.split()[0]: line for line in p.stdout.splitlines()}
    assert rows["drift"].split()[1] == "drift" and rows["deepdream-like"].split()[1] == "zoom"
    assert rows["deepdream-like"].rstrip().endswith("previous one.")


def test_preview_motion_needs_no_network(tmp_path, monkeypatch):
    import stylemotion.engine.backbone as backbone
    from stylemotion.cli import main

    def no_network(*a, **k):
        raise AssertionError("the motion preview loaded the network")

    monkeypatch.setattr(backbone, "load_backbone", no_network)
    preset = write_preset(tmp_path)
    assert main(["zoom", "--preset", str(preset), "--preview-motion", "--frames", "3", "-o", str(tmp_path / "p.mp4")]) == 0
    assert len(decode_frames(tmp_path / "p_preview.mp4")) == 3


def test_render_state_keeps_the_thread_count_and_resume_restores_it(tmp_path):
    import torch

    from stylemotion.cli.render import load_state, resume_threads, save_state
    from stylemotion.animation.sequence import SeqState

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        path = tmp_path / "state.safetensors"
        save_state(path, SeqState(2, torch.rand(1, 3, 8, 8)), {"run": {}})
        torch.set_num_threads(1)
        _, _, _, saved = load_state(path)
        assert saved == 3
        assert resume_threads(saved, None) is None and torch.get_num_threads() == 3  # restored
        torch.set_num_threads(1)
        note = resume_threads(saved, 1)  # --threads given: it wins, with a note that bits may differ
        assert torch.get_num_threads() == 1 and "3 CPU threads" in note and "resumes with 1" in note
        assert resume_threads(saved, 3) is None and resume_threads(None, None) is None
    finally:
        torch.set_num_threads(before)
