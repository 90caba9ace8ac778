"""The camera's path and the key-frame plan, alone: no network, no optimization."""

from dataclasses import replace

import pytest
import torch

from stylemotion.animation.keyplan import KeyPlan
from stylemotion.animation.motion import MotionPath
from stylemotion.settings.schedule import Schedule
from stylemotion.settings.sections import Settings
from stylemotion.animation.warp import warp_image

from .conftest import sample


def zoom_settings(frames=6, cadence=1, loop=False, loop_frames=3, zoom="1.05") -> Settings:
    s = Settings()
    s.run.frames, s.run.cadence, s.run.loop, s.run.loop_frames = frames, cadence, loop, loop_frames
    s.run.first_iterations, s.run.iterations = 12, Schedule.parse("0:(4), 3:(8)")
    s.motion = replace(s.motion, zoom=Schedule.parse(zoom), dither=0.0)
    return s


def test_the_path_composes_per_frame_warps():
    path = MotionPath(zoom_settings(), (48, 64))
    x = sample("chelsea.png", 64)[..., :48, :]
    step_by_step = warp_image(warp_image(x, path.theta(1)), path.theta(2))
    at_once = warp_image(x, path.between(0, 2))
    assert (step_by_step - at_once).abs().mean() < 0.02  # one resampling instead of two
    assert torch.allclose(path.between(2, 2).float(), torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]))
    assert path.values(1)["zoom"] == pytest.approx(1.05) and "dither" not in path.values(1)


def test_in_betweens_run_from_the_last_key_to_the_next():
    path = MotionPath(zoom_settings(frames=5, cadence=4), (48, 64))
    a, b = torch.zeros(1, 3, 48, 64), torch.ones(1, 3, 48, 64)
    means = [float(path.in_between(a, b, 0, 4, j).mean()) for j in (1, 2, 3)]
    assert means == sorted(means) and 0.1 < means[0] < means[-1] < 0.9


def test_the_loop_pull_is_frame_zero_through_the_remaining_motion():
    path = MotionPath(zoom_settings(frames=6, loop=True), (48, 64))
    first = sample("chelsea.png", 64)[..., :48, :]
    target, mask = path.toward_start(first, 5, 1.0)
    assert target.shape == first.shape and mask.shape == (1, 1, 48, 64) and float(mask.max()) == 1.0
    assert float((warp_image(target, path.theta(6)) - first).abs().mean()) < 0.03  # one more step lands on frame 0
    assert float(path.toward_start(first, 5, 0.5)[1].max()) == 0.5


def test_the_key_plan():
    plan = KeyPlan(zoom_settings(frames=6, cadence=3))
    assert plan.key_frames() == [0, 3, 5] and plan.next_key(-1) == 0 and plan.next_key(3) == 5
    assert [plan.iterations_at(t) for t in range(6)] == [12, 0, 0, 8, 0, 8]
    looped = KeyPlan(zoom_settings(frames=6, loop=True, loop_frames=3))
    assert [looped.loop_weight(t) for t in range(6)] == [0, 0, 0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert KeyPlan(zoom_settings()).loop_weight(5) == 0.0
