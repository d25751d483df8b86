"""`crosswatch verify`: check events' anti-forgery codes (防伪码) and seals against their evidence files and rows."""
from __future__ import annotations

import argparse

from detector.evidence.seal import evidence_key
from service.db import default_db_url, make_engine
from service.models import EventRow
from service.runs.request import evidence_root
from service.verify import verify_event


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `crosswatch verify` on the CLI's subparsers."""
    vp = sub.add_parser("verify", help="check events' anti-forgery codes (防伪码) against their evidence files and rows")
    vp.add_argument("uids", nargs="*", help="event ids (default: every event with an anti-forgery code)")
    vp.add_argument("--db", help="SQLAlchemy URL (default: $CROSSWATCH_DB_URL or the project's SQLite file)")
    vp.add_argument("--evidence-dir", help="evidence folder (default: $CROSSWATCH_EVIDENCE_DIR or beside the SQLite file)")
    vp.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """One line per event; exit 1 when any event fails (or an id is unknown)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session, selectinload

    db_url = args.db or default_db_url()
    root = evidence_root(args.evidence_dir, db_url)
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
