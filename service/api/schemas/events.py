"""Events as the API shows them: the list item, the detail with evidence, reviews and run, the
review queue's answer; and the builders that make them from the store's rows."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ... import events_repo as repo
from ...clip_timing import event_offset_s
from ...models import CrossingVersionRow, EventRow, EvidenceFileRow, ReviewRow, VideoRunRow
from ...principal import Principal
from ...scene_names import SceneNames, names_of
from ...vocabulary import reason_label
from . import Label


# -- models -------------------------------------------------------------------------------------
class Box(BaseModel):
    """Bounding box in the crossing's frame pixels."""

    x1: float
    y1: float
    x2: float
    y2: float


class EventOut(BaseModel):
    uid: str
    crossing_id: str
    crossing_name: str
    district: str | None
    type: str
    class_name: str
    occurred_at: datetime | None = Field(description="UTC; null when the video's start time is unknown")
    t: float = Field(description="seconds from the video's start")
    frame: int
    box: Box
    lane: str | None
    stop_line: str | None
    signal_id: str | None
    signal_state: str | None
    since_red_s: float | None
    confidence: float | None
    review_status: str
    review_stage: int = Field(description="0 not reviewed, 1 first review, 2 second review")
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime
    plate: str | None = Field(
        default=None,
        description="the plate to act on: the reviewer's correction, else the "
        "machine reading; null = not read (未识别)",
    )
    plate_text: str | None = Field(default=None, description="the machine reading, as read")
    plate_corrected: str | None = Field(default=None, description="the reviewer's correction")
    plate_status: str | None = Field(default=None, description="read | not_read | null (not attempted)")
    plate_colour: str | None = None
    plate_confidence: float | None = None
    violation_code: str | None = Field(default=None, description="from the deployment's codes table")


class EvidenceOut(BaseModel):
    uid: str
    kind: str
    mime: str
    size: int
    sha256: str
    url: str = Field(description="GET it (SHA-256 checked on every read; Range supported for clips)")
    event_at_s: float | None = Field(
        default=None,
        description="a clip only: seconds from its first frame to the violation (where the review page "
        "opens it and marks its timeline); null for pictures and for a clip that does not say where it starts",
    )


class ReviewOut(BaseModel):
    id: int = Field(description="the decision's id (what POST /api/events/{uid}/review/undo takes)")
    stage: int
    action: str
    reason_code: str | None
    reason: Label | None
    comment: str | None
    username: str
    at: datetime


class RunOut(BaseModel):
    video: str = Field(description="the video's file name (not its server path)")
    model: str
    start_time: datetime | None


class EventDetail(EventOut):
    lane_name: str | None = Field(default=None, description="the lane's name in the crossing file (else its id)")
    stop_line_name: str | None = Field(default=None, description="the stop line's name (else its id)")
    signal_name: str | None = Field(default=None, description="the signal's name (else its id)")
    plate_display: str | None = None
    plate_region: str | None = None
    plate_reason: str | None = Field(default=None, description="why not read, or how it was read")
    plate_corrected_by: str | None = None
    plate_corrected_at: datetime | None = None
    violation_full_code: str | None = None
    violation_description: str | None = None
    legal_basis: str | None = None
    anti_forgery_code: str | None = Field(default=None, description="防伪码 printed on the composite")
    evidence: list[EvidenceOut] = Field(description="empty for users without evidence access")
    reviews: list[ReviewOut] = Field(description="review history, oldest first")
    run: RunOut | None


class NextOut(BaseModel):
    event: EventOut | None = Field(description="the next event to review; null when the queue is empty")
    remaining: int = Field(description="events left in the queue, this one included")


# -- builders -----------------------------------------------------------------------------------
def event_out(v: repo.EventView) -> EventOut:
    e = v.event
    return EventOut(
        uid=e.uid,
        crossing_id=e.crossing_id,
        crossing_name=v.crossing_name,
        district=v.district,
        type=e.type,
        class_name=e.class_name,
        occurred_at=e.occurred_at,
        t=e.t,
        frame=e.frame,
        box=Box(x1=e.x1, y1=e.y1, x2=e.x2, y2=e.y2),
        lane=e.lane,
        stop_line=e.stop_line,
        signal_id=e.signal_id,
        signal_state=e.signal_state,
        since_red_s=e.since_red_s,
        confidence=e.confidence,
        review_status=e.review_status,
        review_stage=e.review_stage,
        reviewed_by=e.reviewed_by,
        reviewed_at=e.reviewed_at,
        created_at=e.created_at,
        plate=e.plate,
        plate_text=e.plate_text,
        plate_corrected=e.plate_corrected,
        plate_status=e.plate_status,
        plate_colour=e.plate_colour,
        plate_confidence=e.plate_confidence,
        violation_code=e.violation_code,
    )


def evidence_out(f: EvidenceFileRow, event_at_s: float | None = None) -> EvidenceOut:
    return EvidenceOut(
        uid=f.uid,
        kind=f.kind,
        mime=f.mime,
        size=f.size,
        sha256=f.sha256,
        url=f"/api/media/{f.uid}",
        event_at_s=event_at_s,
    )


def review_out(r: ReviewRow) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        stage=r.stage,
        action=r.action,
        reason_code=r.reason_code,
        reason=_label(r.reason_code),
        comment=r.comment,
        username=r.username,
        at=r.at,
    )


def run_out(run: VideoRunRow | None) -> RunOut | None:
    if run is None:
        return None
    # basename only: the server's folder layout is not the caller's business
    return RunOut(video=os.path.basename(run.video_path.replace("\\", "/")), model=run.model, start_time=run.start_time)


def scene_names(s: Session, e: EventRow) -> SceneNames:
    """The names in the crossing version the event was found with."""
    ver = s.get(CrossingVersionRow, e.crossing_version_id)
    return names_of(ver.geometry_hash, ver.config_yaml) if ver is not None else SceneNames()


def event_detail(s: Session, p: Principal, v: repo.EventView, evidence_root: Path) -> EventDetail:
    """The event with its names, evidence (clips with the violation's place in them, read under
    `evidence_root`), reviews and run."""
    e = v.event
    evidence = (
        [evidence_out(f, event_offset_s(evidence_root, e, f)) for f in repo.evidence_of(s, e.id)]
        if p.can_see_evidence
        else []
    )
    names = scene_names(s, e)
    extra = {
        k: getattr(e, k)
        for k in (
            "plate_display",
            "plate_region",
            "plate_reason",
            "plate_corrected_by",
            "plate_corrected_at",
            "violation_full_code",
            "violation_description",
            "legal_basis",
            "anti_forgery_code",
        )
    }
    return EventDetail(
        **event_out(v).model_dump(),
        **extra,
        lane_name=names.lane(e.lane),
        stop_line_name=names.stop_line(e.stop_line),
        signal_name=names.signal(e.signal_id),
        evidence=evidence,
        reviews=[review_out(r) for r in repo.reviews_of(s, e.id)],
        run=run_out(repo.run_of(s, e.run_id)),
    )


def _label(code: str | None) -> Label | None:
    pair = reason_label(code)
    return Label(zh=pair[0], en=pair[1]) if pair is not None else None
