"""The records of a pipeline run as the store takes and gives them: its errors
(`RunAlreadyDone`, `RunStateError`), the inputs a run writes (`EventRecord`, `EvidenceRecord`,
`CountRecord`), the answers read back (`RunInfo`, `EventInfo`, `EvidenceInfo`,
`CrossingVersionInfo`), `hash_settings`, and the conversions from rows to answers. Plain data, no
SQL: `runs_repo` (reads and writes) and `repository` (its transactions) share them.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from service.models import EventRow, VideoRunRow

__all__ = [
    "EVIDENCE_FIELDS",
    "CountRecord",
    "CrossingVersionInfo",
    "EventInfo",
    "EventRecord",
    "EvidenceInfo",
    "EvidenceRecord",
    "RunAlreadyDone",
    "RunInfo",
    "RunStateError",
    "hash_settings",
]


# -- errors ------------------------------------------------------------------------------------
class RunAlreadyDone(Exception):
    """The (video, crossing version, settings) run is already `done`: re-processing adds nothing."""

    def __init__(self, run: RunInfo):
        super().__init__(f"run {run.id} ({run.video_path}) is already done")
        self.run = run


class RunStateError(RuntimeError):
    """A run is not in the state the operation needs (e.g. finishing a failed run)."""


# -- inputs ------------------------------------------------------------------------------------
@dataclass(slots=True)
class EvidenceRecord:
    kind: str  # e.g. "before" | "past" | "junction" | "closeup" | "signal" | "composite" | "clip"
    relpath: str  # relative to the evidence root
    sha256: str
    size: int
    mime: str


@dataclass(slots=True)
class EventRecord:
    """One violation to store. `type` / `signal_state` accept the detector's str enums too."""

    event_key: str  # stable inside a run (ViolationEvent.key)
    type: str  # an EventType value
    track_id: int
    class_name: str
    t: float  # seconds from video start
    frame: int
    x1: float
    y1: float
    x2: float
    y2: float
    lane: str | None = None
    stop_line: str | None = None
    signal_id: str | None = None
    signal_state: str | None = None  # "RED" | "YELLOW" | "GREEN" | "UNKNOWN"
    signal_source: str | None = None  # "lamp" | "plan"
    since_red_s: float | None = None
    confidence: float | None = None
    occurred_at: datetime | None = None  # None: run.start_time + t when the start time is known
    evidence: list[EvidenceRecord] = field(default_factory=list)
    # plate (None status: not attempted), violation code, anti-forgery code and seal (0006)
    plate_status: str | None = None  # read | not_read
    plate_text: str | None = None
    plate_display: str | None = None
    plate_region: str | None = None
    plate_colour: str | None = None
    plate_confidence: float | None = None
    plate_reason: str | None = None
    violation_code: str | None = None
    violation_full_code: str | None = None
    violation_description: str | None = None
    legal_basis: str | None = None
    anti_forgery_code: str | None = None
    evidence_seal: str | None = None

    @classmethod
    def from_violation(cls, ev: Any, evidence: Iterable[EvidenceRecord] = (), **overrides: Any) -> EventRecord:
        """From a `detector.types.ViolationEvent` (duck-typed: no detector import here)."""
        x1, y1, x2, y2 = (float(v) for v in ev.box)
        values: dict[str, Any] = dict(
            event_key=ev.key,
            type=ev.type,
            track_id=int(ev.track_id),
            class_name=ev.class_name,
            t=float(ev.t),
            frame=int(ev.frame),
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            lane=ev.lane,
            stop_line=getattr(ev, "stop_line", None),
            signal_id=ev.signal_id,
            signal_state=ev.signal,
            signal_source=ev.signal_source,
            since_red_s=ev.since_red_s,
            confidence=getattr(ev, "confidence", None),
            evidence=list(evidence),
            anti_forgery_code=getattr(ev, "anti_forgery", None),
            evidence_seal=getattr(ev, "evidence_seal", None),
        )
        plate = getattr(ev, "plate", None)
        if plate is not None:
            values.update(
                plate_status="read" if plate.text else "not_read",
                plate_text=plate.text,
                plate_display=plate.display,
                plate_region=plate.region,
                plate_colour=plate.colour,
                plate_confidence=plate.confidence,
                plate_reason=plate.reason or None,
            )
        code = getattr(ev, "code", None)
        if code is not None:
            values.update(
                violation_code=code.code,
                violation_full_code=code.full_code,
                violation_description=code.description,
                legal_basis=code.law,
            )
        values.update(overrides)
        return cls(**values)


