"""Events API: filters, sort, pagination, scope, detail, the review queue, roles and exports.

The read-only tests share one seeded database per backend (`world`, module scope): building
and seeding an app costs far more than a request, and these tests never write. The expected
answers are computed in Python from the rows themselves, so each filter case checks exactly
the rows it should return (and that the filter narrows something)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pg_schemas import fresh_database
from sqlalchemy import select, update

from service.api.app import create_app
from service.api.routes import events as events_router
from service.models import CrossingRow, EventRow
from service.settings import Settings

from .conftest import BASE_TIME, SECRET, Api


# -- the shared, read-only world ----------------------------------------------------------------
@dataclass
class World:
    api: Api
    rows: list[dict[str, Any]]  # every event: id, uid, crossing_id, district, occurred_at, ...
    _headers: dict[tuple, dict[str, str]]
    _handed_out: set[str] = field(default_factory=set)

    def headers(self, role: str, **scope) -> dict[str, str]:
        key = (role, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in scope.items())))
        if key not in self._headers:
            self._headers[key] = self.api.headers(role, **scope)
        return self._headers[key]

    def get(self, path: str, role: str = "reviewer", params: Any = None, **scope):
        return self.api.client.get(path, params=params, headers=self.headers(role, **scope))

    def uids(self, pred: Callable[[dict[str, Any]], bool] = lambda r: True) -> set[str]:
        return {r["uid"] for r in self.rows if pred(r)}

    def by_key(self, key: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["event_key"] == key)

    def fresh(self, *, keep: tuple[str, ...] = ("cx-a-2",)) -> dict[str, Any]:
        """A dated, pending event no other test has been given (for tests that review one), so
        tests sharing the world stay independent in any order."""
        row = next(
            r
            for r in self.rows
            if r["review_status"] == "pending"
            and r["occurred_at"] is not None
            and r["event_key"] not in keep
            and r["uid"] not in self._handed_out
        )
        self._handed_out.add(row["uid"])
        return row


def _vary(engine) -> None:
    """Make the seeded events differ in every filtered/sorted column."""
    changes: dict[str, dict[str, Any]] = {
        "cx-a-1": {"lane": "left", "confidence": 0.95},
        "cx-a-2": {"lane": "left", "confidence": 0.55},
        "cx-a-4": {"stop_line": "side", "confidence": 0.65},
        "cx-a-0": {
            "review_status": "confirmed",
            "review_stage": 1,
            "reviewed_by": "someone",
            "reviewed_at": BASE_TIME + timedelta(days=1),
        },
        "cx-b-1": {
            "review_status": "dismissed",
            "review_stage": 1,
            "reviewed_by": "someone",
            "reviewed_at": BASE_TIME + timedelta(days=2),
        },
        "cx-b-3": {"review_status": "needs_info", "review_stage": 1},
        "cx-b-5": {"occurred_at": None, "confidence": None},
        "cx-b-4": {"confidence": 0.99},
    }
    with engine.begin() as c:
        for key, values in changes.items():
            c.execute(update(EventRow).where(EventRow.event_key == key).values(**values))


def _rows(engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        res = c.execute(
            select(
                EventRow.id,
                EventRow.uid,
                EventRow.event_key,
                EventRow.crossing_id,
                CrossingRow.district,
                EventRow.type,
                EventRow.class_name,
                EventRow.review_status,
                EventRow.lane,
                EventRow.stop_line,
                EventRow.occurred_at,
                EventRow.created_at,
                EventRow.confidence,
            ).join(CrossingRow, CrossingRow.id == EventRow.crossing_id)
        )
        return [dict(r._mapping) for r in res]


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def make_world(backend: str, tmp: Path, events_per_crossing: int = 6, vary: bool = True) -> Iterator[World]:
    """A seeded app on a fresh database of `backend`, for a module's worth of tests. `vary`: vary
    the events' columns by direct UPDATEs (review statuses too: the audit verify flags those)."""
    with fresh_database(backend, tmp / "crosswatch.db") as db_url:
        (tmp / "evidence").mkdir()
        settings = Settings(db_url=db_url, evidence_dir=tmp / "evidence", secret_key=SECRET, worker=False)
        app = create_app(settings)
        try:
            with TestClient(app) as client:
                api = Api(app, client, settings, tmp / "evidence")
                api.seed(events_per_crossing=events_per_crossing)
                if vary:
                    _vary(app.state.engine)
                yield World(api, _rows(app.state.engine), {})
        finally:
            app.state.engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory) -> Iterator[World]:
    yield from make_world(request.param, tmp_path_factory.mktemp("world"))


