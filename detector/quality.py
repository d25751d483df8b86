"""Measure detection and signal-classifier quality on a labelled image set, to choose defaults.

    python -m detector.quality [--dataset DIR] [--models NAME,...] [--sizes 640,960,1280] [--json OUT]

A measurement, not a test: it prints numbers. The default data set is
`../shared/datasets/redlight_intersections_40` (40 images, 640x640, YOLO txt labels with the classes
of its data.yaml: car, green_light, motobike, red_light, stop_line, yellow_light).

1. Road users, per model of the manifest and per input size (OpenVINO IRs and the ONNX file are static
   640x640 exports: other sizes are reported as not runnable, never silently run at 640), plus a
   tiled variant (full image + 2x2 overlapping tiles, each upscaled to the model's 640, merged with
   per-class NMS by `YoloDetector(tiles=...)`). Recall / precision at IoU 0.5, greedy matching by
   IoU per class, for `car` (COCO car/bus/truck) and `motobike` (COCO motorcycle/bicycle; people
   never count). Two post-processings of the same detections:
     raw     the detector's boxes as they come (a rider and its bike are two boxes)
     merged  what the pipeline does: `merge_riders`, then the family NMS at 0.6
             (so a bike box covers rider + bike, as the labels do)
     person  merged, and a person left on no bike counts as a motobike (seen from above, a rider
             often hides the bike, and the bike is not detected): a what-if for a rider rule
   and two thresholds, from one detector run at the pipeline's conf (0.1):
     0.25    boxes >= 0.25, then the post-processing (a usable single threshold)
     pipe    post-processing on all boxes >= 0.1 (riders merge at 0.1, as in the pipeline), then
             boxes >= the tracker's high threshold (0.35): what can start and lead a track
   Filtering a conf-0.1 run at 0.25 gives the same boxes as running at 0.25 (NMS only lets a box
   suppress weaker ones).
2. Signal colour: `classify_lamps(lamp_scores(...))` on every labelled red/yellow/green light box.
   Those boxes cover a whole signal head (vertical 3-lamp heads, horizontal heads, and countdown
   digit displays coloured by the phase), not the lit lamp, so two ways to make lamps from a box:
     split   the box cut in three along its long axis: red top/left, yellow middle, green
             bottom/right (what a user configures; on horizontal heads the order is a guess, and
             the set contains mirrored images)
     whole   each colour's lamp is the whole box: the colour test alone, no geometry
   Confusion matrices, accuracy, failure crops under --fail-dir, and the thresholds that would have
   scored best on this data (a fit on few boxes: indicative only).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .assets import REPO_ROOT, AssetError, model_names, resolve_model
from .boxes import iou_matrix, nms_merge
from .riders import merge_riders
from .signal import LampThresholds, classify_lamps, lamp_scores
from .types import Detections

DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "redlight_intersections_40"
DEFAULT_FAIL_DIR = Path("/tmp/quality_fail")
ROAD_CLASSES = ("car", "motobike")
LIGHT_CLASSES = {"red_light": "red", "yellow_light": "yellow", "green_light": "green"}
COLOURS = ("red", "yellow", "green")  # the order of classify_lamps' dict, which breaks its ties
# detector class (COCO name) -> data-set class; anything else (person) is not scored
COCO_TO_LABEL = {"car": "car", "bus": "car", "truck": "car", "motorcycle": "motobike", "bicycle": "motobike"}
SIZE_BUCKETS = (("small", 0.0, 32.0), ("medium", 32.0, 96.0), ("large", 96.0, math.inf))  # sqrt(area), px


# -- labels ---------------------------------------------------------------------------------------
class LabelError(ValueError):
    """A label file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Label:
    cls: str
    box: tuple[float, float, float, float]  # pixel xyxy


@dataclass
class Sample:
    image: Path
    labels: list[Label]

    @property
    def stem(self) -> str:
        return self.image.stem


def read_class_names(data_yaml: Path) -> list[str]:
    data = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8"))
    names = data["names"]
    if isinstance(names, dict):  # {0: car, 1: ...}
        names = [names[k] for k in sorted(names)]
    return [str(n) for n in names]


