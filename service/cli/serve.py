"""`crosswatch serve`: the web service (API + UI); `--demo` with throwaway demo accounts."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .common import service_settings

DEMO_USERS = (  # printed by `serve --demo`; demo mode only
    ("admin", "admin", "admin-demo"),
    ("operator", "operator", "operator-demo"),
    ("reviewer", "reviewer", "reviewer-demo"),
    ("analyst", "analyst", "analyst-demo"),
)


def ensure_demo_users(sessionmaker) -> list[tuple[str, str, str]]:
    """The four demo accounts (created if missing; existing ones are left as they are)."""
    from service import accounts

    with sessionmaker.begin() as s:
        for username, role, password in DEMO_USERS:
            if accounts.find_user(s, username) is None:
                accounts.create_user(s, username, password, role, evidence_access=role == "analyst")
    return list(DEMO_USERS)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.app import create_app
    from service.settings import SettingsError

    overrides: dict[str, Any] = {"demo": True} if args.demo else {}
    if args.demo and not os.environ.get("CROSSWATCH_INGEST_ROOT"):
        from detector.assets import REPO_ROOT

        overrides["ingest_root"] = REPO_ROOT / "assets" / "sample_videos"
    try:
        settings = service_settings(args, **overrides)
        app = create_app(settings)
    except SettingsError as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return 2
    if settings.demo:
        users = ensure_demo_users(app.state.write_sessionmaker)
        print("crosswatch: DEMO MODE — throwaway signing key, demo accounts (never use in production):")
        for username, role, password in users:
            print(f"  {role:<9} user {username:<9} password {password}")
    print(
        f"crosswatch: serving http://{args.host}:{args.port}/  (API docs: /docs; database {settings.db_url})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    sv = sub.add_parser("serve", help="run the web service (API + UI)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--db", help="SQLAlchemy URL (default: $CROSSWATCH_DB_URL or the project's SQLite file)")
    sv.add_argument("--evidence-dir", help="evidence folder (default: beside the SQLite file)")
    sv.add_argument(
        "--demo",
        action="store_true",
        help="demo mode: throwaway signing key and demo accounts (printed); no secret needed",
    )
    sv.add_argument("--log-level", default="info")
    sv.set_defaults(func=cmd_serve)
