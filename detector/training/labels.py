"""YOLO label files: read (with a one-line error naming the file and line for a malformed line) and write.

A label line is `class cx cy w h`, the box normalised to the picture (0..1). Boxes here are kept in pixels
(xyxy) with an integer class id of the data set they belong to."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class LabelError(ValueError):
    """A malformed label file; the message is one line naming the file and the line."""


@dataclass
class Boxes:
    """Boxes of one picture: (N,4) xyxy pixels, (N,) int class ids, (N,) confidence (1.0 for human labels)."""

    xyxy: np.ndarray
    cls: np.ndarray
    conf: np.ndarray

    @classmethod
    def empty(cls) -> Boxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.cls)

    def __getitem__(self, keep) -> Boxes:
        return Boxes(self.xyxy[keep], self.cls[keep], self.conf[keep])

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        if not parts:
            return Boxes.empty()
        return Boxes(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32),
            np.concatenate([p.cls for p in parts]).astype(np.int64),
            np.concatenate([p.conf for p in parts]).astype(np.float32),
        )


def parse_label_file(path: Path, width: int, height: int, n_classes: int) -> Boxes:
    """Read a YOLO detection label file into pixel boxes. Raises LabelError on the first malformed line."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(f"{path}: cannot read label file: {e}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 5:
            raise LabelError(f"{path}:{lineno}: expected 5 fields 'class cx cy w h', got {len(parts)}")
        try:
            cls = int(parts[0])
        except ValueError:
            raise LabelError(f"{path}:{lineno}: class id {parts[0]!r} is not an integer") from None
        if not 0 <= cls < n_classes:
            raise LabelError(f"{path}:{lineno}: class id {cls} outside 0..{n_classes - 1}")
        try:
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise LabelError(f"{path}:{lineno}: box values must be numbers: {' '.join(parts[1:])!r}") from None
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            raise LabelError(f"{path}:{lineno}: box values must be finite")
        if w <= 0 or h <= 0 or not (0 <= cx <= 1 and 0 <= cy <= 1) or w > 1.01 or h > 1.01:
            raise LabelError(f"{path}:{lineno}: box (cx={cx}, cy={cy}, w={w}, h={h}) is not a normalised box")
        rows.append((cls, (cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height))
    if not rows:
        return Boxes.empty()
    arr = np.array(rows, np.float64)
    xyxy = arr[:, 1:].copy()
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return Boxes(xyxy.astype(np.float32), arr[:, 0].astype(np.int64), np.ones(len(rows), np.float32))


def format_labels(boxes: Boxes, width: int, height: int) -> str:
    """YOLO label text (one line per box, 6 decimals), boxes clipped to the picture; degenerate boxes dropped."""
    lines = []
    for (x1, y1, x2, y2), c in zip(boxes.xyxy.astype(np.float64), boxes.cls):
        x1, x2 = max(0.0, x1), min(float(width), x2)
        y1, y2 = max(0.0, y1), min(float(height), y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        lines.append(
            f"{int(c)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return "\n".join(lines) + ("\n" if lines else "")
