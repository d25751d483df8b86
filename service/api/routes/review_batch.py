"""Batch review for the clear cases (Frigate-style multi-select): several pending events
dismissed with ONE reason in one request (`POST /api/events/review-batch`).

Rules (why they are what they are):
- A batch only dismisses. A confirmation leads to a penalty and needs each event looked at, so it
  is refused before anything is read (422), as is needs-info (it asks a question of one event).
- Each event goes through the same pure rule as a single review (`review_policy.decide_in_batch`,
  which calls `decide`): the second-review setting, the stage and the status it leaves are the
  same. On top, a batch only touches events still waiting for their first decision: one decided
  meanwhile, or one a colleague confirmed at stage 1 (awaiting its second review), is refused for
  that event and left as it is: overriding a decision is done one event at a time.
- Roles and scope are the single review's: reviewers (and admins); an event outside the caller's
  scope is `not_found`, like one that does not exist.
- Every dismissal writes its `reviews` row and its own hash-chained audit entry (payload as the
  single review's, with `batch` = how many events the request named), all in one write
  transaction with each event row locked; the answer gives one outcome per distinct uid.
"""

from __future__ import annotations

from fastapi import APIRouter

from ... import events_repo as repo
from ... import policy
from ...models import EventRow
from ...review_policy import ReviewRefused, decide_in_batch
from ..deps import Reviewer, SettingsDep, WriteSessionDep
from ..errors import AUTH_ERRORS
from ..schemas.reviews import BatchItemOut, BatchReviewIn, BatchReviewResult
from .reviews import record_review

router = APIRouter(tags=["reviews"])


@router.post("/api/events/review-batch", response_model=BatchReviewResult, responses={**AUTH_ERRORS})
def review_batch(body: BatchReviewIn, s: WriteSessionDep, p: Reviewer, settings: SettingsDep) -> BatchReviewResult:
    """Dismiss several pending events with one reason; one outcome per event (see the module's rules)."""
    second_review = policy.second_review(s, settings)
    scope = p.scope(EventRow.crossing_id)
    reason_code = body.reason_code.value
    results: list[BatchItemOut] = []
    for uid in body.uids:
        v = repo.get_event(s, scope, uid, for_update=True)
        if v is None:
            results.append(BatchItemOut(uid=uid, outcome="not_found", detail="event not found"))
            continue
        e = v.event
        previous = {"status": e.review_status, "stage": e.review_stage, "reviewed_by": e.reviewed_by}
        try:
            decision = decide_in_batch(
                body.action,
                second_review=second_review,
                status_now=e.review_status,
                stage_now=e.review_stage,
                reviewed_by=e.reviewed_by,
                username=p.username,
            )
        except ReviewRefused as refused:
            results.append(
                BatchItemOut(uid=uid, outcome="refused", detail=refused.reason, review_status=e.review_status)
            )
            continue
        row = record_review(
            s,
            e,
            p,
            stage=decision.stage,
            action=body.action,
            status=decision.status.value,
            reason_code=reason_code,
            comment=body.comment,
            previous=previous,
            batch=len(body.uids),
        )
        results.append(BatchItemOut(uid=uid, outcome="dismissed", review_id=row.id, review_status=e.review_status))
    s.commit()
    return BatchReviewResult(dismissed=sum(r.outcome == "dismissed" for r in results), results=results)
