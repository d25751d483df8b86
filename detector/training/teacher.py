"""The teacher: the COCO detector (and optionally other detectors, such as an earlier trained riders
model: `also`) on the whole picture plus upscaled overlapping tiles, riders merged.

Small road users (a far motorbike 15 px tall) are missed at the picture's own scale; on a tile upscaled
2x they are 30 px and found. Each pass is rider-merged on its own (a person over a motorbike -> one
two-wheeler box, `riders.merge_riders`), the passes are joined with per-class NMS, and a person left
inside a two-wheeler box (its bike found in another pass) is dropped. Output boxes carry the classes of
`classes.TRAINED_CLASSES`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..boxes import iou_matrix, nms_merge
from ..classes import TRAINED_CLASSES, road_user_classes
from ..detection import _cut_by_tile_edge
from ..riders import merge_riders
from ..types import Detections
from .labels import Boxes

# pipeline (COCO) class after the rider merge -> trained class
TRAINED_ID: dict[str, int] = {
    "motorcycle": TRAINED_CLASSES.index("two_wheeler"),
    "car": TRAINED_CLASSES.index("car"),
    "bus": TRAINED_CLASSES.index("bus"),
    "truck": TRAINED_CLASSES.index("truck"),
    "bicycle": TRAINED_CLASSES.index("bicycle"),
    "person": TRAINED_CLASSES.index("person"),
}


def tile_grid(width: int, height: int, n: int = 3, scale: float = 2.0) -> list[tuple[int, int, int, int]]:
    """n x n overlapping tiles (x1, y1, x2, y2), each 1/scale of the picture's side, evenly spread."""
    tw, th = int(round(width / scale)), int(round(height / scale))
    xs = np.linspace(0, width - tw, n).round().astype(int).tolist() if n > 1 else [0]
    ys = np.linspace(0, height - th, n).round().astype(int).tolist() if n > 1 else [0]
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


def inside_fraction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,M): the fraction of each box of `a` that lies inside each box of `b`."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    area = np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-6)
    return ix * iy / area[:, None]


class Teacher:
    """OpenVINO detectors run whole + on tiles; `label(image) -> Boxes` in TRAINED_CLASSES ids.

    `model` is a COCO model; each of `also` may be a COCO model or one with TRAINED_CLASSES (an earlier
    riders model: self-training); their boxes join the COCO model's in the same NMS."""

    def __init__(
        self,
        model: str | Path,
        *,
        also: tuple[str | Path, ...] = (),
        conf: float = 0.2,
        keep_conf: float = 0.35,
        person_conf: float = 0.5,
        grid: int = 3,
        scale: float = 2.0,
    ):
        from ..openvino_yolo import OpenVinoYolo

        self.models: list[tuple[OpenVinoYolo, dict[int, str]]] = []
        for path in (model, *also):
            m = OpenVinoYolo(path)
            road = road_user_classes(m.names)  # model id -> pipeline class (COCO names map to themselves)
            if not road:
                raise ValueError(f"{path}: teacher model has no road-user classes")
            self.models.append((m, road))
        self.conf, self.keep_conf, self.person_conf = conf, keep_conf, person_conf
        self.grid, self.scale = grid, scale

    def _pass(self, img: np.ndarray, k: int = 0) -> Detections:
        model, road = self.models[k]
        d = model.predict([img], conf=self.conf, iou=0.5, classes=sorted(road))[0]
        names = np.array([road[int(c)] for c in d[:, 5]], dtype=object)
        return merge_riders(Detections(d[:, :4], d[:, 4], names))

    def detect(self, img: np.ndarray) -> Detections:
        """All passes of all models joined: pipeline names, riders merged (class of the bike), per-class NMS."""
        h, w = img.shape[:2]
        parts = []
        for k in range(len(self.models)):
            parts.append(self._pass(img, k))
            if self.grid > 0:
                for x1, y1, x2, y2 in tile_grid(w, h, self.grid, self.scale):
                    crop = img[y1:y2, x1:x2]
                    det = self._pass(crop, k)
                    det = det[~_cut_by_tile_edge(det.xyxy, crop.shape, img.shape, x1, y1)]
                    det.xyxy[:, [0, 2]] += x1
                    det.xyxy[:, [1, 3]] += y1
                    parts.append(det)
        det = nms_merge(parts, iou=0.5)
        # one road user may be 'motorcycle' in one pass and 'bicycle' in another: keep the surer one
        det = nms_merge([det], iou=0.6, by_family=True)
        return det

    def label(self, img: np.ndarray) -> Boxes:
        return self.label_with_unsure(img)[0]

    def label_with_unsure(self, img: np.ndarray) -> tuple[Boxes, np.ndarray]:
        """(pseudo labels, unsure boxes): the unsure ones (N,4 xyxy) are road users the teacher saw but not
        surely enough to label (score `conf`..`keep_conf`, and lone people under `person_conf`, more often
        riders whose bike was missed): neither labels nor background, see `dataset.mask_unsure`."""
        det = self.detect(img)
        weak = det.xyxy[det.confidence < self.keep_conf]
        det = det[det.confidence >= self.keep_conf]
        two = np.isin(det.class_name, ["motorcycle", "bicycle"])
        person = det.class_name == "person"
        # a person inside a two-wheeler box is its rider (merged in another pass); a lone unsure person is
        # more often a rider whose bike was missed than a pedestrian: both dropped
        inside = inside_fraction(det.xyxy[person], det.xyxy[two]).max(axis=1, initial=0.0) > 0.4
        drop = np.zeros(len(det), bool)
        drop[np.flatnonzero(person)[inside]] = True
        lone = person & (det.confidence < self.person_conf) & ~drop  # not a rider of a found bike
        drop |= lone
        unsure = np.concatenate([weak, det.xyxy[lone]]).astype(np.float32).reshape(-1, 4)
        det = det[~drop]
        cls = np.array([TRAINED_ID[c] for c in det.class_name], np.int64)
        return Boxes(det.xyxy.astype(np.float32), cls, det.confidence.astype(np.float32)), unsure


def complete(human: Boxes, teacher: Boxes, *, iou: float = 0.3, inside: float = 0.5) -> tuple[Boxes, int]:
    """Human labels plus the teacher's boxes that no human box overlaps (IoU > `iou`, or more than `inside`
    of either box within the other). Returns the joined boxes and how many teacher boxes were added."""
    if len(teacher) == 0:
        return human, 0
    if len(human):
        clash = (
            (iou_matrix(teacher.xyxy, human.xyxy) > iou)
            | (inside_fraction(teacher.xyxy, human.xyxy) > inside)
            | (inside_fraction(human.xyxy, teacher.xyxy).T > inside)
        )
        add = teacher[~clash.any(axis=1)]
    else:
        add = teacher
    return Boxes.concat([human, add]), len(add)
