"""The append-only, hash-chained audit log.

Each entry's `hash` is SHA-256 over its canonical JSON (at, actor, action, object, payload) and
the previous entry's hash (`prev_hash`; the first entry chains to 64 zeros). Changing, inserting
or deleting any entry breaks the chain from that point, which `verify()` reports.

Appends are serialised: callers use a write session (SQLite: BEGIN IMMEDIATE holds the write
lock) and on PostgreSQL an advisory transaction lock is taken here, so two requests never chain
to the same predecessor.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .models import AuditRow

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x6377_6175_6469_7400  # "cwaudit"


def _canonical_time(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, at: datetime, actor: str, action: str, object_type: str, object_id: str,
               payload: dict[str, Any]) -> str:
    blob = json.dumps(
        {"prev": prev_hash, "at": _canonical_time(at), "actor": actor, "action": action,
         "object_type": object_type, "object_id": object_id, "payload": payload},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def append(s: Session, *, actor: str, action: str, object_type: str, object_id: str,
           payload: dict[str, Any] | None = None, at: datetime | None = None) -> AuditRow:
    """Add one entry (flushed, not committed: it lands with the caller's transaction)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    payload = json.loads(json.dumps(payload or {}, default=str))  # what the JSON column will give back
    at = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    prev = s.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)) or GENESIS
    row = AuditRow(at=at, actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                   payload=payload, prev_hash=prev,
                   hash=entry_hash(prev, at, actor, action, object_type, str(object_id), payload))
    s.add(row)
    s.flush()
    return row


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify(s: Session, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in id order; report the first entry that does not verify."""
    prev, n, last_id = GENESIS, 0, 0
    while True:
        rows = s.scalars(select(AuditRow).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)).all()
        if not rows:
            return ChainReport(True, n)
        for r in rows:
            if r.prev_hash != prev:
                return ChainReport(False, n, r.id, "prev_hash does not match the previous entry (entry removed or inserted)")
            want = entry_hash(r.prev_hash, r.at, r.actor, r.action, r.object_type, r.object_id, r.payload)
            if want != r.hash:
                return ChainReport(False, n, r.id, "hash does not match the entry's content (entry changed)")
            prev, n, last_id = r.hash, n + 1, r.id


def entries(s: Session, *, actor: str | None = None, action: str | None = None, object_type: str | None = None,
            object_id: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[AuditRow], int]:
    """One page of entries, newest first, and the count of all matching (the admin's log view)."""
    from sqlalchemy import func

    where = [col == value for col, value in ((AuditRow.actor, actor), (AuditRow.action, action),
                                              (AuditRow.object_type, object_type), (AuditRow.object_id, object_id))
             if value is not None]
    rows = s.scalars(select(AuditRow).where(*where).order_by(AuditRow.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), s.scalar(select(func.count()).select_from(AuditRow).where(*where)) or 0
