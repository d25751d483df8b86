"""The review desk's helpers around a decision: undo (within UNDO_WINDOW_S of it, by the same
reviewer, audited) and the workload per reviewer (decisions per stage and action in a range).

Undo restores what the event was before the decision (status, stage, reviewer, from the decision's
audit entry) and removes the review record: the decision never stands in the event's history, but
the audit log keeps both the decision and its undo. Anything older, or by someone else, is for a
supervisor's 退回重审 (`POST /api/events/{uid}/reopen`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import func, select

from ...audit import append as audit
from ...models import AuditRow, EventRow, ReviewRow
from ..deps import (
    EvidenceRootDep,
    Principal,
    Reviewer,
    SessionDep,
    WriteSessionDep,
    event_or_404,
    require_roles,
)
from ..errors import AUTH_ERRORS, NOT_FOUND_ERROR
from ..schemas import Message, StrictIn
from ..schemas.events import EventDetail, event_detail

router = APIRouter(tags=["reviews"])

UNDO_WINDOW_S = 10.0


class UndoIn(StrictIn):
    review_id: int = Field(ge=1, le=2**62, description="the decision to undo (`review.id` of the review answer)")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@router.post(
    "/api/events/{uid}/review/undo",
    response_model=EventDetail,
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND_ERROR,
        409: {"model": Message, "description": "not the event's latest decision, someone else's, or too old to undo"},
    },
)
def undo_review(uid: str, body: UndoIn, s: WriteSessionDep, p: Reviewer, root: EvidenceRootDep) -> EventDetail:
    """Undo one's own latest decision on an event within UNDO_WINDOW_S seconds (the toast's 撤销)."""
    v = event_or_404(s, p, uid, for_update=True)
    e = v.event
    last = s.scalars(select(ReviewRow).where(ReviewRow.event_id == e.id).order_by(ReviewRow.id.desc()).limit(1)).first()
    if last is None or last.id != body.review_id:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "this decision is not the event's latest one: it cannot be undone"
        )
    if last.username != p.username:
        raise HTTPException(status.HTTP_409_CONFLICT, "only the reviewer who decided can undo a decision")
    age = datetime.now(UTC) - _aware(last.at)
    if age > timedelta(seconds=UNDO_WINDOW_S):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"a decision can be undone within {UNDO_WINDOW_S:g} s; ask a supervisor to reopen it (退回重审)",
        )
    entry = next(
        (
            a
            for a in s.scalars(
                select(AuditRow)
                .where(AuditRow.object_type == "event", AuditRow.object_id == e.uid, AuditRow.action == "review")
                .order_by(AuditRow.id.desc())
                .limit(20)
            )
            if (a.payload or {}).get("review_id") == last.id
        ),
        None,
    )
    if entry is None:  # every decision is audited with its review_id; without it the state before is unknown
        raise HTTPException(status.HTTP_409_CONFLICT, "the decision's audit entry is missing: it cannot be undone")
    before = entry.payload
    undone = {
        "review_id": last.id,
        "action": last.action,
        "stage": last.stage,
        "reason_code": last.reason_code,
        "status": e.review_status,
    }
    s.delete(last)
    s.flush()
    e.review_status = before.get("previous_status") or "pending"
    e.review_stage = int(before.get("previous_stage") or 0)
    e.reviewed_by = before.get("previous_reviewed_by")
    prior = s.scalars(
        select(ReviewRow.at).where(ReviewRow.event_id == e.id).order_by(ReviewRow.id.desc()).limit(1)
    ).first()
    e.reviewed_at = prior if e.reviewed_by is not None else None
    audit(
        s,
        actor=p.username,
        action="review_undo",
        object_type="event",
        object_id=e.uid,
        payload={
            **undone,
            "restored_status": e.review_status,
            "restored_stage": e.review_stage,
            "restored_reviewed_by": e.reviewed_by,
            "age_s": round(age.total_seconds(), 3),
        },
    )
    s.flush()
    detail = event_detail(s, p, v, root)
    s.commit()
    return detail


# -- workload ----------------------------------------------------------------------------------
class WorkloadRow(BaseModel):
    username: str
    decisions: int
    first_stage: int = Field(description="decisions at stage 1 (初审)")
    second_stage: int = Field(description="decisions at stage 2 (复审)")
    by_action: dict[str, int]
    last_at: datetime


class WorkloadOut(BaseModel):
    start: datetime | None
    end: datetime | None
    rows: list[WorkloadRow] = Field(description="reviewers, most decisions first")
    total: int


ReviewReader = Annotated[Principal, Depends(require_roles("reviewer", "analyst"))]


@router.get(
    "/api/reviews/workload",
    response_model=WorkloadOut,
    responses={**AUTH_ERRORS, 422: {"description": "from not before to"}},
)
def workload(
    s: SessionDep,
    p: ReviewReader,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="decided at or after")] = None,
    to: Annotated[AwareDatetime | None, Query(description="decided before")] = None,
) -> WorkloadOut:
    """Decisions per reviewer on events in the caller's scope, by stage (初审 / 复审) and action."""
    if from_ is not None and to is not None and from_ >= to:
        raise HTTPException(422, "from must be before to")
    r = ReviewRow
    q = (
        select(r.username, r.stage, r.action, func.count(), func.max(r.at))
        .join(EventRow, EventRow.id == r.event_id)
        .where(p.scope(EventRow.crossing_id))
        .group_by(r.username, r.stage, r.action)
    )
    if from_ is not None:
        q = q.where(r.at >= from_.astimezone(UTC))
    if to is not None:
        q = q.where(r.at < to.astimezone(UTC))
    rows: dict[str, WorkloadRow] = {}
    for user, stage, action, n, last in s.execute(q):
        row = rows.setdefault(
            user,
            WorkloadRow(
                username=user,
                decisions=0,
                first_stage=0,
                second_stage=0,
                by_action={"confirm": 0, "dismiss": 0, "needs_info": 0},
                last_at=_aware(last),
            ),
        )
        row.decisions += int(n)
        if int(stage) >= 2:
            row.second_stage += int(n)
        else:
            row.first_stage += int(n)
        row.by_action[action] = row.by_action.get(action, 0) + int(n)
        row.last_at = max(row.last_at, _aware(last))
    out = sorted(rows.values(), key=lambda w: (-w.decisions, w.username))
    return WorkloadOut(start=from_, end=to, rows=out, total=sum(w.decisions for w in out))
