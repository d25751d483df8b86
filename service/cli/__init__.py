"""`crosswatch` command line: one module per command, each with `add_parser(sub)` and its `cmd_*`.

The parser is the only place that sees argparse: the commands turn their options into typed
requests (`service.runs.request.ProcessRequest`) and call the use cases in `service.runs`.
"""

from __future__ import annotations

import argparse
import os
import sys

from detector.config import ConfigError
from service.runs.errors import UserError

from . import batch, bench, db, demo, eval, process, report, serve, user, verify, watch
from .common import EXIT_FAIL, EXIT_USAGE, OneLineParser, error, parse, refuse_nul
from .serve import DEMO_USERS, ensure_demo_users

COMMANDS = (process, eval, bench, demo, batch, watch, serve, user, db, verify, report)

__all__ = ["DEMO_USERS", "build_parser", "ensure_demo_users", "main"]


DEBUG_ENV = "CROSSWATCH_DEBUG"  # set: an unexpected error shows its traceback


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="crosswatch", description="Traffic-violation camera analytics (闯红灯 / 逆行).")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. Whatever goes wrong is one line on stderr and a non-zero exit: 2 usage or
    configuration, 1 anything else (an unexpected error says so; $CROSSWATCH_DEBUG=1 shows its traceback)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if refuse_nul(argv):
        return EXIT_USAGE
    args = parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        return args.func(args)
    except (ConfigError, UserError) as e:
        error(e)
        return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_FAIL
    except KeyboardInterrupt:
        print("crosswatch: interrupted; nothing of this run was stored", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last resort: one line, never a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(e, SQLAlchemyError):
            text = str(getattr(e, "orig", None) or e).strip().splitlines()
            error(f"database: {text[0] if text else type(e).__name__}")
        elif isinstance(e, OSError):
            error(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        else:
            error(f"internal error: {type(e).__name__}: {e} (set {DEBUG_ENV}=1 for the traceback)")
        return EXIT_FAIL