def _iso(dt: datetime, hours: int = 8) -> str:
    """`dt` written in another zone (+08:00, Beijing): the API must compare instants, not text."""
    return dt.astimezone(timezone(timedelta(hours=hours))).isoformat()


T20 = BASE_TIME + timedelta(minutes=20)
T40 = BASE_TIME + timedelta(minutes=40)


# -- filters ------------------------------------------------------------------------------------
FILTER_CASES = [
    ("crossing", {"crossing_id": "cx-a"}, lambda r: r["crossing_id"] == "cx-a"),
    ("crossing-repeated", {"crossing_id": ["cx-a", "cx-b"]}, lambda r: True),
    ("district", {"district": "西城区"}, lambda r: r["district"] == "西城区"),
    ("type", {"type": "wrong_way"}, lambda r: r["type"] == "wrong_way"),
    ("class", {"class_name": "car"}, lambda r: r["class_name"] == "car"),
    ("review-status", {"review_status": "confirmed"}, lambda r: r["review_status"] == "confirmed"),
    ("pending", {"review_status": "pending"}, lambda r: r["review_status"] == "pending"),
    ("lane", {"lane": "left"}, lambda r: r["lane"] == "left"),
    ("stop-line", {"stop_line": "side"}, lambda r: r["stop_line"] == "side"),
    ("from", {"from": _iso(T20)}, lambda r: r["occurred_at"] is not None and r["occurred_at"] >= T20),
    ("to", {"to": _iso(T20, -5)}, lambda r: r["occurred_at"] is not None and r["occurred_at"] < T20),
    (
        "from-to",
        {"from": _iso(T20), "to": T40.isoformat().replace("+00:00", "Z")},
        lambda r: r["occurred_at"] is not None and T20 <= r["occurred_at"] < T40,
    ),
    (
        "combined",
        {"type": "red_light", "district": "东城区", "class_name": "motorcycle"},
        lambda r: r["type"] == "red_light" and r["district"] == "东城区" and r["class_name"] == "motorcycle",
    ),
    ("unknown-district", {"district": "海淀区"}, lambda r: False),
]


