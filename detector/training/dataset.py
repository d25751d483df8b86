"""Build a training set whose incomplete labels are completed by the teacher (`teacher.py`).

    python -m detector.training.dataset SRC OUT [--teacher MODEL] [--grid 3] [--scale 2] [--preview 8]
        [--mask-unsure] [--extra SRC2 ...]
    python -m detector.training.dataset SRC --check          # validate labels only

SRC is a YOLO data set (`data.yaml` with `names`, `images/<split>`, `labels/<split>`). Its class names are
mapped onto `classes.TRAINED_CLASSES` (`motobike`/`motorcycle` -> two_wheeler, `car` -> car, ...); a
class with no mapping is dropped from the human labels. Every human box is kept; a teacher box is
added only where no human box overlaps it. OUT gets `images/<split>` (links to SRC's pictures),
`labels/<split>`, `data.yaml` and `build.json` (counts, the settings). `--preview N` draws N pictures per
split with human boxes green and teacher boxes orange into `OUT/preview/`.
Malformed label lines stop the build with one line naming the file and the line.

`--mask-unsure`: the road users the teacher saw but not surely enough to label (`Teacher.label_with_unsure`)
and that no label covers are filled with the letterbox grey in a copy of the picture (written instead of
a link), so the model is trained on them neither as road users nor as background: the labels are
incomplete exactly there (far, small, night riders). `--extra SRC2` (repeatable): another source built the
same way into `OUT/extra/<name>` (e.g. clip frames from `detector.training.frames`, which have no human
labels), its splits added to `data.yaml`'s lists.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from ..boxes import iou_matrix
from ..classes import ROAD_USER_OF, TRAINED_CLASSES
from ..openvino_yolo import OpenVinoYoloError
from .labels import Boxes, LabelError, format_labels, parse_label_file
from .teacher import TRAINED_ID, Teacher, complete, inside_fraction

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
DEFAULT_TEACHER = "assets/models/yolo11n_int8_openvino_model"
GREY = 114  # the letterbox fill of ultralytics' training pictures


class DatasetError(ValueError):
    """A data set that cannot be used; one line naming the file and the field."""


def read_names(src: Path) -> dict[int, str]:
    meta_path = src / "data.yaml"
    if not meta_path.is_file():
        raise DatasetError(f"{meta_path}: data.yaml missing")
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise DatasetError(f"{meta_path}: not valid YAML: {str(e).splitlines()[0]}") from None
    names = meta.get("names") if isinstance(meta, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise DatasetError(f"{meta_path}: field 'names' missing or empty")
    return {int(k): str(v) for k, v in names.items()}


def source_to_trained(names: dict[int, str]) -> dict[int, int]:
    """Source class id -> TRAINED_CLASSES id, for the source classes that are road users."""
    out = {}
    for i, n in names.items():
        road = ROAD_USER_OF.get(n)
        if road is not None:
            out[i] = TRAINED_ID[road]
    return out


def image_size(path: Path) -> tuple[int, int]:
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        raise DatasetError(f"{path}: cannot read image")
    return img.shape[1], img.shape[0]


def splits(src: Path) -> list[str]:
    found = sorted(p.name for p in (src / "images").iterdir() if p.is_dir()) if (src / "images").is_dir() else []
    if not found:
        raise DatasetError(f"{src / 'images'}: no split folders (images/train, images/val)")
    return found


def pictures(src: Path, split: str) -> list[Path]:
    return sorted(p for p in (src / "images" / split).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def label_path(src: Path, split: str, image: Path) -> Path:
    return src / "labels" / split / (image.stem + ".txt")


def human_boxes(src: Path, split: str, image: Path, size: tuple[int, int], names: dict[int, str]) -> Boxes:
    """The picture's human labels in TRAINED_CLASSES ids (non-road-user classes dropped); no file = no boxes."""
    path = label_path(src, split, image)
    if not path.exists():
        return Boxes.empty()
    boxes = parse_label_file(path, size[0], size[1], n_classes=max(names) + 1)
    mapping = source_to_trained(names)
    keep = np.array([int(c) in mapping for c in boxes.cls], bool)
    boxes = boxes[keep]
    boxes.cls = np.array([mapping[int(c)] for c in boxes.cls], np.int64)
    return boxes


