"""Typed values that flow between the pipeline stages.

decode -> Frame; detect -> Detections; track -> Detections with tracker ids;
signal -> SignalReading; rules -> ViolationEvent / Crossing counts; evidence -> EvidenceFile.
Rules never see pixels: they take Track observations and SignalTimeline lookups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from detector.vocabulary import EventType, SignalState

if TYPE_CHECKING:
    from detector.codes import ViolationCode
    from detector.plates import PlateReading

# Road-user classes crosswatch reports, with their COCO ids.
COCO_ROAD_USERS: dict[int, str] = {
    0: "person",
    1: "bicycle",
    2: "car",
    3: "motorcycle",
    5: "bus",
    7: "truck",
}
TWO_WHEELERS = frozenset({"bicycle", "motorcycle"})


# the codes are defined once, with their labels, in `detector.vocabulary`
ViolationType = EventType


class Frame:
    """One decoded picture. `t` is the presentation time in seconds from the stream start.

    `image` (H x W x 3, uint8, BGR) is made on first use from the decoder's picture: turning a
    1620x720 picture into BGR costs 4x more than decoding it, and most frames are never looked at."""

    __slots__ = ("index", "t", "_image", "_convert")

    def __init__(self, index: int, t: float, image: np.ndarray | None = None, convert=None):
        if image is None and convert is None:
            raise ValueError("a Frame needs an image or a way to make one")
        self.index, self.t, self._image, self._convert = index, t, image, convert

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = self._convert()
            self._convert = None
        return self._image

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        return w, h

    def __repr__(self) -> str:
        return f"Frame(index={self.index}, t={self.t})"


XYXY = tuple[float, float, float, float]  # a pixel box: x1, y1, x2, y2


def as_box(values: Iterable[float]) -> XYXY:
    """Four numbers (a numpy row, a list) as a box of floats; ValueError unless there are four."""
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2


_UNTRACKED = np.empty(0, dtype=np.int64)  # Detections' default tracker_id, replaced by N times -1


@dataclass(slots=True)
class Detections:
    """N boxes in pixel xyxy, with class names and (after tracking) tracker ids (-1 = none)."""

    xyxy: np.ndarray  # (N, 4) float32
    confidence: np.ndarray  # (N,) float32
    class_name: np.ndarray  # (N,) object (str)
    tracker_id: np.ndarray = field(default_factory=lambda: _UNTRACKED)  # (N,) int64; left out: all -1

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(n)
        self.class_name = np.asarray(self.class_name, dtype=object).reshape(n)
        if self.tracker_id is None or self.tracker_id is _UNTRACKED:
            self.tracker_id = np.full(n, -1, dtype=np.int64)
        self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(n)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, mask) -> Detections:
        return Detections(self.xyxy[mask], self.confidence[mask], self.class_name[mask], self.tracker_id[mask])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, object))

    @property
    def bottom_centre(self) -> np.ndarray:
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One observation of a confirmed track, as the rules see it (no pixels)."""

    track_id: int
    t: float
    frame: int
    box: tuple[float, float, float, float]
    class_name: str
    confidence: float = 1.0  # the detector's score of this box
    detail_px: float = 0.0  # the box's size (sqrt of its area) in pixels of real detail; 0 = unknown (use the box)
    box_class: str = ""  # the class of this box alone ("" = unknown: class_name); class_name is the track's vote

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre: where the road user touches the road."""
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2.0, y2)


@dataclass(frozen=True, slots=True)
class SignalReading:
    signal_id: str
    state: SignalState
    since_s: float  # seconds the current state has lasted (lower bound if it began before the video)
    source: str  # "lamp" | "plan"


@dataclass(slots=True)
class ViolationEvent:
    type: ViolationType
    track_id: int
    class_name: str
    t: float  # seconds from video start (interpolated crossing time for red-light)
    frame: int  # nearest decoded frame index to t
    box: tuple[float, float, float, float]
    lane: str | None
    signal_id: str | None
    signal: SignalState | None
    signal_source: str | None
    since_red_s: float | None
    stop_line: str | None = None
    # times (s) of the three evidence pictures: before / past / in the junction (red-light),
    # or start / middle / end of the contraflow (wrong-way)
    key_times: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # (t, box) samples of the road user's path, for close-ups and overlays
    path: list[tuple[float, tuple[float, float, float, float]]] = field(default_factory=list)
    confidence: float = 1.0
    # filled in by the evidence stage (it re-decodes the event window, where reading is cheapest):
    plate: PlateReading | None = None  # the road user's plate, or a "not read" answer with its reason
    code: ViolationCode | None = None  # violation code + legal basis from the codes table
    anti_forgery: str | None = None  # 防伪码 printed on the composite (detector.evidence.seal)
    evidence_seal: str | None = None  # HMAC over the event fields and every evidence file's hash

    @property
    def key(self) -> str:
        """Stable identity inside one run: the same video + settings always give the same key."""
        return f"{self.type.value}-{self.track_id}-{self.frame}"


@dataclass(frozen=True, slots=True)
class LineCrossing:
    """A road user crossing a stop line in the entering direction (any signal): exposure counts."""

    stop_line: str
    track_id: int
    class_name: str
    t: float
    frame: int
