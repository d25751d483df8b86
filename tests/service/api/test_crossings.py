"""Crossings API: list / detail / versions, create and update (versioning), validation errors that
name the field, scope (404 out of scope, 403 for a scoped operator's foreign district), YAML
export, summary and the snapshot image."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pg_schemas import fresh_database
from PIL import Image

from detector.config import parse_crossing
from service.api.app import create_app
from service.audit import verify
from service.models import AuditRow
from service.repository import Repository
from service.settings import Settings

from .conftest import BASE_TIME, SECRET, Api, _mp4, crossing_yaml


@dataclass
class SharedApi(Api):
    """An `Api` whose login tokens are cached (argon2 makes each login slow)."""

    _tokens: dict = field(default_factory=dict)

    def headers(self, role: str, **scope) -> dict[str, str]:
        key = (role, repr(sorted(scope.items())))
        if key not in self._tokens:
            self._tokens[key] = super().headers(role, **scope)
        return self._tokens[key]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request, tmp_path_factory) -> Iterator[SharedApi]:
    """One app per database, seeded once (6 events per crossing), for the tests that change
    nothing (reads, refused writes): keeps this file fast. Tests that write use `api`."""
    tmp: Path = tmp_path_factory.mktemp("crossings")
    with fresh_database(request.param, tmp / "cw.db") as url:
        settings = Settings(
            db_url=url,
            evidence_dir=tmp / "evidence",
            secret_key=SECRET,
            ingest_root=tmp / "ingest",
            upload_dir=tmp / "uploads",
            worker=False,
        )
        (tmp / "evidence").mkdir()
        app = create_app(settings)
        with TestClient(app) as client:
            api = SharedApi(app, client, settings, tmp / "evidence")
            api.seed(events_per_crossing=6)
            yield api
        app.state.engine.dispose()


def _config(cid: str = "cx-new", district: str = "东城区") -> dict:
    return yaml.safe_load(crossing_yaml(cid, district))


def _audit(api, action: str) -> list[AuditRow]:
    with api.app.state.sessionmaker() as s:
        return [r for r in s.query(AuditRow).order_by(AuditRow.id) if r.action == action]


@pytest.mark.parametrize(
    "scope,expected",
    [
        ({}, ["cx-a", "cx-b"]),
        ({"districts": ["东城区"]}, ["cx-a"]),
        ({"crossing_ids": ["cx-b"]}, ["cx-b"]),
        ({"districts": ["朝阳区"]}, []),
    ],
)
def test_list_is_scoped(shared, scope, expected):
    r = shared.client.get("/api/crossings", headers=shared.headers("analyst", **scope))
    assert r.status_code == 200
    body = r.json()
    assert [c["id"] for c in body["data"]] == expected and body["count"] == len(expected)
    for c in body["data"]:
        assert c["version"] == 1 and c["events"] == 6 and c["last_processed_at"] is not None


def test_list_filters_district_and_pages(shared):
    h = shared.headers("reviewer")
    assert [c["id"] for c in shared.client.get("/api/crossings?district=西城区", headers=h).json()["data"]] == ["cx-b"]
    page = shared.client.get("/api/crossings?limit=1&offset=1", headers=h).json()
    assert [c["id"] for c in page["data"]] == ["cx-b"] and page["count"] == 2
    assert shared.client.get("/api/crossings?limit=0", headers=h).status_code == 422
    assert shared.client.get("/api/crossings?limit=501", headers=h).status_code == 422


def test_detail_has_config_yaml_and_versions(shared):
    r = shared.client.get("/api/crossings/cx-a", headers=shared.headers("operator"))
    assert r.status_code == 200
    d = r.json()
    assert d["district"] == "东城区" and d["version"] == 1 and d["events"] == 6
    assert d["config"]["frame_size"] == [640, 480] and d["config"]["stop_lines"][0]["id"] == "main"
    assert yaml.safe_load(d["yaml"])["id"] == "cx-a"
    assert [(v["version"], v["current"]) for v in d["versions"]] == [(1, True)]


@pytest.mark.parametrize("as_yaml", [True, False], ids=["yaml", "config"])
def test_create_registers_version_1_and_audits(api, as_yaml):
    cfg = _config()
    body = {"yaml": yaml.safe_dump(cfg, allow_unicode=True)} if as_yaml else {"config": cfg}
    h = api.headers("operator")
    r = api.client.post("/api/crossings", json=body, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["crossing_id"], out["version"], out["created"], out["current"]) == ("cx-new", 1, True, True)
    assert parse_crossing(yaml.safe_load(out["yaml"])).geometry_hash() == out["geometry_hash"]
    entries = _audit(api, "crossing_create")
    assert [(e.object_id, e.payload["version"]) for e in entries] == [("cx-new", 1)]
    listed = api.client.get("/api/crossings", headers=h).json()["data"]
    assert [(c["id"], c["events"], c["last_processed_at"]) for c in listed] == [("cx-new", 0, None)]


def test_create_existing_id_is_409(shared):
    r = shared.client.post("/api/crossings", json={"config": _config("cx-a")}, headers=shared.headers("admin"))
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


def _mutate(path: str, value):
    def apply(cfg: dict) -> dict:
        node = cfg
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return cfg

    return apply


_DELETE = object()


@pytest.mark.parametrize(
    "mutate,field",
    [
        (_mutate("id", "Bad Id!"), "id"),
        (_mutate("name", _DELETE), "name"),
        (_mutate("frame_size", [0, 480]), "frame_size"),
        (_mutate("stop_lines.0.points", [[10, 10], [10, 10]]), "stop_lines.0.points"),
        (_mutate("stop_lines.0.entering", [0, 0]), "stop_lines.0.entering"),
        (_mutate("stop_lines.0.signal", "nope"), "stop_lines[0].signal"),
        (_mutate("lanes.0.polygon", [[0, 0], [1, 1]]), "lanes.0.polygon"),
        (_mutate("stop_lines.0.points", [[47, 336], [9000, 366]]), "stop_lines[0].points"),
        (_mutate("signals.0.lamps.red", [621, 177, 0, 10]), "signals.0.lamps.red"),
        (_mutate("colour", "red"), "colour: unknown key"),
        (_mutate("grace_s", 99), "grace_s"),
    ],
)
def test_invalid_config_is_422_naming_the_field(shared, mutate, field):
    r = shared.client.post("/api/crossings", json={"config": mutate(_config())}, headers=shared.headers("operator"))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"yaml": "id: [unclosed"}, "not valid YAML"),
        ({"yaml": "- just\n- a list\n"}, "mapping"),
        ({"yaml": "a: 1", "config": {"a": 1}}, "exactly one"),
        ({}, "exactly one"),
        ({"config": _config(), "extra": 1}, "extra"),
    ],
)
def test_malformed_body_is_422(shared, body, needle):
    r = shared.client.post("/api/crossings", json=body, headers=shared.headers("operator"))
    assert r.status_code == 422
    assert needle in str(r.json()["detail"])


def test_update_versions(api):
    api.seed(events_per_crossing=1)
    h = api.headers("operator")
    cfg = yaml.safe_load(crossing_yaml("cx-a", "东城区"))
    same = api.client.put("/api/crossings/cx-a/geometry", json={"config": cfg}, headers=h)
    assert same.status_code == 200 and (same.json()["version"], same.json()["created"]) == (1, False)
    assert _audit(api, "crossing_update") == []
    cfg["stop_lines"][0]["points"] = [[47, 330], [515, 360]]
    changed = api.client.put("/api/crossings/cx-a/geometry", json={"config": cfg}, headers=h)
    assert changed.status_code == 201 and changed.json()["version"] == 2
    assert changed.json()["previous_version"] == 1
    d = api.client.get("/api/crossings/cx-a", headers=h).json()
    assert d["version"] == 2 and d["config"]["stop_lines"][0]["points"] == [[47.0, 330.0], [515.0, 360.0]]
    assert [(v["version"], v["current"]) for v in d["versions"]] == [(1, False), (2, True)]
    old = api.client.get("/api/crossings/cx-a/versions/1", headers=h).json()
    assert old["current"] is False and old["config"]["stop_lines"][0]["points"][0] == [47.0, 336.0]
    [entry] = _audit(api, "crossing_update")
    assert entry.payload["from_version"] == 1 and entry.payload["to_version"] == 2
    with api.app.state.sessionmaker() as s:
        assert verify(s).ok


def test_update_with_other_id_is_422(shared):
    r = shared.client.put(
        "/api/crossings/cx-a/geometry", json={"config": _config("cx-b")}, headers=shared.headers("admin")
    )
    assert r.status_code == 422 and "id" in r.json()["detail"]


def test_yaml_export(shared):
    h = shared.headers("analyst")
    r = shared.client.get("/api/crossings/cx-b/config.yaml", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    assert r.text == crossing_yaml("cx-b", "西城区")
    assert shared.client.get("/api/crossings/cx-b/config.yaml?version=7", headers=h).status_code == 404


def test_summary(shared):
    r = shared.client.get("/api/crossings/cx-a/summary", headers=shared.headers("reviewer"))
    assert r.status_code == 200
    sm = r.json()
    assert sm["events"]["red_light"] == {"pending": 3, "confirmed": 0, "dismissed": 0, "needs_info": 0}
    assert sm["events"]["wrong_way"]["pending"] == 3
    assert sm["road_users"] == 40 * 60 and sm["runs"] == 1
    assert sm["first_event_at"].startswith("2026-03-02T08:00:00")
    assert sm["last_event_at"].startswith("2026-03-02T08:50:00")


OUT_OF_SCOPE_GETS = [
    "/api/crossings/cx-b",
    "/api/crossings/cx-b/versions/1",
    "/api/crossings/cx-b/config.yaml",
    "/api/crossings/cx-b/summary",
    "/api/crossings/cx-b/snapshot",
    "/api/crossings/nope",
    "/api/crossings/nope/summary",
]


@pytest.mark.parametrize("path", OUT_OF_SCOPE_GETS)
def test_out_of_scope_or_unknown_is_404(shared, path):
    r = shared.client.get(path, headers=shared.headers("analyst", districts=["东城区"]))
    assert r.status_code == 404


def test_scoped_operator_writes_only_in_scope(api):
    api.seed(events_per_crossing=1)
    h = api.headers("operator", districts=["东城区"])
    assert api.client.post("/api/crossings", json={"config": _config("cx-w", "西城区")}, headers=h).status_code == 403
    assert api.client.post("/api/crossings", json={"config": _config("cx-e", "东城区")}, headers=h).status_code == 201
    assert (
        api.client.put(
            "/api/crossings/cx-b/geometry", json={"config": _config("cx-b", "西城区")}, headers=h
        ).status_code
        == 404
    )
    moved = _config("cx-a", "西城区")  # moving an own crossing out of scope
    assert api.client.put("/api/crossings/cx-a/geometry", json={"config": moved}, headers=h).status_code == 403
    assert [c["id"] for c in api.client.get("/api/crossings", headers=h).json()["data"]] == ["cx-a", "cx-e"]


@pytest.mark.parametrize("method,path", [("POST", "/api/crossings"), ("PUT", "/api/crossings/cx-a/geometry")])
@pytest.mark.parametrize("role,code", [(None, 401), ("reviewer", 403), ("analyst", 403)])
def test_write_roles(shared, method, path, role, code):
    headers = shared.headers(role) if role else {}
    r = shared.client.request(method, path, json={"config": _config("cx-a")}, headers=headers)
    assert r.status_code == code


def _register_video(api, path, crossing_id="cx-a") -> None:
    repo = Repository(api.app.state.engine)
    text = crossing_yaml(crossing_id, "东城区")
    ver = repo.upsert_crossing(parse_crossing(yaml.safe_load(text)), text)
    data = path.read_bytes()
    repo.start_run(
        video_path=str(path),
        video_sha256=hashlib.sha256(data).hexdigest(),
        crossing_version_id=ver.version_id,
        model="test",
        settings={"n": 2},
        settings_hash="s2",
        start_time=BASE_TIME,
    )


def test_snapshot(api, tmp_path):
    api.seed(events_per_crossing=1)
    h = api.headers("analyst")
    missing = api.client.get("/api/crossings/cx-a/snapshot", headers=h)  # the seeded run's video does not exist
    assert missing.status_code == 404 and "no video" in missing.json()["detail"]
    video = tmp_path / "cam.mp4"
    video.write_bytes(_mp4(seconds=2.0))
    _register_video(api, video)
    plain = api.client.get("/api/crossings/cx-a/snapshot", headers=h)
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(plain.content))
    assert img.format == "JPEG" and img.size == (64, 48)
    over = api.client.get("/api/crossings/cx-a/snapshot?overlay=true", headers=h)
    assert over.status_code == 200 and over.content != plain.content
    assert Image.open(io.BytesIO(over.content)).size == (64, 48)
    cached = sorted(p.name for p in (api.evidence_dir / "_snapshots").iterdir())
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    assert f"cx-a-{sha}.jpg" in cached and len(cached) == 2
    video.unlink()  # a video that is gone is not offered any more, even with a cached frame
    assert api.client.get("/api/crossings/cx-a/snapshot", headers=h).status_code == 404
