"""The audit log as the API shows it: entries and the chain check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class ChainReportOut(BaseModel):
    ok: bool
    entries: int = Field(description="entries verified (all of them when ok)")
    first_bad_id: int | None = Field(description="id of the first entry that does not verify")
    reason: str | None
