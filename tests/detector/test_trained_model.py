"""The committed crosswatch-trained detector (models/trained/, docs/training.md): it loads through the
pipeline's detection stage with its own class names, and boxes riders as one two-wheeler on a held-out
intersection image where the COCO model's raw boxes match none of the labels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from detector.assets import REPO_ROOT, resolve_model
from detector.boxes import iou_matrix
from detector.classes import TRAINED_CLASSES

MODEL_NAME = "riders-yolo11n-int8"
MODEL = REPO_ROOT / "models" / "trained" / "riders_yolo11n_int8_openvino_model"
EVAL = REPO_ROOT.parent / "shared" / "datasets" / "redlight_intersections_40"
IMAGE = "4683_jpg.rf.33f0f21cc5230bca38574c7e17ac4356"  # 7 labelled riders, daylight, 38-75 px tall


@pytest.fixture(scope="module")
def detector():
    if not (MODEL / "metadata.yaml").is_file():
        pytest.skip(f"{MODEL}: trained model not in this checkout")
    from detector.detection import YoloDetector

    return YoloDetector(MODEL)


def test_manifest_name_resolves_to_the_committed_folder():
    if not MODEL.is_dir():
        pytest.skip(f"{MODEL}: trained model not in this checkout")
    assert resolve_model(MODEL_NAME) == MODEL


def test_loads_with_its_own_classes_mapped_to_road_users(detector):
    assert detector.backend == "openvino"
    assert detector._ov.names == dict(enumerate(TRAINED_CLASSES))
    assert detector._keep[TRAINED_CLASSES.index("two_wheeler")] == "motorcycle"
    assert set(detector._keep.values()) == {"motorcycle", "car", "bus", "truck", "bicycle", "person"}


def test_finds_the_riders_of_a_held_out_image_as_one_box_each(detector):
    import cv2

    from detector.quality import load_dataset

    if not (EVAL / "images" / f"{IMAGE}.jpg").is_file():
        pytest.skip(f"{EVAL}: shared evaluation set not present")
    sample = next(s for s in load_dataset(EVAL) if s.stem == IMAGE)
    riders = np.array([lab.box for lab in sample.labels if lab.cls == "motobike"], np.float32)
    assert len(riders) == 7
    det = detector.detect([cv2.imread(str(sample.image))])[0]
    bikes = det[(det.class_name == "motorcycle") & (det.confidence >= 0.35)]
    found = int((iou_matrix(riders, bikes.xyxy).max(axis=1, initial=0.0) >= 0.5).sum())
    assert found >= 2, f"only {found} of 7 labelled riders boxed as one two-wheeler"  # 3 at commit; COCO raw: 0
