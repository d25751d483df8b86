"""Smoke test of the load-test tools on a few thousand events: the generator fills a database
that the API reads, and the benchmark starts the service, logs in and prints numbers with both
load generators (wrk when installed, the Python client always). Timings are not checked (they
depend on the machine); correctness of what was generated, measured and parsed is."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import load_bench  # noqa: E402
import synth_events  # noqa: E402

from service.db import make_engine  # noqa: E402
from service.models import CrossingRow, EventRow, TrafficCountRow, VideoRunRow  # noqa: E402

END = datetime(2026, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.db'}"
    synth_events.fill(url, 3000, 5, days=20, seed=7, end=END, log=lambda *_: None)
    return url


@pytest.mark.parametrize(
    "query,expected",
    [
        (select(func.count()).select_from(EventRow), 3000),
        (select(func.count()).select_from(CrossingRow), 5),
        (select(func.count(func.distinct(CrossingRow.district))), 5),
        (select(func.count()).select_from(VideoRunRow), 5 * 20 * synth_events.RUNS_PER_DAY),
        (
            select(func.count()).select_from(TrafficCountRow),
            5 * 20 * synth_events.RUNS_PER_DAY * synth_events.RUN_MINUTES * len(synth_events.COUNT_CLASSES),
        ),
        (select(func.count()).select_from(EventRow).where(EventRow.occurred_at.is_(None)), 0),
        (select(func.count(func.distinct(EventRow.review_status))), 4),
        (select(func.count(func.distinct(EventRow.type))), 2),
    ],
)
def test_generator_fills_the_tables(filled, query, expected):
    engine = make_engine(filled)
    with engine.connect() as c:
        assert c.execute(query).scalar() == expected
    engine.dispose()


def test_generated_times_are_in_range_with_rush_hours(filled):
    engine = make_engine(filled)
    with engine.connect() as c:
        lo, hi = c.execute(select(func.min(EventRow.occurred_at), func.max(EventRow.occurred_at))).one()
        times = c.execute(select(EventRow.occurred_at)).scalars().all()
    engine.dispose()
    assert END.replace(day=10) <= lo.replace(tzinfo=UTC) and hi.replace(tzinfo=UTC) <= END
    hours = [(t.hour + 8) % 24 for t in times]  # Shanghai local hour
    rush = sum(h in (7, 8, 17, 18) for h in hours) / len(hours)
    night = sum(h in (1, 2, 3, 4) for h in hours) / len(hours)
    assert rush > 4 * night


def _bench(db: str, tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "load_bench.py"),
            "--db",
            db,
            "--clients",
            "4",
            "--warmup",
            "0",
            "--out",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r, json.loads(out.read_text())


def _check(report: dict, names, stdout: str) -> None:
    assert set(report["results"]) == set(names)
    for name, res in report["results"].items():
        assert res["n"] > 0 and res["errors"] == {}, res
        assert 0 < res["p50_ms"] <= res["p95_ms"] <= res["p99_ms"] <= res["max_ms"] and res["rps"] > 0
        assert name in stdout and "p99=" in stdout


def test_bench_with_the_python_client(filled, tmp_path):
    r, report = _bench(filled, tmp_path, "--client", "python", "--requests", "12")
    assert report["client"] == "python"
    _check(report, load_bench.DEFAULT_ENDPOINTS, r.stdout)
    assert all(res["n"] == 12 for res in report["results"].values())


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian package wrk)")
def test_bench_with_wrk(filled, tmp_path):
    names = ["events_list_pages", "stats_hotspots"]
    r, report = _bench(
        filled, tmp_path, "--client", "wrk", "--duration", "1", *[x for n in names for x in ("--endpoint", n)]
    )
    assert report["client"] == "wrk" and report["duration_s"] == 1
    _check(report, names, r.stdout)


WRK_LINE = (
    'WRKJSON {"requests": 200, "duration_us": 2000000, "connect": 0, "read": 0, "write": 0, "timeout": 0, '
    '"p50_us": 1500, "p95_us": 4000, "p99_us": 9000, "max_us": 12000, "mean_us": 2000.5, "statuses": {%s}}'
)


@pytest.mark.parametrize(
    "statuses,socket_errors,errors",
    [
        ('"200": 200', {}, {}),
        ('"200": 190, "503": 10', {}, {"503": 10}),
        ('"200": 198', {"timeout": 2}, {"timeout": 2}),
    ],
)
def test_parse_wrk(statuses, socket_errors, errors):
    line = WRK_LINE % statuses
    for kind, n in socket_errors.items():
        line = line.replace(f'"{kind}": 0', f'"{kind}": {n}')
    res = load_bench.parse_wrk(f"Running 2s test\n{line}\n", "/p")
    assert res["errors"] == errors
    assert (res["n"], res["rps"], res["p50_ms"], res["p95_ms"], res["p99_ms"], res["max_ms"]) == (
        200,
        100.0,
        1.5,
        4.0,
        9.0,
        12.0,
    )


@pytest.mark.parametrize("stdout", ["", "Running 2s test\n", "WRKJSON {not json"])
def test_parse_wrk_refuses_other_output(stdout):
    with pytest.raises(load_bench.BenchError):
        load_bench.parse_wrk(stdout, "/p")


def test_random_pages_stay_in_range():
    rng = random.Random(3)
    seen = {load_bench.concrete("/api/events?limit={limit}&offset={offset}", rng) for _ in range(500)}
    pairs = [tuple(int(kv.split("=")[1]) for kv in u.split("?")[1].split("&")) for u in seen]
    assert len(seen) > 100
    assert all(
        load_bench.LIMITS[0] <= lim <= load_bench.LIMITS[1] and off % 50 == 0 and 0 <= off < 50 * load_bench.OFFSETS
        for lim, off in pairs
    )
    assert load_bench.concrete("/api/stats/hotspots", rng) == "/api/stats/hotspots"


def test_asking_for_missing_wrk_is_an_error(monkeypatch):
    monkeypatch.setattr(load_bench.shutil, "which", lambda name: None)
    with pytest.raises(load_bench.BenchError, match="apt-get install wrk"):
        load_bench.pick_client("wrk")
    assert load_bench.pick_client("auto") is None


@pytest.mark.parametrize(
    "values,q,expected",
    [
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 99, 4.0),
        ([5.0], 50, 5.0),
        (list(map(float, range(1, 101))), 95, 95.0),
    ],
)
def test_percentile_nearest_rank(values, q, expected):
    assert load_bench.percentile(values, q) == expected
