#!/usr/bin/env python3
"""Measure a login flood against video processing on one SQLite database (issue 12, cause 3).

1. Quiet: `crosswatch process CLIP` into a fresh SQLite file, timed.
2. Flood: the service (uvicorn, own process, loopback only) on another fresh SQLite file; for
   `--duration` seconds `--clients` parallel clients send wrong passwords (each request a new
   random username, so the per-account limiter does not short-circuit them and every request
   costs a password check: the worst case), while an admin client makes one API write
   (`PATCH /api/users/{id}`) every 0.25 s and `crosswatch process CLIP` runs into the same file.

Prints: quiet vs flooded process time (and the ratio, target <= 1.5), "database is locked"
occurrences in the process's and the server's output (target 0), API write latency p50/p99/max
(target p99 < 1 s), and the flood's request counts by status. Bounded: loopback, fixed client
count and duration; nothing leaves the machine.

    PYTHONPATH=$PWD .venv/bin/python scripts/login_flood.py [--clip vn_rear_stopline] [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "login-flood-secret-" + "f" * 40
ADMIN, ADMIN_PASSWORD = "flood-admin", "flood-admin-password"


def _env(db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "YOLO_OFFLINE": "1",
        "CROSSWATCH_DB_URL": f"sqlite:///{db}",
        "CROSSWATCH_SECRET_KEY": SECRET,
        "CROSSWATCH_WORKER": "0",
        "CROSSWATCH_EVIDENCE_DIR": str(db.parent / "ev"),
    }


def _process_cmd(clip: str, db: Path, evidence: Path) -> list[str]:
    from detector import assets

    return [
        sys.executable,
        "-m",
        "service.cli",
        "process",
        str(assets.sample_clip(clip)),
        "--crossing",
        str(assets.sample_crossing(clip)),
        "--db",
        f"sqlite:///{db}",
        "--evidence-dir",
        str(evidence),
        "--device",
        "cpu",
    ]


def run_process(clip: str, db: Path) -> tuple[float, int, str]:
    t0 = time.monotonic()
    p = subprocess.run(
        _process_cmd(clip, db, db.parent / f"{db.stem}-evidence"),
        env=_env(db),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return time.monotonic() - t0, p.returncode, p.stdout + p.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(db: Path) -> None:
    """Migrate and create the admin account (the server then starts on a ready database)."""
    code = (
        "from service.api.app import create_app; from service.settings import Settings; from service import accounts;"
        f"app = create_app(Settings(db_url='sqlite:///{db}', secret_key='{SECRET}', worker=False));"
        "s = app.state.write_sessionmaker();"
        f"accounts.create_user(s, '{ADMIN}', '{ADMIN_PASSWORD}', 'admin'); s.commit()"
    )
    subprocess.run([sys.executable, "-c", code], env=_env(db), cwd=ROOT, check=True)


async def _flood(base: str, clients: int, duration: float) -> Counter:
    import httpx

    codes: Counter = Counter()
    stop = time.monotonic() + duration

    async def one(c: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            try:
                r = await c.post(
                    "/api/auth/login", json={"username": "u" + secrets.token_hex(6), "password": "wrong-password"}
                )
                codes[r.status_code] += 1
            except httpx.HTTPError as e:
                codes[type(e).__name__] += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
        await asyncio.gather(*(one(c) for _ in range(clients)))
    return codes


async def _writes(base: str, token: str, until: asyncio.Event) -> list[float]:
    import httpx

    lat: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as c:
        uid = next(u["id"] for u in (await c.get("/api/users")).json()["data"] if u["username"] == ADMIN)
        target = (
            await c.post("/api/users", json={"username": "flood-target", "password": "p" * 12, "role": "analyst"})
        ).json()["id"]
        flag = False
        while not until.is_set():
            flag = not flag
            t0 = time.monotonic()
            r = await c.patch(f"/api/users/{target}", json={"evidence_access": flag})
            lat.append(time.monotonic() - t0 if r.status_code == 200 else float("inf"))
            await asyncio.sleep(0.25)
        del uid
    return lat


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="vn_rear_stopline")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    import httpx

    with tempfile.TemporaryDirectory(prefix="login-flood-") as tmp:
        tmpd = Path(tmp)
        quiet_s, rc, out = run_process(args.clip, tmpd / "quiet.db")
        if rc != 0:
            print(f"quiet process failed (exit {rc}):\n{out[-2000:]}")
            return 2
        print(f"quiet: crosswatch process {args.clip}: {quiet_s:.1f} s")

        db = tmpd / "flood.db"
        _prepare(db)
        port = _free_port()
        log = open(tmpd / "server.log", "w+")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "service.api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=_env(db),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    print("the server did not start")
                    return 2
                time.sleep(0.2)
            token = httpx.post(
                base + "/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}, timeout=60
            ).json()["access_token"]

            async def scenario():
                until = asyncio.Event()
                writes = asyncio.create_task(_writes(base, token, until))
                flood = asyncio.create_task(_flood(base, args.clients, args.duration))
                await asyncio.sleep(2)  # the flood is under way
                proc_t0 = time.monotonic()
                proc = await asyncio.create_subprocess_exec(
                    *_process_cmd(args.clip, db, tmpd / "flood-evidence"),
                    env=_env(db),
                    cwd=str(ROOT),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                pout, _ = await proc.communicate()
                proc_s = time.monotonic() - proc_t0
                codes = await flood
                until.set()
                return proc_s, proc.returncode, pout.decode(errors="replace"), codes, await writes

            proc_s, prc, pout, codes, lat = asyncio.run(scenario())
        finally:
            server.terminate()
            server.wait(30)
        log.seek(0)
        server_out = log.read()
        locked = pout.count("database is locked") + server_out.count("database is locked")
        finite = [x for x in lat if x != float("inf")]
        res = {
            "clip": args.clip,
            "clients": args.clients,
            "duration_s": args.duration,
            "quiet_process_s": round(quiet_s, 2),
            "flooded_process_s": round(proc_s, 2),
            "ratio": round(proc_s / quiet_s, 3),
            "process_exit": prc,
            "database_is_locked": locked,
            "api_writes": len(lat),
            "api_write_failures": len(lat) - len(finite),
            "api_write_p50_s": round(_pct(finite, 0.5), 3),
            "api_write_p99_s": round(_pct(finite, 0.99), 3),
            "api_write_max_s": round(max(finite, default=float("nan")), 3),
            "login_responses": {str(k): v for k, v in sorted(codes.items(), key=lambda kv: str(kv[0]))},
            "server_5xx_lines": sum(1 for line in server_out.splitlines() if "Traceback" in line),
        }
        print(f"flood: {args.clients} clients x {args.duration:.0f} s of wrong passwords (random usernames)")
        print(f"  logins answered: {res['login_responses']}")
        print(
            f"  crosswatch process: {proc_s:.1f} s flooded vs {quiet_s:.1f} s quiet = {res['ratio']:.2f}x "
            f"(target <= 1.5), exit {prc}"
        )
        print(f"  'database is locked': {locked} (target 0)")
        print(
            f"  API writes (PATCH /api/users/{{id}} every 0.25 s): {len(lat)}, failures {res['api_write_failures']}, "
            f"p50 {res['api_write_p50_s']:.3f} s, p99 {res['api_write_p99_s']:.3f} s, max {res['api_write_max_s']:.3f} s "
            "(target p99 < 1 s)"
        )
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
        ok = res["ratio"] <= 1.5 and locked == 0 and res["api_write_p99_s"] < 1.0 and prc == 0
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