def read_yolo_labels(path: Path, names: Sequence[str], width: int, height: int) -> list[Label]:
    """One YOLO txt file -> Labels in pixel xyxy. A line is `class cx cy w h` (normalised), or a
    polygon `class x1 y1 x2 y2 ...` (its bounding box). Blank lines and a missing final newline are fine."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{n}"
        try:
            cls_id, values = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            raise LabelError(f"{where}: not numbers: {line.strip()!r}") from None
        if not 0 <= cls_id < len(names):
            raise LabelError(f"{where}: class {cls_id} not in data.yaml names ({len(names)} classes)")
        if len(values) == 4:
            cx, cy, w, h = values
            x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        else:
            raise LabelError(f"{where}: expected 'class cx cy w h' or a polygon, got {len(parts)} fields")
        out.append(Label(names[cls_id], (x1 * width, y1 * height, x2 * width, y2 * height)))
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def load_dataset(root: Path) -> list[Sample]:
    """Images under root/images with their labels under root/labels (same stem); sorted by name."""
    root = Path(root)
    names = read_class_names(root / "data.yaml")
    images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp"})
    if not images:
        raise LabelError(f"{root / 'images'}: no images")
    samples = []
    for img in images:
        lab = root / "labels" / f"{img.stem}.txt"
        w, h = _image_size(img)
        samples.append(Sample(img, read_yolo_labels(lab, names, w, h) if lab.exists() else []))
    return samples


# -- matching -------------------------------------------------------------------------------------
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
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "recall": _round(self.recall), "precision": _round(self.precision)}


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


def to_label_classes(det: Detections, person_as: str | None = None) -> Detections:
    """Detector classes -> data-set classes (COCO_TO_LABEL); people (unless `person_as` names a class for
    them) and anything unmapped dropped."""
    table = {**COCO_TO_LABEL, "person": person_as} if person_as else COCO_TO_LABEL
    mapped = np.array([table.get(c) or "" for c in det.class_name], dtype=object)
    keep = mapped != ""
    return Detections(det.xyxy[keep], det.confidence[keep], mapped[keep])


def evaluate_image(labels: Iterable[Label], det: Detections, classes: Sequence[str] = ROAD_CLASSES,
                   iou_thr: float = 0.5) -> dict[str, PR]:
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


# -- post-processing variants -------------------------------------------------------------------------
def pipeline_thresholds() -> tuple[float, float]:
    """(detector conf, tracker high threshold) of the pipeline's defaults."""
    from .pipeline import PipelineSettings
    from .tracking import TrackerConfig

    return PipelineSettings().conf, TrackerConfig().high_conf


def postprocess(det: Detections, merge: bool) -> Detections:
    """merge=False: as detected; True: the pipeline's merge_riders + family NMS at 0.6."""
    if not merge:
        return det
    return nms_merge([merge_riders(det)], iou=0.6, by_family=True)


def variants(det: Detections, conf: float, track_high: float) -> dict[tuple[str, str], Detections]:
    """{(threshold mode, post-processing): Detections in data-set classes} from one low-conf run."""
    out = {}
    above = det[det.confidence >= conf]
    for name, merge, person_as in (("raw", False, None), ("merged", True, None), ("person", True, "motobike")):
        out[(f"{conf:g}", name)] = to_label_classes(postprocess(above, merge), person_as)
        post = postprocess(det, merge)
        out[("pipe", name)] = to_label_classes(post[post.confidence >= track_high], person_as)
    out[(f"{conf:g}", "merge_only")] = to_label_classes(merge_riders(above))
    return out


