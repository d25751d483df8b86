"""`GET /api/meta`: every code list of `service.vocabulary` with its labels, so the UI builds its
menus and badges from the same enums the database and the API check against."""

from __future__ import annotations

from fastapi import APIRouter

from ...vocabulary import (
    COMMENT_REQUIRED,
    EVENT_TYPE_LABELS,
    EVIDENCE_KIND_LABELS,
    REASON_LABELS,
    REVIEW_ACTION_LABELS,
    REVIEW_STATUS_LABELS,
    ROLE_LABELS,
    SIGNAL_STATE_LABELS,
    Labels,
)
from ..deps import CurrentUser
from ..schemas import Message
from ..schemas.meta import CodeOut, MetaOut, ReasonCodeOut

router = APIRouter(tags=["meta"])


def _codes(labels: Labels) -> list[CodeOut]:
    return [CodeOut(code=code, zh=zh, en=en) for code, (zh, en) in labels.items()]


@router.get("/api/meta", response_model=MetaOut, responses={401: {"model": Message}})
def meta(_: CurrentUser) -> MetaOut:
    """The code lists with zh-CN and en labels (any logged-in user)."""
    return MetaOut(
        event_types=_codes(EVENT_TYPE_LABELS),
        signal_states=_codes(SIGNAL_STATE_LABELS),
        evidence_kinds=_codes(EVIDENCE_KIND_LABELS),
        review_statuses=_codes(REVIEW_STATUS_LABELS),
        review_actions=_codes(REVIEW_ACTION_LABELS),
        roles=_codes(ROLE_LABELS),
        reason_codes=[
            ReasonCodeOut(code=code, zh=zh, en=en, comment_required=code in COMMENT_REQUIRED)
            for code, (zh, en) in REASON_LABELS.items()
        ],
    )
