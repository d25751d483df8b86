"""quality: road-user detection measured per model, input size and tiling (see the package doc)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..assets import AssetError, model_names, resolve_model
from ..boxes import nms_merge
from ..riders import merge_riders
from ..types import Detections
from .labels import ROAD_CLASSES, Sample, read_bgr
from .matching import PR, SIZE_BUCKETS, evaluate_image, recall_by_size

# detector class (pipeline name) -> data-set class; anything else (person) is not scored
COCO_TO_LABEL = {"car": "car", "bus": "car", "truck": "car", "motorcycle": "motobike", "bicycle": "motobike"}


def to_label_classes(det: Detections, person_as: str | None = None) -> Detections:
    """Detector classes -> data-set classes (COCO_TO_LABEL); people (unless `person_as` names a class for
    them) and anything unmapped dropped."""
    table = {**COCO_TO_LABEL, "person": person_as} if person_as else COCO_TO_LABEL
    mapped = np.array([table.get(c) or "" for c in det.class_name], dtype=object)
    keep = mapped != ""
    return Detections(det.xyxy[keep], det.confidence[keep], mapped[keep])


def pipeline_thresholds() -> tuple[float, float]:
    """(detector conf, tracker high threshold) of the pipeline's defaults."""
    from ..pipeline import PipelineSettings
    from ..tracking import TrackerConfig

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
        import onnxruntime

        sess = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        shape = sess.get_inputs()[0].shape
        return int(shape[-1]) if all(isinstance(v, int) for v in shape[2:]) else None
    meta = model / "metadata.yaml" if model.is_dir() else model.parent / "metadata.yaml"
    data = yaml.safe_load(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    if (data.get("args") or {}).get("dynamic"):
        return None
    imgsz = data.get("imgsz") or [640, 640]
    return int(max(imgsz) if isinstance(imgsz, list) else imgsz)


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


def measure_config(
    model: str,
    model_path: Path,
    size: int,
    tiled: bool,
    samples: list[Sample],
    images: list[np.ndarray],
    device: str,
    conf: float,
    iou_thr: float,
) -> Row:
    from ..detection import YoloDetector

    det_conf, track_high = pipeline_thresholds()
    by_shape: dict[tuple[int, int], YoloDetector] = {}
    raw: list[Detections] = []
    elapsed = 0.0
    for img in images:
        h, w = img.shape[:2]
        if (w, h) not in by_shape:
            by_shape[(w, h)] = d = YoloDetector(
                model_path, device=device, imgsz=size, conf=min(det_conf, conf), tiles=grid_tiles(w, h) if tiled else ()
            )
            d.detect([img])  # warm-up, not timed
        t0 = time.perf_counter()
        raw.append(by_shape[(w, h)].detect([img])[0])
        elapsed += time.perf_counter() - t0
    row = Row(model, size, "tiled2x2" if tiled else "full", 1000 * elapsed / len(images))
    totals: dict[tuple[str, str], dict[str, PR]] = {}
    sizes = {c: {name: [0, 0] for name, _, _ in SIZE_BUCKETS} for c in ROAD_CLASSES}
    for sample, det in zip(samples, raw):
        for key, dets in variants(det, conf, track_high).items():
            acc = totals.setdefault(key, {c: PR() for c in ROAD_CLASSES})
            for c, pr in evaluate_image(sample.labels, dets, ROAD_CLASSES, iou_thr).items():
                acc[c] = acc[c] + pr
            if key == (f"{conf:g}", "merged"):
                for c in ROAD_CLASSES:
                    for b, (f, n) in recall_by_size(sample.labels, dets, c, iou_thr).items():
                        sizes[c][b][0] += f
                        sizes[c][b][1] += n
    for (mode, post), per_class in totals.items():
        row.scores.setdefault(mode, {})[post] = {c: pr.as_dict() for c, pr in per_class.items()}
    row.recall_by_size = sizes
    return row


def measure_detection(
    samples: list[Sample],
    models: Sequence[str],
    sizes: Sequence[int],
    tiles: bool,
    device: str,
    conf: float,
    iou_thr: float,
    log=print,
) -> list[Row]:
    images = [read_bgr(s.image) for s in samples]
    rows: list[Row] = []
    for name in models:
        try:
            path = resolve_model(name)
        except AssetError as e:
            rows.append(Row(name, 0, "-", note=str(e)))
            continue
        if not path.exists():
            rows.append(
                Row(
                    name,
                    0,
                    "-",
                    note=f"{path}: no such file" + (" (run `make assets`)" if name in model_names() else ""),
                )
            )
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
    head = (
        f"{'model':<22} {'size':>4} {'variant':<8} {'thr':<5} | {'car R/P':>9} {'moto R/P':>9} |"
        f" {'car R/P':>9} {'moto R/P':>9} | {'moto R/P':>9} | {'ms/img':>7}"
    )
    lines = [
        f"{'':<43}|{'merged (merge_riders+NMS)':^21}|{'raw (no merging)':^21}|{'+person':^11}|",
        head,
        "-" * len(head),
    ]
    for r in rows:
        if r.note:
            lines.append(f"{r.model:<22} {r.size or '':>4} {r.variant:<8} {'':<5} | {r.note}")
            continue
        for mode in (f"{conf:g}", "pipe"):
            s = r.scores.get(mode, {})
            m, w, pm = s.get("merged", {}), s.get("raw", {}), s.get("person", {})
            lines.append(
                f"{r.model:<22} {r.size:>4} {r.variant:<8} {mode:<5} | {_rp(m.get('car')):>9} "
                f"{_rp(m.get('motobike')):>9} | {_rp(w.get('car')):>9} {_rp(w.get('motobike')):>9} |"
                f" {_rp(pm.get('motobike')):>9} | {r.ms_per_image:7.0f}"
            )
    lines.append(
        f"thr {conf:g}: boxes >= {conf:g}, then the post-processing; pipe: detector at the pipeline's conf,"
        f" post-processing, then boxes >= the tracker's high threshold {track_high:g}. R/P at IoU 0.5.\n"
        "+person: merged, and a person on no bike counted as a motobike. Car precision is a lower bound:"
        " parked and distant cars are often unlabelled."
    )
    return "\n".join(lines)


def size_table(rows: list[Row], conf: float) -> str:
    ran = [r for r in rows if not r.note]
    if not ran:
        return ""
    n = ran[0].recall_by_size
    head = f"{'model':<22} {'size':>4} {'variant':<8} | " + " ".join(
        f"{c[:4]} {b:<6}({n[c][b][1]:>2})" for c in ROAD_CLASSES for b, _, _ in SIZE_BUCKETS
    )
    lines = [
        f"recall by labelled box size (sqrt area: small < 32 px <= medium < 96 px <= large), thr {conf:g}, merged",
        head,
        "-" * len(head),
    ]
    for r in ran:
        cells = []
        for c in ROAD_CLASSES:
            for b, _, _ in SIZE_BUCKETS:
                f, k = r.recall_by_size[c][b]
                cells.append(f"{(f / k if k else float('nan')):>16.2f}")
        lines.append(f"{r.model:<22} {r.size:>4} {r.variant:<8} | " + " ".join(cells))
    return "\n".join(lines)


def summary(rows: list[Row], conf: float) -> list[dict]:
    """The acceptance numbers per configuration that ran: two-wheeler (motobike) and car R/P at `conf` and
    at the pipeline's thresholds (merged), and recall of boxes under 32 px (at `conf`, merged)."""
    out = []
    for r in rows:
        if r.note:
            continue
        item = {"model": r.model, "size": r.size, "variant": r.variant, "ms_per_image": round(r.ms_per_image or 0, 1)}
        for mode in (f"{conf:g}", "pipe"):
            merged = r.scores.get(mode, {}).get("merged", {})
            for c in ROAD_CLASSES:
                pr = merged.get(c) or {}
                item[f"{c}@{mode}"] = {"recall": pr.get("recall"), "precision": pr.get("precision")}
        for c in ROAD_CLASSES:
            found, n = r.recall_by_size.get(c, {}).get("small", [0, 0])
            item[f"{c}_small_recall"] = round(found / n, 4) if n else None
            item[f"{c}_small_n"] = n
        out.append(item)
    return out


def summary_table(rows: list[Row], conf: float, title: str = "") -> str:
    """One line per configuration: the numbers issue 11 asks for (see `summary`)."""
    items = summary(rows, conf)
    if not items:
        return ""
    mode = f"{conf:g}"
    head = (
        f"{'model':<40} {'size':>4} {'variant':<8} | {'2w R/P @' + mode:>14} {'2w R/P pipe':>12} "
        f"{'2w<32 R':>8} | {'car R/P @' + mode:>14} {'car R/P pipe':>12} {'car<32 R':>8}"
    )
    lines = [
        f"summary{' ' + title if title else ''}: 2w = two-wheeler (rider + bike as one box), merged,"
        " IoU 0.5; <32 = labelled boxes under 32 px (sqrt area), at " + mode,
        head,
        "-" * len(head),
    ]
    for it in items:
        lines.append(
            f"{_short_name(it['model']):<40} {it['size']:>4} {it['variant']:<8} | "
            f"{_rp_of(it, 'motobike@' + mode):>14} {_rp_of(it, 'motobike@pipe'):>12} "
            f"{_small_of(it, 'motobike'):>8} | {_rp_of(it, 'car@' + mode):>14} {_rp_of(it, 'car@pipe'):>12} "
            f"{_small_of(it, 'car'):>8}"
        )
    return "\n".join(lines)


def _rp_of(item: dict, key: str) -> str:
    return f"{_fmt(item[key]['recall'])}/{_fmt(item[key]['precision'])}"


def _small_of(item: dict, cls: str) -> str:
    return f"{_fmt(item[cls + '_small_recall'])} ({item[cls + '_small_n']})"


def _short_name(model: str) -> str:
    """A manifest name as it is; a path as its last two parts (the folder says which run it came from)."""
    parts = Path(str(model)).parts
    return str(model)[-40:] if len(parts) < 2 else "/".join(parts[-2:])[-40:]
