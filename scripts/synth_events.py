#!/usr/bin/env python
"""Fill a crosswatch database with realistic synthetic data, for load tests and demos.

    .venv/bin/python scripts/synth_events.py --db sqlite:///data/bench.db --events 1000000 --crossings 40

Makes `--crossings` crossings in several Beijing districts (each with one config version), two
one-hour video runs per crossing per day over `--days` days (start hours drawn with morning and
evening rush-hour peaks), `--events` events spread over the runs (busier hours and a few "hotspot"
crossings get more; types, classes, review statuses and boxes drawn from plausible shares) and
per-minute traffic counts (exposure) for every run.

Why bulk: a million ORM inserts take many minutes. Rows are generated as tuples with numpy and
written with the driver directly: `executemany` in one transaction on SQLite, `COPY` on
PostgreSQL. The database is migrated first (`service.db.upgrade`) and must hold no events.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.db import make_engine, upgrade  # noqa: E402

DISTRICTS = ("东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区")
TYPES = (("red_light", 0.7), ("wrong_way", 0.3))
CLASSES = (("motorcycle", 0.45), ("car", 0.35), ("bicycle", 0.12), ("truck", 0.05), ("bus", 0.03))
STATUSES = (("pending", 0.5), ("confirmed", 0.3), ("dismissed", 0.12), ("needs_info", 0.08))
COUNT_CLASSES = (("motorcycle", 30.0), ("car", 22.0))  # mean road users per minute, before hour weight
# Relative traffic by local hour (Asia/Shanghai): night lull, 7-9 and 17-19 peaks.
HOUR_WEIGHT = np.array(
    [
        0.15,
        0.1,
        0.08,
        0.08,
        0.1,
        0.25,
        0.6,
        1.4,
        1.8,
        1.1,
        0.8,
        0.8,
        0.9,
        0.8,
        0.8,
        0.9,
        1.1,
        1.7,
        1.9,
        1.2,
        0.8,
        0.6,
        0.4,
        0.25,
    ]
)
LOCAL_OFFSET = timedelta(hours=8)
RUNS_PER_DAY = 2
RUN_MINUTES = 60
BATCH = 50_000


@dataclass
class Plan:
    crossings: list[tuple[str, str, str, str]]  # id, name, district, config yaml
    run_crossing: np.ndarray  # crossing index per run
    run_start: list[datetime]  # UTC start per run
    events_per_run: np.ndarray


def _choice(rng: np.random.Generator, table: Sequence[tuple[str, float]], n: int) -> np.ndarray:
    names = np.array([t[0] for t in table], dtype=object)
    p = np.array([t[1] for t in table], dtype=float)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def _crossing_yaml(cid: str, name: str, district: str) -> str:
    data = yaml.safe_load((ROOT / "sample_videos" / "hanoi_giangvo_langha.crossing.yaml").read_text())
    data.update(id=cid, name=name, district=district)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def plan(n_events: int, n_crossings: int, days: int, end: datetime, rng: np.random.Generator) -> Plan:
    crossings = []
    for i in range(n_crossings):
        cid = f"bj-{i + 1:03d}"
        district = DISTRICTS[i % len(DISTRICTS)]
        name = f"{district} 第{i + 1}号路口"
        crossings.append((cid, name, district, _crossing_yaml(cid, name, district)))
    start_day = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    p_hour = HOUR_WEIGHT / HOUR_WEIGHT.sum()
    n_runs = n_crossings * days * RUNS_PER_DAY
    run_crossing = np.repeat(np.arange(n_crossings), days * RUNS_PER_DAY)
    run_day = np.tile(np.repeat(np.arange(days), RUNS_PER_DAY), n_crossings)
    run_hour = rng.choice(24, size=n_runs, p=p_hour)  # local hour: rush hours are filmed more
    run_start = [start_day - LOCAL_OFFSET + timedelta(days=int(d), hours=int(h)) for d, h in zip(run_day, run_hour)]
    hotness = rng.lognormal(0.0, 0.6, size=n_crossings)  # a few crossings are much worse
    w = hotness[run_crossing] * HOUR_WEIGHT[run_hour]
    events_per_run = rng.multinomial(n_events, w / w.sum())
    return Plan(crossings, run_crossing, run_start, events_per_run)


def _ts(dt: datetime, sqlite: bool) -> Any:
    # SQLAlchemy's SQLite DATETIME text format (UTC wall time), or the aware value for psycopg.
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else dt


def crossing_rows(p: Plan, now: datetime, sqlite: bool) -> tuple[list[tuple], list[tuple]]:
    crossings, versions = [], []
    for i, (cid, name, district, text) in enumerate(p.crossings):
        crossings.append((cid, name, district, 39.9 + i * 0.001, 116.4 + i * 0.001, None))
        versions.append((i + 1, cid, 1, hashlib.sha256(text.encode()).hexdigest(), text, _ts(now, sqlite)))
    return crossings, versions


def run_rows(p: Plan, sqlite: bool) -> Iterator[tuple]:
    settings = "{}" if sqlite else json.dumps({})
    for r, (ci, start) in enumerate(zip(p.run_crossing, p.run_start)):
        cid = p.crossings[ci][0]
        end = start + timedelta(minutes=RUN_MINUTES)
        yield (
            r + 1,
            f"/videos/{cid}/{start:%Y%m%d-%H%M}.mp4",
            hashlib.sha256(f"{cid}{r}".encode()).hexdigest(),
            int(ci) + 1,
            "yolo11n.pt",
            settings,
            "synthetic",
            "done",
            _ts(start, sqlite),
            _ts(end, sqlite),
            RUN_MINUTES * 60.0,
            _ts(start, sqlite),
        )


def event_rows(p: Plan, rng: np.random.Generator, sqlite: bool, now: datetime) -> Iterator[tuple]:
    n = int(p.events_per_run.sum())
    run_of = np.repeat(np.arange(len(p.events_per_run)), p.events_per_run)
    t = rng.uniform(0, RUN_MINUTES * 60, size=n)
    types = _choice(rng, TYPES, n)
    classes = _choice(rng, CLASSES, n)
    statuses = _choice(rng, STATUSES, n)
    cx = rng.uniform(40, 600, size=n)
    bottom = rng.uniform(250, 478, size=n)
    half_w = np.where(classes == "car", 45, np.where(classes == "bus", 70, 18)) * (bottom / 480)
    height = half_w * 2.2
    uid_hi = rng.integers(0, 2**63, size=n)
    created = _ts(now, sqlite)
    for i in range(n):
        r = int(run_of[i])
        ci = int(p.run_crossing[r])
        at = p.run_start[r] + timedelta(seconds=float(t[i]))
        red = types[i] == "red_light"
        st = statuses[i]
        reviewed = st != "pending"
        yield (
            i + 1,
            f"{uid_hi[i]:016x}{i:016x}",
            r + 1,
            p.crossings[ci][0],
            ci + 1,
            f"e{i}",
            types[i],
            i % 100_000,
            classes[i],
            float(t[i]),
            int(t[i] * 10),
            float(cx[i] - half_w[i]),
            float(bottom[i] - height[i]),
            float(cx[i] + half_w[i]),
            float(bottom[i]),
            "approach",
            "main",
            "main",
            "RED" if red else None,
            "lamp" if red else None,
            float(rng.uniform(0.5, 20)) if red else None,
            0.8,
            _ts(at, sqlite),
            st,
            1 if reviewed else 0,
            "reviewer" if reviewed else None,
            _ts(at + timedelta(days=1), sqlite) if reviewed else None,
            created,
        )


def count_rows(p: Plan, rng: np.random.Generator, sqlite: bool) -> Iterator[tuple]:
    row_id = 0
    hours = [(s + LOCAL_OFFSET).hour for s in p.run_start]
    for r, start in enumerate(p.run_start):
        ci = int(p.run_crossing[r])
        for cls, mean in COUNT_CLASSES:
            lam = mean * HOUR_WEIGHT[hours[r]]
            for m, c in enumerate(rng.poisson(lam, size=RUN_MINUTES)):
                row_id += 1
                yield (
                    row_id,
                    p.crossings[ci][0],
                    ci + 1,
                    r + 1,
                    "main",
                    cls,
                    m,
                    _ts(start + timedelta(minutes=m), sqlite),
                    int(c),
                )


EVENT_COLS = (
    "id",
    "uid",
    "run_id",
    "crossing_id",
    "crossing_version_id",
    "event_key",
    "type",
    "track_id",
    "class_name",
    "t",
    "frame",
    "x1",
    "y1",
    "x2",
    "y2",
    "lane",
    "stop_line",
    "signal_id",
    "signal_state",
    "signal_source",
    "since_red_s",
    "confidence",
    "occurred_at",
    "review_status",
    "review_stage",
    "reviewed_by",
    "reviewed_at",
    "created_at",
)
RUN_COLS = (
    "id",
    "video_path",
    "video_sha256",
    "crossing_version_id",
    "model",
    "settings",
    "settings_hash",
    "status",
    "started_at",
    "finished_at",
    "duration_s",
    "start_time",
)
COUNT_COLS = (
    "id",
    "crossing_id",
    "crossing_version_id",
    "run_id",
    "stop_line",
    "class_name",
    "minute_start",
    "minute_at",
    "count",
)


def _batches(rows: Iterator[tuple], size: int = BATCH) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(dbapi: Any, sqlite: bool, table: str, cols: Sequence[str], rows: Iterator[tuple]) -> int:
    n = 0
    cur = dbapi.cursor()
    if sqlite:
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        for batch in _batches(rows):
            cur.executemany(sql, batch)
            n += len(batch)
    else:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
                n += 1
    cur.close()
    return n


def fill(
    db_url: str, n_events: int, n_crossings: int, days: int = 180, seed: int = 1, end: datetime | None = None, log=print
) -> dict[str, Any]:
    """Migrate `db_url` and fill it; returns row counts and timings."""
    t0 = time.perf_counter()
    engine = make_engine(db_url)
    upgrade(engine)
    sqlite = engine.dialect.name == "sqlite"
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    p = plan(n_events, n_crossings, days, end or now, rng)
    stats: dict[str, Any] = {"dialect": engine.dialect.name}
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        cur = dbapi.cursor()
        if sqlite:
            cur.execute("PRAGMA synchronous = OFF")
            cur.execute("BEGIN IMMEDIATE")
        n_existing = cur.execute("SELECT count(*) FROM events").fetchone()[0]
        if n_existing:
            raise SystemExit(f"{db_url}: already holds {n_existing} events; use an empty database")
        crossings, versions = crossing_rows(p, now, sqlite)
        _write(
            dbapi, sqlite, "crossings", ("id", "name", "district", "lat", "lon", "current_version_id"), iter(crossings)
        )
        _write(
            dbapi,
            sqlite,
            "crossing_versions",
            ("id", "crossing_id", "version", "geometry_hash", "config_yaml", "created_at"),
            iter(versions),
        )
        cur.execute(
            "UPDATE crossings SET current_version_id = (SELECT v.id FROM crossing_versions v "
            "WHERE v.crossing_id = crossings.id)"
        )
        stats["runs"] = _write(dbapi, sqlite, "video_runs", RUN_COLS, run_rows(p, sqlite))
        t1 = time.perf_counter()
        stats["events"] = _write(dbapi, sqlite, "events", EVENT_COLS, event_rows(p, rng, sqlite, now))
        stats["events_s"] = round(time.perf_counter() - t1, 1)
        log(
            f"events: {stats['events']} in {stats['events_s']} s "
            f"({stats['events'] / max(stats['events_s'], 1e-9):,.0f}/s)"
        )
        t1 = time.perf_counter()
        stats["traffic_counts"] = _write(dbapi, sqlite, "traffic_counts", COUNT_COLS, count_rows(p, rng, sqlite))
        stats["traffic_counts_s"] = round(time.perf_counter() - t1, 1)
        log(f"traffic_counts: {stats['traffic_counts']} in {stats['traffic_counts_s']} s")
        if not sqlite:  # COPY with explicit ids: move the sequences past them
            for table in ("crossing_versions", "video_runs", "events", "traffic_counts"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        dbapi.commit()
        cur.execute("ANALYZE")  # fresh planner statistics for the new volume
        if not sqlite:
            dbapi.commit()
        cur.close()
    finally:
        raw.close()
        engine.dispose()
    stats["crossings"] = n_crossings
    stats["total_s"] = round(time.perf_counter() - t0, 1)
    log(f"done: {stats}")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL of an empty (or new) database")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--crossings", type=int, default=40)
    ap.add_argument("--days", type=int, default=180, help="span of the data, ending now")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.events < 0 or a.crossings < 1 or a.days < 1:
        ap.error("--events >= 0, --crossings >= 1, --days >= 1")
    fill(a.db, a.events, a.crossings, a.days, a.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
