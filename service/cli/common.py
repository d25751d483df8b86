"""What every `crosswatch` command shares: exit codes, the model and pipeline options, and the one
place where parsed options become a `ProcessRequest` (nothing below the parser sees argparse)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from service.runs.errors import MAX_LINE, one_line
from service.runs.request import DEFAULT_DETECT_FPS, DEFAULT_IMGSZ, ProcessRequest, parse_start

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_LINE",
    "OneLineParser",
    "error",
    "one_line",
    "parse",
    "refuse_nul",
    "request_from_args",
]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit 2), hostile text escaped."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def add_model_options(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("--model", help="model manifest name or path (default: the manifest's default for the device)")
    pr.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    pr.add_argument("--imgsz", type=int, default=DEFAULT_IMGSZ)
    pr.add_argument(
        "--detect-fps",
        type=float,
        default=DEFAULT_DETECT_FPS,
        help="detect on at most this many frames per video second; 0 = every frame",
    )


def add_store_options(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("--db", help="SQLAlchemy URL (default: SQLite in the project's data folder, or $CROSSWATCH_DB_URL)")
    pr.add_argument(
        "--evidence-dir", help="evidence folder (default: beside the SQLite file, or $CROSSWATCH_EVIDENCE_DIR)"
    )


def add_pipeline_options(pr: argparse.ArgumentParser) -> None:
    add_store_options(pr)
    add_model_options(pr)
    pr.add_argument("--start-time", help="wall-clock time of the video's first frame, ISO 8601 with offset")
    pr.add_argument("--signal-plan", help="phase plan YAML: [{t, state}, ...] instead of reading the lamps")
    pr.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def request_from_args(
    args: argparse.Namespace, video: str | Path, crossing: str | Path, start_time: str | None = None
) -> ProcessRequest:
    """The request the parsed options ask for (model options; store and plan options when present)."""
    return ProcessRequest.build(
        video,
        crossing,
        db_url=getattr(args, "db", None),
        evidence_dir=getattr(args, "evidence_dir", None),
        model=args.model,
        device=args.device,
        imgsz=args.imgsz,
        detect_fps=args.detect_fps,
        start_time=parse_start(start_time),
        signal_plan=getattr(args, "signal_plan", None),
    )


def refuse_nul(argv: list[str]) -> bool:
    """True (after one line on stderr) when an argument holds a NUL character (no path can)."""
    if any("\x00" in a for a in argv):
        error("an argument contains a NUL character")
        return True
    return False


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    """The parsed options, or the exit status when the parser stopped (--help, a usage error)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_USAGE


def error(text: object) -> None:
    print(f"crosswatch: error: {one_line(text)}", file=sys.stderr)


def service_settings(args: argparse.Namespace, **overrides):
    """The service's Settings from the environment, with --db / --evidence-dir when given."""
    from service.settings import Settings

    return Settings.from_env(
        db_url=getattr(args, "db", None), evidence_dir=getattr(args, "evidence_dir", None), **overrides
    )