def grid_tiles(width: int, height: int, n: int = 2, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """n x n tiles (x1, y1, x2, y2) covering the image, neighbours overlapping by `overlap` of a tile."""
    tw, th = width / (n - (n - 1) * overlap), height / (n - (n - 1) * overlap)
    sx, sy = (width - tw) / max(1, n - 1), (height - th) / max(1, n - 1)
    return [(round(i * sx), round(j * sy), round(i * sx + tw), round(j * sy + th)) for j in range(n) for i in range(n)]


def static_input_size(model: Path) -> int | None:
    """The fixed input size of an exported model (OpenVINO folder, .onnx), None for .pt (any size)."""
    model = Path(model)
    if model.suffix == ".pt":
        return None
    if model.suffix == ".onnx":
        import onnxruntime  # noqa: F401 - ImportError is the caller's "needs onnxruntime"

        sess = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        shape = sess.get_inputs()[0].shape
        return int(shape[-1]) if all(isinstance(v, int) for v in shape[2:]) else None
    meta = model / "metadata.yaml" if model.is_dir() else model.parent / "metadata.yaml"
    data = yaml.safe_load(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    if (data.get("args") or {}).get("dynamic"):
        return None
    imgsz = data.get("imgsz") or [640, 640]
    return int(max(imgsz) if isinstance(imgsz, list) else imgsz)


# -- detection measurement ------------------------------------------------------------------------------
@dataclass
class Row:
    model: str
    size: int
    variant: str  # "full" | "tiled2x2"
    ms_per_image: float | None = None
    note: str = ""  # why it did not run
    # {threshold mode: {post-processing: {class: PR dict}}}
    scores: dict = field(default_factory=dict)
    recall_by_size: dict = field(default_factory=dict)  # {class: {bucket: [found, labelled]}} at 0.25, merged


def _read_bgr(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise LabelError(f"{path}: cannot read image")
    return img


def measure_config(model: str, model_path: Path, size: int, tiled: bool, samples: list[Sample],
                   images: list[np.ndarray], device: str, conf: float, iou_thr: float) -> Row:
    from .detection import YoloDetector

    det_conf, track_high = pipeline_thresholds()
    by_shape: dict[tuple[int, int], YoloDetector] = {}
    raw: list[Detections] = []
    elapsed = 0.0
    for img in images:
        h, w = img.shape[:2]
        if (w, h) not in by_shape:
            by_shape[(w, h)] = d = YoloDetector(model_path, device=device, imgsz=size, conf=min(det_conf, conf),
                                                tiles=grid_tiles(w, h) if tiled else ())
            d.detect([img])  # warm-up, not timed
        t0 = time.perf_counter()
        raw.append(by_shape[(w, h)].detect([img])[0])
        elapsed += time.perf_counter() - t0
    row = Row(model, size, "tiled2x2" if tiled else "full", 1000 * elapsed / len(images))
    totals: dict[tuple[str, str], dict[str, PR]] = {}
    sizes = {c: {name: [0, 0] for name, _, _ in SIZE_BUCKETS} for c in ROAD_CLASSES}
    for sample, det in zip(samples, raw):
        for key, d in variants(det, conf, track_high).items():
            acc = totals.setdefault(key, {c: PR() for c in ROAD_CLASSES})
            for c, pr in evaluate_image(sample.labels, d, ROAD_CLASSES, iou_thr).items():
                acc[c] = acc[c] + pr
            if key == (f"{conf:g}", "merged"):
                for c in ROAD_CLASSES:
                    for b, (f, n) in recall_by_size(sample.labels, d, c, iou_thr).items():
                        sizes[c][b][0] += f
                        sizes[c][b][1] += n
    for (mode, post), per_class in totals.items():
        row.scores.setdefault(mode, {})[post] = {c: pr.as_dict() for c, pr in per_class.items()}
    row.recall_by_size = sizes
    return row


def measure_detection(samples: list[Sample], models: Sequence[str], sizes: Sequence[int], tiles: bool,
                      device: str, conf: float, iou_thr: float, log=print) -> list[Row]:
    images = [_read_bgr(s.image) for s in samples]
    rows: list[Row] = []
    for name in models:
        try:
            path = resolve_model(name)
        except AssetError as e:
            rows.append(Row(name, 0, "-", note=str(e)))
            continue
        if not path.exists():
            rows.append(Row(name, 0, "-", note=f"{path}: no such file" + (" (run `make assets`)"
                                                                         if name in model_names() else "")))
            continue
        try:
            fixed = static_input_size(path)
        except ImportError as e:
            rows.append(Row(name, 0, "-", note=f"needs {e.name} (pip install {e.name})"))
            continue
        runs = []
        for size in sizes:
            if fixed is not None and size != fixed:
                rows.append(Row(name, size, "full", note=f"not run: static {fixed}x{fixed} export"))
            else:
                runs.append((size, False))
        if tiles:
            runs.append((fixed or 640, True))
        for size, tiled in runs:
            t0 = time.perf_counter()
            try:
                row = measure_config(name, path, size, tiled, samples, images, device, conf, iou_thr)
            except Exception as e:  # a model that will not load or run: report, go on
                row = Row(name, size, "tiled2x2" if tiled else "full", note=f"failed: {str(e).splitlines()[0]}")
            rows.append(row)
            log(f"  {name} {size} {row.variant}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rows


def _rp(d: dict | None) -> str:
    if not d:
        return "    -    "
    r, p = d["recall"], d["precision"]
    return f"{_fmt(r)}/{_fmt(p)}"


def _fmt(v: float | None) -> str:
    return " nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def detection_table(rows: list[Row], conf: float, track_high: float) -> str:
    head = (f"{'model':<22} {'size':>4} {'variant':<8} {'thr':<5} | {'car R/P':>9} {'moto R/P':>9} |"
            f" {'car R/P':>9} {'moto R/P':>9} | {'moto R/P':>9} | {'ms/img':>7}")
    lines = [f"{'':<43}|{'merged (merge_riders+NMS)':^21}|{'raw (no merging)':^21}|{'+person':^11}|",
             head, "-" * len(head)]
    for r in rows:
        if r.note:
            lines.append(f"{r.model:<22} {r.size or '':>4} {r.variant:<8} {'':<5} | {r.note}")
            continue
        for mode in (f"{conf:g}", "pipe"):
            s = r.scores.get(mode, {})
            m, w, pm = s.get("merged", {}), s.get("raw", {}), s.get("person", {})
            lines.append(f"{r.model:<22} {r.size:>4} {r.variant:<8} {mode:<5} | {_rp(m.get('car')):>9} "
                         f"{_rp(m.get('motobike')):>9} | {_rp(w.get('car')):>9} {_rp(w.get('motobike')):>9} |"
                         f" {_rp(pm.get('motobike')):>9} | {r.ms_per_image:7.0f}")
    lines.append(f"thr {conf:g}: boxes >= {conf:g}, then the post-processing; pipe: detector at the pipeline's conf,"
                 f" post-processing, then boxes >= the tracker's high threshold {track_high:g}. R/P at IoU 0.5.\n"
                 "+person: merged, and a person on no bike counted as a motobike. Car precision is a lower bound:"
                 " parked and distant cars are often unlabelled.")
    return "\n".join(lines)


def size_table(rows: list[Row], conf: float) -> str:
    ran = [r for r in rows if not r.note]
    if not ran:
        return ""
    n = ran[0].recall_by_size
    head = f"{'model':<22} {'size':>4} {'variant':<8} | " + " ".join(
        f"{c[:4]} {b:<6}({n[c][b][1]:>2})" for c in ROAD_CLASSES for b, _, _ in SIZE_BUCKETS)
    lines = [f"recall by labelled box size (sqrt area: small < 32 px <= medium < 96 px <= large), thr {conf:g}, merged",
             head, "-" * len(head)]
    for r in ran:
        cells = []
        for c in ROAD_CLASSES:
            for b, _, _ in SIZE_BUCKETS:
                f, k = r.recall_by_size[c][b]
                cells.append(f"{(f / k if k else float('nan')):>16.2f}")
        lines.append(f"{r.model:<22} {r.size:>4} {r.variant:<8} | " + " ".join(cells))
    return "\n".join(lines)


# -- signal colour ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LightBox:
    stem: str
    index: int  # which light of the image
    colour: str  # labelled lit colour
    box: tuple[float, float, float, float]  # xyxy
    night: bool

    @property
    def shape(self) -> str:
        return head_shape(self.box)


def head_shape(box: Sequence[float]) -> str:
    """'vertical' (a 3-lamp column), 'horizontal' (a row) or 'other' (countdown digits, tiny boxes)."""
    w, h = box[2] - box[0], box[3] - box[1]
    if w * h < 64:
        return "other"
    if h >= 2.5 * w:
        return "vertical"
    if w >= 1.2 * h:
        return "horizontal"
    return "other"


def split_head(box: Sequence[float]) -> dict[str, tuple[float, float, float, float]]:
    """Three lamp boxes (x, y, w, h) along the long axis: red top/left, yellow middle, green bottom/right."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if h >= w:
        return {c: (x1, y1 + i * h / 3, w, h / 3) for i, c in enumerate(COLOURS)}
    return {c: (x1 + i * w / 3, y1, w / 3, h) for i, c in enumerate(COLOURS)}


def lamp_sets(box: Sequence[float]) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    x1, y1, x2, y2 = box
    whole = (x1, y1, max(x2 - x1, 1.0), max(y2 - y1, 1.0))
    return {"split": split_head(box), "whole": {c: whole for c in COLOURS}}


def top_quarter_bgr(image: np.ndarray, lamp: Sequence[float]) -> tuple[np.ndarray, float]:
    """(mean B,G,R of the brightest quarter of pixels, their mean brightness) of a lamp box (x, y, w, h):
    the pixels lamp_scores uses, so other colour formulas can be tried on them."""
    h, w = image.shape[:2]
    x, y, bw, bh = lamp
    x1, y1 = max(0, int(round(x))), max(0, int(round(y)))
    x2, y2 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
    crop = image[y1:y2, x1:x2].reshape(-1, 3).astype(np.float32)
    if len(crop) == 0:
        return np.zeros(3, np.float32), 0.0
    bright = crop.max(axis=1)
    k = max(1, len(crop) // 4)
    top = crop[np.argpartition(bright, -k)[-k:]]
    return top.mean(axis=0), float(top.max(axis=1).mean())


# colour scores from (B, G, R) means: "current" is lamp_scores'; "neutral_green" subtracts all of R from
# green, so a grey pixel scores 0 for every colour (the current green score of grey v is v/2)
FORMULAS = {
    "current": lambda b, g, r: (r - (g + b) / 2, (r + g) / 2 - b, (g + b) / 2 - r / 2),
    "neutral_green": lambda b, g, r: (r - (g + b) / 2, (r + g) / 2 - b, (g + b) / 2 - r),
}


def is_night(img: np.ndarray) -> bool:
    """Dim and coloured by artificial light: median V < 125 and mean saturation > 50 (checked by eye on
    the 40 shared images; a scene label for the breakdown, not a classifier)."""
    import cv2

    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    return bool(np.median(hsv[..., 2]) < 125 and hsv[..., 1].mean() > 50)


def classify_arrays(score: np.ndarray, bright: np.ndarray, min_brightness, red, yellow, green) -> np.ndarray:
    """Vectorised classify_lamps: score/bright (..., 3) in COLOURS order; thresholds broadcast against
    the leading axes. Returns codes 0 red, 1 yellow, 2 green, 3 unknown."""
    limit = np.stack(np.broadcast_arrays(np.asarray(red, float), np.asarray(yellow, float),
                                         np.asarray(green, float)), axis=-1)[..., None, :]
    mb = np.asarray(min_brightness, float)[..., None, None]
    lit = (bright >= mb) & (score >= limit)
    margin = np.where(lit, score - limit, -np.inf)
    best = margin.argmax(axis=-1)  # first maximum wins, like max() over the red/yellow/green dict
    code = np.where(lit.any(axis=-1), best, 3)
    return np.where(lit[..., 0] & lit[..., 1], 0, code)


STATES = ("RED", "YELLOW", "GREEN", "UNKNOWN")


@dataclass
class SignalResult:
    mode: str
    confusion: dict  # {labelled colour: {predicted state: n}}
    accuracy: float
    decided_accuracy: float  # among non-UNKNOWN answers
    wrong_colour: int
    by_group: dict  # {group: [correct, total]}
    failures: list  # [{stem, index, colour, predicted, shape, night, box, crop}]


def _confusion(truth: list[str], pred: list[str]) -> dict:
    m = {c: {s: 0 for s in STATES} for c in COLOURS}
    for t, p in zip(truth, pred):
        m[t][p] += 1
    return m


def measure_signal(samples: list[Sample], thresholds: LampThresholds = LampThresholds(),
                   fail_dir: Path | None = DEFAULT_FAIL_DIR) -> dict:
    """Modes: split, whole (see the module doc), and split_oracle: split, but a horizontal head is read in
    whichever left/right order gives the labelled colour (the set holds mirrored images, and a user
    configures the real order: an upper bound for geometry mistakes)."""
    from .config import Signal

    lights: list[LightBox] = []
    images: dict[str, np.ndarray] = {}
    modes = ("split", "split_oracle", "whole")
    preds: dict[str, list[str]] = {m: [] for m in modes}
    pixels: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {m: [] for m in modes}  # ((3 lamps, BGR), (3,))
    for s in samples:
        boxes = [lab for lab in s.labels if lab.cls in LIGHT_CLASSES]
        if not boxes:
            continue
        img = images[s.stem] = _read_bgr(s.image)
        night = is_night(img)
        for i, lab in enumerate(boxes):
            lb = LightBox(s.stem, i, LIGHT_CLASSES[lab.cls], lab.box, night)
            lights.append(lb)
            sets = lamp_sets(lab.box)
            if lb.shape == "horizontal":
                lamps = sets["split"]
                sets["split_reversed"] = {"red": lamps["green"], "yellow": lamps["yellow"], "green": lamps["red"]}
            got = {}
            for mode, lamps in sets.items():
                sc = lamp_scores(img, Signal.model_validate({"id": "q", "lamps": lamps}))
                px = [top_quarter_bgr(img, lamps[c]) for c in COLOURS]
                got[mode] = (classify_lamps(sc, thresholds).value,
                             (np.stack([p[0] for p in px]), np.array([p[1] for p in px])))
            got["split_oracle"] = got["split"]
            if "split_reversed" in got and got["split"][0] != lb.colour.upper() \
                    and got["split_reversed"][0] == lb.colour.upper():
                got["split_oracle"] = got["split_reversed"]
            for mode in modes:
                preds[mode].append(got[mode][0])
                pixels[mode].append(got[mode][1])
    truth = [lb.colour for lb in lights]
    out: dict = {"boxes": len(lights), "thresholds": asdict(thresholds), "modes": {},
                 "shapes": {g: sum(lb.shape == g for lb in lights) for g in ("vertical", "horizontal", "other")},
                 "night_boxes": sum(lb.night for lb in lights)}
    for mode in modes:
        pred = preds[mode]
        ok = [p == t.upper() for p, t in zip(pred, truth)]
        decided = [p != "UNKNOWN" for p in pred]
        groups: dict[str, list[int]] = {}
        for lb, good in zip(lights, ok):
            for g in (lb.shape, "night" if lb.night else "day", lb.colour):
                groups.setdefault(g, [0, 0])
                groups[g][0] += good
                groups[g][1] += 1
        bgr = np.stack([p for p, _ in pixels[mode]]) if lights else np.zeros((0, 3, 3))
        B = np.stack([b for _, b in pixels[mode]]) if lights else np.zeros((0, 3))
        S = {name: _formula_scores(f, bgr) for name, f in FORMULAS.items()}
        # the replica must agree with the module under test, or the what-if numbers mean nothing
        check = classify_arrays(S["current"], B, thresholds.min_brightness, thresholds.red, thresholds.yellow,
                                thresholds.green)
        assert [STATES[c] for c in check] == pred, "classify_arrays/top_quarter_bgr disagree with signal.py"
        failures = [{"stem": lb.stem, "index": lb.index, "colour": lb.colour, "predicted": p, "shape": lb.shape,
                     "night": lb.night, "box": [round(v, 1) for v in lb.box],
                     "scores": {c: [round(float(S["current"][k, j]), 1), round(float(B[k, j]), 1)]
                                for j, c in enumerate(COLOURS)}}
                    for k, (lb, p, good) in enumerate(zip(lights, pred, ok)) if not good]
        res = SignalResult(mode, _confusion(truth, pred), sum(ok) / max(1, len(ok)),
                           sum(o for o, d in zip(ok, decided) if d) / max(1, sum(decided)),
                           sum(d and not o for o, d in zip(ok, decided)), groups, failures)
        if fail_dir is not None and mode != "split_oracle":
            _save_failures(Path(fail_dir) / mode, res.failures, images, mode)
        out["modes"][mode] = {**asdict(res), "score_stats": _score_stats(S["current"], B, truth),
                              "fit": {name: fit_thresholds(S[name], B, truth, thresholds) for name in FORMULAS}}
    return out


def _formula_scores(f, bgr: np.ndarray) -> np.ndarray:
    """(N, 3 lamps, BGR) -> (N, 3) scores, each lamp with its own colour's formula."""
    if len(bgr) == 0:
        return np.zeros((0, 3))
    per = [f(bgr[:, j, 0], bgr[:, j, 1], bgr[:, j, 2])[j] for j in range(3)]
    return np.stack(per, axis=1)


def _score_stats(S: np.ndarray, B: np.ndarray, truth: list[str]) -> dict:
    """Per labelled colour: min/median/max of each colour's score and brightness."""
    out = {}
    t = np.array(truth)
    for c in COLOURS:
        sel = t == c
        if not sel.any():
            continue
        out[c] = {k: {"score": [round(float(v), 1) for v in np.percentile(S[sel, j], [0, 50, 100])],
                      "bright": [round(float(v), 1) for v in np.percentile(B[sel, j], [0, 50, 100])]}
                  for j, k in enumerate(COLOURS)}
    return out


def fit_thresholds(S: np.ndarray, B: np.ndarray, truth: list[str], current: LampThresholds) -> dict:
    """Grid search of LampThresholds on these boxes: maximise correct - wrong colours (a wrong colour
    accuses or clears a driver; UNKNOWN only holds the last state). Also the range of each value that
    keeps the best objective with the others fixed."""
    if len(S) == 0:
        return {}
    code = np.array([COLOURS.index(c) for c in truth])
    bs = np.arange(40, 221, 10, dtype=float)
    cs = np.arange(0, 161, 5, dtype=float)

    def objective(mb, r, y, g):
        pred = classify_arrays(S, B, mb, r, y, g)
        right = (pred == code).sum(axis=-1)
        wrong = ((pred != code) & (pred != 3)).sum(axis=-1)
        return right - wrong, right, wrong

    best = (-10**9, None)
    for mb in bs:
        for r in cs:
            obj, _, _ = objective(mb, r, cs[:, None], cs[None, :])  # (yellow, green)
            k = np.unravel_index(np.argmax(obj), obj.shape)
            # prefer values nearest the current thresholds among equal objectives
            if obj[k] > best[0] or (obj[k] == best[0] and best[1] is not None and
                                    _dist((mb, r, cs[k[0]], cs[k[1]]), current) < _dist(best[1], current)):
                ties = np.argwhere(obj == obj[k])
                pick = min(ties, key=lambda t: _dist((mb, r, cs[t[0]], cs[t[1]]), current))
                best = (int(obj[tuple(pick)]), (float(mb), float(r), float(cs[pick[0]]), float(cs[pick[1]])))
    mb, r, y, g = best[1]
    obj, right, wrong = objective(mb, r, y, g)
    now = objective(current.min_brightness, current.red, current.yellow, current.green)
    ranges = {}
    for i, (name, grid) in enumerate((("min_brightness", bs), ("red", cs), ("yellow", cs), ("green", cs))):
        vals = [best[1][:i] + (v,) + best[1][i + 1:] for v in grid]
        good = [v[i] for v in vals if objective(*v)[0] == obj]
        ranges[name] = [float(min(good)), float(max(good))]
    pred = classify_arrays(S, B, mb, r, y, g)
    cur = (current.min_brightness, current.red, current.yellow, current.green)
    sweep = {}
    for i, name in enumerate(("red", "yellow", "green"), 1):
        sweep[name] = []
        for v in np.arange(0, 121, 10, dtype=float):
            _, right_v, wrong_v = objective(*(cur[:i] + (v,) + cur[i + 1:]))
            sweep[name].append([float(v), int(right_v), int(wrong_v)])
    return {"sweep_from_current": sweep, "best": {"min_brightness": mb, "red": r, "yellow": y, "green": g},
            "correct": int(right), "wrong_colour": int(wrong), "accuracy": round(int(right) / len(S), 3),
            "current": {"correct": int(now[1]), "wrong_colour": int(now[2])},
            "plateau": ranges, "confusion": _confusion(truth, [STATES[p] for p in pred])}


def _dist(v: tuple, th: LampThresholds) -> float:
    return abs(v[0] - th.min_brightness) + abs(v[1] - th.red) + abs(v[2] - th.yellow) + abs(v[3] - th.green)


def short_stem(stem: str) -> str:
    """Roboflow names '1155_jpg.rf.<hash>' -> '1155'."""
    return stem.split(".rf.")[0].removesuffix("_jpg")


def _save_failures(folder: Path, failures: list[dict], images: dict[str, np.ndarray], mode: str) -> None:
    """One PNG per failure (context around the box, 8x nearest, box and lamp split drawn) + a contact sheet."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    tiles = []
    for f in failures:
        img = images[f["stem"]]
        x1, y1, x2, y2 = f["box"]
        m = int(max(x2 - x1, y2 - y1) * 0.5) + 4
        X1, Y1 = max(0, int(x1) - m), max(0, int(y1) - m)
        X2, Y2 = min(img.shape[1], int(x2) + m + 1), min(img.shape[0], int(y2) + m + 1)
        s = max(2, min(8, int(240 / max(1, max(X2 - X1, Y2 - Y1)))))
        crop = cv2.resize(img[Y1:Y2, X1:X2], None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST)

        def p(x, y):
            return int((x - X1) * s), int((y - Y1) * s)

        cv2.rectangle(crop, p(x1, y1), p(x2, y2), (255, 0, 255), 1)
        if mode == "split":
            for _, (lx, ly, lw, lh) in list(split_head((x1, y1, x2, y2)).items())[1:]:
                cv2.line(crop, p(lx, ly), p(lx + (lw if lw >= x2 - x1 - 1e-6 else 0),
                                             ly + (lh if lh >= y2 - y1 - 1e-6 else 0)), (255, 0, 255), 1)
        name = f"{short_stem(f['stem'])}_{f['index']}_{f['colour']}_as_{f['predicted'].lower()}_{f['shape']}" \
               f"{'_night' if f['night'] else ''}.png"
        cv2.imwrite(str(folder / name), crop)
        t = np.zeros((270, 250, 3), np.uint8)
        c = crop[:240, :250]
        t[:c.shape[0], :c.shape[1]] = c
        cv2.putText(t, f"{short_stem(f['stem'])} {f['colour'][:3]}->{f['predicted'][:3]}", (2, 258), 0, 0.45,
                    (255, 255, 255), 1)
        tiles.append(t)
    if tiles:
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 6)
        cv2.imwrite(str(folder.parent / f"{mode}_sheet.png"),
                    np.vstack([np.hstack(tiles[i:i + 6]) for i in range(0, len(tiles), 6)]))


def signal_report(res: dict) -> str:
    lines = [f"signal colour on {res['boxes']} labelled light boxes "
             f"({', '.join(f'{k} {v}' for k, v in res['shapes'].items())}; night {res['night_boxes']});"
             f" thresholds {res['thresholds']}"]
    for mode, r in res["modes"].items():
        lines += ["", f"[{mode}] accuracy {r['accuracy']:.2f}, among decided {r['decided_accuracy']:.2f}, "
                      f"wrong colour {r['wrong_colour']}",
                  _confusion_text(r["confusion"]),
                  "  by group (correct/total): " + ", ".join(f"{g} {c}/{n}" for g, (c, n) in r["by_group"].items()),
                  "  score [min, median, max] of each colour score (rows: labelled colour):"]
        for c, per in r["score_stats"].items():
            lines.append(f"    {c:<6} " + "  ".join(f"{k}: s{v['score']} b{v['bright']}" for k, v in per.items()))
        for name, fit in r["fit"].items():
            if not fit:
                continue
            if name != "current":
                lines.append(f"  ({name} is a what-if formula: an over-exposed, near-white lit lamp scores low with it"
                             " (the green lamp of vn_rear_stopline: 15-19); not a drop-in change)")
            lines += [f"  fit, {name} scores: best {_short(fit['best'])} -> correct {fit['correct']}/{res['boxes']},"
                      f" wrong colour {fit['wrong_colour']} (at the current thresholds: correct "
                      f"{fit['current']['correct']}, wrong colour {fit['current']['wrong_colour']});"
                      f" each value alone may range over {_short(fit['plateau'])}",
                      _confusion_text(fit["confusion"], indent="    ")]
            if mode == "split" and name == "current":
                lines.append("    one threshold varied from the current ones (value: correct/wrong colour):")
                for k, vals in fit["sweep_from_current"].items():
                    lines.append(f"      {k:<6} " + " ".join(f"{v:g}:{c}/{w}" for v, c, w in vals))
    return "\n".join(lines)


def _short(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" if not isinstance(v, list) else f"{k}: {v[0]:g}-{v[1]:g}"
                           for k, v in d.items()) + "}"


def _confusion_text(m: dict, indent: str = "  ") -> str:
    lines = [indent + "label \\ pred".ljust(12) + "".join(f"{s:>9}" for s in STATES)]
    for c in COLOURS:
        lines.append(indent + f"{c:<12}" + "".join(f"{m[c][s]:>9}" for s in STATES))
    return "\n".join(lines)


def _round(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 4)


# -- CLI -------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"YOLO data set (default {DEFAULT_DATASET})")
    ap.add_argument("--models", default=",".join(model_names()), help="comma-separated manifest names or paths")
    ap.add_argument("--sizes", default="640,960,1280", help="detector input sizes")
    ap.add_argument("--no-tiles", action="store_true", help="skip the tiled variant")
    ap.add_argument("--conf", type=float, default=0.25, help="the 'usable' threshold (default 0.25)")
    ap.add_argument("--iou", type=float, default=0.5, help="IoU for a match (default 0.5)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (quick tries)")
    ap.add_argument("--skip", choices=("detection", "signal"), action="append", default=[])
    ap.add_argument("--lamp-thresholds", default=None, metavar="MINB,RED,YELLOW,GREEN",
                    help="evaluate these LampThresholds instead of signal.py's defaults")
    ap.add_argument("--fail-dir", type=Path, default=DEFAULT_FAIL_DIR, help="signal failure crops")
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    try:
        samples = load_dataset(args.dataset)
    except (OSError, LabelError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.limit:
        samples = samples[:args.limit]
    report: dict = {"dataset": str(args.dataset), "images": len(samples), "iou": args.iou, "conf": args.conf}
    counts = {c: sum(lab.cls == c for s in samples for lab in s.labels) for c in ROAD_CLASSES}
    print(f"{args.dataset}: {len(samples)} images; labelled " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    if "detection" not in args.skip:
        det_conf, track_high = pipeline_thresholds()
        rows = measure_detection(samples, [m for m in args.models.split(",") if m],
                                 [int(s) for s in args.sizes.split(",") if s], not args.no_tiles,
                                 args.device, args.conf, args.iou)
        print()
        print(detection_table(rows, args.conf, track_high))
        print()
        print(size_table(rows, args.conf))
        failed = not any(not r.note for r in rows)
        report["detection"] = {"pipeline_conf": det_conf, "track_high": track_high, "tiles": grid_tiles(640, 640),
                               "rows": [asdict(r) for r in rows]}
    if "signal" not in args.skip:
        th = LampThresholds()
        if args.lamp_thresholds:
            try:
                th = LampThresholds(*(float(v) for v in args.lamp_thresholds.split(",")))
            except (TypeError, ValueError):
                print("error: --lamp-thresholds needs up to four numbers: MINB,RED,YELLOW,GREEN", file=sys.stderr)
                return 2
        res = measure_signal(samples, th, fail_dir=args.fail_dir)
        print()
        print(signal_report(res))
        print(f"\nfailure crops: {args.fail_dir}/{{split,whole}}/ and {args.fail_dir}/{{split,whole}}_sheet.png")
        report["signal"] = res
    report["runtime_s"] = round(time.perf_counter() - t_start, 1)
    print(f"\nruntime {report['runtime_s']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    if "detection" not in args.skip and failed:
        print("error: no detector configuration ran (see the table)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