@pytest.mark.parametrize("params,pred", [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_each_filter_narrows_to_exactly_its_rows(world, params, pred):
    r = world.get("/api/events", params={**params, "limit": 500})
    assert r.status_code == 200, r.text
    body = r.json()
    want = world.uids(pred)
    assert {e["uid"] for e in body["data"]} == want
    assert body["count"] == len(want)
    if params.get("crossing_id") != ["cx-a", "cx-b"]:
        assert len(want) < len(world.rows)  # the case really filters something


@pytest.mark.parametrize(
    "params,fragment",
    [
        ({"from": "2026-03-02T08:00:00"}, "timezone"),  # naive: which zone? refuse rather than guess
        ({"to": "yesterday"}, "datetime"),
        ({"from": _iso(T40), "to": _iso(T20)}, "earlier"),
        ({"type": "speeding"}, "red_light"),
        ({"review_status": "approved"}, "pending"),
        ({"sort": "uid; DROP TABLE events"}, "occurred_at"),
        ({"limit": 0}, "greater"),
        ({"limit": 501}, "less"),
        ({"offset": -1}, "greater"),
        ({"crossing_id": "x" * 65}, "64"),
        ({"crossing_id": "cx\x00"}, "NUL"),  # PostgreSQL text cannot hold NUL: 422, never a 500
        ({"district": "a\x00b"}, "NUL"),  # refused for every route before any handler runs
        ({"lane": "\x00"}, "NUL"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "out of range"),  # before year 1 once in UTC
        ({"to": "9999-12-31T23:59:59-14:00"}, "out of range"),
    ],
)
def test_bad_filters_are_422_with_a_reason(world, params, fragment):
    r = world.get("/api/events", params=params)
    assert r.status_code == 422, r.text
    assert fragment in r.text


# -- sort and pagination ------------------------------------------------------------------------
def _expected_order(rows: list[dict[str, Any]], key: str) -> list[str]:
    desc = key.startswith("-")
    col = key.lstrip("-")
    dated = sorted((r for r in rows if r[col] is not None), key=lambda r: (r[col], r["id"]), reverse=desc)
    undated = sorted((r for r in rows if r[col] is None), key=lambda r: r["id"], reverse=desc)
    return [r["uid"] for r in dated + undated]


@pytest.mark.parametrize(
    "sort",
    [
        "-occurred_at",
        "occurred_at",
        "confidence",
        "-confidence",
        "created_at",
        "-created_at",
        "class_name",
        "-review_status",
    ],
)
def test_sort_order_nulls_last(world, sort):
    r = world.get("/api/events", params={"sort": sort, "limit": 500})
    assert r.status_code == 200, r.text
    got = [e["uid"] for e in r.json()["data"]]
    assert got == _expected_order(world.rows, sort)
    if sort.lstrip("-") in ("occurred_at", "confidence"):
        assert got[-1] == world.by_key("cx-b-5")["uid"]  # its value is NULL: last either way


def test_default_sort_is_newest_first(world):
    got = [e["uid"] for e in world.get("/api/events", params={"limit": 500}).json()["data"]]
    assert got == _expected_order(world.rows, "-occurred_at")


@pytest.mark.parametrize("limit", [1, 5, 7, 12])
@pytest.mark.parametrize("sort", ["occurred_at", "-confidence"])  # both end in a NULL row: pages cross into it
def test_pages_tile_the_list_and_count_is_total(world, sort, limit):
    seen: list[str] = []
    for offset in range(0, len(world.rows) + limit, limit):
        body = world.get("/api/events", params={"sort": sort, "limit": limit, "offset": offset}).json()
        assert body["count"] == len(world.rows)
        assert len(body["data"]) == max(0, min(limit, len(world.rows) - offset))
        seen += [e["uid"] for e in body["data"]]
    assert seen == _expected_order(world.rows, sort)


# -- scope, detail, roles -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "scope,visible",
    [
        ({"districts": ["东城区"]}, {"cx-a"}),
        ({"districts": ["西城区"]}, {"cx-b"}),
        ({"crossing_ids": ["cx-b"]}, {"cx-b"}),
        ({"districts": ["海淀区"]}, set()),
        ({}, {"cx-a", "cx-b"}),
    ],
)
@pytest.mark.parametrize("role", ["analyst", "reviewer"])
def test_scope_limits_list_and_detail(world, role, scope, visible):
    body = world.get("/api/events", role, {"limit": 500}, **scope).json()
    assert {e["uid"] for e in body["data"]} == world.uids(lambda r: r["crossing_id"] in visible)
    assert body["count"] == len(world.uids(lambda r: r["crossing_id"] in visible))
    # asking for a crossing out of scope by name gives nothing either
    assert world.get("/api/events", role, {"crossing_id": "cx-a"}, **scope).json()["count"] == (
        6 if "cx-a" in visible else 0
    )
    for cid in ("cx-a", "cx-b"):
        uid = world.by_key(f"{cid}-2")["uid"]
        r = world.get(f"/api/events/{uid}", role, **scope)
        assert r.status_code == (200 if cid in visible else 404), r.text
        if r.status_code == 404:
            assert r.json()["detail"] == "event not found"  # same answer as for an unknown uid


# a fixed well-formed uid that names no event (pytest-xdist needs the same parameters in every worker)
@pytest.mark.parametrize(
    "uid", ["0123456789abcdef0123456789abcdef", "..%2F..%2Fetc%2Fpasswd", "x" * 33, "abc def", "' OR 1=1 --", "ÄÖ"]
)
def test_unknown_or_malformed_uid_is_404(world, uid):
    assert world.get(f"/api/events/{uid}").status_code == 404


def test_nul_in_the_uid_is_refused_at_the_door(world):
    assert world.get("/api/events/%00").status_code == 422


@pytest.mark.parametrize(
    "role,scope,sees_evidence",
    [
        ("reviewer", {}, True),
        ("admin", {}, True),
        ("analyst", {}, False),
        ("analyst", {"evidence_access": True}, True),
    ],
)
def test_detail_evidence_reviews_and_run(world, role, scope, sees_evidence):
    row = world.by_key("cx-a-3")
    r = world.get(f"/api/events/{row['uid']}", role, **scope)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["uid"], d["crossing_id"], d["crossing_name"], d["district"]) == (
        row["uid"],
        "cx-a",
        "路口 cx-a",
        "东城区",
    )
    assert (d["type"], d["class_name"], d["frame"]) == ("wrong_way", "car", 6 * 600 * 3)
    assert d["box"] == {"x1": 130.0, "y1": 200.0, "x2": 190.0, "y2": 300.0}
    assert d["run"] == {"video": "cx-a.mp4", "model": "test", "start_time": "2026-03-02T08:00:00Z"}
    assert d["reviews"] == []
    if not sees_evidence:
        assert d["evidence"] == []
        return
    assert sorted(f["kind"] for f in d["evidence"]) == ["clip", "composite"]
    for f in d["evidence"]:
        assert f["url"] == f"/api/media/{f['uid']}" and len(f["sha256"]) == 64 and f["size"] > 0
        assert "cx-a" not in f["url"]  # opaque: no path in the link


