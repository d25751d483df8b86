"""Review requests and answers: a decision (with its consistency rules), a reopen, a plate
correction, an evidence check, the reason list."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

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
