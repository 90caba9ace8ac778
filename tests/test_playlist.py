import pytest

from stylemotion.settings.playlist import Entry, label_at, weights_at


def test_order_cycles_with_holds():
    pl = [Entry("a.jpg", 2), Entry("b.jpg", 1), Entry("c.jpg", 3)]
    order = [weights_at(pl, t)[0][0] for t in range(12)]
    assert order == [0, 0, 1, 2, 2, 2, 0, 0, 1, 2, 2, 2]
    assert label_at(pl, 2) == "b"


def test_crossfade_weights_ramp_and_sum_to_one():
    pl = [Entry("a.jpg", 4), Entry("b.jpg", 4, crossfade=3)]
    assert weights_at(pl, 3) == [(0, 1.0)]
    ramp = [dict(weights_at(pl, t)) for t in (4, 5, 6, 7)]
    assert [round(r.get(1, 0), 3) for r in ramp] == [0.25, 0.5, 0.75, 1.0]
    assert all(abs(sum(r.values()) - 1) < 1e-9 for r in ramp)
    assert weights_at(pl, 0) == [(0, 1.0)]  # the first frame starts unblended


def test_crossfade_back_into_first_entry_on_the_next_cycle():
    pl = [Entry("a.jpg", 3, crossfade=2), Entry("b.jpg", 3)]
    assert weights_at(pl, 0) == [(0, 1.0)]
    w = dict(weights_at(pl, 6))  # cycle 2 starts with a, fading from b
    assert w == pytest.approx({1: 2 / 3, 0: 1 / 3})
