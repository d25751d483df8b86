"""Smoke test of the load-test tools on a few thousand events: the generator fills a database
that the API reads, and the benchmark starts the service, logs in and prints numbers. Timings are
not checked (they depend on the machine); correctness of what was generated and measured is."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import load_bench  # noqa: E402
import synth_events  # noqa: E402

from service.db import make_engine  # noqa: E402
from service.models import CrossingRow, EventRow, TrafficCountRow, VideoRunRow  # noqa: E402

END = datetime(2026, 6, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.db'}"
    synth_events.fill(url, 3000, 5, days=20, seed=7, end=END, log=lambda *_: None)
    return url


@pytest.mark.parametrize("query,expected", [
    (select(func.count()).select_from(EventRow), 3000),
    (select(func.count()).select_from(CrossingRow), 5),
    (select(func.count(func.distinct(CrossingRow.district))), 5),
    (select(func.count()).select_from(VideoRunRow), 5 * 20 * synth_events.RUNS_PER_DAY),
    (select(func.count()).select_from(TrafficCountRow),
     5 * 20 * synth_events.RUNS_PER_DAY * synth_events.RUN_MINUTES * len(synth_events.COUNT_CLASSES)),
    (select(func.count()).select_from(EventRow).where(EventRow.occurred_at.is_(None)), 0),
    (select(func.count(func.distinct(EventRow.review_status))), 4),
    (select(func.count(func.distinct(EventRow.type))), 2),
])
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
    assert END.replace(day=10) <= lo.replace(tzinfo=timezone.utc) and hi.replace(tzinfo=timezone.utc) <= END
    hours = [(t.hour + 8) % 24 for t in times]  # Shanghai local hour
    rush = sum(h in (7, 8, 17, 18) for h in hours) / len(hours)
    night = sum(h in (1, 2, 3, 4) for h in hours) / len(hours)
    assert rush > 4 * night


def test_bench_prints_and_writes_numbers(filled, tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "load_bench.py"), "--db", filled, "--clients", "4",
                        "--requests", "12", "--out", str(out)], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    assert set(report["results"]) == set(load_bench.ENDPOINTS)
    for name, res in report["results"].items():
        assert res["n"] == 12 and res["errors"] == {}
        assert 0 < res["p50_ms"] <= res["p95_ms"] <= res["p99_ms"] <= res["max_ms"] and res["rps"] > 0
        assert name in r.stdout and "p99=" in r.stdout


@pytest.mark.parametrize("values,q,expected", [([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([1.0, 2.0, 3.0, 4.0], 99, 4.0),
                                               ([5.0], 50, 5.0), (list(map(float, range(1, 101))), 95, 95.0)])
def test_percentile_nearest_rank(values, q, expected):
    assert load_bench.percentile(values, q) == expected
