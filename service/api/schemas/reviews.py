"""Review requests and answers: a decision (with its consistency rules), a batch dismissal, a
reopen, a plate correction, an evidence check, the reason list."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ...vocabulary import COMMENT_REQUIRED, ReasonCode, ReviewAction
from ..params import NO_NUL
from . import StrictIn
from .events import EventDetail, ReviewOut


class ReasonOut(BaseModel):
    code: str
    zh: str
    en: str
    comment_required: bool


class ReviewIn(StrictIn):
    action: ReviewAction
    reason_code: ReasonCode | None = Field(default=None, description="required for dismiss and needs_info")
    comment: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)

    @model_validator(mode="after")
    def _consistent(self) -> ReviewIn:
        if self.comment is not None:
            self.comment = self.comment.strip() or None
        if self.action == "confirm" and self.reason_code is not None:
            raise ValueError("a confirm takes no reason_code")
        if self.action != "confirm" and self.reason_code is None:
            raise ValueError(f"{self.action} needs a reason_code (GET /api/reviews/reasons)")
        if self.reason_code in COMMENT_REQUIRED and self.comment is None:
            raise ValueError(f"reason_code {self.reason_code.value!r} needs a comment")
        return self


class ReviewResult(BaseModel):
    review: ReviewOut
    event: EventDetail


class ReopenIn(StrictIn):
    comment: str = Field(
        min_length=1,
        max_length=2000,
        pattern=NO_NUL,
        description="why the decision is sent back (shown to the next reviewer via the audit log)",
    )


class PlateIn(StrictIn):
    plate: str = Field(min_length=1, max_length=32, pattern=NO_NUL, description="the plate as the reviewer reads it")


class VerifyOut(BaseModel):
    uid: str
    ok: bool
    anti_forgery_code: str | None
    problems: list[str]


MAX_BATCH = 100  # events per batch: a page of the history list


class BatchReviewIn(StrictIn):
    """Several pending events dismissed with one reason (the clear false alarms). Never a confirmation."""

    uids: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"events to dismiss (1..{MAX_BATCH}; a repeated id counts once)"
    )
    action: Literal["dismiss"] = Field(description="only dismiss: a confirmation needs each event looked at")
    reason_code: ReasonCode
    comment: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)

    @field_validator("action", mode="before")
    @classmethod
    def _only_dismiss(cls, v: object) -> object:
        if isinstance(v, str) and v in {a.value for a in ReviewAction} and v != "dismiss":
            raise ValueError(f"a batch can only dismiss; {v} needs each event looked at on its own")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BatchReviewIn:
        if self.comment is not None:
            self.comment = self.comment.strip() or None
        if self.reason_code in COMMENT_REQUIRED and self.comment is None:
            raise ValueError(f"reason_code {self.reason_code.value!r} needs a comment")
        self.uids = list(dict.fromkeys(self.uids))
        return self


class BatchItemOut(BaseModel):
    uid: str
    outcome: Literal["dismissed", "refused", "not_found"] = Field(
        description="dismissed; refused (the detail says why: decided meanwhile, awaiting its second review, ...); "
        "not_found (no such event in your scope)"
    )
    detail: str | None = Field(default=None, description="why it was refused or not found")
    review_id: int | None = Field(default=None, description="the decision's id, when dismissed")
    review_status: str | None = Field(default=None, description="the event's status after the batch (when found)")


class BatchReviewResult(BaseModel):
    dismissed: int = Field(description="events dismissed by this batch")
    results: list[BatchItemOut] = Field(description="one per distinct uid, in the order given")