def check(src: Path) -> dict[str, int]:
    """Validate every label file of SRC (raises LabelError/DatasetError); returns counts."""
    names = read_names(src)
    counts = {"images": 0, "boxes": 0}
    for split in splits(src):
        for image in pictures(src, split):
            path = label_path(src, split, image)
            if path.exists():
                counts["boxes"] += len(parse_label_file(path, 1, 1, n_classes=max(names) + 1))
            counts["images"] += 1
    return counts


def draw(img: np.ndarray, human: Boxes, teacher: Boxes, out: Path) -> None:
    import cv2

    canvas = img.copy()
    for boxes, colour in ((teacher, (0, 140, 255)), (human, (0, 220, 0))):
        for (x1, y1, x2, y2), c in zip(boxes.xyxy.astype(int), boxes.cls):
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 1)
            cv2.putText(
                canvas, TRAINED_CLASSES[int(c)][:2], (x1, max(8, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), canvas)


def mask_unsure(img: np.ndarray, unsure: np.ndarray, labels: Boxes, *, iou: float = 0.3, pad: int = 2) -> int:
    """Fill (in place) each unsure box that no label overlaps (IoU > `iou`, or half of either box inside the
    other) with GREY, `pad` px wider; the filled area never reaches into a label's box. Returns how many."""
    if len(unsure) == 0:
        return 0
    if len(labels):
        clash = (
            (iou_matrix(unsure, labels.xyxy) > iou)
            | (inside_fraction(unsure, labels.xyxy) > 0.5)
            | (inside_fraction(labels.xyxy, unsure).T > 0.5)
        ).any(axis=1)
        unsure = unsure[~clash]
    h, w = img.shape[:2]
    keep = np.ones((h, w), bool)  # label pixels stay as they are
    for x1, y1, x2, y2 in labels.xyxy.round().astype(int):
        keep[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = False
    fill = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in unsure.round().astype(int):
        fill[max(0, y1 - pad) : max(0, y2 + pad), max(0, x1 - pad) : max(0, x2 + pad)] = True
    img[fill & keep] = GREY
    return len(unsure)


def build(src: Path, out: Path, *, teacher: Teacher | None, preview: int = 0, mask: bool = False, log=print) -> dict:
    """Write the completed data set to OUT; returns the build summary (also written to OUT/build.json).
    `mask`: unsure road users filled grey in written copies of the pictures (`mask_unsure`)."""
    import cv2

    names = read_names(src)
    check(src)  # every label valid before anything is written
    summary: dict = {"source": str(src), "classes": list(TRAINED_CLASSES), "splits": {}}
    t0 = time.monotonic()
    for split in splits(src):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        human_n = np.zeros(len(TRAINED_CLASSES), int)
        added_n = np.zeros(len(TRAINED_CLASSES), int)
        masked_n = 0
        images = pictures(src, split)
        for k, image in enumerate(images):
            img = cv2.imread(str(image))
            if img is None:
                raise DatasetError(f"{image}: cannot read image")
            h, w = img.shape[:2]
            human = human_boxes(src, split, image, (w, h), names)
            unsure = np.zeros((0, 4), np.float32)
            if teacher is None:
                pseudo = Boxes.empty()
            elif mask:
                pseudo, unsure = teacher.label_with_unsure(img)
            else:
                pseudo = teacher.label(img)
            joined, _ = complete(human, pseudo)
            added = joined[len(human) :]
            human_n += np.bincount(human.cls, minlength=len(TRAINED_CLASSES))
            added_n += np.bincount(added.cls, minlength=len(TRAINED_CLASSES))
            link = out / "images" / split / image.name
            if link.is_symlink() or link.exists():
                link.unlink()
            n_masked = mask_unsure(img, unsure, joined) if mask else 0
            masked_n += n_masked
            if n_masked:
                if not cv2.imwrite(str(link), img):
                    raise DatasetError(f"{link}: cannot write the masked picture")
            else:
                os.symlink(image.resolve(), link)
            (out / "labels" / split / (image.stem + ".txt")).write_text(format_labels(joined, w, h))
            if k < preview:
                draw(img, human, added, out / "preview" / split / (image.stem + ".png"))
            if (k + 1) % 50 == 0:
                log(f"{split}: {k + 1}/{len(images)} pictures, {time.monotonic() - t0:.0f} s")
        summary["splits"][split] = {
            "images": len(images),
            "human": dict(zip(TRAINED_CLASSES, human_n.tolist())),
            "teacher_added": dict(zip(TRAINED_CLASSES, added_n.tolist())),
            "masked_unsure": masked_n,
        }
    data = {"path": str(out.resolve()), "names": dict(enumerate(TRAINED_CLASSES))}
    for split in summary["splits"]:
        data[split] = f"images/{split}"
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (out / "build.json").write_text(json.dumps(summary, indent=1))
    return summary


def join_extra(out: Path, sub: Path) -> None:
    """Add the splits of the set built in `sub` (inside OUT) to OUT/data.yaml's lists of picture folders."""
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    sub_data = yaml.safe_load((sub / "data.yaml").read_text(encoding="utf-8"))
    for split in ("train", "val"):
        if split not in sub_data:
            continue
        have = data.get(split)
        folders = [] if have is None else have if isinstance(have, list) else [have]
        data[split] = [*folders, str((sub / sub_data[split]).relative_to(out))]
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.training.dataset", description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path, help="YOLO data set folder with data.yaml")
    ap.add_argument("out", type=Path, nargs="?", help="output folder")
    ap.add_argument("--check", action="store_true", help="only validate the labels of SRC")
    ap.add_argument("--teacher", default=DEFAULT_TEACHER, help="COCO OpenVINO model folder ('none': human labels only)")
    ap.add_argument(
        "--also-teacher", action="append", default=[], help="another teacher model, e.g. an earlier riders model"
    )
    ap.add_argument("--grid", type=int, default=3, help="tiles per side (0: whole picture only)")
    ap.add_argument("--scale", type=float, default=2.0, help="tile upscale factor")
    ap.add_argument("--keep-conf", type=float, default=0.35, help="teacher score a pseudo label needs")
    ap.add_argument("--preview", type=int, default=0, help="pictures per split drawn into OUT/preview")
    ap.add_argument("--mask-unsure", action="store_true", help="fill unsure, unlabelled road users grey")
    ap.add_argument("--extra", type=Path, action="append", default=[], help="another source (repeatable)")
    a = ap.parse_args(argv)
    try:
        if a.check:
            counts = check(a.src)
            print(f"{a.src}: {counts['images']} pictures, {counts['boxes']} boxes, labels valid")
            return 0
        if a.out is None:
            ap.error("OUT is required unless --check")
        for extra in a.extra:
            check(extra)  # every source valid before anything is written
        teacher = (
            None
            if a.teacher == "none"
            else Teacher(a.teacher, also=tuple(a.also_teacher), keep_conf=a.keep_conf, grid=a.grid, scale=a.scale)
        )
        summary = build(a.src, a.out, teacher=teacher, preview=a.preview, mask=a.mask_unsure)
        summary["extra"] = {}
        for extra in a.extra:
            sub = a.out / "extra" / extra.name
            summary["extra"][extra.name] = build(extra, sub, teacher=teacher, preview=a.preview, mask=a.mask_unsure)[
                "splits"
            ]
            join_extra(a.out, sub)
        summary["settings"] = {
            "teacher": a.teacher,
            "also_teacher": a.also_teacher,
            "grid": a.grid,
            "scale": a.scale,
            "keep_conf": a.keep_conf,
            "mask_unsure": a.mask_unsure,
            "extra": [str(e) for e in a.extra],
        }
        (a.out / "build.json").write_text(json.dumps(summary, indent=1))
        print(json.dumps({"splits": summary["splits"], "extra": summary["extra"]}, indent=1))
        return 0
    except (LabelError, DatasetError, OpenVinoYoloError, ValueError) as e:  # ValueError: a teacher with no road users
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
