"""`crosswatch` command line: one module per command, each with `add_parser(sub)` and its `cmd_*`.

The parser is the only place that sees argparse: the commands turn their options into typed
requests (`service.runs.request.ProcessRequest`) and call the use cases in `service.runs`.
"""
from __future__ import annotations

import argparse
import sys

from detector.config import ConfigError
from service.runs.errors import UserError

from . import batch, bench, db, demo, eval, process, report, serve, user, verify, watch
from .common import EXIT_FAIL, EXIT_USAGE
from .serve import DEMO_USERS, ensure_demo_users

COMMANDS = (process, eval, bench, demo, batch, watch, serve, user, db, verify, report)

__all__ = ["DEMO_USERS", "build_parser", "ensure_demo_users", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crosswatch", description="Traffic-violation camera analytics (闯红灯 / 逆行).")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UserError) as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_FAIL
    except KeyboardInterrupt:
        print("crosswatch: interrupted; nothing of this run was stored", file=sys.stderr)
        return 130
