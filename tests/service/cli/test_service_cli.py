"""`crosswatch serve`, `crosswatch user add`, `crosswatch db upgrade` as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str, env_extra: dict | None = None, stdin: str | None = None, timeout: float = 120):
    env = {**os.environ, "CROSSWATCH_SECRET_KEY": "", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_serve_refuses_to_start_without_a_secret(tmp_path):
    out = _cli("serve", "--db", f"sqlite:///{tmp_path}/x.db", "--port", str(_free_port()))
    assert out.returncode == 2
    assert "no secret key" in out.stderr and "CROSSWATCH_SECRET_KEY" in out.stderr


def test_serve_demo_prints_accounts_and_serves_them(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--demo",
            "--db",
            f"sqlite:///{tmp_path}/x.db",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CROSSWATCH_SECRET_KEY": ""},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.loads(r.read())["status"] == "ok"
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        token = _post(f"http://127.0.0.1:{port}/api/auth/login", {"username": "reviewer", "password": "reviewer-demo"})
        assert token["role"] == "reviewer"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert "DEMO MODE" in output and "reviewer-demo" in output


def test_user_add_and_db_upgrade(tmp_path):
    db = f"sqlite:///{tmp_path}/x.db"
    up = _cli("db", "upgrade", "--db", db)
    assert up.returncode == 0 and "revision" in up.stdout
    ok = _cli(
        "user",
        "add",
        "wang",
        "--role",
        "reviewer",
        "--district",
        "东城区",
        "--password-stdin",
        "--db",
        db,
        stdin="a-long-password\n",
    )
    assert ok.returncode == 0, ok.stderr
    again = _cli("user", "add", "wang", "--role", "reviewer", "--password-stdin", "--db", db, stdin="a-long-password\n")
    assert again.returncode == 1 and "exists" in again.stderr
    short = _cli("user", "add", "li", "--role", "analyst", "--password-stdin", "--db", db, stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    bad_role = _cli("user", "add", "li", "--role", "root", "--password-stdin", "--db", db, stdin="a-long-password\n")
    assert bad_role.returncode == 2

    from service import accounts
    from service.db import make_engine, session_factory

    engine = make_engine(db)
    try:
        with session_factory(engine)() as s:
            user = accounts.authenticate(s, "wang", "a-long-password")
            assert user is not None and user.role == "reviewer" and user.districts == ["东城区"]
    finally:
        engine.dispose()
