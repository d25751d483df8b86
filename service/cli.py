"""Service commands of `crosswatch`: `serve`, `user add`, `db upgrade` (wired in detector/cli.py)."""
from __future__ import annotations

import argparse
import getpass
import os
import sys

DEMO_USERS = (  # printed by `serve --demo`; demo mode only
    ("admin", "admin", "admin-demo"),
    ("operator", "operator", "operator-demo"),
    ("reviewer", "reviewer", "reviewer-demo"),
    ("analyst", "analyst", "analyst-demo"),
)


def _settings(args: argparse.Namespace, **overrides):
    from .settings import Settings

    return Settings.from_env(db_url=getattr(args, "db", None), evidence_dir=getattr(args, "evidence_dir", None),
                             **overrides)


def ensure_demo_users(sessionmaker) -> list[tuple[str, str, str]]:
    """The four demo accounts (created if missing; existing ones are left as they are)."""
    from . import accounts

    with sessionmaker.begin() as s:
        for username, role, password in DEMO_USERS:
            if accounts.find_user(s, username) is None:
                accounts.create_user(s, username, password, role, evidence_access=role == "analyst")
    return list(DEMO_USERS)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .settings import SettingsError

    overrides = {"demo": True} if args.demo else {}
    if args.demo and not os.environ.get("CROSSWATCH_INGEST_ROOT"):
        from detector.assets import REPO_ROOT

        overrides["ingest_root"] = REPO_ROOT / "assets" / "sample_videos"
    try:
        settings = _settings(args, **overrides)
        app = create_app(settings)
    except SettingsError as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return 2
    if settings.demo:
        users = ensure_demo_users(app.state.write_sessionmaker)
        print("crosswatch: DEMO MODE — throwaway signing key, demo accounts (never use in production):")
        for username, role, password in users:
            print(f"  {role:<9} user {username:<9} password {password}")
    print(f"crosswatch: serving http://{args.host}:{args.port}/  (API docs: /docs; database {settings.db_url})",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False)
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from . import accounts
    from .db import make_engine, session_factory, upgrade

    settings = _settings(args, demo=True)  # no secret needed to manage accounts
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.name}: ")
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        with session_factory(engine, write=True).begin() as s:
            row = accounts.create_user(s, args.name, password, args.role, districts=args.district or (),
                                       crossing_ids=args.crossing or (), evidence_access=args.evidence_access)
            from .audit import append

            append(s, actor="cli", action="user_create", object_type="user", object_id=row.username,
                   payload={"role": row.role, "districts": row.districts, "crossing_ids": row.crossing_ids})
    except accounts.AccountError as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"crosswatch: user {args.name} ({args.role}) added")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .db import head_revision, make_engine, upgrade

    settings = _settings(args, demo=True)
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    print(f"crosswatch: database at revision {head_revision()} ({settings.db_url})")
    return 0


def add_commands(sub) -> None:
    from .models import ROLES

    sv = sub.add_parser("serve", help="run the web service (API + UI)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--db", help="SQLAlchemy URL (default: $CROSSWATCH_DB_URL or the project's SQLite file)")
    sv.add_argument("--evidence-dir", help="evidence folder (default: beside the SQLite file)")
    sv.add_argument("--demo", action="store_true",
                    help="demo mode: throwaway signing key and demo accounts (printed); no secret needed")
    sv.add_argument("--log-level", default="info")
    sv.set_defaults(func=cmd_serve)

    us = sub.add_parser("user", help="manage accounts")
    us_sub = us.add_subparsers(dest="user_command", required=True)
    ua = us_sub.add_parser("add", help="add an account (password asked, or read from stdin)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=ROLES)
    ua.add_argument("--district", action="append", help="limit to this district (repeatable)")
    ua.add_argument("--crossing", action="append", help="limit to this crossing id (repeatable)")
    ua.add_argument("--evidence-access", action="store_true", help="analyst may see raw evidence")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    ua.add_argument("--db")
    ua.set_defaults(func=cmd_user_add)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    dbu = db_sub.add_parser("upgrade", help="migrate the database to the latest schema (Alembic)")
    dbu.add_argument("--db")
    dbu.set_defaults(func=cmd_db_upgrade)
