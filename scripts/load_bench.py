#!/usr/bin/env python
"""Load benchmark of the crosswatch API: latency percentiles and throughput per endpoint under
concurrent clients, against a database filled by `scripts/synth_events.py`.

    .venv/bin/python scripts/load_bench.py --db sqlite:///data/bench.db --clients 50 --requests 2000 --out bench.json

Starts the service with uvicorn in a subprocess on a free port (`service.app:create_app`,
settings from CROSSWATCH_* variables: the database, a secret, no jobs worker), creates (once) an
analyst and a reviewer and logs them in, then for each endpoint sends `--requests` GETs from
`--clients` concurrent httpx clients and prints p50 / p95 / p99 / max latency and requests/s.

Endpoints: the events list (first page, two filters, as the reviewer), statistics counts per day
and the hotspot ranking (as the analyst). `--stats-cache-s 0` turns the statistics answer cache
off, to measure the cold aggregation itself; by default the service's own default is used.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_PASSWORD = "bench-password-not-secret"
DEFAULT_SECRET = "load-bench-secret-" + "x" * 32
ENDPOINTS: dict[str, tuple[str, str]] = {  # name -> (user role, path)
    "events_list": ("reviewer", "/api/events?limit=50&type=red_light&review_status=pending"),
    "stats_counts_day": ("analyst", "/api/stats/counts?bucket=day"),
    "stats_hotspots": ("analyst", "/api/stats/hotspots"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_users(db_url: str) -> dict[str, str]:
    """An analyst and a reviewer (unrestricted scope) with a known password: role -> username."""
    from service import accounts
    from service.db import make_engine, session_factory, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    users = {"analyst": "bench-analyst", "reviewer": "bench-reviewer"}
    try:
        with session_factory(engine, write=True).begin() as s:
            for role, name in users.items():
                if accounts.find_user(s, name) is None:
                    accounts.create_user(s, name, BENCH_PASSWORD, role)
    finally:
        engine.dispose()
    return users


def start_server(db_url: str, secret: str, port: int, workers: int, stats_cache_s: float | None) -> subprocess.Popen:
    env = dict(os.environ, CROSSWATCH_DB_URL=db_url, CROSSWATCH_SECRET_KEY=secret, CROSSWATCH_WORKER="false")
    if stats_cache_s is not None:
        env["CROSSWATCH_STATS_CACHE_S"] = str(stats_cache_s)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer /healthz within {timeout_s} s")


def login(base: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/auth/login", json={"username": username, "password": BENCH_PASSWORD}, timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values)))) - 1
    return sorted_values[k]


async def hammer(base: str, path: str, headers: dict[str, str], clients: int, requests: int,
                 timeout_s: float) -> dict[str, Any]:
    """`requests` GETs of `path` from `clients` concurrent workers sharing a connection pool."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    todo = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout_s) as client:
        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                try:
                    r = await client.get(path)
                    key = None if r.status_code == 200 else str(r.status_code)
                except httpx.HTTPError as e:
                    key = type(e).__name__
                latencies.append(time.perf_counter() - t0)
                if key is not None:
                    errors[key] = errors.get(key, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = sorted(x * 1000 for x in latencies)
    return {"path": path, "n": len(lat), "errors": errors, "wall_s": round(wall, 3),
            "rps": round(len(lat) / wall, 1) if wall > 0 else None,
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1), "max_ms": round(lat[-1], 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 1) if lat else None}


def run(db_url: str, clients: int = 50, requests: int = 1000, secret: str = DEFAULT_SECRET, workers: int = 1,
        stats_cache_s: float | None = None, warmup: int = 3, timeout_s: float = 60.0,
        endpoints: Sequence[str] = tuple(ENDPOINTS), log=print) -> dict[str, Any]:
    users = ensure_users(db_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db_url, secret, port, workers, stats_cache_s)
    try:
        wait_ready(base, proc)
        headers = {role: login(base, name) for role, name in users.items()}
        results: dict[str, Any] = {}
        for name in endpoints:
            role, path = ENDPOINTS[name]
            for _ in range(warmup):  # first answers fill caches (SQLite pages, statistics cache)
                httpx.get(base + path, headers=headers[role], timeout=timeout_s)
            res = asyncio.run(hammer(base, path, headers[role], clients, requests, timeout_s))
            results[name] = res
            log(f"{name:18s} n={res['n']:5d} errors={sum(res['errors'].values()):3d} "
                f"p50={res['p50_ms']:8.1f} ms  p95={res['p95_ms']:8.1f} ms  p99={res['p99_ms']:8.1f} ms  "
                f"max={res['max_ms']:8.1f} ms  {res['rps']:8.1f} req/s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"db": _redact(db_url), "clients": clients, "requests": requests, "workers": workers,
            "stats_cache_s": stats_cache_s, "results": results}


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL (filled by scripts/synth_events.py)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000, help="per endpoint")
    ap.add_argument("--secret", default=os.environ.get("CROSSWATCH_SECRET_KEY", DEFAULT_SECRET))
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--stats-cache-s", type=float, default=None, help="0 = statistics answer cache off")
    ap.add_argument("--endpoint", action="append", choices=sorted(ENDPOINTS), help="repeatable; default all")
    ap.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    a = ap.parse_args(argv)
    if a.clients < 1 or a.requests < 1 or a.workers < 1:
        ap.error("--clients, --requests and --workers must be >= 1")
    report = run(a.db, a.clients, a.requests, a.secret, a.workers, a.stats_cache_s, timeout_s=a.timeout,
                 endpoints=a.endpoint or tuple(ENDPOINTS))
    if a.out:
        a.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    failed = sum(sum(r["errors"].values()) for r in report["results"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
