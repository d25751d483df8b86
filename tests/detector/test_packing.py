"""Packing wide frames into one fixed-size model input (detector/detection.py), without a model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from detector.detection import STACK_GAP, stack_count, unstack
from detector.types import Detections

SHAPES = [
    ((720, 1620), 2),
    ((720, 1280), 1),
    ((1080, 1920), 1),
    ((480, 640), 1),
    ((308, 596), 1),
    ((320, 640), 2),
    ((400, 1620), 4),
    ((720, 720), 1),
    ((1280, 720), 1),
]
IDS = ["vn-2.25:1", "16:9", "1080p", "4:3", "makassar", "tile-2:1", "very-wide", "square", "portrait"]


@pytest.mark.parametrize("shape, n", SHAPES, ids=IDS)
def test_stack_count(shape, n):
    assert stack_count(shape) == n


@pytest.mark.parametrize("shape, n", SHAPES, ids=IDS)
def test_stack_keeps_95_percent_of_the_single_picture_scale(shape, n):
    h, w = shape
    stacked_h = n * h + (n - 1) * STACK_GAP
    single, stacked = 640 / max(h, w), min(640 / w, 640 / stacked_h)  # letterbox scales
    assert stacked >= 0.95 * single
    taller = (n + 1) * h + n * STACK_GAP  # one more would not fit
    assert min(640 / w, 640 / taller) < 0.95 * single


def test_unstack_sends_each_box_back_to_its_picture():
    h = 720
    top2 = h + STACK_GAP
    det = Detections(
        np.array(
            [
                [10, 100, 50, 200],  # picture 0
                [10, top2 + 300, 60, top2 + 400],  # picture 1
                [10, 700, 50, 730],  # picture 0, bottom clipped to 720
                [10, top2 - 5, 50, top2 + 40],  # picture 1, top clipped to 0
                [10, h + 2, 50, h + 6],
            ]
        ),  # inside the gap: clipped to nothing, dropped
        np.array([0.9, 0.8, 0.7, 0.6, 0.5]),
        np.array(["car"] * 5, dtype=object),
    )
    a, b = unstack(det, h, 2)
    assert a.xyxy.tolist() == [[10, 100, 50, 200], [10, 700, 50, 720]]
    assert b.xyxy.tolist() == [[10, 300, 60, 400], [10, 0, 50, 40]]
    assert a.confidence.tolist() == pytest.approx([0.9, 0.7]) and b.confidence.tolist() == pytest.approx([0.8, 0.6])


class _EchoDetector:
    """A YoloDetector whose model "finds" one box at a fixed place of every picture it is given."""

    def __init__(self, roi):
        from detector.detection import YoloDetector

        d = YoloDetector.__new__(YoloDetector)
        d.roi, d.tiles, d.pack = roi, [], True
        self.seen: list[tuple[int, int]] = []

        def predict(images):
            self.seen.extend(im.shape[:2] for im in images)
            return [
                Detections(np.array([[10.0, 20.0, 30.0, 60.0]]), np.array([0.9]), np.array(["car"], dtype=object))
                for _ in images
            ]

        d._predict_packed = predict  # the model call, bypassed
        self.detector = d


@pytest.mark.parametrize(
    "roi, crop, box",
    [
        (None, (720, 1620), [10, 20, 30, 60]),
        ((0, 165, 1620, 720), (555, 1620), [10, 185, 30, 225]),
        ((100, 60, 596, 308), (248, 496), [110, 80, 130, 120]),
        ((-5, -5, 700, 400), (400, 700), [10, 20, 30, 60]),  # clamped onto the frame
    ],
)
def test_roi_detects_in_the_region_and_maps_boxes_back(roi, crop, box):
    echo = _EchoDetector(roi)
    frames = [np.zeros((720, 1620, 3), np.uint8)] * 3
    out = echo.detector.detect(frames)
    assert echo.seen == [crop] * 3
    assert [d.xyxy.tolist() for d in out] == [[box]] * 3


@pytest.mark.parametrize(
    "roi, pack, frame, n",
    [
        (None, True, (720, 1620), 2),
        ((0, 191, 1620, 720), True, (720, 1620), 3),  # the vn crossing's region: three per input
        ((0, 191, 1620, 720), False, (720, 1620), 1),  # a .pt model letterboxes each picture itself
        (None, True, (480, 640), 1),
    ],
)
@pytest.mark.parametrize("in_flight", [1, 2])
def test_frames_per_call_fills_the_model_input(roi, pack, frame, n, in_flight):
    """Frames per input (stacking) times the inputs the runtime keeps in flight (THROUGHPUT streams)."""
    from types import SimpleNamespace

    from detector.detection import YoloDetector

    d = YoloDetector.__new__(YoloDetector)
    d.roi, d.pack = roi, pack
    d._ov = SimpleNamespace(requests=in_flight) if in_flight > 1 else None
    assert d.frames_per_call(frame) == n * in_flight
