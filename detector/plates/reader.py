"""Read a road user's plate over a few of its frames: detect, rectify, OCR, vote.

Per track, not per frame: `PlateReader.read_track` takes the best few pictures of the road user
(the evidence stage picks them while it re-decodes the event window), finds the plate inside the
road user's box, rectifies it from its four corners, splits two-row plates, reads each row with
RapidOCR's recognition model (PP-OCR weights inside the `rapidocr` wheel: nothing downloads), keeps
only texts that fit a plate format (`formats.parse_plate`) and votes. The answer has a confidence;
below `min_confidence`, or when nothing fits, it is "not read" (未识别) with the reason, never a guess.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .formats import REGIONS, PlateText, parse_plate
from .models import PlateBox, PlateModels, load_plate_models

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

MIN_PLATE_W = 40  # px: a rectified plate narrower than this is not legible in evidence
MIN_ROW_H = 12  # px per text row
CROP_GROW = 0.15  # the road user's box grown by this fraction per side before looking for plates
FIX_PENALTY = 0.9  # confidence factor when a look-alike glyph had to be swapped
TWO_ROW_SPLITS = (0.4, 0.5)  # where the upper row ends, as a share of the plate's height


@dataclass(slots=True)
class PlateReading:
    """What the plate stage concluded for one road user."""

    text: str | None  # canonical plate text, None = not read (未识别)
    display: str | None = None  # as printed (e.g. 苏E·D51712)
    region: str | None = None  # CN | VN | ID
    kind: str | None = None
    colour: str | None = None  # blue | green | yellow (the HyperLPR3 classifier), None if no plate seen
    confidence: float = 0.0  # 0..1
    reason: str = ""  # why not read, or how it was read
    crop: np.ndarray | None = field(default=None, repr=False)  # rectified plate (BGR) of the best frame
    frames: int = 0  # pictures looked at
    ms: float = 0.0  # time spent

    @property
    def read(self) -> bool:
        return self.text is not None


def rectify(img: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The plate cut out along its four corners and warped to a flat rectangle."""
    tl, tr, br, bl = corners.astype(np.float32)
    w = round(float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = round(float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    w, h = max(w, 2), max(h, 2)
    m = cv2.getPerspectiveTransform(
        np.array([tl, tr, br, bl], np.float32), np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    )
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


class TextRecogniser:
    """RapidOCR's text-line recogniser only (no text detection, no angle classifier)."""

    def __init__(self) -> None:
        self._engine = None  # made on first use: a run where no plate is big enough never loads it

    @property
    def engine(self):
        if self._engine is None:
            from rapidocr import RapidOCR

            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
            self._engine = RapidOCR(
                params={
                    "Global.log_level": "error",
                    "Global.use_det": False,
                    "Global.use_cls": False,
                    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
        return self._engine

    def __call__(self, line: np.ndarray) -> tuple[str, float]:
        out = self.engine(line, use_det=False, use_cls=False, use_rec=True)
        txts, scores = getattr(out, "txts", None) or ("",), getattr(out, "scores", None) or (0.0,)
        return str(txts[0] or ""), float(scores[0] or 0.0)


def _grow(box: Box, w: int, h: int, k: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * k, (y2 - y1) * k
    return (max(0, int(x1 - gx)), max(0, int(y1 - gy)), min(w, int(np.ceil(x2 + gx))), min(h, int(np.ceil(y2 + gy))))


@dataclass(slots=True)
class _FrameRead:
    plate: PlateText | None
    score: float
    colour: str | None
    crop: np.ndarray | None
    note: str


class PlateReader:
    """Reads plates of road users. Build it once (loads and verifies the models)."""

    def __init__(
        self,
        models: PlateModels | None = None,
        recogniser: TextRecogniser | None = None,
        *,
        regions: tuple[str, ...] = REGIONS,
        min_confidence: float = 0.6,
        models_root: Path | None = None,
    ):
        self.models = models or load_plate_models(models_root)
        self.recogniser = recogniser or TextRecogniser()
        self.regions, self.min_confidence = regions, float(min_confidence)

    # ---- one picture
    def _text(self, crop: np.ndarray, double: bool) -> tuple[PlateText | None, float, str]:
        raws: list[tuple[str, float]] = []
        if double:
            h = crop.shape[0]
            for split in TWO_ROW_SPLITS:
                cut = round(h * split)
                (a, sa), (b, sb) = self.recogniser(crop[:cut]), self.recogniser(crop[cut:])
                raws.append((a + b, min(sa, sb)))
        raws.append(self.recogniser(crop))
        best: tuple[PlateText | None, float, str] = (None, 0.0, raws[0][0])
        for raw, score in raws:
            plate = parse_plate(raw, self.regions)
            if plate is not None:
                score *= FIX_PENALTY if plate.fixed else 1.0
                if best[0] is None or score > best[1]:
                    best = (plate, score, raw)
        return best

    def read_picture(self, img: np.ndarray, box: Box | None = None) -> _FrameRead:
        """The plate in one BGR picture, inside the road user's `box` when given."""
        H, W = img.shape[:2]
        x1, y1, x2, y2 = _grow(box, W, H, CROP_GROW) if box is not None else (0, 0, W, H)
        if x2 - x1 < 8 or y2 - y1 < 8:
            return _FrameRead(None, 0.0, None, None, "road user too small")
        region = img[y1:y2, x1:x2]
        found: list[PlateBox] = self.models.detector_for(x2 - x1, y2 - y1).detect(region)
        if not found:
            return _FrameRead(None, 0.0, None, None, "no plate found")
        pb = found[0]
        crop = rectify(region, pb.corners)
        colour, _ = self.models.colour.classify(crop)
        h, w = crop.shape[:2]
        rows = 2 if pb.double else 1
        if w < MIN_PLATE_W or h < MIN_ROW_H * rows:
            return _FrameRead(None, 0.0, colour, crop, f"plate too small to read ({w}x{h} px)")
        plate, score, raw = self._text(crop, pb.double)
        if plate is None:
            return _FrameRead(None, 0.0, colour, crop, f"text {raw!r} fits no plate format")
        return _FrameRead(plate, score * pb.score**0.25, colour, crop, "")

    # ---- one road user
    def read_track(self, pictures: Sequence[tuple[np.ndarray, Box | None]]) -> PlateReading:
        """Vote over the road user's pictures ((BGR picture, its box) pairs)."""
        t0 = time.perf_counter()
        reads = [self.read_picture(img, box) for img, box in pictures]
        ms = (time.perf_counter() - t0) * 1000.0
        seen = [r for r in reads if r.crop is not None]
        colours: dict[str | None, int] = defaultdict(int)
        for r in seen:
            colours[r.colour] += 1
        colour = max(colours, key=lambda c: colours[c]) if colours else None
        votes: dict[str, list[_FrameRead]] = defaultdict(list)
        for r in reads:
            if r.plate is not None:
                votes[r.plate.text].append(r)
        if not votes:
            notes = sorted({r.note for r in reads if r.note}) or ["no pictures"]
            crops = [r.crop for r in seen if r.crop is not None]
            best_crop = max(crops, key=lambda c: c.shape[1]) if crops else None
            return PlateReading(None, colour=colour, reason="; ".join(notes), crop=best_crop, frames=len(reads), ms=ms)
        # each picture that saw a plate is one voter; a plate text's confidence is the summed score
        # of its voters over all voters, so disagreement or unreadable pictures lower it
        voters = max(1, len(seen))
        _, group = max(votes.items(), key=lambda kv: sum(r.score for r in kv[1]))
        confidence = min(1.0, sum(r.score for r in group) / voters)
        best = max(group, key=lambda r: r.score)
        p = best.plate
        assert p is not None, "every voter read a plate"
        how = f"{len(group)} of {voters} pictures agree"
        if confidence < self.min_confidence:
            return PlateReading(
                None,
                colour=colour,
                confidence=round(confidence, 3),
                crop=best.crop,
                reason=f"low confidence {confidence:.2f} < {self.min_confidence:.2f} (best {p.display}; {how})",
                frames=len(reads),
                ms=ms,
            )
        return PlateReading(
            p.text,
            p.display,
            p.region,
            p.kind,
            colour,
            round(confidence, 3),
            how + (" (a look-alike glyph swapped to fit the format)" if p.fixed else ""),
            best.crop,
            len(reads),
            ms,
        )
