"""The HyperLPR3 plate models (ONNX, run with onnxruntime): plate detector and colour classifier.

Decoding follows the published layout of these models' output (HyperLPR3, Apache-2.0): each of the
N rows is ``cx, cy, w, h, objectness, 4 corners (x, y) * 4, single-row score, double-row score`` in
the letterboxed input's pixels. Corner order: top-left, top-right, bottom-right, bottom-left.
The colour classifier takes a 96x96 BGR crop scaled to 0..1 and answers blue / green / yellow.

Files come from the models manifest (`role: plate_detector` / `plate_colour`); `load_plate_models`
checks each file's SHA-256 before loading and raises PlateModelError with one line otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import assets
from ..types import as_box

COLOURS = ("blue", "green", "yellow")
DETECTOR_320, DETECTOR_640 = "hyperlpr3-plate-detector-320", "hyperlpr3-plate-detector-640"
COLOUR_MODEL = "hyperlpr3-plate-colour"


class PlateModelError(RuntimeError):
    """A plate model file is missing or is not the file the manifest names (one line, with the fix)."""


@dataclass(frozen=True, slots=True)
class PlateBox:
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the input picture's pixels
    corners: np.ndarray  # (4, 2) float32: top-left, top-right, bottom-right, bottom-left
    double: bool  # two-row plate


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # these graphs list initializers as inputs: a warning per weight otherwise
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def verified_model_path(name: str, root: Path | None = None) -> Path:
    """Path of manifest model `name` once its size and SHA-256 match; PlateModelError otherwise."""
    entry = next((e for e in assets.load_manifest(assets.MODELS_MANIFEST)[1] if e["name"] == name), None)
    if entry is None:
        raise PlateModelError(f"plate model {name!r} is not in {assets.MODELS_MANIFEST}")
    path = assets.asset_path("models", name, root)
    spec = entry["files"][0]
    if not path.is_file():
        raise PlateModelError(f"plate model {path} is missing: run `make assets`")
    if path.stat().st_size != int(spec["size"]) or assets.sha256_of(path) != spec["sha256"]:
        raise PlateModelError(
            f"plate model {path} does not match its SHA-256 in the manifest "
            f"({spec['sha256'][:12]}…): run `make assets` to restore it"
        )
    return path


class PlateDetector:
    """Finds plates in a BGR picture (typically the road user's crop)."""

    def __init__(self, path: Path, score_threshold: float = 0.5, iou_threshold: float = 0.5):
        self.session = _session(path)
        inp = self.session.get_inputs()[0]
        self.input_name, self.size = inp.name, int(inp.shape[2])
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold

    def _letterbox(self, img: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        h, w = img.shape[:2]
        r = min(self.size / h, self.size / w)
        nh, nw = max(1, int(h * r)), max(1, int(w * r))
        top, left = (self.size - nh) // 2, (self.size - nw) // 2
        canvas = np.zeros((self.size, self.size, 3), np.uint8)
        canvas[top : top + nh, left : left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return canvas, r, left, top

    def detect(self, img: np.ndarray) -> list[PlateBox]:
        """Plates in `img` (BGR, H x W x 3), best first, after non-maximum suppression."""
        canvas, r, left, top = self._letterbox(img)
        x = np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)[None] / 255.0
        out = self.session.run(None, {self.input_name: x})[0][0]
        rows = out[out[:, 4] > self.score_threshold]
        if not len(rows):
            return []
        layer = rows[:, 13:15] * rows[:, 4:5]
        score = layer.max(axis=1)
        cx, cy, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
        keep = cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), 0.0, self.iou_threshold)
        found = []
        for i in np.asarray(keep, dtype=int).reshape(-1):
            b = (boxes[i] - [left, top, left, top]) / r
            corners = ((rows[i, 5:13].reshape(4, 2) - [left, top]) / r).astype(np.float32)
            found.append(PlateBox(float(score[i]), as_box(b), corners, bool(layer[i, 1] > layer[i, 0])))
        found.sort(key=lambda p: -p.score)
        return found


class PlateColourClassifier:
    """Blue / green / yellow for a rectified plate crop (BGR)."""

    def __init__(self, path: Path):
        self.session = _session(path)
        inp = self.session.get_inputs()[0]
        self.input_name, self.size = inp.name, (int(inp.shape[3]), int(inp.shape[2]))

    def classify(self, crop: np.ndarray) -> tuple[str, float]:
        x = cv2.resize(crop, self.size).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        p = self.session.run(None, {self.input_name: x})[0][0]
        i = int(np.argmax(p))
        return COLOURS[i], float(p[i])


class PlateModels:
    """The 320 and 640 detectors and the colour classifier, from files whose SHA-256 was checked;
    each ONNX session is made on first use (a run with no road user to read loads none)."""

    def __init__(self, small: Path, large: Path, colour: Path):
        self._paths = {"small": small, "large": large, "colour": colour}
        self._loaded: dict[str, object] = {}

    def _get(self, name: str):
        if name not in self._loaded:
            path = self._paths[name]
            self._loaded[name] = PlateColourClassifier(path) if name == "colour" else PlateDetector(path)
        return self._loaded[name]

    @property
    def small(self) -> PlateDetector:
        return self._get("small")

    @property
    def large(self) -> PlateDetector:
        return self._get("large")

    @property
    def colour(self) -> PlateColourClassifier:
        return self._get("colour")

    def detector_for(self, width: int, height: int) -> PlateDetector:
        """The 320 model for a road user's crop up to 480 px; the 640 one for larger pictures
        (shrinking a whole 1080p frame to 320 loses the far plates)."""
        return self.small if max(width, height) <= 480 else self.large


def load_plate_models(root: Path | None = None) -> PlateModels:
    """All plate models, each checked against its SHA-256 first (PlateModelError names the file)."""
    return PlateModels(*(verified_model_path(n, root) for n in (DETECTOR_320, DETECTOR_640, COLOUR_MODEL)))
