"""Fixtures of the hostile-input battery: an API app on a fresh database (SQLite, and PostgreSQL
when CROSSWATCH_TEST_PG_URL is set), accounts of every role with cheap password hashing, and a
crossing whose name and district are markup.

Every attack table here is also collected by `scripts/security_battery.py`, which runs the
battery and prints the table: attacks tried / handled / failures.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from detector.config import parse_crossing
from service import accounts
from service.api.app import create_app
from service.repository import Repository
from service.run_records import EventRecord, EvidenceRecord
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "service"))
from pg_schemas import fresh_database

SECRET = "security-battery-secret-" + "z" * 40
PASSWORD = "correct-horse-battery"
BASE_TIME = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
HOSTILE_NAME = "<img src=x onerror=window.__pwned=1>"
HOSTILE_DISTRICT = "<svg onload=window.__pwned=2>区"
SAMPLE_CROSSING = ROOT / "sample_videos" / "hanoi_giangvo_langha.crossing.yaml"


def sample_config(**changes) -> dict:
    data = yaml.safe_load(SAMPLE_CROSSING.read_text())
    data.update(changes)
    return data


def jpeg(seed: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), ((seed * 40) % 256, 80, 160)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """Battery rows log in often; argon2's production cost is not what they test (the login
    concurrency rows measure how many checks run, not how long one takes)."""
    from argon2 import PasswordHasher

    from service import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(autouse=True)
def _short_tarpit(monkeypatch):
    """Refused logins are answered after `REFUSED_DELAY_S` (2 s) in service; rows here send many."""
    from service.api.routes import auth

    monkeypatch.setattr(auth, "REFUSED_DELAY_S", 0.05)


@dataclass
class Hostile:
    app: object
    client: TestClient
    settings: Settings
    evidence_dir: Path
    users: dict[str, int] = field(default_factory=dict)  # username -> id
    _tokens: dict[str, str] = field(default_factory=dict)

    def user(self, role: str, username: str | None = None, **scope) -> str:
        name = username or f"{role}-{len(self.users)}"
        if name not in self.users:
            with self.app.state.write_sessionmaker.begin() as s:
                self.users[name] = accounts.create_user(s, name, PASSWORD, role, **scope).id
        return name

    def token(self, username: str, fresh: bool = False) -> str:
        if fresh or username not in self._tokens:
            r = self.client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def headers(self, role: str, username: str | None = None, **scope) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(self.user(role, username, **scope))}"}

    def seed_hostile(self, cid: str = "cx-xss", events: int = 2) -> list[str]:
        """A crossing named with markup (district too), one run with `events` events with a JPEG each."""
        repo = Repository(self.app.state.engine)
        data = sample_config(id=cid, name=HOSTILE_NAME, district=HOSTILE_DISTRICT)
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        ver = repo.upsert_crossing(parse_crossing(data, cid), text)
        run = repo.start_run(
            video_path=f"/videos/{cid}.mp4",
            video_sha256=hashlib.sha256(cid.encode()).hexdigest(),
            crossing_version_id=ver.version_id,
            model="test",
            settings={},
            settings_hash="s",
            start_time=BASE_TIME,
        )
        recs = []
        for i in range(events):
            img = jpeg(i)
            rel = f"{cid}/{cid}-{i}/composite.jpg"
            (self.evidence_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.evidence_dir / rel).write_bytes(img)
            ev = EvidenceRecord(
                kind="composite", relpath=rel, sha256=hashlib.sha256(img).hexdigest(), size=len(img), mime="image/jpeg"
            )
            recs.append(
                EventRecord(
                    event_key=f"{cid}-{i}",
                    type="red_light",
                    track_id=i,
                    class_name="car",
                    t=10.0 * i,
                    frame=100 * i,
                    x1=100,
                    y1=200,
                    x2=160,
                    y2=300,
                    lane="approach",
                    stop_line="main",
                    signal_id="main",
                    signal_state="RED",
                    signal_source="lamp",
                    since_red_s=2.0,
                    confidence=0.8,
                    occurred_at=datetime.now(UTC) - timedelta(days=1, minutes=i),
                    evidence=[ev],
                )
            )
        return repo.finish_run(run, events=recs, counts=[], duration_s=60.0, frames=None, elapsed_s=1.0, timings={})


def make_hostile(db_url: str, tmp: Path, **overrides) -> Iterator[Hostile]:
    (tmp / "evidence").mkdir(exist_ok=True)
    (tmp / "ingest").mkdir(exist_ok=True)
    settings = Settings(
        db_url=db_url,
        evidence_dir=tmp / "evidence",
        secret_key=SECRET,
        ingest_root=tmp / "ingest",
        upload_dir=tmp / "uploads",
        worker=False,
        **overrides,
    )
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield Hostile(app, client, settings, tmp / "evidence")
    finally:
        app.state.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path / "data" / "crosswatch.db") as url:
        yield url


@pytest.fixture
def hostile(db_url, tmp_path) -> Iterator[Hostile]:
    """A fresh app per test (tests here tamper with state)."""
    yield from make_hostile(db_url, tmp_path)
