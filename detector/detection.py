"""Detect: pictures -> Detections of road users. The only module that imports ultralytics."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .boxes import nms_merge
from .classes import road_user_classes
from .types import Detections

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


class ModelError(Exception):
    """A model that cannot be loaded; one line for a person."""


def _nvidia_driver_present() -> bool:
    """Cheap look for an NVIDIA driver, so CPU-only machines never pay PyTorch's import (~1.3 s)."""
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()


def pick_device(device: str | None) -> str:
    """'cpu', 'cuda', 'cuda:N', or None/'auto' = CUDA when present, else CPU."""
    if device and device != "auto":
        return device
    if not _nvidia_driver_present():
        return "cpu"
    try:
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"
    except Exception:  # pragma: no cover - torch always present with ultralytics
        return "cpu"


def _boxes_array(result) -> np.ndarray:
    """An ultralytics result's boxes as an (N, 6) array: x1, y1, x2, y2, confidence, class. `result` is
    left untyped: ultralytics annotates predict() as giving Results | Tensor and Boxes.data as Tensor | ndarray."""
    boxes = result.boxes
    return boxes.data.cpu().numpy() if len(boxes) else np.zeros((0, 6), np.float32)


class YoloDetector:
    """Runs a YOLO model (OpenVINO folder, ONNX or .pt) on whole frames plus optional tiles.

    A fixed-shape OpenVINO folder on the CPU runs on the OpenVINO runtime directly
    (`openvino_yolo.py`, same pre/post-processing, no PyTorch import: `backend == "openvino"`);
    everything else runs through ultralytics (`backend == "ultralytics"`). `backend=` forces one."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str | None = None,
        imgsz: int = 640,
        conf: float = 0.1,
        iou: float = 0.5,
        half: bool | None = None,
        tiles: Sequence[Sequence[float]] = (),
        roi: Sequence[float] | None = None,
        backend: str = "auto",
    ):
        self.model_path = Path(model_path)
        if not self.model_path.exists():
            raise ModelError(f"{self.model_path}: model file not found (run `make assets`)")
        self.device = pick_device(device)
        self.imgsz = imgsz
        self.conf = conf
        self.iou = iou  # NMS overlap: ultralytics' 0.7 leaves stacks of weak boxes on one motorbike
        self.half = self.device.startswith("cuda") if half is None else half
        self.tiles = [tuple(int(round(v)) for v in t) for t in tiles]
        self.roi = tuple(int(round(v)) for v in roi) if roi is not None else None
        # A fixed 640x640 model (OpenVINO IR, ONNX) pads a wide picture with grey; two 1620x720 frames fit
        # one input at the very scale one frame gets. A .pt model letterboxes to the picture's own shape.
        self.pack = self.model_path.is_dir() or self.model_path.suffix == ".onnx"
        self._ov = None
        if backend not in ("auto", "openvino", "ultralytics"):
            raise ModelError(f"unknown detector backend {backend!r}")
        if backend != "ultralytics" and self.model_path.is_dir() and self.device == "cpu" and imgsz == 640:
            from .openvino_yolo import OpenVinoYolo, OpenVinoYoloError

            try:
                self._ov = OpenVinoYolo(self.model_path, throughput=True)
            except OpenVinoYoloError as e:
                if backend == "openvino":
                    raise ModelError(str(e)) from None
            except Exception as e:  # the runtime raises RuntimeError for unreadable IR
                raise ModelError(f"{self.model_path}: cannot load model: {str(e).splitlines()[0]}") from None
        if backend == "openvino" and self._ov is None:
            raise ModelError(
                f"{self.model_path}: the OpenVINO backend needs a fixed-shape OpenVINO folder, CPU, imgsz 640"
            )
        self.backend = "openvino" if self._ov is not None else "ultralytics"
        if self._ov is not None:
            names = self._ov.names
        else:
            from ultralytics import YOLO  # heavy import (PyTorch), kept inside

            try:
                self._model = YOLO(str(self.model_path), task="detect")
            except Exception as e:  # ultralytics raises many kinds
                raise ModelError(f"{self.model_path}: cannot load model: {str(e).splitlines()[0]}") from None
            names = self._model.names if isinstance(self._model.names, dict) else dict(enumerate(self._model.names))
        self._keep = road_user_classes(names)  # model class id -> pipeline class (COCO or crosswatch-trained)
        if not self._keep:
            raise ModelError(
                f"{self.model_path}: model has no road-user classes (names: {sorted(set(names.values()))[:8]})"
            )

    def use_regions(self, roi: Sequence[float] | None, tiles: Sequence[Sequence[float]]) -> None:
        """Look at these regions from now on (the pipeline's plan, in the pixel space of the frames it passes)."""
        self.roi = tuple(round(v) for v in roi) if roi is not None else None
        self.tiles = [tuple(round(v) for v in t) for t in tiles]

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        if self._ov is not None:
            return [
                self._to_detections(d)
                for d in self._ov.predict(images, conf=self.conf, iou=self.iou, classes=list(self._keep))
            ]
        results = self._model.predict(
            images,
            imgsz=self.imgsz,
            conf=self.conf,
            iou=self.iou,
            classes=list(self._keep),
            device=self.device,
            half=self.half,
            verbose=False,
        )
        return [self._to_detections(_boxes_array(r)) for r in results]

    def _to_detections(self, data: np.ndarray) -> Detections:
        return Detections(data[:, :4], data[:, 4], np.array([self._keep[int(c)] for c in data[:, 5]], dtype=object))

    def _predict_packed(self, images: list[np.ndarray]) -> list[Detections]:
        """Whole-image detections, several wide pictures per model input where they fit (see `stack_count`);
        all the inputs of one call go to the model together (several in flight where it runs so)."""
        inputs: list[np.ndarray] = []
        groups: list[tuple[int, int]] = []  # (pictures stacked in the input, their height) per input
        i = 0
        while i < len(images):
            n = stack_count(images[i].shape[:2]) if self.pack else 1
            group = [im for im in images[i : i + n] if im.shape == images[i].shape]
            if len(group) == 1:
                inputs.append(group[0])
            else:
                canvas = np.full(
                    (sum(im.shape[0] for im in group) + STACK_GAP * (len(group) - 1), group[0].shape[1], 3),
                    114,
                    np.uint8,
                )
                y = 0
                for im in group:
                    canvas[y : y + im.shape[0]] = im
                    y += im.shape[0] + STACK_GAP
                inputs.append(canvas)
            groups.append((len(group), group[0].shape[0]))
            i += len(group)
        out: list[Detections] = []
        for (n, height), det in zip(groups, self._predict(inputs)):
            out.extend([det] if n == 1 else unstack(det, height, n, STACK_GAP))
        return out

    def frames_per_call(self, frame_hw: tuple[int, int]) -> int:
        """How many frames of (h, w) one call should get so that stacking fills the model input, times the
        inputs the runtime keeps in flight at once."""
        in_flight = self._ov.requests if self._ov is not None else 1
        if not self.pack:
            return in_flight
        if self.roi is not None:
            x1, y1, x2, y2 = self.roi
            frame_hw = (min(frame_hw[0], y2) - max(0, y1), min(frame_hw[1], x2) - max(0, x1))
        return stack_count(frame_hw) * in_flight

    def _pass_scale(self, hw: tuple[int, int]) -> float:
        """Model pixels per picture pixel for a picture of (h, w) in one pass (stacked with its peers)."""
        h, w = hw
        if not self.pack:
            return self.imgsz / max(h, w, 1)
        n = stack_count((h, w))
        return self.imgsz / max(w, n * h + STACK_GAP * (n - 1), 1)

    def model_scale(self, xyxy: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """Per box (frame pixels): model-input pixels per frame pixel of the finest pass that saw it whole
        (a tile that holds the box, else the whole-picture pass)."""
        fh, fw = frame_hw
        x1, y1, x2, y2 = self.roi if self.roi is not None else (0, 0, fw, fh)
        whole = self._pass_scale((min(fh, y2) - max(0, y1), min(fw, x2) - max(0, x1)))
        scale = np.full(len(xyxy), whole, np.float64)
        for tx1, ty1, tx2, ty2 in self.tiles:
            tx1, ty1, tx2, ty2 = max(0, tx1), max(0, ty1), min(fw, tx2), min(fh, ty2)
            inside = (xyxy[:, 0] >= tx1) & (xyxy[:, 1] >= ty1) & (xyxy[:, 2] <= tx2) & (xyxy[:, 3] <= ty2)
            scale[inside] = np.maximum(scale[inside], self._pass_scale((ty2 - ty1, tx2 - tx1)))
        return scale

    def _predict_roi(self, images: list[np.ndarray], roi: tuple[int, ...]) -> list[Detections]:
        """The whole-picture pass on the region of interest `roi` only, boxes moved back to the frame. A
        road user cut by the region's edge keeps its visible part (the rules only look inside)."""
        x1, y1, x2, y2 = roi
        crops = [img[max(0, y1) : min(img.shape[0], y2), max(0, x1) : min(img.shape[1], x2)] for img in images]
        out = self._predict_packed(crops)
        for det in out:
            det.xyxy[:, [0, 2]] += max(0, x1)
            det.xyxy[:, [1, 3]] += max(0, y1)
        return out

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """One Detections per image: full-frame detections merged with the tiles' (offset back)."""
        if not images:
            return []
        full = self._predict_roi(images, self.roi) if self.roi is not None else self._predict_packed(images)
        if not self.tiles:
            return full
        crops, owners = [], []
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            for x1, y1, x2, y2 in self.tiles:
                crops.append(img[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)])
                owners.append((i, max(0, x1), max(0, y1)))
        merged = [[d] for d in full]
        for (i, ox, oy), crop, det in zip(owners, crops, self._predict_packed(crops)):
            det = det[~_cut_by_tile_edge(det.xyxy, crop.shape, images[i].shape, ox, oy)]
            det.xyxy[:, [0, 2]] += ox
            det.xyxy[:, [1, 3]] += oy
            merged[i].append(det)
        return [nms_merge(parts) for parts in merged]


STACK_GAP = 16  # grey rows between stacked pictures, so that no box spans two of them


def stack_count(shape: tuple[int, int], gap: int = STACK_GAP, keep: float = 0.95) -> int:
    """How many pictures of (h, w) fit one above the other in a square model input while each keeps at
    least `keep` of the scale a single picture gets there (side / longest side). 2 for 1620x720 frames
    and 640x320 tiles, 1 for 16:9 and 4:3 frames."""
    h, w = shape
    room = max(h, w) / keep  # stack height, in picture pixels, the square input holds at that scale
    return max(1, int((room + gap) // (h + gap)))


def unstack(det: Detections, height: int, n: int, gap: int = STACK_GAP) -> list[Detections]:
    """Split detections on a vertical stack of n pictures of `height` rows back per picture (by box
    centre), in each picture's own coordinates, boxes clipped to it."""
    out = []
    cy = (det.xyxy[:, 1] + det.xyxy[:, 3]) / 2
    for k in range(n):
        top = k * (height + gap)
        part = det[(cy >= top - gap / 2) & (cy < top + height + gap / 2)]
        part.xyxy[:, [1, 3]] = np.clip(part.xyxy[:, [1, 3]] - top, 0, height)
        out.append(part[part.xyxy[:, 3] - part.xyxy[:, 1] >= 2])
    return out


def _cut_by_tile_edge(xyxy: np.ndarray, crop_shape, frame_shape, ox: int, oy: int, px: float = 3.0) -> np.ndarray:
    """Tile boxes that touch a tile edge inside the frame: road users cut in two by the tile, which the
    whole-frame pass sees whole. Keeping them would give one road user two boxes (and two tracks)."""
    ch, cw = crop_shape[:2]
    fh, fw = frame_shape[:2]
    cut = np.zeros(len(xyxy), bool)
    if ox > 0:
        cut |= xyxy[:, 0] <= px
    if oy > 0:
        cut |= xyxy[:, 1] <= px
    if ox + cw < fw:
        cut |= xyxy[:, 2] >= cw - px
    if oy + ch < fh:
        cut |= xyxy[:, 3] >= ch - px
    return cut