def test_detail_times_are_iso_with_zone(world):
    d = world.get(f"/api/events/{world.by_key('cx-a-1')['uid']}").json()
    assert datetime.fromisoformat(d["occurred_at"]) == BASE_TIME + timedelta(minutes=10)
    assert datetime.fromisoformat(d["occurred_at"]).tzinfo is not None


ENDPOINTS = ["/api/events", "/api/events/next", "/api/exports/events.csv", "/api/exports/events.xlsx", "DETAIL"]


@pytest.mark.parametrize(
    "role,expected",
    [
        ("operator", {e: 403 for e in ENDPOINTS}),
        ("analyst", {**{e: 200 for e in ENDPOINTS}, "/api/events/next": 403}),  # the queue is for reviewers
        ("reviewer", {e: 200 for e in ENDPOINTS}),
        ("admin", {e: 200 for e in ENDPOINTS}),
        (None, {e: 401 for e in ENDPOINTS}),
    ],
)
def test_roles(world, role, expected):
    detail = f"/api/events/{world.by_key('cx-a-1')['uid']}"
    for path, code in expected.items():
        path = detail if path == "DETAIL" else path
        headers = world.headers(role) if role else {}
        assert world.api.client.get(path, headers=headers).status_code == code, (role, path)


# -- the review queue ---------------------------------------------------------------------------
def _queue(rows: list[dict[str, Any]], pred=lambda r: r["review_status"] == "pending") -> list[str]:
    return _expected_order([r for r in rows if pred(r)], "occurred_at")


def test_queue_walks_pending_events_oldest_first(world):
    want = _queue(world.rows)
    got, after = [], None
    for _ in range(len(world.rows) + 1):
        body = world.get("/api/events/next", params={"after": after} if after else None).json()
        if body["event"] is None:
            assert body["remaining"] == 0
            break
        assert body["remaining"] == len(want) - len(got)
        assert body["event"]["review_status"] == "pending"
        after = body["event"]["uid"]
        got.append(after)
    assert got == want and want[-1] == world.by_key("cx-b-5")["uid"]  # undated last


@pytest.mark.parametrize(
    "params,pred",
    [
        ({"crossing_id": "cx-b"}, lambda r: r["review_status"] == "pending" and r["crossing_id"] == "cx-b"),
        ({"review_status": "needs_info"}, lambda r: r["review_status"] == "needs_info"),
        (
            {"type": "wrong_way", "district": "东城区"},
            lambda r: r["review_status"] == "pending" and r["type"] == "wrong_way" and r["district"] == "东城区",
        ),
    ],
)
def test_queue_honours_filters(world, params, pred):
    body = world.get("/api/events/next", params=params).json()
    want = _queue(world.rows, pred)
    assert body["event"]["uid"] == want[0] and body["remaining"] == len(want)


def test_queue_honours_scope_and_unknown_anchor(world):
    body = world.get("/api/events/next", districts=["西城区"]).json()
    assert body["event"]["crossing_id"] == "cx-b"
    other = world.by_key("cx-a-2")["uid"]
    assert world.get("/api/events/next", params={"after": other}, districts=["西城区"]).status_code == 404
    assert world.get("/api/events/next", params={"after": uuid.uuid4().hex}).status_code == 404


# -- exports ------------------------------------------------------------------------------------
ZH_HEAD = [c[1] for c in events_router.EXPORT_COLUMNS]
EN_HEAD = [c[2] for c in events_router.EXPORT_COLUMNS]


def _csv(r) -> list[dict[str, str]]:
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8, not the ANSI code page
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


def _xlsx(r) -> tuple[list[str], list[list[Any]]]:
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    return rows[0], rows[1:]


@pytest.mark.parametrize("lang,head", [("zh", ZH_HEAD), ("en", EN_HEAD), (None, ZH_HEAD)])
@pytest.mark.parametrize(
    "params,pred",
    [
        ({}, lambda r: True),
        ({"type": "red_light", "district": "西城区"}, lambda r: r["type"] == "red_light" and r["district"] == "西城区"),
    ],
)
def test_csv_export(world, lang, head, params, pred):
    q = {**params, **({"lang": lang} if lang else {})}
    r = world.get("/api/exports/events.csv", "analyst", q)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _csv(r)
    assert list(rows[0].keys()) == head
    uid_col, time_col = head[0], head[6]
    assert [x[uid_col] for x in rows] == [
        u for u in _expected_order(world.rows, "-occurred_at") if u in world.uids(pred)
    ]
    for x in rows:
        want = next(w for w in world.rows if w["uid"] == x[uid_col])
        assert x[time_col] == (want["occurred_at"].isoformat() if want["occurred_at"] else "")


