import math

import pytest

from stylemotion.errors import UserError
from stylemotion.settings.schedule import Expr, Schedule


def test_constant_and_expression():
    assert Schedule.parse(1.5)(10) == 1.5
    s = Schedule.parse("1.02+0.01*sin(2*pi*t/24)", "zoom")
    assert math.isclose(s(6), 1.03)
    assert math.isclose(s(0), 1.02)


def test_keyframes_interpolate_linearly_and_hold_ends():
    s = Schedule.parse("0:(1.02), 48:(1.05), 96:(1.0)", "zoom")
    assert math.isclose(s(0), 1.02)
    assert math.isclose(s(24), 1.035)
    assert math.isclose(s(48), 1.05)
    assert math.isclose(s(72), 1.025)
    assert math.isclose(s(200), 1.0)
    late = Schedule.parse("10:(2), 20:(4)")
    assert late(0) == 2 and late(15) == 3


def test_keyframe_values_may_be_expressions():
    s = Schedule.parse("0:(t), 10:(2*t)")
    assert s(5) == 5 + (10 - 5) * 0.5  # both keys evaluated at t=5, then blended


@pytest.mark.parametrize(
    "text, message",
    [
        ("0:(1.0), 10:(", "unbalanced parentheses"),
        ("0:(1.0) 10:(2)", "expected ','"),
        ("0:(1.0), 0:(2)", "not after frame 0"),
        ("0:(__import__('os'))", "call not allowed"),
        ("0:(t.real)", "Attribute not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("1 +", "cannot parse"),
        ("0:(1), 5:(2),", "trailing comma"),
        ("'abc'", "only numbers"),
        ("[1, 2]", "List not allowed"),
        ("lambda: 1", "Lambda not allowed"),
    ],
)
def test_invalid_schedules_name_the_problem(text, message):
    with pytest.raises(UserError, match=message) as e:
        Schedule.parse(text, "motion.zoom")
    assert "motion.zoom" in str(e.value)


def test_runtime_errors_name_the_frame():
    s = Schedule.parse("1/(t-3)", "motion.angle")
    with pytest.raises(UserError, match="fails at t=3"):
        s(3)
    with pytest.raises(UserError, match="power too large"):
        Expr("9**9**9")(0)


def test_check_range():
    s = Schedule.parse("0:(1.0), 10:(3.0)", "motion.zoom")
    with pytest.raises(UserError, match=r"motion.zoom is 2.2 at frame 6; allowed range is \[0.5, 2\]"):
        s.check_range(0.5, 2.0, 10)


def test_seconds_follow_the_run_rate_and_song_variables_wait_for_a_song():
    from stylemotion.settings.sections import Settings, bind_signals, song_names, validate

    s = Settings()
    s.playlist = []
    s.motion.angle = Schedule.parse("0.5*s", "motion.angle")
    s.motion.zoom = Schedule.parse("1 + 0.1*beat", "motion.zoom")
    s.run.fps = 10.0
    validate(s)  # the song's variable is not checked yet; seconds are
    assert s.motion.angle(5) == pytest.approx(0.25) and song_names(s) == {"beat"}
    s.run.fps = 20.0  # a video takes its clip's rate after the preset was read
    validate(s)
    assert s.motion.angle(5) == pytest.approx(0.125)
    bind_signals(s, lambda t: {"beat": 1.0 if t % 4 == 0 else 0.0})
    assert s.motion.zoom(8) == pytest.approx(1.1) and s.motion.zoom(9) == 1.0 and s.motion.angle(20) == pytest.approx(0.5)
    with pytest.raises(UserError, match="motion.zoom is 11 at frame 0"):
        bind_signals(s, lambda t: {"beat": 100.0})
