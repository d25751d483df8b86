"""Blurring bystanders in a case composite for the public bulletin (公开版).

A composite (`detector.evidence.composite._composite`) is a caption band over a 2 × 2 grid of
cells `cw` × `ch`: three full-scene pictures (top left, top right, bottom left) and a fourth cell
of crops of the violator (close-up, signal head, its plate). In each scene picture every person
(COCO `person` from the pipeline's own model, run through OpenVINO on the CPU by
`detector.YoloDetector`, on the whole picture and on 2 × 2 tiles) and every licence plate
(`detector.plates`' plate detector, on the picture and on each vehicle's crop) is blurred,
except those on the violator: a box at least half inside the violator's box grown by
`VIOLATOR_GROW`. The violator's box in each scene picture is the one the composite carries
(`detector.evidence.boxes`, written when it was drawn: the three moments each have their own
box). A composite recorded before that carries none: then the event's track box (the road user's
box at the moment of the violation, scaled into each cell) stands for all three, and where the
violator has moved away from it in the other two pictures it is blurred as well (erring towards
privacy). The fourth cell shows the violator only and is left as it is.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from detector.evidence import read_scene_boxes
from detector.pictures import open_picture

Box = tuple[float, float, float, float]
Finder = Callable[[np.ndarray], list[Box]]  # BGR picture -> boxes (x1, y1, x2, y2) to blur there

REDACT_VERSION = 1  # bump whenever a change here (or to the models) changes the pictures: the cache misses
VIOLATOR_GROW = 0.15  # the track box grown by this share of its size on each side
KEEP_INSIDE = 0.5  # a box at least this much inside the (grown) violator box is the violator's
BLUR_MARGIN = 0.1  # each blurred box grown by this share of its size on each side
PERSON_CONF = 0.25
PLATE_SCORE = 0.4


class RedactError(ValueError):
    """A picture that cannot be redacted (not a composite of the expected layout)."""


@dataclass(frozen=True, slots=True)
class Redacted:
    jpeg: bytes
    blurred: int  # boxes blurred
    kept: int  # boxes left as the violator's
    recorded: bool = False  # the violator's boxes came from the composite itself (else: the track box)


def scene_cells(size: tuple[int, int], video_size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The three scene pictures' cells (x, y, w, h) of a composite of `size` made from a video of
    `video_size`: the same arithmetic as the composite's own layout."""
    width, height = size
    vw, vh = video_size
    if vw <= 0 or vh <= 0:
        raise RedactError(f"video size {vw}x{vh} is not a size")
    cw = width // 2
    ch = max(2, round(vh * cw / vw))
    band = height - 2 * ch
    if cw < 2 or band < 0:
        raise RedactError(f"a {width}x{height} picture is not the composite of a {vw}x{vh} video")
    return [(0, band, cw, ch), (cw, band, cw, ch), (0, band + ch, cw, ch)]


