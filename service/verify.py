"""Check an event's anti-forgery code (防伪码) and evidence seal against its files and its row.

The code and seal are HMACs (`detector.evidence.seal`) over the event's sealed fields and the
SHA-256 of each evidence file, with a key that is not in the database. Here every file is hashed
again from disk, the fields are taken from the stored row, and both HMACs are recomputed: a flipped
byte in any picture or clip, a missing file, or an edited event row (type, time, class, lane, the
machine plate reading, the code, ...) no longer matches. A reviewer's plate correction is not a
sealed field (it sits beside the machine reading and is audited).
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path

from detector.evidence.files import sha256_file
from detector.evidence.seal import anti_forgery_code, evidence_key, evidence_seal, sealed_fields

from .models import EventRow


@dataclass(slots=True)
class VerifyResult:
    uid: str
    ok: bool
    code: str | None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.ok:
            return f"{self.uid}: OK (防伪码 {self.code})"
        return f"{self.uid}: FAILED: " + "; ".join(self.problems)


def row_fields(e: EventRow) -> dict:
    return sealed_fields(event_key=e.event_key, type=e.type, track_id=e.track_id, class_name=e.class_name, t=e.t,
                         frame=e.frame, lane=e.lane, stop_line=e.stop_line, signal_state=e.signal_state,
                         since_red_s=e.since_red_s, plate_text=e.plate_text, violation_code=e.violation_code)


def verify_event(e: EventRow, evidence_root: Path | str, key: bytes | None = None) -> VerifyResult:
    """Re-hash the event's files and recompute its code and seal; `key` defaults to `evidence_key(root)`."""
    root = Path(evidence_root)
    result = VerifyResult(e.uid, True, e.anti_forgery_code)
    if not e.anti_forgery_code or not e.evidence_seal:
        result.ok = False
        result.problems.append("no anti-forgery code stored (recorded without an evidence key)")
        return result
    key = key if key is not None else evidence_key(root)
    hashes: dict[str, str] = {}
    for f in e.evidence:
        path = root / f.relpath
        if not path.is_file():
            result.problems.append(f"missing file: {f.kind} ({f.relpath})")
            hashes[f.kind] = "missing"
            continue
        digest = sha256_file(path)
        hashes[f.kind] = digest
        if digest != f.sha256:
            result.problems.append(f"{f.kind} changed: SHA-256 {digest[:12]}… is not the recorded {f.sha256[:12]}…")
    fields = row_fields(e)
    if not hmac.compare_digest(anti_forgery_code(key, fields, hashes), e.anti_forgery_code):
        result.problems.append("anti-forgery code does not match the files and the event row")
    if not hmac.compare_digest(evidence_seal(key, fields, hashes, e.anti_forgery_code), e.evidence_seal):
        result.problems.append("evidence seal does not match the files and the event row")
    result.ok = not result.problems
    return result


# -- `crosswatch verify` ------------------------------------------------------------------------------
def add_parser(sub) -> None:
    """Register `crosswatch verify` on the CLI's subparsers."""
    vp = sub.add_parser("verify", help="check events' anti-forgery codes (防伪码) against their evidence files and rows")
    vp.add_argument("uids", nargs="*", help="event ids (default: every event with an anti-forgery code)")
    vp.add_argument("--db", help="SQLAlchemy URL (default: $CROSSWATCH_DB_URL or the project's SQLite file)")
    vp.add_argument("--evidence-dir", help="evidence folder (default: $CROSSWATCH_EVIDENCE_DIR or beside the SQLite file)")
    vp.set_defaults(func=cmd_verify)


def _evidence_root(option: str | None, db_url: str) -> Path:
    import os

    if option or os.environ.get("CROSSWATCH_EVIDENCE_DIR"):
        return Path(option or os.environ["CROSSWATCH_EVIDENCE_DIR"]).resolve()
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return (Path(db_url.split("///", 1)[1]).parent / "evidence").resolve()
    return Path("data/evidence").resolve()


def cmd_verify(args) -> int:
    """One line per event; exit 1 when any event fails (or an id is unknown)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session, selectinload

    from .db import default_db_url, make_engine

    db_url = args.db or default_db_url()
    root = _evidence_root(args.evidence_dir, db_url)
    engine = make_engine(db_url)
    failed = 0
    try:
        with Session(engine) as s:
            stmt = select(EventRow).options(selectinload(EventRow.evidence)).order_by(EventRow.id)
            if args.uids:
                stmt = stmt.where(EventRow.uid.in_(args.uids))
            else:
                stmt = stmt.where(EventRow.anti_forgery_code.is_not(None))
            rows = list(s.scalars(stmt))
            for uid in sorted(set(args.uids) - {r.uid for r in rows}):
                print(f"{uid}: FAILED: no such event")
                failed += 1
            key = evidence_key(root)
            for e in rows:
                r = verify_event(e, root, key)
                print(r.line())
                failed += not r.ok
    finally:
        engine.dispose()
    print(f"{len(rows) + len(set(args.uids) - {r.uid for r in rows}) - failed} passed, {failed} failed")
    return 1 if failed else 0
