"""Evidence downloads and case packages: the package request and its refusal."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ... import case_package
from . import Label, StrictIn


class RefusedItem(BaseModel):
    """One reason for a 422: FastAPI's validation error shape (loc, msg, type), plus, for an event
    that is not confirmed, which one, its status and the reason in zh and en."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str
    event_uid: str | None = None
    review_status: str | None = None
    reason: Label | None = None


class Refused(BaseModel):
    detail: list[RefusedItem]


class CasePackageIn(StrictIn):
    event_uids: list[Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        min_length=1,
        max_length=case_package.MAX_EVENTS,
        description="confirmed events to package (duplicates are packaged once)",
    )
