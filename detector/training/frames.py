"""Pictures for training from video clips: frames sampled every `--every-s` seconds, cut into square crops.

    python -m detector.training.frames CLIP [CLIP ...] --out DIR [--every-s 1.0] [--name NAME]

DIR becomes a YOLO data set with no human labels (`images/train`, `labels/train` empty, `data.yaml` with
the source classes `motobike`, `car`): `python -m detector.training.dataset` then labels it with the
teacher (`--extra DIR`). Each sampled frame is cut into squares of its short side, spread evenly
along its long side with overlap (a 1620x720 frame gives 3, a 596x308 one 2): trained at 640, a square
crop keeps a road user at (or above) the size it has in the video, where a whole wide frame would
shrink it. Different cameras than the images of `vn_redlight_448` (video, dusk, a motorway), so the
model sees the pictures the pipeline will see.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ..video import VideoError, read_frames


def square_crops(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Squares (x1, y1, x2, y2) of the short side, evenly spread along the long side, covering the frame with
    overlap: ceil(long / short) + 1 of them when the frame is not already (nearly) square."""
    side = min(width, height)
    long = max(width, height)
    n = 1 if long <= side * 1.1 else math.ceil(long / side) + 1
    starts = np.linspace(0, long - side, n).round().astype(int).tolist() if n > 1 else [(long - side) // 2]
    if width >= height:
        return [(s, 0, s + side, side) for s in starts]
    return [(0, s, side, s + side) for s in starts]


def sample(clip: Path, every_s: float) -> list[tuple[float, np.ndarray]]:
    """(t, BGR picture) of the frames at least `every_s` apart, from the first frame on."""
    out: list[tuple[float, np.ndarray]] = []
    last = -math.inf
    for f in read_frames(clip):
        if f.t - last >= every_s - 1e-6:
            out.append((f.t, f.image))
            last = f.t
    return out


def write(clips: list[Path], out: Path, every_s: float) -> dict[str, int]:
    """Write the crops of every clip into OUT (a YOLO set with empty labels); returns pictures per clip."""
    import cv2

    (out / "images" / "train").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "train").mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for clip in clips:
        n = 0
        for t, img in sample(clip, every_s):
            h, w = img.shape[:2]
            for k, (x1, y1, x2, y2) in enumerate(square_crops(w, h)):
                stem = f"{clip.stem}_t{t:07.2f}_c{k}"
                if not cv2.imwrite(str(out / "images" / "train" / f"{stem}.jpg"), img[y1:y2, x1:x2]):
                    raise OSError(f"{out}: cannot write {stem}.jpg")
                (out / "labels" / "train" / f"{stem}.txt").write_text("")
                n += 1
        counts[clip.name] = n
    (out / "data.yaml").write_text("names:\n  0: motobike\n  1: car\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.training.frames", description=__doc__.split("\n")[0])
    ap.add_argument("clips", type=Path, nargs="+", help="video clips")
    ap.add_argument("--out", type=Path, required=True, help="output folder (a YOLO data set, no labels)")
    ap.add_argument("--every-s", type=float, default=1.0, help="seconds between sampled frames (> 0)")
    a = ap.parse_args(argv)
    if not (a.every_s > 0 and math.isfinite(a.every_s)):
        print(f"error: --every-s must be a positive number of seconds, not {a.every_s}", file=sys.stderr)
        return 2
    try:
        counts = write(a.clips, a.out, a.every_s)
    except (VideoError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, n in counts.items():
        print(f"{name}: {n} pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
