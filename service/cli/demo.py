"""`crosswatch demo`: process every bundled sample clip that has a crossing file (after `make assets`)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta

from detector.config import ConfigError
from service.runs.errors import UserError

from .common import EXIT_FAIL, EXIT_OK, add_pipeline_options, request_from_args
from .process import run_and_print

# The sample clips' recording times are unknown; the demo dates them one day and one hour apart
# from this (local time, +08:00) so the statistics pages have wall-clock times to bucket.
DEMO_FIRST_START = datetime.fromisoformat("2026-11-02T07:30:00+08:00")


def add_parser(sub: argparse._SubParsersAction) -> None:
    de = sub.add_parser("demo", help="process every bundled sample clip into the database (after `make assets`)")
    add_pipeline_options(de)
    de.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from detector import assets

    failed = 0
    for i, (name, clip, crossing_file) in enumerate(assets.sample_clips_with_crossings()):
        if not clip.exists():
            print(f"crosswatch: {name}: clip missing at {clip} (run `make assets`)", file=sys.stderr)
            failed += 1
            continue
        start = args.start_time or (DEMO_FIRST_START + timedelta(days=i, hours=i)).isoformat()
        try:
            run_and_print(request_from_args(args, clip, crossing_file, start), as_json=args.json)
        except (ConfigError, UserError) as e:
            print(f"crosswatch: {name}: error: {e}", file=sys.stderr)
            failed += 1
    return EXIT_FAIL if failed else EXIT_OK
