"""The code lists the UI shows (`GET /api/meta`), each code with its zh-CN and en label."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CodeOut(BaseModel):
    code: str
    zh: str
    en: str


class ReasonCodeOut(CodeOut):
    comment_required: bool = Field(description="a review with this reason needs a comment")


class MetaOut(BaseModel):
    event_types: list[CodeOut] = Field(description="violation types (违法类型)")
    signal_states: list[CodeOut]
    evidence_kinds: list[CodeOut]
    review_statuses: list[CodeOut]
    review_actions: list[CodeOut]
    roles: list[CodeOut]
    reason_codes: list[ReasonCodeOut] = Field(description="why a review dismissed an event or asked for more")
