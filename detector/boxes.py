"""Box arithmetic on Detections: overlaps and duplicate suppression (numpy only)."""

from __future__ import annotations

import numpy as np

from .types import Detections

_FOUR_WHEELERS = {"car", "bus", "truck"}


def size_ramp(px, small_px: float, full_px: float, small_value: float, full_value: float):
    """`small_value` for boxes at or under `small_px`, `full_value` from `full_px` on, linear in between
    (a number or a numpy array of box sizes in pixels)."""
    f = np.clip((np.asarray(px, np.float64) - small_px) / max(full_px - small_px, 1e-6), 0.0, 1.0)
    return small_value + f * (full_value - small_value)


def height_change(a, b) -> np.ndarray:
    """How many times taller or shorter (>= 1) box(es) b are than a (xyxy, shape (..., 4); heights under 1 px
    count as 1)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ha, hb = np.maximum(1.0, a[..., 3] - a[..., 1]), np.maximum(1.0, b[..., 3] - b[..., 1])
    return np.maximum(hb / ha, ha / hb)


def steady_shift(a, b) -> np.ndarray:
    """The shift (..., 2) from box(es) a to b (xyxy, shape (..., 4)) of the edges that moved less, across (left
    or right) and along (top or bottom): a box that changes its shape (a rider boxed with its bike, then alone)
    keeps one edge with its road user while its centre jumps."""
    edges = np.asarray(b, np.float64) - np.asarray(a, np.float64)  # the shift of each edge: left, top, right, bottom
    dx = np.where(np.abs(edges[..., 0]) <= np.abs(edges[..., 2]), edges[..., 0], edges[..., 2])
    dy = np.where(np.abs(edges[..., 1]) <= np.abs(edges[..., 3]), edges[..., 1], edges[..., 3])
    return np.stack([dx, dy], axis=-1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


def family(class_names: np.ndarray) -> np.ndarray:
    """'four' for cars/buses/trucks, 'two' for everything else (two-wheelers, riders, people)."""
    return np.array(["four" if c in _FOUR_WHEELERS else "two" for c in class_names], dtype=object)


def nms_merge(parts: list[Detections], iou: float = 0.5, by_family: bool = False) -> Detections:
    """Union of several detection sets with greedy NMS across them, per class (or per family)."""
    xyxy = np.concatenate([p.xyxy for p in parts])
    conf = np.concatenate([p.confidence for p in parts])
    names = np.concatenate([p.class_name for p in parts])
    if len(xyxy) <= 1:
        return Detections(xyxy, conf, names)
    cls = family(names) if by_family else names
    _, group = np.unique(cls.astype(str), return_inverse=True)  # integer labels: cheap to compare
    order = np.argsort(-conf)
    keep: list[int] = []
    over = (iou_matrix(xyxy, xyxy) > iou) & (group[:, None] == group[None, :])
    suppressed = np.zeros(len(xyxy), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= over[i]
    keep_arr = np.array(sorted(keep), dtype=np.int64)
    return Detections(xyxy[keep_arr], conf[keep_arr], names[keep_arr])
