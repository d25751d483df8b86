"""Review decisions on events: confirm / dismiss / needs-info, with an optional second review.

Rules (why they are what they are):
- dismiss and needs_info need a reason code (`service.vocabulary.ReasonCode`) (reports per reason are how the
  campaign office finds detector weaknesses); `other` needs a comment, since the code alone says
  nothing. A confirm takes no reason code: a contradictory record ("confirmed: signal not red")
  would be worse than none.
- Without `settings.second_review` every review is stage 1 and sets the status at once; a later
  review overrides it, the history (reviews table + audit log) keeps all.
- The stage rule is `service.review_policy.decide` (pure, tested without HTTP).
- With `settings.second_review`, a confirmation (which leads to a penalty) always takes two
  different people: a stage-1 confirm leaves the event pending at stage 1, and the next review
  of it is stage 2, by someone else (the same user gets 409). A dismissal or needs-info, at
  either stage, takes effect at once (the cautious direction needs no second opinion).
- A supervisor (an admin) can reopen a decided event (退回重审): it goes back to the queue as
  pending, with the reason in the audit log; its earlier decisions stay in its history.
- Each decision writes a `reviews` row, updates the event's summary and appends a hash-chained
  audit entry, in one write transaction (the event row is locked on PostgreSQL; SQLite's write
  transaction is already exclusive), so two reviewers racing on one event are serialised.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.orm import Session

from detector.plates.formats import plausible_plate

from ... import events_repo as repo
from ... import policy
from ...audit import append as audit
from ...models import EventRow, ReviewRow, utcnow
from ...principal import Principal
from ...review_policy import ReviewRefused, decide
from ...verify import verify_event
from ...vocabulary import COMMENT_REQUIRED, REASON_LABELS
from ..deps import (
    Admin,
    CurrentUser,
    EvidenceRootDep,
    Reviewer,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
    event_or_404,
)
from ..errors import AUTH_ERRORS, NOT_FOUND_ERROR
from ..schemas import Message
from ..schemas.events import EventDetail, event_detail, review_out
from ..schemas.reviews import PlateIn, ReasonOut, ReopenIn, ReviewIn, ReviewResult, VerifyOut

router = APIRouter(tags=["reviews"])


def record_review(
    s: Session,
    e: EventRow,
    p: Principal,
    *,
    stage: int,
    action: str,
    status: str,
    reason_code: str | None,
    comment: str | None,
    previous: dict[str, object],
    **extra: object,
) -> ReviewRow:
    """Store one review decision on `e` and its audit entry (the decision, the state it replaced, and
    `extra` payload fields); the single and the batch review both write through here."""
    row = repo.add_review(
        s,
        e,
        stage=stage,
        action=action,
        status=status,
        reason_code=reason_code,
        comment=comment,
        user_id=p.user_id,
        username=p.username,
    )
    audit(
        s,
        actor=p.username,
        action="review",
        object_type="event",
        object_id=e.uid,
        at=row.at,
        payload={
            "action": action,
            "reason_code": reason_code,
            "comment": comment,
            "stage": stage,
            "status": status,
            "previous_status": previous["status"],
            "previous_stage": previous["stage"],
            "previous_reviewed_by": previous["reviewed_by"],
            "review_id": row.id,
            **extra,
        },
    )
    return row


@router.post(
    "/api/events/{uid}/review",
    response_model=ReviewResult,
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND_ERROR,
        409: {"model": Message, "description": "second review by the stage-1 reviewer"},
    },
)
def review_event(
    uid: str, body: ReviewIn, s: WriteSessionDep, p: Reviewer, settings: SettingsDep, root: EvidenceRootDep
) -> ReviewResult:
    v = event_or_404(s, p, uid, for_update=True)
    e = v.event
    previous = {"status": e.review_status, "stage": e.review_stage, "reviewed_by": e.reviewed_by}
    try:
        decision = decide(
            body.action,
            second_review=policy.second_review(s, settings),
            status_now=e.review_status,
            stage_now=e.review_stage,
            reviewed_by=e.reviewed_by,
            username=p.username,
        )
    except ReviewRefused as refused:
        raise HTTPException(status.HTTP_409_CONFLICT, refused.reason) from None
    stage, new_status = decision.stage, decision.status.value
    action, reason_code = body.action.value, body.reason_code.value if body.reason_code is not None else None
    row = record_review(
        s,
        e,
        p,
        stage=stage,
        action=action,
        status=new_status,
        reason_code=reason_code,
        comment=body.comment,
        previous=previous,
    )
    detail = event_detail(s, p, v, root)
    s.commit()
    return ReviewResult(review=review_out(row), event=detail)


@router.post(
    "/api/events/{uid}/reopen",
    response_model=EventDetail,
    responses={**AUTH_ERRORS, **NOT_FOUND_ERROR, 409: {"model": Message, "description": "not decided yet"}},
)
def reopen_event(uid: str, body: ReopenIn, s: WriteSessionDep, p: Admin, root: EvidenceRootDep) -> EventDetail:
    """退回重审: a supervisor (admin) sends a decided event back to the review queue (pending, no
    reviewer). Audited with the previous decision and the reason; the reviews stay in its history."""
    comment = body.comment.strip()
    if not comment:
        raise HTTPException(422, "comment: say why the decision is reopened")
    v = event_or_404(s, p, uid, for_update=True)
    e = v.event
    if e.review_status == "pending" and e.review_stage == 0:
        raise HTTPException(status.HTTP_409_CONFLICT, "the event has not been decided: nothing to reopen")
    previous = {
        "previous_status": e.review_status,
        "previous_stage": e.review_stage,
        "previous_reviewed_by": e.reviewed_by,
    }
    repo.reopen(s, e)
    audit(
        s,
        actor=p.username,
        action="review_reopen",
        object_type="event",
        object_id=e.uid,
        payload={**previous, "comment": comment},
    )
    s.flush()
    detail = event_detail(s, p, v, root)
    s.commit()
    return detail


@router.put(
    "/api/events/{uid}/plate",
    response_model=EventDetail,
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND_ERROR,
        422: {"model": Message, "description": "not a plausible plate (the reason says why)"},
    },
)
def correct_plate(uid: str, body: PlateIn, s: WriteSessionDep, p: Reviewer, root: EvidenceRootDep) -> EventDetail:
    """The reviewer's plate: stored beside the machine reading (which stays as read), audited with
    both values; exports, the case package and the `plate=` filter use it from then on."""
    plate, reason = plausible_plate(body.plate)
    if plate is None:
        raise HTTPException(422, f"not a plausible plate: {reason}")
    v = event_or_404(s, p, uid, for_update=True)
    e = v.event
    previous = e.plate_corrected
    e.plate_corrected, e.plate_corrected_by, e.plate_corrected_at = plate.text, p.username, utcnow()
    audit(
        s,
        actor=p.username,
        action="plate_correction",
        object_type="event",
        object_id=e.uid,
        at=e.plate_corrected_at,
        payload={
            "machine_reading": e.plate_text,
            "machine_confidence": e.plate_confidence,
            "previous_correction": previous,
            "corrected": plate.text,
            "region": plate.region,
        },
    )
    s.flush()
    detail = event_detail(s, p, v, root)
    s.commit()
    return detail


@router.get(
    "/api/events/{uid}/verify",
    response_model=VerifyOut,
    responses={**AUTH_ERRORS, **NOT_FOUND_ERROR, 503: {"model": Message, "description": "no evidence key"}},
)
def verify_event_endpoint(uid: str, request: Request, s: SessionDep, p: Reviewer) -> VerifyOut:
    """Re-hash the event's evidence and recompute its anti-forgery code and seal (key outside the database)."""
    v = event_or_404(s, p, uid)
    try:
        r = verify_event(v.event, request.app.state.evidence_dir)
    except (OSError, ValueError) as e:  # no key in the environment and its file cannot be read or made
        raise HTTPException(503, f"the evidence key is not available: {e}") from None
    return VerifyOut(uid=r.uid, ok=r.ok, anti_forgery_code=r.code, problems=r.problems)


@router.get("/api/reviews/reasons", response_model=list[ReasonOut], responses={401: {"model": Message}})
def reasons(_: CurrentUser) -> list[ReasonOut]:
    return [
        ReasonOut(code=code, zh=zh, en=en, comment_required=code in COMMENT_REQUIRED)
        for code, (zh, en) in REASON_LABELS.items()
    ]
