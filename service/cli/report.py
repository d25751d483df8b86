"""`crosswatch report`: the campaign bulletin (创城简报) of a period as PDF or DOCX.

    crosswatch report --from 2026-11-02 --to 2026-11-08 [--district 东城区] --format pdf [--out PATH]

`--from` / `--to` are local days in `--tz` (both included) or ISO 8601 times with an offset (`--to`
then exclusive). The whole database is in scope (the command runs with the database's rights).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import true

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class ReportError(Exception):
    """Bad input to `crosswatch report`: one line for the user."""


def parse_bound(value: str, tz: ZoneInfo, *, end: bool) -> datetime:
    """A day (local midnight; an end day is included, so the bound is the next midnight) or an
    ISO 8601 time with an offset."""
    try:
        d = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(d + timedelta(days=1 if end else 0), time(), tzinfo=tz)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(
            f"{'--to' if end else '--from'}: {value!r} is neither a day (2026-11-02) nor an ISO time with an offset"
        ) from None
    if t.tzinfo is None:
        raise ReportError(f"{'--to' if end else '--from'}: {value!r} needs an offset (e.g. +08:00)")
    return t


def cmd_report(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ReportError as e:
        print(f"crosswatch: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from service import stats_repo
    from service.db import make_engine, session_factory, upgrade
    from service.reports import data, render
    from service.settings import Settings, SettingsError

    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"--tz: unknown time zone {args.tz!r}") from None
    start, end = parse_bound(args.from_, tz, end=False), parse_bound(args.to, tz, end=True)
    if start >= end:
        raise ReportError("--from must be before --to")
    try:
        settings = Settings.from_env(db_url=args.db, evidence_dir=args.evidence_dir, demo=True)
    except SettingsError as e:
        raise ReportError(str(e)) from None
    f = stats_repo.StatsFilter(
        scope=lambda _col: true(),
        start=start.astimezone(ZoneInfo("UTC")),
        end=end.astimezone(ZoneInfo("UTC")),
        district=args.district,
        status=args.status,
        tz=tz,
    )
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        with session_factory(engine)() as s:
            b = data.collect(s, f, evidence_root=settings.resolved_evidence_dir().resolve(), public=args.public)
            try:
                body = render.render(b, args.format)
            except render.RenderUnavailable as e:
                print(f"crosswatch: error: {e}", file=sys.stderr)
                return EXIT_FAIL
    finally:
        engine.dispose()
    out = Path(args.out) if args.out else Path(render.filename(b, args.format))
    if out.is_dir():
        out = out / render.filename(b, args.format)
    try:
        out.write_bytes(body)
    except OSError as e:
        print(f"crosswatch: error: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"crosswatch: bulletin {out} ({args.format}, {len(body):,} bytes; {b.summary.violations} violations, "
        f"{len(b.hotspots)} crossings, {len(b.cases)} cases)"
    )
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `report` on the `crosswatch` subparsers."""
    rp = sub.add_parser("report", help="the campaign bulletin (创城简报) of a period as PDF or DOCX")
    rp.add_argument("--from", dest="from_", required=True, help="first day (2026-11-02) or ISO time with offset")
    rp.add_argument("--to", required=True, help="last day, included (2026-11-08), or ISO time with offset (exclusive)")
    rp.add_argument("--district", help="one district (辖区); default the whole city")
    rp.add_argument("--format", choices=("pdf", "docx"), default="pdf")
    rp.add_argument("--out", help="file or folder to write (default: crosswatch-bulletin_<days>.<format> here)")
    rp.add_argument(
        "--status",
        choices=("not_dismissed", "confirmed", "all"),
        default="not_dismissed",
        help="events counted (统计口径; default not_dismissed, as the dashboard)",
    )
    rp.add_argument("--tz", default="Asia/Shanghai", help="IANA zone of the days (default Asia/Shanghai)")
    rp.add_argument(
        "--public",
        action="store_true",
        help="public edition: bystanders' persons and plates blurred in the case pictures",
    )
    rp.add_argument("--db", help="SQLAlchemy URL (default: $CROSSWATCH_DB_URL or the project's SQLite file)")
    rp.add_argument("--evidence-dir", help="evidence folder (default: beside the SQLite file)")
    rp.set_defaults(func=cmd_report)
