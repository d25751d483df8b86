#!/usr/bin/env python
"""Load benchmark of the crosswatch API: latency percentiles and throughput per endpoint under
concurrent clients, against a database filled by `scripts/synth_events.py`. A benchmark, not a
test: it prints numbers and writes them as JSON; it fails (exit 1) only on request errors.

    .venv/bin/python scripts/load_bench.py --db sqlite:///data/bench.db --clients 50 --duration 30 --out bench.json

Starts the service with uvicorn in a subprocess on a free port (`service.api.app:create_app`,
settings from CROSSWATCH_* variables: the database, a secret, no jobs worker; `--workers`
processes), creates (once) an analyst and a reviewer and logs them in, then loads each endpoint
in turn with `--clients` concurrent connections and prints p50 / p95 / p99 / max latency,
requests/s, the server's CPU time per request and the machine's load average.

The load generator: `wrk` (Debian package `wrk`; a C program) when it is on PATH, else a Python
asyncio client (`--client` chooses). On a small machine the client shares the CPUs with the
server: the Python client spends about as much CPU per request as the server and distorts the
numbers, wrk a small fraction. wrk runs for `--duration` seconds per endpoint (its own Lua hook
reports the percentiles and the HTTP status of every response); the Python client sends
`--requests` requests per endpoint.

Endpoints: the events list (first page, default sort; and filtered by type + review status, as
the reviewer), statistics counts per day and the hotspot ranking (as the analyst).
`--stats-cache-s 0` turns the statistics answer cache off, to measure the aggregation itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_PASSWORD = "bench-password-not-secret"
DEFAULT_SECRET = "load-bench-secret-" + "x" * 32
# name -> (user role, path); "{limit}" / "{offset}" = random page sizes / starts, ~1,600 pages in
# all: far more than the list's page cache holds, so this measures pages as the database serves them
ENDPOINTS: dict[str, tuple[str, str]] = {
    "events_list": ("reviewer", "/api/events?limit=50"),
    "events_list_filtered": ("reviewer", "/api/events?limit=50&type=red_light&review_status=pending"),
    "events_list_pages": ("reviewer", "/api/events?limit={limit}&offset={offset}"),
    "stats_counts_day": ("analyst", "/api/stats/counts?bucket=day"),
    "stats_hotspots": ("analyst", "/api/stats/hotspots"),
}
DEFAULT_ENDPOINTS = ("events_list", "events_list_filtered", "stats_counts_day", "stats_hotspots")
OFFSETS = 20  # "{offset}": 50 * a random 0..OFFSETS-1
LIMITS = (20, 100)  # "{limit}": a random size in this range
CLIENTS = ("auto", "wrk", "python")
# wrk's Lua hooks: count every response's status per thread, and at the end print one JSON line
# with the summary and the latency percentiles (wrk's own --latency table has no p95).
WRK_SCRIPT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  statuses = {}
  template = args[1]
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do merged[code] = (merged[code] or 0) + n end
  end
  local codes = {}
  for code, n in pairs(merged) do table.insert(codes, string.format('"%d": %d', code, n)) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean, table.concat(codes, ", ")))
end
"""
# Added when the path has placeholders: every request asks for a random page.
WRK_RANDOM_PAGE = rf"""
function request()
  local path = template:gsub("{{offset}}", tostring(50 * math.random(0, {OFFSETS - 1})))
  path = path:gsub("{{limit}}", tostring(math.random({LIMITS[0]}, {LIMITS[1]})))
  return wrk.format("GET", path)
end
"""
WRK_MARK = "WRKJSON "


def concrete(path: str, rng: random.Random) -> str:
    """`path` with "{offset}" and "{limit}" replaced by a random page's."""
    return path.replace("{offset}", str(50 * rng.randrange(OFFSETS))).replace("{limit}", str(rng.randint(*LIMITS)))


def templated(path: str) -> bool:
    return "{offset}" in path or "{limit}" in path


