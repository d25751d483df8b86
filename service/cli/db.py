"""`crosswatch db upgrade`: migrate the database to the latest schema."""

from __future__ import annotations

import argparse

from .common import service_settings


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from service.db import head_revision, make_engine, upgrade

    settings = service_settings(args, demo=True)
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"crosswatch: database at revision {head_revision()} ({settings.db_url})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    dbu = db_sub.add_parser("upgrade", help="migrate the database to the latest schema (Alembic)")
    dbu.add_argument("--db")
    dbu.set_defaults(func=cmd_db_upgrade)
