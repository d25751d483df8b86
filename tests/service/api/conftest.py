"""API fixtures: an app on a fresh database (SQLite file, and PostgreSQL when
CROSSWATCH_TEST_PG_URL is set), clients logged in as each role, and seeded data.

    def test_x(api):
        api.seed()                                    # 2 crossings in 2 districts, events, evidence
        r = api.client.get("/api/events", headers=api.headers("reviewer"))
        r = api.client.get(..., headers=api.headers("analyst", districts=["Haidian"]))
"""

from __future__ import annotations

import hashlib
import io
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
from service.run_records import CountRecord, EventRecord, EvidenceRecord
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct-horse-battery"
BASE_TIME = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)  # a Monday


def crossing_yaml(cid: str, district: str, name: str | None = None) -> str:
    data = yaml.safe_load((ROOT / "sample_videos" / "hanoi_giangvo_langha.crossing.yaml").read_text())
    data.update(id=cid, name=name or f"路口 {cid}", district=district)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _jpeg(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), ((seed * 40) % 256, 80, 160)).save(buf, "JPEG")
    return buf.getvalue()


def _mp4(seconds: float = 1.0) -> bytes:
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * 10)):
            img = np.full((48, 64, 3), (i * 20) % 256, np.uint8)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return buf.getvalue()


@dataclass
class Seeded:
    crossings: dict[str, str]  # id -> district
    events: list[str]  # event uids, in insertion order
    run_ids: list[int] = field(default_factory=list)


@dataclass
class Api:
    app: object
    client: TestClient
    settings: Settings
    evidence_dir: Path
    _users: dict[tuple, str] = field(default_factory=dict)

    def user(self, role: str, *, districts=(), crossing_ids=(), evidence_access=False, username=None) -> str:
        """Create (once) a user with this role and scope; returns its username."""
        key = (role, tuple(districts), tuple(crossing_ids), evidence_access, username)
        if key not in self._users:
            name = username or f"{role}{len(self._users)}"
            with self.app.state.write_sessionmaker.begin() as s:
                accounts.create_user(
                    s,
                    name,
                    PASSWORD,
                    role,
                    districts=districts,
                    crossing_ids=crossing_ids,
                    evidence_access=evidence_access,
                )
            self._users[key] = name
        return self._users[key]

    def token(self, username: str, password: str = PASSWORD) -> str:
        r = self.client.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def headers(self, role: str, **scope) -> dict[str, str]:
        """Authorization headers of a (new or cached) user with `role` and `scope`."""
        return {"Authorization": f"Bearer {self.token(self.user(role, **scope))}"}

    def write_evidence(self, relpath: str, data: bytes) -> EvidenceRecord:
        path = self.evidence_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        mime = "video/mp4" if relpath.endswith(".mp4") else "image/jpeg"
        return EvidenceRecord(
            kind="clip" if relpath.endswith(".mp4") else "composite",
            relpath=relpath,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            mime=mime,
        )

    def seed(self, events_per_crossing: int = 6) -> Seeded:
        """Crossings `cx-a` (district 东城区) and `cx-b` (district 西城区), one run each with
        `events_per_crossing` events alternating red_light / wrong_way, motorcycle / car, one per 10
        minutes from BASE_TIME, each with a composite JPEG and an H.264 clip; plus traffic counts
        (40 road users a minute on stop line `main`)."""
        repo = Repository(self.app.state.engine)
        clip = _mp4()
        out = Seeded(crossings={"cx-a": "东城区", "cx-b": "西城区"}, events=[])
        for ci, (cid, district) in enumerate(out.crossings.items()):
            text = crossing_yaml(cid, district)
            ver = repo.upsert_crossing(parse_crossing(yaml.safe_load(text), cid), text)
            run = repo.start_run(
                video_path=f"/videos/{cid}.mp4",
                video_sha256=hashlib.sha256(cid.encode()).hexdigest(),
                crossing_version_id=ver.version_id,
                model="test",
                settings={},
                settings_hash="s",
                start_time=BASE_TIME,
            )
            events = []
            for i in range(events_per_crossing):
                key = f"{cid}-{i}"
                ev = [
                    self.write_evidence(f"{cid}/{key}/composite.jpg", _jpeg(i + ci * 10)),
                    self.write_evidence(f"{cid}/{key}/clip.mp4", clip),
                ]
                events.append(
                    EventRecord(
                        event_key=key,
                        type="red_light" if i % 2 == 0 else "wrong_way",
                        track_id=i,
                        class_name="motorcycle" if i % 3 else "car",
                        t=600.0 * i,
                        frame=6 * 600 * i,
                        x1=100 + 10 * i,
                        y1=200,
                        x2=160 + 10 * i,
                        y2=300,
                        lane="approach",
                        stop_line="main",
                        signal_id="main",
                        signal_state="RED" if i % 2 == 0 else None,
                        signal_source="lamp",
                        since_red_s=2.0 if i % 2 == 0 else None,
                        confidence=0.8,
                        occurred_at=BASE_TIME + timedelta(minutes=10 * i),
                        evidence=ev,
                    )
                )
            counts = [
                CountRecord("main", "motorcycle", m, 40, BASE_TIME + timedelta(minutes=m))
                for m in range(10 * events_per_crossing)
            ]
            uids = repo.finish_run(
                run,
                events=events,
                counts=counts,
                duration_s=600.0 * events_per_crossing,
                frames=None,
                elapsed_s=1.0,
                timings={},
            )
            out.events.extend(uids)
            out.run_ids.append(run)
        return out


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """API tests log in many users; argon2's production cost (~0.5 s a hash here) is not under test
    (test_auth checks real hashes verify and wrong ones fail), so accounts use its cheapest cost."""
    from argon2 import PasswordHasher

    from service import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def api(db_url, tmp_path) -> Api:
    settings = Settings(
        db_url=db_url,
        evidence_dir=tmp_path / "evidence",
        secret_key=SECRET,
        ingest_root=tmp_path / "ingest",
        upload_dir=tmp_path / "uploads",
        worker=False,
    )
    (tmp_path / "evidence").mkdir()
    (tmp_path / "ingest").mkdir()
    app = create_app(settings)
    with TestClient(app) as client:
        yield Api(app, client, settings, tmp_path / "evidence")
    app.state.engine.dispose()