class BenchError(RuntimeError):
    """The benchmark cannot run (no server, no wrk when asked for, unreadable wrk output)."""


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
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def wait_ready(base: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the server did not answer /healthz within {timeout_s} s")


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


# -- measurements of the machine -----------------------------------------------------------------
def loadavg() -> float | None:
    """The 1-minute load average (None where /proc is missing): the machine is shared, so every
    number is reported with it."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (the workers of `uvicorn --workers N`), from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:  # field 4: ppid
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` and its children (uvicorn workers) so far; None
    without /proc. Per request, this is the server's cost whatever else loads the machine."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        for p in [pid, *_children(pid)]:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14, 15)
    except (OSError, ValueError, IndexError):
        return None
    return total


# -- load generators -------------------------------------------------------------------------------
def _result(
    path: str,
    client: str,
    n: int,
    errors: dict[str, int],
    wall_s: float,
    p50_ms: float,
    p95_ms: float,
    p99_ms: float,
    max_ms: float,
    mean_ms: float,
) -> dict[str, Any]:
    return {
        "path": path,
        "client": client,
        "n": n,
        "errors": errors,
        "wall_s": round(wall_s, 3),
        "rps": round(n / wall_s, 1) if wall_s > 0 else None,
        "p50_ms": round(p50_ms, 1),
        "p95_ms": round(p95_ms, 1),
        "p99_ms": round(p99_ms, 1),
        "max_ms": round(max_ms, 1),
        "mean_ms": round(mean_ms, 1),
    }


async def hammer(
    base: str, path: str, headers: dict[str, str], clients: int, requests: int, timeout_s: float
) -> dict[str, Any]:
    """The Python client: `requests` GETs of `path` from `clients` concurrent workers sharing a
    connection pool."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    todo = iter(range(requests))
    rng = random.Random(1)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout_s) as client:

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                try:
                    r = await client.get(concrete(path, rng))
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
    if not lat:
        raise BenchError("no request was sent")
    return _result(
        path,
        "python",
        len(lat),
        errors,
        wall,
        percentile(lat, 50),
        percentile(lat, 95),
        percentile(lat, 99),
        lat[-1],
        statistics.fmean(lat),
    )


def parse_wrk(stdout: str, path: str) -> dict[str, Any]:
    """The result of one wrk run from the JSON line `WRK_SCRIPT` prints. Non-200 answers and
    socket errors count as errors, by status code or error kind."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(WRK_MARK)), None)
    if line is None:
        raise BenchError(f"wrk printed no {WRK_MARK.strip()} line (is it wrk 4 with Lua?):\n{stdout[-2000:]}")
    try:
        w = json.loads(line[len(WRK_MARK) :])
    except json.JSONDecodeError as e:
        raise BenchError(f"unreadable wrk summary {line!r}: {e}") from None
    errors = {code: int(n) for code, n in w["statuses"].items() if code != "200"}
    errors.update({kind: int(w[kind]) for kind in ("connect", "read", "write", "timeout") if w[kind]})
    wall = w["duration_us"] / 1e6
    return _result(
        path,
        "wrk",
        int(w["requests"]),
        errors,
        wall,
        w["p50_us"] / 1000,
        w["p95_us"] / 1000,
        w["p99_us"] / 1000,
        w["max_us"] / 1000,
        w["mean_us"] / 1000,
    )


def run_wrk(
    wrk: str,
    base: str,
    path: str,
    headers: dict[str, str],
    clients: int,
    duration_s: float,
    timeout_s: float,
    threads: int = 2,
) -> dict[str, Any]:
    """`clients` keep-alive connections on `threads` wrk threads for `duration_s` seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT + (WRK_RANDOM_PAGE if templated(path) else ""))
        script = f.name
    try:
        cmd = [
            wrk,
            f"-t{min(threads, clients)}",
            f"-c{clients}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            "-s",
            script,
        ]
        for k, v in headers.items():
            cmd += ["-H", f"{k}: {v}"]
        url = base + concrete(path, random.Random(0))
        r = subprocess.run([*cmd, url, "--", path], capture_output=True, text=True, timeout=duration_s + timeout_s + 60)
    finally:
        os.unlink(script)
    if r.returncode != 0:
        raise BenchError(f"wrk failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return parse_wrk(r.stdout, path)


def pick_client(choice: str) -> str | None:
    """The wrk executable to use, or None for the Python client."""
    if choice not in CLIENTS:
        raise BenchError(f"--client must be one of {', '.join(CLIENTS)}")
    wrk = shutil.which("wrk")
    if choice == "wrk" and wrk is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk); use --client python")
    return None if choice == "python" else wrk


def format_line(name: str, res: dict[str, Any]) -> str:
    cpu = res.get("server_cpu_ms_per_req")
    return (
        f"{name:21s} {res['client']:6s} n={res['n']:6d} err={sum(res['errors'].values()):4d} "
        f"p50={res['p50_ms']:7.1f} p95={res['p95_ms']:7.1f} p99={res['p99_ms']:7.1f} max={res['max_ms']:7.1f} ms "
        f"{res['rps']:7.1f} req/s  cpu/req={'-' if cpu is None else f'{cpu:.2f} ms'}  "
        f"load {res.get('load_before')}->{res.get('load_after')}"
    )


