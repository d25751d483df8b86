"""quality: the labelled image sets (YOLO txt labels with data.yaml or classes.txt names)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..assets import REPO_ROOT

DATASETS = REPO_ROOT.parent / "shared" / "datasets"
DEFAULT_DATASET = DATASETS / "redlight_intersections_40"
EVAL_SETS = (DEFAULT_DATASET, DATASETS / "hanoi_riders_32")  # held out from training: evaluation only
ROAD_CLASSES = ("car", "motobike")
# label class names of other sets -> the scored class they are ("người trên xe" = a rider on a vehicle,
# hanoi_riders_32: the person and the bike as one box, as `motobike` in redlight_intersections_40)
LABEL_ALIASES = {"người trên xe": "motobike", "two_wheeler": "motobike", "motorbike": "motobike"}


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
    try:
        data = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8"))
        names = data["names"]
    except (yaml.YAMLError, TypeError, KeyError):
        raise LabelError(f"{data_yaml}: no 'names' list") from None
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
    from ..pictures import open_picture

    with open_picture(path) as im:
        return im.size


def dataset_class_names(root: Path) -> list[str]:
    """The set's class names, scored names substituted (LABEL_ALIASES): from data.yaml, else classes.txt
    (one name per line, as Label Studio exports)."""
    root = Path(root)
    if (root / "data.yaml").is_file():
        names = read_class_names(root / "data.yaml")
    elif (root / "classes.txt").is_file():
        names = [n.strip() for n in (root / "classes.txt").read_text(encoding="utf-8").splitlines() if n.strip()]
    else:
        raise LabelError(f"{root}: no data.yaml or classes.txt with the class names")
    return [LABEL_ALIASES.get(n, n) for n in names]


def load_dataset(root: Path) -> list[Sample]:
    """Images under root/images with their labels under root/labels (same stem); sorted by name."""
    root = Path(root)
    names = dataset_class_names(root)
    if not (root / "images").is_dir():
        raise LabelError(f"{root / 'images'}: no such folder")
    images = sorted(p for p in (root / "images").iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp"})
    if not images:
        raise LabelError(f"{root / 'images'}: no images")
    samples = []
    for img in images:
        lab = root / "labels" / f"{img.stem}.txt"
        w, h = _image_size(img)
        samples.append(Sample(img, read_yolo_labels(lab, names, w, h) if lab.exists() else []))
    return samples


def read_bgr(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise LabelError(f"{path}: cannot read image")
    return img