@pytest.mark.parametrize("lang,head", [("zh", ZH_HEAD), ("en", EN_HEAD)])
def test_xlsx_export(world, lang, head):
    r = world.get("/api/exports/events.xlsx", "reviewer", {"lang": lang, "crossing_id": "cx-a", "sort": "occurred_at"})
    assert r.status_code == 200, r.text
    got_head, rows = _xlsx(r)
    assert got_head == head
    assert [x[0] for x in rows] == _expected_order([w for w in world.rows if w["crossing_id"] == "cx-a"], "occurred_at")
    first = world.by_key("cx-a-0")
    assert rows[0][6] == first["occurred_at"].isoformat()
    assert rows[0][19] == ("已确认" if lang == "zh" else "Confirmed")  # labels, not codes


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_honour_scope(world, fmt):
    r = world.get(f"/api/exports/events.{fmt}", "analyst", {"lang": "en"}, districts=["东城区"])
    uids = [x["Event ID"] for x in _csv(r)] if fmt == "csv" else [x[0] for x in _xlsx(r)[1]]
    assert set(uids) == world.uids(lambda w: w["district"] == "东城区")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(
    "scope,pred",
    [
        ("not_dismissed", lambda w: w["review_status"] != "dismissed"),
        ("confirmed", lambda w: w["review_status"] == "confirmed"),
        ("all", lambda w: True),
    ],
)
def test_export_status_scope_equals_the_statistics(world, fmt, scope, pred):
    """status= is the dashboard's 统计口径: the export has exactly the events the statistics count."""
    r = world.get(f"/api/exports/events.{fmt}", "analyst", {"lang": "en", "status": scope})
    assert r.status_code == 200, r.text
    uids = [x["Event ID"] for x in _csv(r)] if fmt == "csv" else [x[0] for x in _xlsx(r)[1]]
    assert set(uids) == world.uids(pred) and len(uids) == len(set(uids))
    if scope == "not_dismissed":
        assert world.uids(lambda w: w["review_status"] == "dismissed")  # it narrowed something
        stats = world.get("/api/stats/summary", "analyst", {"status": scope}).json()
        dated = world.uids(lambda w: pred(w) and w["occurred_at"] is not None)
        assert stats["violations"] == len(dated), stats


def test_export_is_in_the_pages_zone_and_language_and_named_by_its_dates(world):
    first = world.by_key("cx-a-0")
    start = first["occurred_at"].astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    q = {
        "lang": "zh",
        "tz": "Asia/Shanghai",
        "crossing_id": "cx-a",
        "sort": "occurred_at",
        "from": _iso(start - timedelta(days=1)),
        "to": _iso(start + timedelta(days=30)),
    }
    r = world.get("/api/exports/events.csv", "analyst", q)
    assert r.status_code == 200, r.text
    day0 = (start - timedelta(days=1)).astimezone(timezone(timedelta(hours=8))).date()
    day1 = (start + timedelta(days=30) - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=8))).date()
    assert r.headers["content-disposition"] == f'attachment; filename="crosswatch-events_{day0}_{day1}.csv"'
    row = next(x for x in _csv(r) if x["事件编号"] == first["uid"])
    local = first["occurred_at"].astimezone(timezone(timedelta(hours=8)))
    assert row["发生时间"] == local.isoformat() and row["发生时间"].endswith("+08:00")
    assert row["审核状态"] == "已确认" and row["违法类型"] in ("闯红灯", "逆行")
    assert row["车辆类别"] in ("小汽车", "摩托车/电动车", "自行车", "公交车", "货车", "行人")
    assert world.get("/api/exports/events.csv", "analyst", {"tz": "Mars/Olympus"}).status_code == 422
    plain = world.get("/api/exports/events.xlsx", "analyst")
    assert plain.headers["content-disposition"] == 'attachment; filename="crosswatch-events.xlsx"'


def test_xlsx_over_the_cap_is_422(world, monkeypatch):
    monkeypatch.setattr(events_router, "XLSX_MAX_ROWS", 5)
    r = world.get("/api/exports/events.xlsx", "analyst")
    assert r.status_code == 422 and "CSV" in r.json()["detail"]
    assert (
        world.get("/api/exports/events.xlsx", "analyst", {"crossing_id": "cx-a", "type": "red_light"}).status_code
        == 200
    )
