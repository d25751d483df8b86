"""The append-only, hash-chained, keyed and anchored audit log.

Each entry's `hash` is an HMAC-SHA-256, under the audit key, of its canonical JSON (at, actor,
action, object, payload) and the previous entry's hash (`prev_hash`; the first entry chains to 64
zeros). The key is NOT in the database (`Settings.audit_key`, or `CROSSWATCH_AUDIT_KEY`, else
derived from the secret key; see `audit_key`), so someone who can write the database cannot
rewrite an entry and recompute the later hashes. The head (`audit_head`, one row) holds the last
entry's id and hash and the entry count under the same key, so deleting the last entries is
detected too. `verify()` also checks that every event's review status, stage and reviewer equal
what the last `review` entry of that event says (a direct UPDATE of an event's review is found).

Entries written before migration 0005 carry an unkeyed SHA-256; they are accepted only as a
prefix of the chain (before the first keyed entry), and the keyed head still anchors them: any
change to one changes every later hash up to the head.

Appends are serialised: callers use a write session (SQLite: BEGIN IMMEDIATE holds the write
lock) and on PostgreSQL an advisory transaction lock is taken here, so two requests never chain
to the same predecessor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from .models import AuditHeadRow, AuditRow, EventRow

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x6377_6175_6469_7400  # "cwaudit"
# Demo mode (throwaway secret per process): a fixed, public key, so the demo's chain verifies
# across restarts. It protects nothing; production sets a secret key or an audit key.
DEMO_AUDIT_KEY = b"crosswatch-demo-audit-key (not secret)"


def derive_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"crosswatch audit chain v1", hashlib.sha256).digest()


def audit_key(settings: Any = None) -> bytes:
    """The chain's key: settings.audit_key, $CROSSWATCH_AUDIT_KEY, else derived from the secret
    key (settings, then $CROSSWATCH_SECRET_KEY), else the demo key."""
    explicit = getattr(settings, "audit_key", None) or os.environ.get("CROSSWATCH_AUDIT_KEY")
    if explicit:
        return explicit.encode()
    secret = getattr(settings, "secret_key", None) or os.environ.get("CROSSWATCH_SECRET_KEY")
    return derive_key(secret) if secret else DEMO_AUDIT_KEY


def _key(s: Session) -> bytes:
    return s.info.get("audit_key") or audit_key()


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _blob(
    prev_hash: str, at: datetime, actor: str, action: str, object_type: str, object_id: str, payload: dict[str, Any]
) -> bytes:
    return json.dumps(
        {
            "prev": prev_hash,
            "at": _canonical_time(at),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "payload": payload,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    ).encode()


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict[str, Any],
    key: bytes | None = None,
) -> str:
    """HMAC-SHA-256 under `key` (None: the unkeyed SHA-256 of entries from before 0005)."""
    blob = _blob(prev_hash, at, actor, action, object_type, object_id, payload)
    if key is None:
        return hashlib.sha256(blob).hexdigest()
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


def head_mac(key: bytes, last_id: int, last_hash: str, entries: int) -> str:
    return hmac.new(key, f"head:{last_id}:{last_hash}:{entries}".encode(), hashlib.sha256).hexdigest()


def append(
    s: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRow:
    """Add one entry and move the head (flushed, not committed: both land with the caller's transaction)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    key = _key(s)
    payload = json.loads(json.dumps(payload or {}, default=str))  # what the JSON column will give back
    at = (at or datetime.now(UTC)).astimezone(UTC)
    prev = s.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)) or GENESIS
    row = AuditRow(
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        payload=payload,
        prev_hash=prev,
        hash=entry_hash(prev, at, actor, action, object_type, str(object_id), payload, key),
    )
    s.add(row)
    s.flush()
    head = s.get(AuditHeadRow, 1)
    if head is None:  # first keyed entry (or a chain from before 0005): count what is there
        from sqlalchemy import func

        n = s.scalar(select(func.count()).select_from(AuditRow)) or 0
        head = AuditHeadRow(id=1, last_id=row.id, last_hash=row.hash, entries=n, mac="")
        s.add(head)
    else:
        head.last_id, head.last_hash, head.entries = row.id, row.hash, head.entries + 1
    head.mac = head_mac(key, head.last_id, head.last_hash, head.entries)
    s.flush()
    return row


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify(s: Session, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in id order, then check the head and the events' review status;
    report the first entry (or event) that does not verify."""
    key = _key(s)
    prev, n, last_id, keyed_seen = GENESIS, 0, 0, False
    reviews: dict[str, dict[str, Any]] = {}  # event uid -> its last review entry's payload (+ actor)
    while True:
        rows = s.scalars(select(AuditRow).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)).all()
        if not rows:
            break
        for r in rows:
            if r.prev_hash != prev:
                return ChainReport(
                    False, n, r.id, "prev_hash does not match the previous entry (entry removed or inserted)"
                )
            fields = (r.prev_hash, r.at, r.actor, r.action, r.object_type, r.object_id, r.payload)
            if entry_hash(*fields, key=key) == r.hash:
                keyed_seen = True
            elif keyed_seen or entry_hash(*fields) != r.hash:
                return ChainReport(
                    False,
                    n,
                    r.id,
                    "hash does not match the entry's content (entry changed, or written without the audit key)",
                )
            if r.object_type == "event":
                if r.action == "review":
                    reviews[r.object_id] = {**r.payload, "actor": r.actor}
                elif r.action == "review_undo":  # the decision taken back: the event is as it was before it
                    reviews[r.object_id] = {
                        "status": r.payload.get("restored_status"),
                        "stage": r.payload.get("restored_stage"),
                        "actor": r.payload.get("restored_reviewed_by"),
                    }
                elif r.action == "review_reopen":  # 退回重审: back to the queue, no reviewer
                    reviews[r.object_id] = {"status": "pending", "stage": 0, "actor": None}
            prev, n, last_id = r.hash, n + 1, r.id
    head = s.get(AuditHeadRow, 1)
    if head is None:
        if n:
            return ChainReport(False, n, None, "the audit head is missing (entries were written, the anchor removed)")
    elif not hmac.compare_digest(head.mac, head_mac(key, head.last_id, head.last_hash, head.entries)):
        return ChainReport(False, n, None, "the audit head's signature does not verify (head edited, or another key)")
    elif (head.last_id, head.last_hash, head.entries) != (last_id, prev, n):
        return ChainReport(
            False,
            n,
            head.last_id,
            f"the chain ends at entry {last_id} ({n} entries) but the head "
            f"says {head.last_id} ({head.entries} entries): entries were removed from the end",
        )
    bad = _review_mismatch(s, reviews)
    if bad is not None:
        return ChainReport(False, n, None, bad)
    return ChainReport(True, n)


def _review_mismatch(s: Session, reviews: dict[str, dict[str, Any]], batch: int = 900) -> str | None:
    """Why an event's review summary differs from its last audited review, or None."""
    uids = list(reviews)
    for i in range(0, len(uids), batch):
        for uid, st, stage, by in s.execute(
            select(EventRow.uid, EventRow.review_status, EventRow.review_stage, EventRow.reviewed_by).where(
                EventRow.uid.in_(uids[i : i + batch])
            )
        ):
            want = reviews[uid]
            if (st, stage, by) != (want.get("status"), want.get("stage"), want.get("actor")):
                return (
                    f"event {uid}: review status {st!r} (stage {stage}, by {by!r}) is not what its last audited "
                    f"review says ({want.get('status')!r}, stage {want.get('stage')}, by {want.get('actor')!r})"
                )
    reviewed = s.execute(
        select(EventRow.uid)
        .where(or_(EventRow.review_status != "pending", EventRow.review_stage != 0, EventRow.reviewed_by.is_not(None)))
        .execution_options(yield_per=5000)
    ).scalars()
    for uid in reviewed:
        if uid not in reviews:
            return f"event {uid}: reviewed, but no review of it is in the audit log (status edited directly)"
    return None


def entries(
    s: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditRow], int]:
    """One page of entries, newest first, and the count of all matching (the admin's log view)."""
    from sqlalchemy import func

    where = [
        col == value
        for col, value in (
            (AuditRow.actor, actor),
            (AuditRow.action, action),
            (AuditRow.object_type, object_type),
            (AuditRow.object_id, object_id),
        )
        if value is not None
    ]
    rows = s.scalars(select(AuditRow).where(*where).order_by(AuditRow.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), s.scalar(select(func.count()).select_from(AuditRow).where(*where)) or 0
