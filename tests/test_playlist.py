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


def layout(entries: list[Entry], frames: int, **song: object) -> list[tuple[str, int]]:
    from stylemotion.settings.playlist import on_beats

    beats = [3 + 6 * k for k in range(40)]  # a beat every 6 frames from frame 3
    return [(e.style, e.hold) for e in on_beats(entries, beats, frames, 6.0, **song)]


def test_entries_held_for_beats_bars_and_sections():
    bars = [3 + 24 * k for k in range(10)]  # a downbeat every 4 beats
    sections = [0, 51, 99]
    pl = [Entry("a.jpg", hold_bars=2), Entry("b.jpg", hold_sections=1), Entry("c.jpg", hold_beats=2)]
    got = layout(pl, 140, bar_frames=bars, section_frames=sections)
    # a: frame 0 to the 2nd downbeat after it (27), b: to where the next section starts (51),
    # c: two beats from the beat at 51 (to 63), a again: to the 2nd downbeat after 63 (99)
    assert got[:4] == [("a.jpg", 27), ("b.jpg", 24), ("c.jpg", 12), ("a.jpg", 36)]
    assert sum(h for _, h in got) == 140
    # past the last section the entry lasts to the run's end; past the last downbeat, a bar each 4 beats
    tail = layout([Entry("s.jpg", hold_sections=1)], 300, section_frames=[0, 120])
    assert tail == [("s.jpg", 120), ("s.jpg", 180)]
    far = layout([Entry("x.jpg", hold_bars=1)], 100, bar_frames=[3], beats_per_bar=4)
    assert far[:3] == [("x.jpg", 3), ("x.jpg", 24), ("x.jpg", 24)]
    # frames-only playlists are returned as they are
    plain = [Entry("p.jpg", 5)]
    assert layout(plain, 50) == [("p.jpg", 5)]
