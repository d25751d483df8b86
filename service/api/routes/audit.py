"""The hash-chained audit log (admins only): browse it, newest first, and verify the chain.

Verification walks the whole chain and names the first entry that does not verify, so an
edited or deleted row is found even though the table itself is writable by a DBA."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ... import audit
from ..deps import Admin, SessionDep
from ..params import NO_NUL
from ..schemas import Message, Page
from ..schemas.audit import AuditEntryOut, ChainReportOut

router = APIRouter(prefix="/api/audit", tags=["audit"])
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "not logged in"},
    403: {"model": Message, "description": "admins only"},
}


@router.get("", response_model=Page[AuditEntryOut], responses=_AUTH)
def list_audit(
    s: SessionDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    object_type: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    object_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AuditEntryOut]:
    rows, count = audit.entries(
        s, actor=actor, action=action, object_type=object_type, object_id=object_id, limit=limit, offset=offset
    )
    return Page(
        data=[
            AuditEntryOut(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                object_type=r.object_type,
                object_id=r.object_id,
                payload=r.payload,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in rows
        ],
        count=count,
    )


@router.get("/verify", response_model=ChainReportOut, responses=_AUTH)
def verify_audit(s: SessionDep, _: Admin) -> ChainReportOut:
    r = audit.verify(s)
    return ChainReportOut(ok=r.ok, entries=r.entries, first_bad_id=r.first_bad_id, reason=r.reason)
