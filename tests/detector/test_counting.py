"""rules.counting.TrafficCounter: exposure rows per stop line, class and minute, and totals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.rules.counting import CountRow, TrafficCounter  # noqa: E402
from detector.types import LineCrossing  # noqa: E402


def lc(stop_line, cls, t, tid=1):
    return LineCrossing(stop_line, tid, cls, t, int(t * 10))


@pytest.mark.parametrize(
    "crossings, rows, totals",
    [
        ([], [], {}),
        ([lc("s1", "motorcycle", 5.0)], [("s1", "motorcycle", 0, 1)], {"s1": {"motorcycle": 1}}),
        (
            [lc("s1", "car", 59.999), lc("s1", "car", 60.0), lc("s1", "car", 119.9), lc("s1", "car", 120.0)],
            [("s1", "car", 0, 1), ("s1", "car", 1, 2), ("s1", "car", 2, 1)],
            {"s1": {"car": 4}},
        ),
        (
            [
                lc("s2", "motorcycle", 1),
                lc("s1", "motorcycle", 2),
                lc("s1", "car", 3),
                lc("s1", "motorcycle", 4),
                lc("s2", "bicycle", 65),
            ],
            [("s1", "car", 0, 1), ("s1", "motorcycle", 0, 2), ("s2", "bicycle", 1, 1), ("s2", "motorcycle", 0, 1)],
            {"s1": {"car": 1, "motorcycle": 2}, "s2": {"motorcycle": 1, "bicycle": 1}},
        ),
        ([lc("s1", "motorcycle", 3600.5)], [("s1", "motorcycle", 60, 1)], {"s1": {"motorcycle": 1}}),
        # the same road user crossing two lines counts once on each
        (
            [lc("near", "bus", 10, tid=4), lc("far", "bus", 12, tid=4)],
            [("far", "bus", 0, 1), ("near", "bus", 0, 1)],
            {"near": {"bus": 1}, "far": {"bus": 1}},
        ),
    ],
    ids=["empty", "one", "minute-boundaries", "lines-and-classes", "an-hour-in", "two-lines"],
)
def test_counter_rows_and_totals(crossings, rows, totals):
    c = TrafficCounter()
    c.add(crossings)
    assert c.rows() == [CountRow(*r) for r in rows]  # sorted by line, class, minute
    assert c.totals() == totals
    assert sum(r.count for r in c.rows()) == len(crossings)


def test_counter_accumulates_over_calls():
    c = TrafficCounter()
    c.add([lc("s1", "car", 1)])
    c.add([])
    c.add([lc("s1", "car", 2), lc("s1", "car", 70)])
    assert c.rows() == [CountRow("s1", "car", 0, 2), CountRow("s1", "car", 1, 1)]
    assert c.totals() == {"s1": {"car": 3}}


def test_totals_are_a_fresh_copy():
    c = TrafficCounter()
    c.add([lc("s1", "car", 1)])
    c.totals()["s1"]["car"] = 99
    assert c.totals() == {"s1": {"car": 1}}