WARM_MAX_MS = 1000.0  # warm: no request of a warm-up burst took longer than this
WARM_LIMIT_S = 120.0


def warm_up(
    wrk: str | None, base: str, path: str, headers: dict[str, str], clients: int, seconds: float, timeout_s: float
) -> float:
    """Fill the caches before measuring: one request alone (the first answer may take seconds to
    compute; concurrent identical requests would just wait for it), then bursts of the same load
    until none of a burst's requests took over `WARM_MAX_MS` (every worker process has computed
    its answers), at most `WARM_LIMIT_S`. Returns the seconds spent."""
    t0 = time.monotonic()
    httpx.get(base + concrete(path, random.Random(0)), headers=headers, timeout=max(timeout_s, 600))
    while seconds > 0 and time.monotonic() - t0 < WARM_LIMIT_S:
        if wrk is not None:
            res = run_wrk(wrk, base, path, headers, clients, seconds, max(timeout_s, 600))
        else:
            res = asyncio.run(hammer(base, path, headers, clients, clients * 2, max(timeout_s, 600)))
        if res["max_ms"] <= WARM_MAX_MS:
            break
    return time.monotonic() - t0


def run(
    db_url: str,
    clients: int = 50,
    requests: int = 1000,
    secret: str = DEFAULT_SECRET,
    workers: int = 1,
    stats_cache_s: float | None = None,
    warmup_s: float = 3.0,
    timeout_s: float = 60.0,
    endpoints: Sequence[str] = DEFAULT_ENDPOINTS,
    client: str = "auto",
    duration_s: float = 30.0,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    unknown = sorted(set(endpoints) - set(ENDPOINTS))
    if unknown:
        raise BenchError(f"unknown endpoints {unknown}; known: {sorted(ENDPOINTS)}")
    wrk = pick_client(client)
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
            warm_s = warm_up(wrk, base, path, headers[role], clients, warmup_s, timeout_s)
            load0, cpu0 = loadavg(), cpu_seconds(proc.pid)
            if wrk is not None:
                res = run_wrk(wrk, base, path, headers[role], clients, duration_s, timeout_s)
            else:
                res = asyncio.run(hammer(base, path, headers[role], clients, requests, timeout_s))
            cpu1 = cpu_seconds(proc.pid)
            res["server_cpu_ms_per_req"] = (
                round((cpu1 - cpu0) * 1000 / res["n"], 3)
                if cpu0 is not None and cpu1 is not None and res["n"]
                else None
            )
            res["load_before"], res["load_after"] = load0, loadavg()
            res["warmup_s"] = round(warm_s, 1)
            results[name] = res
            log(format_line(name, res))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "db": _redact(db_url),
        "clients": clients,
        "client": "wrk" if wrk else "python",
        "duration_s": duration_s if wrk else None,
        "requests": None if wrk else requests,
        "workers": workers,
        "stats_cache_s": stats_cache_s,
        "cpus": os.cpu_count(),
        "results": results,
    }


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL (filled by scripts/synth_events.py)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent connections")
    ap.add_argument("--client", choices=CLIENTS, default="auto", help="load generator (auto: wrk if installed)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per endpoint (wrk)")
    ap.add_argument("--requests", type=int, default=1000, help="requests per endpoint (Python client)")
    ap.add_argument("--secret", default=os.environ.get("CROSSWATCH_SECRET_KEY", DEFAULT_SECRET))
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--stats-cache-s", type=float, default=None, help="0 = statistics answer cache off")
    ap.add_argument(
        "--endpoint",
        action="append",
        choices=sorted(ENDPOINTS),
        help=f"repeatable; default {', '.join(DEFAULT_ENDPOINTS)}",
    )
    ap.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds per warm-up burst (repeated until warm; 0 = one request only)",
    )
    ap.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    a = ap.parse_args(argv)
    if a.clients < 1 or a.requests < 1 or a.workers < 1 or a.duration < 1:
        ap.error("--clients, --requests, --workers and --duration must be >= 1")
    try:
        report = run(
            a.db,
            a.clients,
            a.requests,
            a.secret,
            a.workers,
            a.stats_cache_s,
            warmup_s=a.warmup,
            timeout_s=a.timeout,
            endpoints=a.endpoint or DEFAULT_ENDPOINTS,
            client=a.client,
            duration_s=a.duration,
        )
    except BenchError as e:
        print(f"load_bench: error: {e}", file=sys.stderr)
        return 2
    if a.out:
        a.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    failed = sum(sum(r["errors"].values()) for r in report["results"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
