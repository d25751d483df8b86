"""perspective: the online size-vs-row fits and the class they imply (lever: class from context)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.perspective import LEARN_CONF_2W, MIN_SAMPLES, Perspective, context_class
from detector.tracking import Tracker, TrackerConfig
from detector.types import Detections


def car_box(y: float) -> tuple[float, float, float, float]:
    """A car whose box height is 0.3 * y (perspective), 1.5x wider than tall, wheels on row y."""
    h = 0.3 * y
    return (100.0, y - h, 100.0 + 1.5 * h, y)


def rider_box(y: float, x: float = 300.0) -> tuple[float, float, float, float]:
    """A rider and bike whose box is 0.1 * y wide and 0.3 * y tall, wheels on row y."""
    return (x, y - 0.3 * y, x + 0.1 * y, y)


def learnt(n: int = MIN_SAMPLES, riders: bool = False) -> Perspective:
    p = Perspective()
    for y in np.linspace(150, 450, n):
        p.learn(car_box(y), "car", 0.8)
        if riders:  # at dusk the detector is seldom sure of a rider: a score under LEARN_CONF still teaches
            p.learn(rider_box(y), "motorcycle", LEARN_CONF_2W + 0.05)
    return p


def test_fit_recovers_a_linear_perspective():
    p = learnt()
    for y in (200, 300, 400):
        assert p.expected("4w", y) == pytest.approx(0.3 * y, rel=1e-6)
    assert p.expected("2w", 300) is None  # nothing learnt for two-wheelers
    assert p.expected_width("2w", 300) is None
    both = learnt(riders=True)
    assert both.expected_width("2w", 300) == pytest.approx(30.0, rel=1e-6)
    assert both.expected("2w", 300) == pytest.approx(90.0, rel=1e-6)
    assert both.expected_width("4w", 300) is None  # a car's width depends on its heading: not fitted


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
        # at row 300 a car is 135 x 90 px, a rider 30 x 90 px
        ((0, 255, 40, 300), "car", "riders", "motorcycle"),  # a headlight at dusk: 45 px tall (old rules: car)
        ((0, 255, 40, 300), "car", "learnt", "car"),  # the same box before any rider was learnt
        ((0, 240, 80, 300), "car", "riders", "car"),  # wider than 1.5 riders: a car seen head-on
        ((0, 255, 40, 300), "bus", "riders", "bus"),  # only "car" is corrected
    ],
)
def test_context_class(box, cls, persp, expected):
    p = {None: None, "learnt": learnt(), "riders": learnt(riders=True)}[persp]
    assert context_class(box, cls, p) == expected


def dets(rows: list[tuple[tuple[float, float, float, float], float, str]]) -> Detections:
    return Detections(
        np.array([b for b, _, _ in rows], np.float32),
        np.array([c for _, c, _ in rows], np.float32),
        np.array([n for _, _, n in rows], object),
    )


@pytest.mark.parametrize(
    "context, pinned, memory_s, expected",
    [
        (True, False, 10.0, "motorcycle"),
        (False, False, 10.0, "car"),
        # an event pinned the vote to its first 2.5 s; the track outlives the class memory: the pinned
        # boxes are kept for the judging again
        (True, True, 1.0, "motorcycle"),
        (False, True, 1.0, "car"),
    ],
)
def test_a_tracks_early_boxes_are_judged_again_once_the_fits_are_learnt(context, pinned, memory_s, expected):
    """A headlit rider boxed "car" from the first frame, before any two-wheeler was learnt: its first boxes
    vote "car" with high scores. When it retires, its boxes are judged with the fits learnt since."""
    tr = Tracker(TrackerConfig(min_hits=2, context_class=context, vote_memory_s=memory_s))
    subject = None
    for k in range(16):
        if pinned and k == 5 and subject is not None:
            assert tr.pin_class(subject, 0.0, decided=0.5) == "car"  # the vote so far
        y = 200 + 4 * k
        rows = [((100, y - 22, 120, y), 0.6 if k < 10 else 0.2, "car")]  # 20 x 22 px: not taller than wide
        # three riders a frame teach the two-wheeler fits (30 boxes by frame 10); no car fit is ever learnt
        rows += [(rider_box(yy, 300 + 60 * i), 0.4, "motorcycle") for i, yy in enumerate((150 + 2 * k, 250, 350))]
        upd = tr.update(dets(rows), k * 0.1, k)
        if upd.detections.tracker_id[0] >= 0:
            subject = int(upd.detections.tracker_id[0])
    assert subject is not None
    retired: list[int] = []
    for k in range(16, 40):  # the subject is gone; the others go on
        upd = tr.update(dets([(rider_box(250, 360), 0.4, "motorcycle")]), k * 0.1, k)
        retired += upd.retired
    assert subject in retired
    assert tr.pop_final_class(subject) == expected


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
