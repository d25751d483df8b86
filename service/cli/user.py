"""`crosswatch user add NAME --role ROLE`: accounts of the service."""

from __future__ import annotations

import argparse
import getpass
import sys

from .common import service_settings


def cmd_user_add(args: argparse.Namespace) -> int:
    from service import accounts
    from service.db import make_engine, session_factory, upgrade

    settings = service_settings(args, demo=True)  # no secret needed to manage accounts
    password = (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.name}: ")
    )
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        with session_factory(engine, write=True).begin() as s:
            row = accounts.create_user(
                s,
                args.name,
                password,
                args.role,
                districts=args.district or (),
                crossing_ids=args.crossing or (),
                evidence_access=args.evidence_access,
            )
            from service.audit import append

            append(
                s,
                actor="cli",
                action="user_create",
                object_type="user",
                object_id=row.username,
                payload={"role": row.role, "districts": row.districts, "crossing_ids": row.crossing_ids},
            )
    except accounts.AccountError as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"crosswatch: user {args.name} ({args.role}) added")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from service.models import ROLES

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
