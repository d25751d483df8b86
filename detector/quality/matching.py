"""quality: greedy IoU matching, precision/recall counts, recall by box size."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..boxes import iou_matrix
from ..types import Detections
from .labels import ROAD_CLASSES, Label

SIZE_BUCKETS = (("small", 0.0, 32.0), ("medium", 32.0, 96.0), ("large", 96.0, math.inf))  # sqrt(area), px


@dataclass
class PR:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, o: PR) -> PR:
        return PR(self.tp + o.tp, self.fp + o.fp, self.fn + o.fn)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    def as_dict(self) -> dict:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "recall": _round(self.recall),
            "precision": _round(self.precision),
        }


def match_greedy(gt: np.ndarray, pred: np.ndarray, iou_thr: float = 0.5) -> list[tuple[int, int]]:
    """(gt index, pred index) pairs: repeatedly the highest-IoU pair of unmatched boxes, while IoU >= iou_thr."""
    gt, pred = np.asarray(gt, np.float32).reshape(-1, 4), np.asarray(pred, np.float32).reshape(-1, 4)
    ious = iou_matrix(gt, pred)
    gi, pi = np.nonzero(ious >= iou_thr)
    order = sorted(range(len(gi)), key=lambda k: (-float(ious[gi[k], pi[k]]), int(gi[k]), int(pi[k])))
    used_g, used_p, pairs = set(), set(), []
    for k in order:
        g, p = int(gi[k]), int(pi[k])
        if g not in used_g and p not in used_p:
            used_g.add(g)
            used_p.add(p)
            pairs.append((g, p))
    return pairs


def pr_counts(gt: np.ndarray, pred: np.ndarray, iou_thr: float = 0.5) -> PR:
    n = len(match_greedy(gt, pred, iou_thr))
    return PR(n, len(np.asarray(pred).reshape(-1, 4)) - n, len(np.asarray(gt).reshape(-1, 4)) - n)


def evaluate_image(
    labels: Iterable[Label], det: Detections, classes: Sequence[str] = ROAD_CLASSES, iou_thr: float = 0.5
) -> dict[str, PR]:
    """Per-class PR of one image; `det` already in data-set classes."""
    labels = list(labels)
    out = {}
    for c in classes:
        gt = np.array([lab.box for lab in labels if lab.cls == c], np.float32).reshape(-1, 4)
        out[c] = pr_counts(gt, det.xyxy[det.class_name == c], iou_thr)
    return out


def size_bucket(box: Sequence[float]) -> str:
    s = math.sqrt(max(0.0, (box[2] - box[0]) * (box[3] - box[1])))
    return next(name for name, lo, hi in SIZE_BUCKETS if lo <= s < hi)


def recall_by_size(labels: Iterable[Label], det: Detections, cls: str, iou_thr: float = 0.5) -> dict[str, list[int]]:
    """{bucket: [found, labelled]} of one class in one image."""
    gt_labels = [lab for lab in labels if lab.cls == cls]
    gt = np.array([lab.box for lab in gt_labels], np.float32).reshape(-1, 4)
    found = {g for g, _ in match_greedy(gt, det.xyxy[det.class_name == cls], iou_thr)}
    out = {name: [0, 0] for name, _, _ in SIZE_BUCKETS}
    for i, lab in enumerate(gt_labels):
        b = out[size_bucket(lab.box)]
        b[0] += i in found
        b[1] += 1
    return out


def _round(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 4)