def _inside_share(b: Box, outer: Box) -> float:
    """How much of box `b`'s area lies inside `outer`."""
    ix = max(0.0, min(b[2], outer[2]) - max(b[0], outer[0]))
    iy = max(0.0, min(b[3], outer[3]) - max(b[1], outer[1]))
    area = max(1e-9, (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / area


def _grow(b: Box, k: float) -> Box:
    dx, dy = (b[2] - b[0]) * k, (b[3] - b[1]) * k
    return (b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy)


def _blur(img: Image.Image, box: Box) -> None:
    """Blur `box` of `img` in place, strongly enough that a face or a plate cannot be read."""
    x1, y1, x2, y2 = (round(v) for v in _grow(box, BLUR_MARGIN))
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(img.width, x2), min(img.height, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    region = img.crop((x1, y1, x2, y2))
    radius = max(4.0, min(x2 - x1, y2 - y1) / 4)
    img.paste(region.filter(ImageFilter.GaussianBlur(radius)), (x1, y1))


def violator_cells(
    jpeg: bytes, size: tuple[int, int], violator: Box | None, video_size: tuple[int, int] | None
) -> tuple[list[tuple[tuple[int, int, int, int], Box]], bool]:
    """Each scene picture's cell (x, y, w, h) with the violator's box there (composite pixels), and
    whether those came from the composite itself: the boxes it carries, else the track box
    `violator` (video pixels of a video of `video_size`) scaled into every cell."""
    recorded = read_scene_boxes(jpeg)
    if recorded:
        for b in recorded:
            x, y, w, h = b.cell
            if x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
                raise RedactError(f"scene cell {b.cell} lies outside the {size[0]}x{size[1]} picture")
        return [(b.cell, b.box) for b in recorded], True
    if violator is None or video_size is None:
        raise RedactError("the composite carries no violator boxes and no track box was given")
    out = []
    for x, y, w, h in scene_cells(size, video_size):
        k = w / video_size[0]
        out.append(((x, y, w, h), (x + violator[0] * k, y + violator[1] * k, x + violator[2] * k, y + violator[3] * k)))
    return out, False


def redact_composite(
    jpeg: bytes, violator: Box | None, video_size: tuple[int, int] | None, find: Finder, quality: int = 90
) -> Redacted:
    """The composite with every box `find` reports in its scene pictures blurred, except the
    violator's: the boxes the composite carries, else `violator` (the event's track box in pixels
    of a video of `video_size`; both may be None for a composite that carries its boxes)."""
    try:
        with open_picture(io.BytesIO(jpeg)) as im:
            img = im.convert("RGB")
    except (OSError, ValueError) as e:
        raise RedactError(f"not a picture: {e}") from None
    cells, recorded = violator_cells(jpeg, img.size, violator, video_size)
    blurred = kept = 0
    for (x, y, w, h), box in cells:
        mine = _grow((box[0] - x, box[1] - y, box[2] - x, box[3] - y), VIOLATOR_GROW)
        cell = img.crop((x, y, x + w, y + h))
        for found in find(np.asarray(cell)[:, :, ::-1].copy()):
            if _inside_share(found, mine) >= KEEP_INSIDE:
                kept += 1
                continue
            _blur(cell, found)
            blurred += 1
        img.paste(cell, (x, y))
    img.info.pop("comment", None)  # the public picture carries no metadata of the evidence
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Redacted(buf.getvalue(), blurred, kept, recorded)


class BystanderFinder:
    """Persons (the pipeline's detector) and plates (the plate detector) in a BGR picture. The
    models load on first use; `check()` says beforehand whether their files are there."""

    def __init__(self, model_path: Path, plates_root: Path | None = None):
        self.model_path = model_path
        self.plates_root = plates_root
        self._persons = None
        self._plates = None

    @classmethod
    def default(cls) -> BystanderFinder:
        from detector import assets

        return cls(assets.resolve_model(assets.default_model_name("cpu")))

    def check(self) -> None:
        """Raise `ModelError` / `PlateModelError` now when a model file is missing (a plate model's
        SHA-256 is checked too), without loading the person model: a bulletin whose pictures are
        all in the cache (`public_cache`) never needs it."""
        from detector import ModelError
        from detector.plates import load_plate_models

        if not self.model_path.exists():
            raise ModelError(f"{self.model_path}: model file not found (run `make assets`)")
        if self._plates is None:
            self._plates = load_plate_models(self.plates_root)  # its sessions start on first use

    def load(self) -> None:
        """Load the person model now and check the plate models' files (a missing one raises here);
        the plate models' sessions start when they are first used."""
        from detector import YoloDetector

        self.check()
        if self._persons is None:
            self._persons = YoloDetector(self.model_path, device="cpu", conf=PERSON_CONF)

    def __call__(self, bgr: np.ndarray) -> list[Box]:
        """The boxes to blur in `bgr`; the models load on the first call (a model that cannot be
        loaded then is a `RedactError`: that picture is not redacted)."""
        from detector import ModelError
        from detector.plates import PlateModelError

        try:
            self.load()
        except (ModelError, PlateModelError) as e:
            raise RedactError(f"models not available: {e}") from None
        assert self._persons is not None and self._plates is not None
        h, w = bgr.shape[:2]
        # the whole picture and 2 x 2 overlapping tiles: far pedestrians and riders are small
        self._persons.use_regions(None, _tiles(w, h))
        det = self._persons.detect([bgr])[0]
        persons: list[Box] = []
        plates: list[Box] = [p.box for p in self._plates.detector_for(w, h).detect(bgr) if p.score >= PLATE_SCORE]
        for b, c in zip(det.xyxy, det.class_name, strict=True):
            box: Box = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
            if c == "person":
                persons.append(box)
                continue
            # a vehicle: its plate is read on its own crop, as the pipeline reads plates
            x1, y1, x2, y2 = (round(v) for v in _grow(box, 0.1))
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
            if x2 - x1 < 16 or y2 - y1 < 16:
                continue
            crop = bgr[y1:y2, x1:x2]
            for p in self._plates.detector_for(x2 - x1, y2 - y1).detect(crop):
                if p.score >= PLATE_SCORE:
                    plates.append((p.box[0] + x1, p.box[1] + y1, p.box[2] + x1, p.box[3] + y1))
        return [*persons, *plates]


def _tiles(w: int, h: int, overlap: float = 0.15) -> list[tuple[float, float, float, float]]:
    """Four tiles of a w x h picture overlapping by `overlap` of a half (x1, y1, x2, y2)."""
    hw, hh = w / 2, h / 2
    ox, oy = hw * overlap, hh * overlap
    return [
        (0, 0, hw + ox, hh + oy),
        (hw - ox, 0, w, hh + oy),
        (0, hh - oy, hw + ox, h),
        (hw - ox, hh - oy, w, h),
    ]
