"""`crosswatch batch INPUTS... --crossing C.yaml | --crossings-map MAP.yaml`: many videos, each
processed exactly once, on a local pool or on Ray (the use case: `service.runs.batch`).

Exit status: 0 all done, 3 some files failed (`EXIT_PARTIAL`), 1 none could be processed or the
database or evidence folder cannot be used, 2 usage
or configuration error, 4 `--verify` found evidence problems, 130 interrupted.

Wall-clock times: `--start-time` dates every video; otherwise a time in the file name matched by
`--time-pattern` (default `%Y%m%d_%H%M%S`, as recorders name `CAM01_20260301_080000.mp4`) in
`--timezone` (default: this machine's), otherwise none (events keep video times only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from detector.config import ConfigError, load_signal_plan
from service.db import default_db_url
from service.runs import evidence_store
from service.runs.batch import (
    DEFAULT_TIME_PATTERN,
    EXIT_EVIDENCE,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    BatchError,
    BatchRunner,
    FileState,
    Interrupted,
    JobHandle,
    RunConfig,
    TimePattern,
    check_evidence,
    default_workers,
    exit_status,
    make_executor,
    parse_timezone,
    plan_batch,
)
from service.runs.database import open_database, shown_url
from service.runs.errors import UserError
from service.runs.request import evidence_root, parse_start

from .common import OneLineParser, add_model_options, add_store_options, one_line, parse, refuse_nul


def _summary_lines(files: Sequence[FileState], jobs: dict[str, JobHandle], wall_s: float) -> list[str]:
    done = [f for f in files if f.status == "done"]
    bad = [f for f in files if f.status != "done"]
    hours = sum(f.duration_s or 0.0 for f in done if not f.reused) / 3600
    lines = [
        f"batch: {len(files)} videos: {len(done) - sum(f.reused for f in done)} processed, "
        f"{sum(f.reused for f in done)} already done, {len(bad)} failed; "
        f"{sum(f.events or 0 for f in done)} events; {hours:.2f} video-h processed in {wall_s:.1f} s"
    ]
    lines += [f"  job {h.job.uid} ({cid})" for cid, h in jobs.items()]
    if bad:
        lines.append("files that failed:")
        lines += [f"  {one_line(f.path, 300)}: {f.status}: {one_line(f.error)}" for f in bad]
    return lines


def cmd_batch(args: argparse.Namespace) -> int:
    """`crosswatch batch`: errors of the whole batch are printed here (one line) with exit status 2."""
    try:
        return _cmd_batch(args)
    except (BatchError, ConfigError) as e:
        print(f"crosswatch: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as e:  # the database or the evidence folder cannot be used
        print(f"crosswatch: error: {one_line(e)}", file=sys.stderr)
        return EXIT_FAIL


def _cmd_batch(args: argparse.Namespace) -> int:
    db_url = args.db or default_db_url()
    evidence = evidence_root(args.evidence_dir, db_url)
    status = EXIT_OK
    if args.inputs:
        try:
            start = parse_start(args.start_time)
        except UserError as e:
            raise BatchError(str(e)) from None
        pattern = TimePattern(args.time_pattern, parse_timezone(args.timezone)) if args.time_pattern else None
        try:
            config = RunConfig(
                db_url=db_url,
                evidence_root=str(evidence),
                model=args.model,
                device=args.device,
                imgsz=args.imgsz,
                detect_fps=args.detect_fps,
                signal_plan=str(Path(args.signal_plan).resolve()) if args.signal_plan else None,
            )
        except UserError as e:  # a bad --imgsz, --detect-fps or --device
            raise BatchError(str(e)) from None
        if config.signal_plan and not Path(config.signal_plan).is_file():
            raise BatchError(f"--signal-plan {args.signal_plan}: no such file")
        plan = plan_batch(
            args.inputs,
            crossing=args.crossing,
            crossings_map=args.crossings_map,
            config=config,
            start_time=start,
            time_pattern=pattern,
        )
        if config.signal_plan:  # a bad plan fails the batch, not each video
            for _path, crossing in plan.crossings.values():
                load_signal_plan(config.signal_plan, [sig.id for sig in crossing.signals])
        if args.workers is not None and args.workers < 1:
            raise BatchError("--workers must be at least 1")
        if args.executor == "ray" and args.ray_address and db_url.startswith("sqlite"):
            print(
                "crosswatch: warning: a SQLite database is reachable from this machine's Ray workers only; "
                "give a cluster a PostgreSQL --db",
                file=sys.stderr,
            )
        open_database(db_url).dispose()  # unreachable or unwritable: one line before any worker starts
        evidence_store.check_root(evidence)
        executor = make_executor(
            args.executor, args.workers, address=args.ray_address, init=getattr(args, "worker_init", None)
        )
        t0 = time.perf_counter()
        try:
            runner = BatchRunner(plan, executor)
            files = runner.run()
        except (KeyboardInterrupt, Interrupted):
            print(
                "crosswatch: batch interrupted; finished videos are stored, run the same command to resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        finally:
            executor.shutdown()
        status = exit_status(files)
        lines = _summary_lines(files, runner.jobs, time.perf_counter() - t0)
        print("\n".join(lines), file=sys.stderr if args.json else sys.stdout)
        if args.json:
            json.dump(
                {
                    "exit_status": status,
                    "jobs": {c: h.job.uid for c, h in runner.jobs.items()},
                    "files": [f.summary() for f in files],
                },
                sys.stdout,
                ensure_ascii=False,
            )
            sys.stdout.write("\n")
    elif not args.verify:
        raise BatchError("no inputs (give videos, folders or list files; or --verify alone to check evidence)")
    if args.verify:
        engine = open_database(db_url, migrate=False)
        try:
            check = check_evidence(engine, evidence)
        except SQLAlchemyError as e:
            raise UserError(
                f"database {shown_url(db_url)}: cannot read its evidence rows: "
                f"{str(getattr(e, 'orig', None) or e).strip().splitlines()[0]}"
            ) from None
        finally:
            engine.dispose()
        print("\n".join(check.lines()), file=sys.stderr if args.json else sys.stdout)
        if not check.ok:
            status = EXIT_EVIDENCE
    return status


_DESCRIPTION = """\
Process many videos: files, folders (searched recursively for .mp4 .mkv .avi .mov .ts .flv) and
list files (.txt .lst .list: one path a line, relative to the list, # comments).

Each video is processed once per (content SHA-256, crossing version, settings): finished videos
are skipped, a batch that was stopped or killed resumes where it was when run again, and every
bad file (missing, empty, not a video, corrupt, truncated, unsupported codec, unreadable, crashing
the decoder) is reported with its reason while the batch goes on. The batch is recorded as one
job per crossing (created_by "batch"), so the service's jobs API shows its progress.

Wall-clock times: --start-time dates every video; otherwise the time in the file name matched by
--time-pattern (recorders name files like CAM01_20260301_080000.mp4) in --timezone.

Executors: `local` runs the videos in a pool of worker processes on this machine; `ray` runs one
Ray task per video (a local Ray instance, or the cluster at --ray-address: give it a PostgreSQL
--db and an --evidence-dir that every node can reach)."""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `batch` subcommand."""
    b = sub.add_parser(
        "batch",
        help="process many videos (files, folders, list files) exactly once, locally or on Ray",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 all done, 3 some files failed, 1 all failed or the database or evidence folder "
        "cannot be used, 2 usage error, "
        "4 --verify found evidence problems, 130 interrupted",
    )
    b.add_argument("inputs", nargs="*", help="video files, folders (recursive) and list files (.txt .lst .list)")
    which = b.add_mutually_exclusive_group()
    which.add_argument("--crossing", help="crossing YAML for every video")
    which.add_argument("--crossings-map", help="YAML mapping file-name patterns to crossing files (first match wins)")
    b.add_argument(
        "--workers",
        type=int,
        help=f"videos at once (default: half the cores, here {default_workers()}; "
        "Ray with --ray-address: the cluster's CPUs)",
    )
    b.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local process pool (default) or Ray (pip install 'crosswatch[cluster]')",
    )
    b.add_argument(
        "--ray-address",
        help="Ray cluster address (default: start a local Ray instance); the "
        "database (PostgreSQL) and evidence folder must be reachable from every node",
    )
    add_store_options(b)
    add_model_options(b)
    b.add_argument(
        "--start-time",
        help="wall-clock time of every video's first frame, ISO 8601 with offset (overrides the file-name time)",
    )
    b.add_argument(
        "--time-pattern",
        default=DEFAULT_TIME_PATTERN,
        help="file-name time, strftime-style (%%Y %%m %%d %%H %%M [%%S], * = anything), searched in the "
        "name; '' turns it off (default %(default)s)",
    )
    b.add_argument("--timezone", help="zone of file-name times: +08:00 or Asia/Shanghai (default: this machine's)")
    b.add_argument("--signal-plan", help="phase plan YAML: [{t, state}, ...] instead of reading the lamps")
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    b.add_argument(
        "--verify",
        action="store_true",
        help="after the batch (or alone, without inputs): check that every evidence file belongs to a "
        "stored event and every stored evidence file is there, unchanged",
    )
    b.set_defaults(func=cmd_batch)
    return b


def main(argv: Sequence[str] | None = None, *, worker_init: Callable[[], None] | None = None) -> int:
    """`crosswatch batch ...` from Python; `worker_init` runs once in every worker process (e.g. to
    install another detector) and must be importable by name there."""
    parser = OneLineParser(prog="crosswatch")
    add_parser(parser.add_subparsers(dest="command", required=True))
    argv = list(argv if argv is not None else sys.argv[1:])
    if refuse_nul(argv):
        return EXIT_USAGE
    args = parse(parser, ["batch", *argv])
    if isinstance(args, int):
        return args
    args.worker_init = worker_init
    return cmd_batch(args)
