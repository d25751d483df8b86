"""riders.merge_riders: a person on a two-wheeler becomes one road user with the vehicle's class."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.riders import merge_riders  # noqa: E402
from detector.types import Detections  # noqa: E402

BIKE = (100, 200, 160, 260)  # 60 x 60 motorbike
RIDER = (110, 140, 150, 240)  # sits on it: head above, feet inside the bike box
PILLION = (125, 150, 160, 245)  # a passenger behind the rider


def det(*rows, ids=None) -> Detections:
    """rows: (class, conf, box)"""
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[2] for r in rows], np.float32),
        np.array([r[1] for r in rows], np.float32),
        np.array([r[0] for r in rows], object),
        ids,
    )


def as_set(d: Detections) -> set[tuple]:
    return {(c, round(float(s), 3), tuple(float(v) for v in b)) for c, s, b in zip(d.class_name, d.confidence, d.xyxy)}


CASES = [
    (
        "rider-on-motorcycle",
        [("person", 0.9, RIDER), ("motorcycle", 0.7, BIKE)],
        {("motorcycle", 0.7, (100, 140, 160, 260))},
    ),
    ("rider-on-bicycle", [("bicycle", 0.6, BIKE), ("person", 0.8, RIDER)], {("bicycle", 0.6, (100, 140, 160, 260))}),
    (
        "two-riders-one-bike",
        [("person", 0.9, RIDER), ("person", 0.8, PILLION), ("motorcycle", 0.7, BIKE)],
        {("motorcycle", 0.7, (100, 140, 160, 260))},
    ),
    (
        "pedestrian-beside-bike",  # standing right of the bike: centre outside the bike's width + 25 %
        [("person", 0.9, (180, 160, 210, 258)), ("motorcycle", 0.7, BIKE)],
        {("person", 0.9, (180, 160, 210, 258)), ("motorcycle", 0.7, BIKE)},
    ),
    (
        "person-far-above-bike",  # e.g. on the pavement further away, same column
        [("person", 0.9, (110, 40, 150, 130)), ("motorcycle", 0.7, BIKE)],
        {("person", 0.9, (110, 40, 150, 130)), ("motorcycle", 0.7, BIKE)},
    ),
    (
        "person-below-bike",  # feet far below the bike's bottom: walking in front of it (closer to the camera)
        [("person", 0.9, (110, 230, 150, 330)), ("motorcycle", 0.7, BIKE)],
        {("person", 0.9, (110, 230, 150, 330)), ("motorcycle", 0.7, BIKE)},
    ),
    (
        "person-behind-bike-small-overlap",  # only a sliver of the person overlaps the bike box
        [("person", 0.9, (150, 120, 190, 215)), ("motorcycle", 0.7, BIKE)],
        {("person", 0.9, (150, 120, 190, 215)), ("motorcycle", 0.7, BIKE)},
    ),
    (
        "no-bikes",
        [("person", 0.9, RIDER), ("car", 0.8, (300, 100, 400, 200))],
        {("person", 0.9, RIDER), ("car", 0.8, (300, 100, 400, 200))},
    ),
    (
        "person-on-car-not-merged",  # only two-wheelers take riders
        [("person", 0.9, (310, 60, 350, 180)), ("car", 0.8, (300, 100, 400, 200))],
        {("person", 0.9, (310, 60, 350, 180)), ("car", 0.8, (300, 100, 400, 200))},
    ),
    (
        "no-people",
        [("motorcycle", 0.7, BIKE), ("motorcycle", 0.6, (300, 200, 360, 260))],
        {("motorcycle", 0.7, BIKE), ("motorcycle", 0.6, (300, 200, 360, 260))},
    ),
    (
        "two-bikes-two-riders",
        [
            ("person", 0.9, RIDER),
            ("motorcycle", 0.7, BIKE),
            ("person", 0.8, (310, 140, 350, 240)),
            ("motorcycle", 0.6, (300, 200, 360, 260)),
        ],
        {("motorcycle", 0.7, (100, 140, 160, 260)), ("motorcycle", 0.6, (300, 140, 360, 260))},
    ),
    (
        "rider-joins-the-bike-covering-most",  # two bikes side by side; the person sits mostly on the right one
        [
            ("person", 0.9, (150, 140, 190, 240)),
            ("motorcycle", 0.7, (100, 200, 160, 260)),
            ("motorcycle", 0.6, (155, 200, 215, 260)),
        ],
        {("motorcycle", 0.7, (100, 200, 160, 260)), ("motorcycle", 0.6, (150, 140, 215, 260))},
    ),
]


@pytest.mark.parametrize("rows, expected", [(r, e) for _, r, e in CASES], ids=[i for i, _, _ in CASES])
def test_merge_riders(rows, expected):
    out = merge_riders(det(*rows))
    expected = {(c, round(s, 3), tuple(float(v) for v in b)) for c, s, b in expected}
    assert as_set(out) == expected
    assert len(out) == len(expected)


def test_merge_keeps_tracker_ids_and_order_of_survivors():
    d = det(
        ("car", 0.8, (300, 100, 400, 200)), ("person", 0.9, RIDER), ("motorcycle", 0.7, BIKE), ids=np.array([7, 8, 9])
    )
    out = merge_riders(d)
    assert list(out.class_name) == ["car", "motorcycle"]
    assert list(out.tracker_id) == [7, 9]
    assert out.xyxy.dtype == np.float32


def test_merge_does_not_modify_its_input():
    d = det(("person", 0.9, RIDER), ("motorcycle", 0.7, BIKE))
    before = d.xyxy.copy()
    merge_riders(d)
    assert np.array_equal(d.xyxy, before) and len(d) == 2


def test_empty_detections():
    out = merge_riders(Detections.empty())
    assert len(out) == 0
