"""Detect: pictures -> Detections of road users. The only module that imports ultralytics."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .types import COCO_ROAD_USERS, Detections

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


class ModelError(Exception):
    """A model that cannot be loaded; one line for a person."""


def pick_device(device: str | None) -> str:
    """'cpu', 'cuda', 'cuda:N', or None/'auto' = CUDA when present, else CPU."""
    if device and device != "auto":
        return device
    try:
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"
    except Exception:  # pragma: no cover - torch always present with ultralytics
        return "cpu"


class YoloDetector:
    """Runs a YOLO model (OpenVINO folder, ONNX or .pt) on whole frames plus optional tiles."""

    def __init__(self, model_path: str | Path, *, device: str | None = None, imgsz: int = 640,
                 conf: float = 0.1, half: bool | None = None, tiles: Sequence[Sequence[float]] = ()):
        from ultralytics import YOLO  # heavy import, kept inside

        self.model_path = Path(model_path)
        if not self.model_path.exists():
            raise ModelError(f"{self.model_path}: model file not found (run `make assets`)")
        self.device = pick_device(device)
        self.imgsz = imgsz
        self.conf = conf
        self.half = self.device.startswith("cuda") if half is None else half
        self.tiles = [tuple(int(round(v)) for v in t) for t in tiles]
        try:
            self._model = YOLO(str(self.model_path), task="detect")
        except Exception as e:  # ultralytics raises many kinds
            raise ModelError(f"{self.model_path}: cannot load model: {str(e).splitlines()[0]}") from None
        names = self._model.names if isinstance(self._model.names, dict) else dict(enumerate(self._model.names))
        self._keep = {i: COCO_ROAD_USERS[i] for i in COCO_ROAD_USERS if names.get(i) in
                      {"person", "bicycle", "car", "motorcycle", "bus", "truck"}}
        if not self._keep:
            raise ModelError(f"{self.model_path}: model has no COCO road-user classes")

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        results = self._model.predict(images, imgsz=self.imgsz, conf=self.conf, classes=list(self._keep),
                                      device=self.device, half=self.half, verbose=False)
        out = []
        for r in results:
            data = r.boxes.data.cpu().numpy() if len(r.boxes) else np.zeros((0, 6), np.float32)
            out.append(Detections(data[:, :4], data[:, 4],
                                  np.array([self._keep[int(c)] for c in data[:, 5]], dtype=object)))
        return out

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """One Detections per image: full-frame detections merged with the tiles' (offset back)."""
        if not images:
            return []
        full = self._predict(images)
        if not self.tiles:
            return full
        crops, owners = [], []
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            for x1, y1, x2, y2 in self.tiles:
                crops.append(img[max(0, y1):min(h, y2), max(0, x1):min(w, x2)])
                owners.append((i, max(0, x1), max(0, y1)))
        merged = [[d] for d in full]
        for (i, ox, oy), det in zip(owners, self._predict(crops)):
            det.xyxy[:, [0, 2]] += ox
            det.xyxy[:, [1, 3]] += oy
            merged[i].append(det)
        return [nms_merge(parts) for parts in merged]


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


def nms_merge(parts: list[Detections], iou: float = 0.5) -> Detections:
    """Union of several detection sets with greedy per-class NMS across them."""
    xyxy = np.concatenate([p.xyxy for p in parts])
    conf = np.concatenate([p.confidence for p in parts])
    cls = np.concatenate([p.class_name for p in parts])
    order = np.argsort(-conf)
    keep: list[int] = []
    ious = iou_matrix(xyxy, xyxy)
    suppressed = np.zeros(len(xyxy), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= (ious[i] > iou) & (cls == cls[i])
    keep_arr = np.array(sorted(keep), dtype=np.int64)
    return Detections(xyxy[keep_arr], conf[keep_arr], cls[keep_arr])
