"""An event's road-user class is the class of the road user that did it: the score-weighted vote over its
track's boxes from the start of the window that decided the event to shortly after the decision
(pipeline.FrameSession with tracking.Tracker.pin_class), not over the track's whole life."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.config import parse_crossing  # noqa: E402
from detector.pipeline import FrameSession, PipelineSettings  # noqa: E402
from detector.types import Detections, Frame, ViolationType  # noqa: E402

W, H, FPS = 640, 480, 10
CROSSING = parse_crossing(
    {
        "id": "oneway",
        "name": "one-way street",
        "frame_size": [W, H],
        "lanes": [{"id": "up", "polygon": [[0, 0], [W, 0], [W, H], [0, H]], "direction": [0, -1]}],
    }
)


def box(cx: float, bottom: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (cx - w / 2, bottom - h, cx + w / 2, bottom)


def road_user(t: float) -> tuple[str, float, tuple[float, float, float, float]]:
    """4 s standing, boxed as a sure "car"; then 5 s riding down (against the lane), boxed as a "motorcycle"."""
    if t < 4.0 - 1e-9:
        return "car", 0.9, box(300, 100, 24, 24)
    return "motorcycle", 0.6, box(300, 100 + 40 * (t - 4.0 + 0.1), 24, 26)


def rider_then_bus(t: float) -> tuple[str, float, tuple[float, float, float, float]]:
    """3 s riding down (against the lane), boxed "motorcycle"; then, where it stopped, 8 s of a sure "bus"
    (the track holding another road user's boxes long after the event, or the detector changing its mind)."""
    if t < 3.0 - 1e-9:
        return "motorcycle", 0.6, box(300, 100 + 40 * (t + 0.1), 24, 26)
    return "bus", 0.9, box(300, 100 + 40 * 3.0, 24, 26)


class IndexDetector:
    """Reads the frame index painted into the picture's first two pixels and boxes the road user then."""

    def __init__(self, user=road_user):
        self.user = user

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            k = int(img[0, 0, 0]) + 256 * int(img[0, 1, 0])
            cls, conf, b = self.user(k / FPS)
            out.append(Detections(np.array([b], np.float32), np.array([conf], np.float32), np.array([cls], object)))
        return out


def run(n: int, *, lookahead: bool = False, batch: int = 2, user=road_user) -> FrameSession:
    session = FrameSession(
        CROSSING, IndexDetector(user), PipelineSettings(batch=batch), None, (W, H), lookahead=lookahead
    )
    for k in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        img[0, 0], img[0, 1], img[1:, :] = k % 256, k // 256, k % 200  # every picture differs from the last
        session.push(Frame(k, k / FPS, img))
    session.finish()
    return session


def test_event_class_is_the_vote_from_its_window_to_the_tracks_end_not_the_life_vote():
    """Over its life the track is more "car" (4 s at 0.9) than "motorcycle" (5 s at 0.6); from the start of
    the wrong-way window on, it is the motorbike that rode against the lane."""
    s = run(90)
    (ev,) = [e for e in s.events if e.type is ViolationType.WRONG_WAY]
    assert ev.t >= 1.0  # the window starts inside the standing part: the vote is not trivially one class
    assert s.final_class[ev.track_id] == "motorcycle"


def test_event_class_leaves_out_boxes_long_after_the_decision():
    """Decided about a second into its ride: the vote takes the boxes up to 2 s after the decision (all
    "motorcycle"), not the 8 s of sure "bus" boxes that follow."""
    s = run(110, user=rider_then_bus)
    (ev,) = [e for e in s.events if e.type is ViolationType.WRONG_WAY]
    assert max(ev.key_times) < 2.0  # decided while riding
    assert s.final_class[ev.track_id] == "motorcycle"


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_lookahead_judges_the_same_as_one_batch_at_a_time(batch):
    """The model looking at the next batch in a worker thread changes no event, class or crossing."""
    plain, ahead = run(90, batch=batch), run(90, lookahead=True, batch=batch)
    assert plain.events and ahead.events == plain.events
    assert ahead.final_class == plain.final_class and ahead.crossings == plain.crossings
    assert ahead.processed == plain.processed > 40
    assert ahead._worker is None  # finish released the thread


def _frame(k: int) -> Frame:
    img = np.zeros((H, W, 3), np.uint8)
    img[0, 0], img[0, 1], img[1:, :] = k % 256, k // 256, k % 200
    return Frame(k, k / FPS, img)


def test_lookahead_lags_one_batch_until_flushed():
    s = FrameSession(
        CROSSING, IndexDetector(), PipelineSettings(batch=1, skip_duplicates=False), None, (W, H), lookahead=True
    )
    for k in range(5):
        s.push(_frame(k))
    assert s.processed == 4  # the fifth frame is still with the model
    s.flush()
    assert s.processed == 5
    s.close()
    s.close()  # twice is fine


class BrokenDetector(IndexDetector):
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        if any(int(img[0, 0, 0]) == 3 for img in images):
            raise RuntimeError("model fell over")
        return super().detect(images)


def test_lookahead_hands_a_model_error_to_the_caller_and_frees_the_thread():
    s = FrameSession(
        CROSSING, BrokenDetector(), PipelineSettings(batch=1, skip_duplicates=False), None, (W, H), lookahead=True
    )
    with pytest.raises(RuntimeError, match="model fell over"):
        for k in range(10):
            s.push(_frame(k))
        s.finish()
    s.close()
    assert s._worker is None and s.processed == 3
