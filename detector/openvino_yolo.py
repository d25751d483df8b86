"""A YOLO detection model exported to OpenVINO IR, run with the OpenVINO runtime alone.

Ultralytics runs these models too, but it imports PyTorch (~1.3 s), preprocesses and suppresses
in torch, and loads in ~2 s; the runtime alone loads in ~0.7 s and saves a few ms per input. The
pre- and post-processing below reproduce ultralytics' (8.3/8.4) for a fixed-shape detect model:
centred letterbox (cv2 INTER_LINEAR, grey 114), BGR->RGB, /255; best class per anchor, conf
threshold, class filter applied after the best class is picked, class-wise greedy NMS, at most
`max_det` boxes, boxes mapped back and clipped. `tests/detector/test_openvino_yolo.py` checks the
boxes against ultralytics on real frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import yaml

PAD_VALUE = 114
MAX_WH = 7680.0  # class offset for class-wise NMS in one pass (as ultralytics)


class OpenVinoYoloError(Exception):
    pass


def model_xml(folder: Path) -> Path:
    xmls = sorted(Path(folder).glob("*.xml"))
    if len(xmls) != 1:
        raise OpenVinoYoloError(f"{folder}: expected exactly one OpenVINO .xml model, found {len(xmls)}")
    return xmls[0]


def compile_cache_dir() -> Path | None:
    """Where OpenVINO keeps compiled models between runs (`$XDG_CACHE_HOME/crosswatch/openvino`, else
    `~/.cache/...`): loading a cached blob takes ~0.3 s instead of a ~0.6 s compile. The runtime keys the
    blob by the model and the device, so a changed model is compiled afresh. None (compile every time)
    when the folder cannot be made."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "crosswatch" / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def letterbox(img: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to `size` (h, w); returns (image, gain, (left, top))."""
    import cv2

    h0, w0 = img.shape[:2]
    r = min(size[0] / h0, size[1] / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = (size[1] - new_w) / 2, (size[0] - new_h) / 2
    if (w0, h0) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return img, r, (left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS; indices kept, highest score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])).clip(0)
        h = (np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])).clip(0)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode(
    raw: np.ndarray, conf: float, iou: float, classes: Iterable[int] | None, max_det: int = 300, max_nms: int = 30000
) -> np.ndarray:
    """(4 + nc, anchors) model output -> (N, 6) [x1, y1, x2, y2, conf, cls] in model-input pixels.

    The best class is looked up only for anchors whose best score passes `conf` (a handful of
    8400), reading the output in its own (class-major) layout."""
    scores = raw[4:]
    best = scores.max(0)
    idx = np.flatnonzero(best > conf)
    if idx.size == 0:
        return np.zeros((0, 6), np.float32)
    cls = scores[:, idx].argmax(0)
    best = best[idx]
    if classes is not None:
        keep = np.isin(cls, np.fromiter(classes, dtype=np.int64))
        idx, cls, best = idx[keep], cls[keep], best[keep]
        if idx.size == 0:
            return np.zeros((0, 6), np.float32)
    if len(best) > max_nms:
        top = np.argsort(-best, kind="stable")[:max_nms]
        idx, cls, best = idx[top], cls[top], best[top]
    cx, cy, w, h = raw[0, idx], raw[1, idx], raw[2, idx], raw[3, idx]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keep = nms(xyxy + (cls * MAX_WH)[:, None], best, iou)[:max_det]
    return np.column_stack([xyxy[keep], best[keep], cls[keep]]).astype(np.float32)


def _with_preprocessing(model):
    """Let the compiled model take the letterboxed BGR uint8 picture as it is (NHWC): the
    conversion to float, BGR->RGB and /255 run inside OpenVINO, not as NumPy passes."""
    from openvino import Layout, Type
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC")).set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


MAX_REQUESTS = 4  # pictures in flight at once, at most (THROUGHPUT mode: one per CPU stream)


class OpenVinoYolo:
    """`predict(bgr images) -> list of (N, 6) arrays` in each image's pixels.

    `throughput=False` (default): one picture at a time, each on every core (OpenVINO's LATENCY hint).
    `throughput=True`: the runtime's THROUGHPUT hint splits the cores into streams and `predict` keeps
    `requests` pictures in flight, one per stream; on 2 cores, two pictures take ~15-25 % less time than
    one after the other. A single picture is then slower: give it `requests` pictures per call."""

    def __init__(self, folder: str | Path, *, threads: int | None = None, throughput: bool = False):
        import openvino as ov

        folder = Path(folder)
        meta_path = folder / "metadata.yaml"
        if not meta_path.is_file():
            raise OpenVinoYoloError(f"{folder}: metadata.yaml missing (not an ultralytics OpenVINO export)")
        meta = yaml.safe_load(meta_path.read_text())
        if meta.get("task", "detect") != "detect":
            raise OpenVinoYoloError(f"{folder}: task {meta.get('task')!r} is not detect")
        self.names: dict[int, str] = {int(k): v for k, v in meta["names"].items()}
        imgsz = meta.get("imgsz", [640, 640])
        self.input_hw = (int(imgsz[0]), int(imgsz[1])) if isinstance(imgsz, list) else (int(imgsz), int(imgsz))
        config: dict[str, str | int] = {"PERFORMANCE_HINT": "THROUGHPUT" if throughput else "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        core = ov.Core()
        cache = compile_cache_dir()
        if cache is not None:
            core.set_property({"CACHE_DIR": str(cache)})
        model = core.read_model(model_xml(folder))
        shape = model.input(0).get_partial_shape()
        if shape.is_dynamic:
            raise OpenVinoYoloError(f"{folder}: dynamic-shape models are run through ultralytics")
        model = _with_preprocessing(model)
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.requests = 1
        if throughput:
            optimal = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self.requests = max(1, min(MAX_REQUESTS, optimal))
        self._queue = ov.AsyncInferQueue(self._compiled, self.requests) if self.requests > 1 else None

    def predict(
        self, images: list[np.ndarray], *, conf: float, iou: float, classes: Iterable[int] | None = None
    ) -> list[np.ndarray]:
        classes = list(classes) if classes is not None else None
        boxed = [letterbox(img, self.input_hw) for img in images]
        raws = self._infer_all([b for b, _, _ in boxed])
        out = []
        for img, (_, gain, (left, top)), raw in zip(images, boxed, raws):
            det = decode(raw, conf, iou, classes)
            det[:, [0, 2]] = ((det[:, [0, 2]] - left) / gain).clip(0, img.shape[1])
            det[:, [1, 3]] = ((det[:, [1, 3]] - top) / gain).clip(0, img.shape[0])
            out.append(det)
        return out

    def _infer_all(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The model's raw output for each letterboxed picture, in order (several in flight in THROUGHPUT mode)."""
        if self._queue is None or len(inputs) < 2:
            return [self._request.infer({0: x[None]})[self._compiled.output(0)][0] for x in inputs]
        raws: list[np.ndarray | None] = [None] * len(inputs)

        def done(request, k: int) -> None:
            raws[k] = request.get_output_tensor(0).data[0].copy()  # the request is reused for the next picture

        self._queue.set_callback(done)
        for k, x in enumerate(inputs):
            self._queue.start_async({0: x[None]}, k)
        self._queue.wait_all()
        if any(r is None for r in raws):  # pragma: no cover - the runtime raises on a failed request
            raise RuntimeError("OpenVINO: a picture got no output")
        return [r for r in raws if r is not None]
