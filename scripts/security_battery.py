#!/usr/bin/env python3
"""Run the hostile-input battery (tests/security/) and print its table: attacks tried, handled,
failures, per attack class (one pytest row per attack; a Hypothesis property test counts the
cases it generated, recorded with `record_property("cases", n)`). A row is filed under its test
module and function, or under the class it records with `record_property("attack_class", name)`
(the CLI battery files its rows by command: `cli process: bad input`, ...).

    PYTHONPATH=$PWD .venv/bin/python scripts/security_battery.py [-k EXPR] [--no-ui]

Exit status 0 only when nothing failed. PostgreSQL rows run when CROSSWATCH_TEST_PG_URL is set.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class Collector:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = defaultdict(
            lambda: {"tried": 0, "handled": 0, "failed": 0, "skipped": 0}
        )
        self.failures: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or (report.when == "setup" and (report.skipped or report.failed)):
            module = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
            func = report.nodeid.split("::")[-1].split("[")[0].removeprefix("test_")
            props = dict(report.user_properties)
            key = str(props.get("attack_class") or f"{module}: {func}")
            n = int(props.get("cases", 1))
            row = self.rows[key]
            if report.skipped:
                row["skipped"] += 1
                return
            row["tried"] += n
            if report.passed:
                row["handled"] += n
            else:
                row["failed"] += 1
                self.failures.append(report.nodeid)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", help="pytest -k expression")
    ap.add_argument("--no-ui", action="store_true", help="leave out the Playwright rows")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.chdir(ROOT)
    pytest_args = ["-q", "-p", "no:cacheprovider", "tests/security"]
    if args.k:
        pytest_args += ["-k", args.k]
    if args.no_ui:
        pytest_args += ["-m", "not ui"]
    c = Collector()
    rc = pytest.main(pytest_args, plugins=[c])
    width = max((len(k) for k in c.rows), default=10)
    print()
    print(f"{'attack class':<{width}}  {'tried':>6}  {'handled':>7}  {'failures':>8}  {'skipped':>7}")
    print("-" * (width + 36))
    total = {"tried": 0, "handled": 0, "failed": 0, "skipped": 0}
    for key in sorted(c.rows):
        r = c.rows[key]
        for k in total:
            total[k] += r[k]
        print(f"{key:<{width}}  {r['tried']:>6}  {r['handled']:>7}  {r['failed']:>8}  {r['skipped']:>7}")
    print("-" * (width + 36))
    print(
        f"{'TOTAL':<{width}}  {total['tried']:>6}  {total['handled']:>7}  {total['failed']:>8}  {total['skipped']:>7}"
    )
    print(
        f"\nattacks tried: {total['tried']}, handled: {total['handled']}, failures: {total['failed']}"
        f" (skipped rows: {total['skipped']}, e.g. PostgreSQL without CROSSWATCH_TEST_PG_URL)"
    )
    for f in c.failures:
        print(f"FAILED {f}")
    return 0 if rc == 0 and not c.failures else 1


if __name__ == "__main__":
    sys.exit(main())
