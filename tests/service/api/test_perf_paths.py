"""The fast paths must give the same answers as the slow ones.

- the data stamp (`data_version`, bumped by triggers) moves with every write to the tables the
  cached answers read, and only with those;
- the event list's cached `count` and cached pages follow a new run, a review and a direct SQL
  write at once; without the triggers nothing is cached;
- the list's hand-written JSON is exactly what `Page[EventOut]` gives;
- the answer cache serves an aged-but-exact answer while one request refreshes it;
- the principal cache expires (TTL, token expiry), skips district-scoped users, is bounded;
- under more concurrent requests than database connections, requests queue (no deadlock, no
  500): the admission limit holds; a pool timeout that still happens is a 503 with Retry-After.

Each database test runs on SQLite and on PostgreSQL (CROSSWATCH_TEST_PG_URL, see conftest).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from detector.config import parse_crossing
from service import db as dbmod
from service import stats_cache
from service.api import app as app_module
from service.api.deps import PrincipalCache
from service.api.schemas import Page
from service.api.schemas.events import EventOut
from service.models import DataVersionRow
from service.principal import Principal
from service.repository import Repository
from service.run_records import CountRecord, EventRecord
from service.settings import Settings

from .conftest import BASE_TIME, SECRET, Api, crossing_yaml


# -- helpers ------------------------------------------------------------------------------------
def stamp(engine: Engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT version FROM data_version WHERE id = 1")).scalar_one()


def add_run(engine: Engine, cid: str = "cx-a", n: int = 2, tag: str = "extra") -> list[str]:
    """A finished run with `n` new events at `cid` (what a worker's `crosswatch process` stores)."""
    repo = Repository(engine)
    text_ = crossing_yaml(cid, "东城区" if cid == "cx-a" else "西城区")
    ver = repo.upsert_crossing(parse_crossing(yaml.safe_load(text_), cid), text_)
    run = repo.start_run(
        video_path=f"/v/{tag}.mp4",
        video_sha256=hashlib.sha256(tag.encode()).hexdigest(),
        crossing_version_id=ver.version_id,
        model="t",
        settings={},
        settings_hash="s",
        start_time=BASE_TIME,
    )
    events = [
        EventRecord(
            event_key=f"{tag}-{i}",
            type="red_light",
            track_id=i,
            class_name="car",
            t=float(i),
            frame=i,
            x1=1,
            y1=2,
            x2=3,
            y2=4,
            occurred_at=BASE_TIME + timedelta(hours=3, seconds=i),
        )
        for i in range(n)
    ]
    return repo.finish_run(
        run,
        events=events,
        counts=[CountRecord("main", "car", 0, 3, BASE_TIME)],
        duration_s=1.0,
        frames=None,
        elapsed_s=None,
        timings=None,
    )


def sql(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as c:
        c.execute(text(statement), params)


# -- the data stamp -----------------------------------------------------------------------------
# (what is written, whether the stamp must move)
WRITES: list[tuple[str, Callable[[Engine], Any], bool]] = [
    ("new run", lambda e: add_run(e, tag="stamp"), True),
    (
        "review status",
        lambda e: sql(e, "UPDATE events SET review_status = 'dismissed' WHERE event_key = 'cx-a-0'"),
        True,
    ),
    ("event deleted", lambda e: sql(e, "DELETE FROM events WHERE event_key = 'cx-b-1'"), True),
    ("crossing renamed", lambda e: sql(e, "UPDATE crossings SET name = 'renamed' WHERE id = 'cx-a'"), True),
    ("district changed", lambda e: sql(e, "UPDATE crossings SET district = '海淀区' WHERE id = 'cx-b'"), True),
    ("version edited", lambda e: sql(e, "UPDATE crossing_versions SET config_yaml = config_yaml || ' '"), True),
    ("count changed", lambda e: sql(e, "UPDATE traffic_counts SET count = count + 1"), True),
    ("counts deleted", lambda e: sql(e, "DELETE FROM traffic_counts WHERE minute_start = 0"), True),
    ("nothing matched", lambda e: sql(e, "UPDATE events SET lane = 'x' WHERE id < 0"), None),  # either is fine
    ("user row", lambda e: sql(e, "UPDATE users SET evidence_access = evidence_access"), False),
    ("run row", lambda e: sql(e, "UPDATE video_runs SET model = 'm2'"), False),
]


@pytest.mark.parametrize("name,write,moves", WRITES, ids=[w[0] for w in WRITES])
def test_stamp_moves_with_every_counted_write(api: Api, name, write, moves):
    api.seed(events_per_crossing=2)
    api.user("reviewer")  # a users row exists for the "user row" case
    engine = api.app.state.engine
    before = stamp(engine)
    write(engine)
    after = stamp(engine)
    if moves is True:
        assert after > before, f"{name}: the stamp did not move"
    elif moves is False:
        assert after == before, f"{name}: the stamp moved for a table no cached answer reads"


def test_triggers_are_checked(api: Api):
    engine = api.app.state.engine
    with api.app.state.sessionmaker() as s:
        assert stats_cache.stamp_triggers_present(s)
        assert stats_cache.data_version(s) == (stamp(engine),)
    dialect = engine.dialect.name
    victim = stats_cache.stamp_trigger_names(dialect)[0]
    sql(engine, f"DROP TRIGGER {victim}" + ("" if dialect == "sqlite" else " ON events"))
    with api.app.state.sessionmaker() as s:
        assert not stats_cache.stamp_triggers_present(s)


def test_nothing_is_cached_without_the_triggers(api: Api):
    """A batch migration on SQLite drops a table's triggers: the service must then compute every
    answer afresh (correct, slower) rather than serve answers the stamp no longer guards."""
    api.seed(events_per_crossing=2)
    engine = api.app.state.engine
    dialect = engine.dialect.name
    for name in stats_cache.stamp_trigger_names(dialect):
        sql(engine, f"DROP TRIGGER IF EXISTS {name}" + ("" if dialect == "sqlite" else f" ON {name[4:-13]}"))
    stats_cache._triggers_checked.pop(engine, None)  # as in a freshly started process
    h = api.headers("reviewer")
    assert api.client.get("/api/events", headers=h).json()["count"] == 4
    sql(engine, "DELETE FROM events WHERE event_key = 'cx-a-0'")  # no trigger: the stamp stays
    assert api.client.get("/api/events", headers=h).json()["count"] == 3
    with api.app.state.sessionmaker() as s:
        assert stats_cache.data_version(s) is None


def test_migration_down_removes_the_stamp_and_up_restores_it(db_url):
    engine = dbmod.make_engine(db_url)
    try:
        dbmod.upgrade(engine)
        with engine.begin() as c:
            command.downgrade(dbmod._alembic_config(c), "0003_stats_indexes")
        assert "data_version" not in dbmod.table_names(engine)
        dbmod.upgrade(engine)
        with engine.connect() as c:
            from sqlalchemy.orm import Session

            with Session(bind=c) as s:
                assert stats_cache.stamp_triggers_present(s)
        assert stamp(engine) == 0
        assert DataVersionRow.__tablename__ in dbmod.table_names(engine)
    finally:
        engine.dispose()


# -- the event list's caches ----------------------------------------------------------------------
def _count(api: Api, h, **params) -> int:
    r = api.client.get("/api/events", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["count"]


def test_list_count_and_page_follow_runs_reviews_and_sql(api: Api):
    seeded = api.seed(events_per_crossing=4)
    h = api.headers("reviewer")
    engine = api.app.state.engine
    assert _count(api, h) == 8 and _count(api, h) == 8  # the second answer comes from the cache
    assert _count(api, h, review_status="pending") == 8

    new = add_run(engine, n=3)
    assert _count(api, h) == 11
    first = api.client.get("/api/events", params={"limit": 3}, headers=h).json()["data"]
    assert {e["uid"] for e in first} == set(new)  # the newest events lead the default sort

    r = api.client.post(
        f"/api/events/{seeded.events[0]}/review", headers=h, json={"action": "dismiss", "reason_code": "duplicate"}
    )
    assert r.status_code == 200, r.text
    assert _count(api, h, review_status="pending") == 10
    assert _count(api, h, review_status="dismissed") == 1
    page = api.client.get("/api/events", params={"review_status": "dismissed"}, headers=h).json()["data"]
    assert [e["uid"] for e in page] == [seeded.events[0]]

    sql(engine, "UPDATE events SET class_name = 'bus' WHERE event_key = 'cx-b-1'")  # not through the API
    assert _count(api, h, class_name="bus") == 1
    sql(engine, "UPDATE crossings SET district = '海淀区' WHERE id = 'cx-b'")
    assert _count(api, h, district="海淀区") == 4


def test_count_is_per_scope(api: Api):
    api.seed(events_per_crossing=3)
    everyone = api.headers("reviewer")
    east = api.headers("reviewer", districts=["东城区"])
    only_b = api.headers("analyst", crossing_ids=["cx-b"])
    assert [_count(api, h) for h in (everyone, east, only_b, everyone)] == [6, 3, 3, 6]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 7},
        {"limit": 500},
        {"sort": "confidence", "limit": 3, "offset": 2},
        {"type": "wrong_way"},
        {"crossing_id": "cx-a", "sort": "-crossing_id"},
    ],
)
def test_list_json_is_the_models_json(api: Api, params):
    api.seed(events_per_crossing=4)
    r = api.client.get("/api/events", params=params, headers=api.headers("reviewer"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    page = Page[EventOut].model_validate_json(r.content)
    assert page.model_dump_json().encode() == r.content
    assert page.data and page.count >= len(page.data)


@pytest.mark.parametrize(
    "path,params,model",
    [
        ("/api/stats/counts", {"bucket": "hour", "status": "all"}, "CountOut"),
        ("/api/stats/counts", {"bucket": "week", "tz": "America/New_York", "limit": 2, "offset": 1}, "CountOut"),
        ("/api/stats/hotspots", {"status": "all"}, "HotspotOut"),
        ("/api/stats/hotspots", {"min_road_users": 1, "limit": 1}, "HotspotOut"),
    ],
)
def test_stats_json_is_the_models_json(api: Api, path, params, model):
    from service.api.schemas import stats as stats_schemas

    api.seed(events_per_crossing=4)
    r = api.client.get(path, params=params, headers=api.headers("analyst"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    page = Page[getattr(stats_schemas, model)].model_validate_json(r.content)
    assert page.model_dump_json().encode() == r.content
    assert page.data and page.count >= len(page.data)


# -- the answer cache -----------------------------------------------------------------------------
def test_aged_answer_is_served_while_one_request_refreshes(monkeypatch):
    """Same stamp, past the TTL: one caller recomputes, the others get the (still exact) answer
    at once instead of all waiting for the recomputation."""
    monkeypatch.setattr(stats_cache, "data_version", lambda s: (1,))
    now = [0.0]
    cache = stats_cache.StatsCache(30.0, clock=lambda: now[0])
    assert cache.get(None, "k", lambda: "old") == "old"
    now[0] = 31.0
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "new"

    got: list[str] = []
    refresher = threading.Thread(target=lambda: got.append(cache.get(None, "k", slow)))
    refresher.start()
    assert started.wait(5)
    assert cache.get(None, "k", lambda: pytest.fail("a second refresh")) == "old"
    release.set()
    refresher.join(5)
    assert got == ["new"] and cache.get(None, "k", lambda: "never") == "new"


@pytest.mark.parametrize(
    "stamps,computed",
    [
        ([None, None], 2),  # no usable stamp: never cached
        ([(1,), (1,)], 1),
        ([(1,), (2,)], 2),
    ],
)
def test_cache_uses_the_stamp(monkeypatch, stamps, computed):
    it = iter(stamps)
    monkeypatch.setattr(stats_cache, "data_version", lambda s: next(it))
    cache = stats_cache.StatsCache(30.0)
    calls: list[int] = []
    for _ in stamps:
        cache.get(None, "k", lambda: calls.append(1))
    assert len(calls) == computed


# -- the principal cache --------------------------------------------------------------------------
def _principal(districts: tuple[str, ...] = ()) -> Principal:
    return Principal(1, "u", "reviewer", districts, (), False, None if not districts else frozenset({"cx-a"}))


@pytest.mark.parametrize(
    "advance_s,wall_s,expires_at,districts,cached",
    [
        (0.0, 0.0, 1e12, (), True),
        (4.9, 0.0, 1e12, (), True),
        (5.0, 0.0, 1e12, (), False),  # TTL over
        (0.0, 100.0, 100.0, (), False),  # the token expired
        (0.0, 0.0, 1e12, ("东城区",), False),  # district scope is read from the crossings: never cached
    ],
)
def test_principal_cache(advance_s, wall_s, expires_at, districts, cached):
    mono, wall = [0.0], [0.0]
    cache = PrincipalCache(ttl_s=5.0, clock=lambda: mono[0], wall=lambda: wall[0])
    p = _principal(districts)
    cache.put("tok", p, expires_at)
    mono[0], wall[0] = advance_s, wall_s
    assert (cache.get("tok") is p) is cached


def test_principal_cache_is_bounded():
    cache = PrincipalCache(max_entries=3)
    for i in range(5):
        cache.put(f"t{i}", _principal(), 1e12)
    assert [cache.get(f"t{i}") is not None for i in range(5)] == [False, False, True, True, True]


# -- load: queue, never fail ----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def small_pool(monkeypatch):
    """Two request threads, two connections, no overflow: what 40 give under 50+ clients."""
    monkeypatch.setattr(dbmod, "SERVICE_THREADS", 2)
    monkeypatch.setattr(dbmod, "SERVICE_POOL_OVERFLOW", 0)
    monkeypatch.setattr(dbmod, "SERVICE_POOL_TIMEOUT_S", 30.0)


def test_more_clients_than_connections_queue_and_all_succeed(small_pool, tmp_path):
    """20 concurrent requests on 2 threads and 2 connections. Before the admission limit, requests
    holding a connection waited for a thread to build their response while the threads waited
    for connections: nothing moved until the pool timeout, then 500s."""
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'q.db'}", evidence_dir=tmp_path / "ev", secret_key=SECRET, worker=False
    )
    app = app_module.create_app(settings)
    with TestClient(app) as client:
        api = Api(app, client, settings, tmp_path / "ev")
        api.seed(events_per_crossing=3)
        headers = api.headers("analyst")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=20) as c:
                paths = ["/api/stats/hotspots", "/api/stats/counts", "/api/stats/summary", "/api/events"] * 5
                return [r.status_code for r in await asyncio.gather(*(c.get(p) for p in paths))]

        t0 = time.monotonic()
        codes = asyncio.run(burst())
        assert codes == [200] * 20 and time.monotonic() - t0 < 15
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


@pytest.mark.parametrize("path,peak_allowed", [("/api/events", 3), ("/healthz", 20), ("/metrics", 20)])
def test_admission_limit_bounds_concurrency(path, peak_allowed):
    inside, peak, done = [0], [0], [0]

    async def inner(scope, receive, send) -> None:
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        await asyncio.sleep(0.01)
        inside[0] -= 1
        done[0] += 1

    gate = app_module._Admission(inner, limit=3)

    async def main() -> None:
        await asyncio.gather(*(gate({"type": "http", "path": path}, None, None) for _ in range(20)))

    asyncio.run(main())
    assert (peak[0], done[0]) == (peak_allowed, 20)


def test_pool_timeout_is_503_with_retry_after(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(dbmod, "SERVICE_THREADS", 1)
    monkeypatch.setattr(dbmod, "SERVICE_POOL_OVERFLOW", 0)
    monkeypatch.setattr(dbmod, "SERVICE_POOL_TIMEOUT_S", 0.2)
    settings = Settings(db_url=db_url, evidence_dir=tmp_path / "ev", secret_key=SECRET, worker=False)
    app = app_module.create_app(settings)
    try:
        with TestClient(app) as client:
            api = Api(app, client, settings, tmp_path / "ev")
            headers = api.headers("reviewer")
            with app.state.engine.connect():  # the only connection, held elsewhere
                r = client.get("/api/events", headers=headers)
            assert r.status_code == 503, r.text
            assert int(r.headers["Retry-After"]) > 0 and "busy" in r.json()["detail"]
            assert client.get("/api/events", headers=headers).status_code == 200  # and it recovers
    finally:
        app.state.engine.dispose()


def test_service_pool_options():
    assert dbmod.service_pool_options("sqlite:///:memory:") == {}
    opts = dbmod.service_pool_options("sqlite:////tmp/x.db", threads=7)
    assert opts == {
        "pool_size": 7,
        "max_overflow": dbmod.SERVICE_POOL_OVERFLOW,
        "pool_timeout": dbmod.SERVICE_POOL_TIMEOUT_S,
    }
    with pytest.raises(ValueError, match="threads"):
        dbmod.service_pool_options("postgresql://u@h/db", threads=0)
