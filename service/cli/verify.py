"""`crosswatch verify`: check events' anti-forgery codes (防伪码) and seals against their evidence files and rows."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from detector.evidence.seal import KEY_ENV, KEY_FILE, SECRET_ENV, evidence_key
from service.db import default_db_url
from service.models import EventRow
from service.runs.database import open_database, shown_url
from service.runs.errors import UserError
from service.runs.request import evidence_root
from service.verify import verify_event

from .common import one_line


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `crosswatch verify` on the CLI's subparsers."""
    vp = sub.add_parser(
        "verify", help="check events' anti-forgery codes (防伪码) against their evidence files and rows"
    )
    vp.add_argument("uids", nargs="*", help="event ids (default: every event with an anti-forgery code)")
    vp.add_argument("--db", help="SQLAlchemy URL (default: $CROSSWATCH_DB_URL or the project's SQLite file)")
    vp.add_argument(
        "--evidence-dir", help="evidence folder (default: $CROSSWATCH_EVIDENCE_DIR or beside the SQLite file)"
    )
    vp.set_defaults(func=cmd_verify)


def _check_readable(root: Path) -> None:
    """The evidence folder and its key are there and readable; verify never makes either."""
    if not root.is_dir():
        raise UserError(f"evidence folder {root}: no such folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise UserError(f"evidence folder {root}: not readable")
    if os.environ.get(KEY_ENV) or os.environ.get(SECRET_ENV):
        return
    key_file = root.resolve().parent / KEY_FILE
    if not key_file.is_file() or not os.access(key_file, os.R_OK):
        raise UserError(
            f"no evidence key: {key_file} is not there or not readable, and neither {KEY_ENV} nor {SECRET_ENV} is set"
        )


def cmd_verify(args: argparse.Namespace) -> int:
    """One line per event; exit 1 when any event fails (or an id is unknown)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session, selectinload

    db_url = args.db or default_db_url()
    root = evidence_root(args.evidence_dir, db_url)
    _check_readable(root)
    engine = open_database(db_url, migrate=False)  # verify reads: it never creates or migrates a database
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
                print(f"{one_line(uid, 200)}: FAILED: no such event")
                failed += 1
            key = evidence_key(root)
            for e in rows:
                r = verify_event(e, root, key)
                print(r.line())
                failed += not r.ok
    except SQLAlchemyError as e:
        text = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise UserError(
            f"database {shown_url(db_url)}: cannot read its events "
            f"(not a crosswatch database? `crosswatch db upgrade` makes one): {text[0] if text else e}"
        ) from None
    finally:
        engine.dispose()
    print(f"{len(rows) + len(set(args.uids) - {r.uid for r in rows}) - failed} passed, {failed} failed")
    return 1 if failed else 0