@dataclass(slots=True)
class CountRecord:
    """Road users of `class_name` crossing `stop_line` (entering) in minute `minute_start`."""

    stop_line: str
    class_name: str
    minute_start: int  # minute index from video start
    count: int
    minute_at: datetime | None = None  # None: run.start_time + minute_start when known


# -- outputs -----------------------------------------------------------------------------------
class CrossingVersionInfo(NamedTuple):
    crossing_id: str
    version_id: int  # crossing_versions.id
    version: int  # 1, 2, 3, ... per crossing


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    status: str  # "running" | "done" | "failed"
    video_path: str
    video_sha256: str
    crossing_version_id: int
    model: str
    settings: dict[str, Any]
    settings_hash: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    frames: int | None
    elapsed_s: float | None
    timings: dict[str, Any] | None
    start_time: datetime | None


@dataclass(frozen=True, slots=True)
class EvidenceInfo:
    kind: str
    relpath: str
    sha256: str
    size: int
    mime: str
    uid: str = ""  # public opaque id (the media endpoint's key)


@dataclass(frozen=True, slots=True)
class EventInfo:
    id: int
    uid: str
    run_id: int
    crossing_id: str
    crossing_version_id: int
    event_key: str
    type: str
    track_id: int
    class_name: str
    t: float
    frame: int
    box: tuple[float, float, float, float]
    lane: str | None
    stop_line: str | None
    signal_id: str | None
    signal_state: str | None
    signal_source: str | None
    since_red_s: float | None
    confidence: float | None
    occurred_at: datetime | None
    review_status: str
    created_at: datetime
    evidence: tuple[EvidenceInfo, ...]
    plate_status: str | None = None
    plate_text: str | None = None  # the machine reading
    plate_display: str | None = None
    plate_region: str | None = None
    plate_colour: str | None = None
    plate_confidence: float | None = None
    plate_reason: str | None = None
    plate_corrected: str | None = None  # the reviewer's correction
    plate_corrected_by: str | None = None
    plate_corrected_at: datetime | None = None
    violation_code: str | None = None
    violation_full_code: str | None = None
    violation_description: str | None = None
    legal_basis: str | None = None
    anti_forgery_code: str | None = None
    evidence_seal: str | None = None

    @property
    def plate(self) -> str | None:
        """The plate to act on: the reviewer's correction, else the machine reading."""
        return self.plate_corrected or self.plate_text


def hash_settings(settings: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a run's settings (keys sorted)."""
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _value(x: Any) -> Any:
    return x.value if isinstance(x, enum.Enum) else x


def _run_info(r: VideoRunRow) -> RunInfo:
    return RunInfo(
        id=r.id,
        status=r.status,
        video_path=r.video_path,
        video_sha256=r.video_sha256,
        crossing_version_id=r.crossing_version_id,
        model=r.model,
        settings=r.settings,
        settings_hash=r.settings_hash,
        error=r.error,
        started_at=r.started_at,
        finished_at=r.finished_at,
        duration_s=r.duration_s,
        frames=r.frames,
        elapsed_s=r.elapsed_s,
        timings=r.timings,
        start_time=r.start_time,
    )


def _event_info(e: EventRow) -> EventInfo:
    return EventInfo(
        id=e.id,
        uid=e.uid,
        run_id=e.run_id,
        crossing_id=e.crossing_id,
        crossing_version_id=e.crossing_version_id,
        event_key=e.event_key,
        type=e.type,
        track_id=e.track_id,
        class_name=e.class_name,
        t=e.t,
        frame=e.frame,
        box=(e.x1, e.y1, e.x2, e.y2),
        lane=e.lane,
        stop_line=e.stop_line,
        signal_id=e.signal_id,
        signal_state=e.signal_state,
        signal_source=e.signal_source,
        since_red_s=e.since_red_s,
        confidence=e.confidence,
        occurred_at=e.occurred_at,
        review_status=e.review_status,
        created_at=e.created_at,
        evidence=tuple(EvidenceInfo(f.kind, f.relpath, f.sha256, f.size, f.mime, f.uid) for f in e.evidence),
        **{k: getattr(e, k) for k in EVIDENCE_FIELDS},
    )


# the 0006 columns, copied as they are between EventRow, EventRecord and EventInfo
EVIDENCE_FIELDS = (
    "plate_status",
    "plate_text",
    "plate_display",
    "plate_region",
    "plate_colour",
    "plate_confidence",
    "plate_reason",
    "plate_corrected",
    "plate_corrected_by",
    "plate_corrected_at",
    "violation_code",
    "violation_full_code",
    "violation_description",
    "legal_basis",
    "anti_forgery_code",
    "evidence_seal",
)
_RECORD_FIELDS = tuple(f for f in EVIDENCE_FIELDS if not f.startswith("plate_corrected"))
