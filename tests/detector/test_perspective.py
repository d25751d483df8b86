"""perspective: the online height-vs-row fit and the class it implies (lever: class from context)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.perspective import MIN_SAMPLES, Perspective, context_class
from detector.tracking import Tracker, TrackerConfig
from detector.types import Detections


def car_box(y: float) -> tuple[float, float, float, float]:
    """A car whose box height is 0.3 * y (perspective), 1.5x wider than tall, wheels on row y."""
    h = 0.3 * y
    return (100.0, y - h, 100.0 + 1.5 * h, y)


def learnt(n: int = MIN_SAMPLES) -> Perspective:
    p = Perspective()
    for y in np.linspace(150, 450, n):
        p.learn(car_box(y), "car", 0.8)
    return p


def test_fit_recovers_a_linear_perspective():
    p = learnt()
    for y in (200, 300, 400):
        assert p.expected("4w", y) == pytest.approx(0.3 * y, rel=1e-6)
    assert p.expected("2w", 300) is None  # nothing learnt for two-wheelers


def test_nothing_is_used_before_enough_samples_or_from_weak_boxes():
    p = learnt(MIN_SAMPLES - 1)
    assert p.expected("4w", 300) is None
    weak = Perspective()
    for y in np.linspace(150, 450, 50):
        weak.learn(car_box(y), "car", 0.3)
    assert weak.expected("4w", 300) is None


@pytest.mark.parametrize(
    "box, cls, persp, expected",
    [
        ((0, 0, 40, 30), "car", None, "car"),  # wide: a car
        ((0, 0, 13, 18), "car", None, "motorcycle"),  # a tall "car" at dusk: a rider with a headlight
        ((0, 282, 20, 300), "car", "learnt", "motorcycle"),  # 18 px where a car is 90 px: not a car
        ((0, 240, 90, 300), "car", "learnt", "car"),  # car-sized at its row
        ((0, 0, 13, 18), "truck", None, "truck"),  # only "car" is corrected
        ((0, 0, 40, 30), "motorcycle", "learnt", "motorcycle"),
    ],
)
def test_context_class(box, cls, persp, expected):
    assert context_class(box, cls, learnt() if persp else None) == expected


def test_tracker_votes_a_tall_car_box_as_a_two_wheeler():
    tr = Tracker(TrackerConfig(min_hits=2))
    names = []
    for k in range(4):
        box = (100, 100 + 5 * k, 113, 118 + 5 * k)
        upd = tr.update(
            Detections(np.array([box], np.float32), np.array([0.6], np.float32), np.array(["car"], object)), k * 0.1, k
        )
        names += [p.class_name for p in upd.points]
    assert names and set(names) == {"motorcycle"}
    off = Tracker(TrackerConfig(min_hits=2, context_class=False))
    for k in range(3):
        upd = off.update(
            Detections(
                np.array([(100, 100 + 5 * k, 113, 118 + 5 * k)], np.float32),
                np.array([0.6], np.float32),
                np.array(["car"], object),
            ),
            k * 0.1,
            k,
        )
    assert {p.class_name for p in upd.points} == {"car"}
