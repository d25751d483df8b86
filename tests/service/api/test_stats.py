"""Statistics endpoints: exact buckets on a small known event set (local-time shifting across
midnight, DST, Monday weeks), hotspot rates, the weekday × hour matrix, spatial bins with two
frame sizes, trends, KPIs, the status filter, scope, roles, validation and exports.

The read-only tests share one database per backend (module-scoped `world`), so the file stays
fast; tests that write use the function-scoped `api` fixture.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.testclient import TestClient
from pg_schemas import fresh_database
from sqlalchemy import update

from detector.config import parse_crossing
from service import stats_cache, stats_time
from service.api.app import create_app
from service.models import EventRow
from service.repository import Repository
from service.run_records import CountRecord, EventRecord
from service.settings import Settings

from .conftest import SECRET, Api, crossing_yaml


def utc(*a: int, us: int = 0) -> datetime:
    return datetime(*a, microsecond=us, tzinfo=UTC)


@dataclass(frozen=True)
class Ev:
    crossing: str
    at: datetime | None
    type: str
    cls: str
    status: str
    box: tuple[float, float, float, float]
    version: int = 1


# Shanghai is UTC+8: e1 (Sunday 23:30 UTC) is Monday 07:30 there; e5 is Sunday 23:59:59.9 local.
EVENTS = {
    "e1": Ev("cx-a", utc(2026, 3, 1, 23, 30), "red_light", "car", "pending", (100, 200, 160, 300)),
    "e2": Ev("cx-a", utc(2026, 3, 2, 1, 0), "red_light", "motorcycle", "confirmed", (400, 100, 480, 470)),
    "e3": Ev("cx-a", utc(2026, 3, 2, 16, 30), "wrong_way", "motorcycle", "dismissed", (600, 0, 700, 100)),
    "e4": Ev("cx-b", utc(2026, 3, 4, 10, 0), "red_light", "car", "confirmed", (10, 10, 20, 20)),
    "e5": Ev("cx-b", utc(2026, 3, 8, 15, 59, 59, us=900_000), "wrong_way", "bicycle", "needs_info", (10, 10, 20, 20)),
    "e6": Ev("cx-a", utc(2026, 3, 9, 4, 30), "red_light", "car", "pending", (100, 200, 160, 300), version=2),
    "e7": Ev("cx-a", None, "red_light", "car", "pending", (100, 200, 160, 300)),  # no time: never counted
    "e8": Ev("cx-c", utc(2026, 3, 5, 2, 0), "red_light", "car", "pending", (10, 10, 20, 20)),
}
DISTRICTS = {"cx-a": "东城区", "cx-b": "西城区", "cx-c": "东城区"}
# (crossing, class) -> road users inside the range; plus 5000 outside it for cx-a
COUNTS = {("cx-a", "car"): 1000, ("cx-a", "motorcycle"): 1000, ("cx-b", "car"): 250, ("cx-b", "motorcycle"): 250}
RANGE = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-10T00:00:00Z"}


def _version_yaml(cid: str, version: int) -> str:
    data = yaml.safe_load(crossing_yaml(cid, DISTRICTS[cid]))
    if version == 2:  # same geometry drawn on a camera of twice the resolution
        data["frame_size"] = [1280, 960]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def build_world(app) -> None:
    """Insert EVENTS (with their review statuses) and COUNTS through the repository."""
    repo = Repository(app.state.engine)
    by_run: dict[tuple[str, int], list[tuple[str, Ev]]] = {}
    for name, ev in EVENTS.items():
        by_run.setdefault((ev.crossing, ev.version), []).append((name, ev))
    for cid in DISTRICTS:
        by_run.setdefault((cid, 1), [])
    uids: dict[str, str] = {}
    for (cid, version), evs in sorted(by_run.items()):
        text = _version_yaml(cid, version)
        ver = repo.upsert_crossing(parse_crossing(yaml.safe_load(text), cid), text)
        run = repo.start_run(
            video_path=f"/v/{cid}-{version}.mp4",
            video_sha256=hashlib.sha256(f"{cid}{version}".encode()).hexdigest(),
            crossing_version_id=ver.version_id,
            model="t",
            settings={},
            settings_hash="s",
            start_time=None,
        )
        records = [
            EventRecord(
                event_key=name,
                type=ev.type,
                track_id=i,
                class_name=ev.cls,
                t=float(i),
                frame=i,
                x1=ev.box[0],
                y1=ev.box[1],
                x2=ev.box[2],
                y2=ev.box[3],
                occurred_at=ev.at,
            )
            for i, (name, ev) in enumerate(evs)
        ]
        counts = []
        if version == 1:
            for (ccid, cls), n in COUNTS.items():
                if ccid == cid:  # n road users spread over 5 minutes of 2026-03-03
                    counts += [CountRecord("main", cls, m, n // 5, utc(2026, 3, 3, 8, m)) for m in range(5)]
            if cid == "cx-a":
                counts.append(CountRecord("main", "car", 99, 5000, utc(2026, 2, 1, 8, 0)))
        new = repo.finish_run(
            run, events=records, counts=counts, duration_s=None, frames=None, elapsed_s=None, timings=None
        )
        uids.update({name: uid for (name, _), uid in zip(evs, new)})
    with app.state.write_sessionmaker.begin() as s:
        for name, ev in EVENTS.items():
            if ev.status != "pending":
                s.execute(
                    update(EventRow)
                    .where(EventRow.uid == uids[name])
                    .values(review_status=ev.status, reviewed_by="r", reviewed_at=utc(2026, 3, 10))
                )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory):
    """One app + database per backend with the EVENTS world, shared by the read-only tests."""
    tmp = tmp_path_factory.mktemp("stats")
    with fresh_database(request.param, tmp / "stats.db") as url:
        (tmp / "evidence").mkdir()
        settings = Settings(db_url=url, evidence_dir=tmp / "evidence", secret_key=SECRET, worker=False)
        app = create_app(settings)
        try:
            with TestClient(app) as client:
                build_world(app)
                yield Api(app, client, settings, tmp / "evidence")
        finally:
            app.state.engine.dispose()


_TOKENS: dict[tuple, dict[str, str]] = {}


def get(api: Api, path: str, role: str = "analyst", scope: dict | None = None, **params):
    """GET as a user of `role`/`scope`; one login per user and app (password hashing is slow)."""
    key = (id(api.app), role, repr(scope))
    if key not in _TOKENS:
        _TOKENS[key] = api.headers(role, **(scope or {}))
    return api.client.get(path, params=params, headers=_TOKENS[key])


def by_bucket(rows: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["bucket_start"]] = out.get(r["bucket_start"], 0) + r["count"]
    return out


# -- counts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bucket,tz,expected",
    [
        (
            "day",
            "Asia/Shanghai",
            {
                "2026-03-02T00:00:00+08:00": 2,
                "2026-03-03T00:00:00+08:00": 1,
                "2026-03-04T00:00:00+08:00": 1,
                "2026-03-05T00:00:00+08:00": 1,
                "2026-03-08T00:00:00+08:00": 1,
                "2026-03-09T00:00:00+08:00": 1,
            },
        ),
        (
            "day",
            "UTC",
            {
                "2026-03-01T00:00:00Z": 1,
                "2026-03-02T00:00:00Z": 2,
                "2026-03-04T00:00:00Z": 1,
                "2026-03-05T00:00:00Z": 1,
                "2026-03-08T00:00:00Z": 1,
                "2026-03-09T00:00:00Z": 1,
            },
        ),
        # New York switches to summer time on 2026-03-08: e6 (04:30 UTC on the 9th) is 00:30 EDT.
        (
            "day",
            "America/New_York",
            {
                "2026-03-01T00:00:00-05:00": 2,
                "2026-03-02T00:00:00-05:00": 1,
                "2026-03-04T00:00:00-05:00": 2,
                "2026-03-08T00:00:00-05:00": 1,
                "2026-03-09T00:00:00-04:00": 1,
            },
        ),
        # weeks start on Monday: e5 (Sunday 23:59:59.9 in Shanghai) stays in the week of 03-02
        ("week", "Asia/Shanghai", {"2026-03-02T00:00:00+08:00": 6, "2026-03-09T00:00:00+08:00": 1}),
        ("week", "UTC", {"2026-02-23T00:00:00Z": 1, "2026-03-02T00:00:00Z": 5, "2026-03-09T00:00:00Z": 1}),
        (
            "hour",
            "Asia/Shanghai",
            {
                "2026-03-02T07:00:00+08:00": 1,
                "2026-03-02T09:00:00+08:00": 1,
                "2026-03-03T00:00:00+08:00": 1,
                "2026-03-04T18:00:00+08:00": 1,
                "2026-03-05T10:00:00+08:00": 1,
                "2026-03-08T23:00:00+08:00": 1,
                "2026-03-09T12:00:00+08:00": 1,
            },
        ),
    ],
)
def test_counts_buckets_in_local_time(world, bucket, tz, expected):
    r = get(world, "/api/stats/counts", bucket=bucket, tz=tz, status="all", limit=500)
    assert r.status_code == 200, r.text
    got = {k.replace("+00:00", "Z"): v for k, v in by_bucket(r.json()["data"]).items()}
    assert got == expected
    assert r.json()["count"] == len(r.json()["data"])


def test_counts_rows_keep_crossing_type_class_apart(world):
    rows = get(world, "/api/stats/counts", bucket="day", status="all", limit=500).json()["data"]
    first_day = [
        (r["crossing_id"], r["type"], r["class_name"], r["count"])
        for r in rows
        if r["bucket_start"] == "2026-03-02T00:00:00+08:00"
    ]
    assert first_day == [("cx-a", "red_light", "car", 1), ("cx-a", "red_light", "motorcycle", 1)]


@pytest.mark.parametrize(
    "params,total",
    [
        ({"status": "all"}, 7),
        ({}, 6),  # default not_dismissed: e3 is dismissed
        ({"status": "confirmed"}, 2),
        ({"status": "all", "type": "wrong_way"}, 2),
        ({"status": "all", "class_name": ["car", "bicycle"]}, 5),
        ({"status": "all", "crossing_id": ["cx-b", "cx-c"]}, 3),
        ({"status": "all", "district": "东城区"}, 5),
        ({"status": "all", "from": "2026-03-02T00:00:00+08:00", "to": "2026-03-03T00:00:00+08:00"}, 2),
        ({"status": "all", "from": "2026-03-08T23:59:59+08:00", "to": "2026-03-09T00:00:00+08:00"}, 1),  # e5, ms kept
    ],
)
def test_counts_filters(world, params, total):
    r = get(world, "/api/stats/counts", bucket="week", limit=500, **params)
    assert r.status_code == 200, r.text
    assert sum(x["count"] for x in r.json()["data"]) == total


def test_counts_paginate(world):
    full = get(world, "/api/stats/counts", bucket="hour", status="all", limit=500).json()
    page = get(world, "/api/stats/counts", bucket="hour", status="all", limit=2, offset=3).json()
    assert page["count"] == full["count"] == 7 and page["data"] == full["data"][3:5]


# -- hotspots ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params,expected",
    [
        # cx-b 2 / 500 road users = 4.0 per 1,000; cx-a 4 / 2,000 = 2.0; cx-c has no counts: last, null
        ({"status": "all"}, [("cx-b", 2, 500, 4.0), ("cx-a", 4, 2000, 2.0), ("cx-c", 1, None, None)]),
        ({"status": "all", "min_road_users": 1000}, [("cx-a", 4, 2000, 2.0), ("cx-c", 1, None, None)]),
        # a class filter applies to exposure too: car violations per 1,000 cars
        (
            {"status": "all", "class_name": "car"},
            [("cx-b", 1, 250, 4.0), ("cx-a", 2, 1000, 2.0), ("cx-c", 1, None, None)],
        ),
        ({"status": "confirmed"}, [("cx-b", 1, 500, 2.0), ("cx-a", 1, 2000, 0.5)]),
    ],
)
def test_hotspot_rates(world, params, expected):
    r = get(world, "/api/stats/hotspots", **RANGE, **params)
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert [(h["crossing_id"], h["violations"], h["road_users"], h["rate_per_1000"]) for h in rows] == expected
    assert [h["rank"] for h in rows] == list(range(1, len(rows) + 1))


def test_hotspot_breakdown_and_range(world):
    rows = get(world, "/api/stats/hotspots", status="all", **RANGE).json()["data"]
    a = next(h for h in rows if h["crossing_id"] == "cx-a")
    assert a["by_type"] == {"red_light": 3, "wrong_way": 1} and a["district"] == "东城区"
    # without a range the 5,000 road users of February count too
    a_all = next(
        h for h in get(world, "/api/stats/hotspots", status="all").json()["data"] if h["crossing_id"] == "cx-a"
    )
    assert a_all["road_users"] == 7000 and a_all["rate_per_1000"] == pytest.approx(4000 / 7000, abs=1e-4)


# -- weekday × hour ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tz,cells",
    [
        ("Asia/Shanghai", {(0, 7): 1, (0, 9): 1, (1, 0): 1, (2, 18): 1, (3, 10): 1, (6, 23): 1, (0, 12): 1}),
        ("UTC", {(6, 23): 1, (0, 1): 1, (0, 16): 1, (2, 10): 1, (3, 2): 1, (6, 15): 1, (0, 4): 1}),
    ],
)
def test_weekday_hour_cells(world, tz, cells):
    body = get(world, "/api/stats/weekday-hour", status="all", tz=tz).json()
    m = body["matrix"]
    assert len(m) == 7 and all(len(row) == 24 for row in m)
    got = {(d, h): m[d][h] for d in range(7) for h in range(24) if m[d][h]}
    assert got == cells and body["total"] == 7
    assert body["weekdays"][0] == {"zh": "星期一", "en": "Monday"}


# -- spatial -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bins,cells",
    [
        # e1 (640x480): bottom-centre (130, 300) -> col 0, row 2; e2 (440, 470) -> col 2, row 3;
        # e3 (650, 100) is past the right edge -> clamped to col 3, row 0; e6 has e1's pixels but a
        # 1280x960 frame -> col 0, row 1
        (4, {(2, 0): 1, (3, 2): 1, (0, 3): 1, (1, 0): 1}),
        (2, {(1, 0): 1, (1, 1): 1, (0, 1): 1, (0, 0): 1}),
    ],
)
def test_spatial_bins_per_frame_size(world, bins, cells):
    r = get(world, "/api/stats/spatial", crossing_id="cx-a", bins=bins, status="all")
    assert r.status_code == 200, r.text
    body = r.json()
    got = {(y, x): body["grid"][y][x] for y in range(bins) for x in range(bins) if body["grid"][y][x]}
    assert got == cells and body["total"] == 4
    assert body["frame_size"] == [1280, 960]  # the current version
    assert body["versions"] == [
        {"version": 1, "frame_size": [640, 480], "events": 3},
        {"version": 2, "frame_size": [1280, 960], "events": 1},
    ]


# -- trend -------------------------------------------------------------------------------------
def test_trend_against_previous_period(world):
    r = get(
        world,
        "/api/stats/trend",
        bucket="day",
        status="all",
        **{"from": "2026-03-06T00:00:00+08:00", "to": "2026-03-10T00:00:00+08:00"},
    )
    assert r.status_code == 200, r.text
    series = {s["type"]: s for s in r.json()["series"]}
    expected = {"red_light": (1, 4, -75.0), "wrong_way": (1, 1, 0.0), "all": (2, 5, -60.0)}
    assert {t: (s["total"], s["previous_total"], s["change_pct"]) for t, s in series.items()} == expected
    assert [(p["bucket_start"][:10], p["count"]) for p in series["all"]["current"]] == [
        ("2026-03-06", 0),
        ("2026-03-07", 0),
        ("2026-03-08", 1),
        ("2026-03-09", 1),
    ]
    assert [(p["bucket_start"][:10], p["count"]) for p in series["all"]["previous"]] == [
        ("2026-03-02", 2),
        ("2026-03-03", 1),
        ("2026-03-04", 1),
        ("2026-03-05", 1),
    ]
    assert series["red_light"]["label"] == {"zh": "闯红灯", "en": "Red-light running"}


def test_trend_without_previous_events_has_no_change(world):
    body = get(
        world,
        "/api/stats/trend",
        bucket="week",
        status="confirmed",
        **{"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-09T00:00:00+08:00"},
    ).json()
    overall = next(s for s in body["series"] if s["type"] == "all")
    assert (overall["total"], overall["previous_total"], overall["change_pct"]) == (2, 0, None)
    assert [p["bucket_start"] for p in overall["previous"]] == ["2026-02-23T00:00:00+08:00"]


# -- summary -----------------------------------------------------------------------------------
@pytest.mark.parametrize("status,violations,rate", [("not_dismissed", 6, 2.4), ("all", 7, 2.8), ("confirmed", 2, 0.8)])
def test_summary(world, status, violations, rate):
    body = get(world, "/api/stats/summary", status=status, **RANGE).json()
    assert body["violations"] == violations and body["road_users"] == 2500 and body["rate_per_1000"] == rate
    assert body["by_status"] == {"pending": 3, "confirmed": 2, "dismissed": 1, "needs_info": 1}
    assert body["pending"] == 3 and body["confirmed_share"] == pytest.approx(0.6667)


# -- scope and roles ---------------------------------------------------------------------------
WEST = {"districts": ["西城区"]}


@pytest.mark.parametrize(
    "path,params,check",
    [
        ("/api/stats/counts", {"bucket": "week"}, lambda b: {r["crossing_id"] for r in b["data"]} == {"cx-b"}),
        ("/api/stats/counts", {"crossing_id": "cx-a"}, lambda b: b == {"data": [], "count": 0}),
        ("/api/stats/hotspots", {}, lambda b: [h["crossing_id"] for h in b["data"]] == ["cx-b"]),
        ("/api/stats/weekday-hour", {}, lambda b: b["total"] == 2),
        ("/api/stats/summary", {}, lambda b: b["violations"] == 2 and b["road_users"] == 500),
        (
            "/api/stats/trend",
            {"from": "2026-03-01T00:00:00Z", "to": "2026-03-10T00:00:00Z"},
            lambda b: b["series"][-1]["total"] == 2,
        ),
    ],
)
def test_district_analyst_sees_only_its_crossings(world, path, params, check):
    r = get(world, path, scope=WEST, status="all", **params)
    assert r.status_code == 200, r.text
    assert check(r.json())


@pytest.mark.parametrize("crossing_id", ["cx-a", "no-such-crossing"])
def test_spatial_out_of_scope_or_unknown_is_404(world, crossing_id):
    assert get(world, "/api/stats/spatial", scope=WEST, crossing_id=crossing_id).status_code == 404


STATS_PATHS = [
    "/api/stats/counts",
    "/api/stats/hotspots",
    "/api/stats/weekday-hour",
    "/api/stats/summary",
    "/api/stats/spatial?crossing_id=cx-a",
    "/api/stats/trend?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z",
    "/api/exports/stats.csv",
    "/api/exports/stats.xlsx",
]


@pytest.mark.parametrize(
    "role,code", [("reviewer", 403), ("operator", 403), ("admin", 200), ("analyst", 200), (None, 401)]
)
def test_roles(world, role, code):
    headers = get(world, "/api/auth/me", role=role).request.headers if role else {}
    headers = {"Authorization": headers["Authorization"]} if role else {}
    assert {p: world.client.get(p, headers=headers).status_code for p in STATS_PATHS} == {p: code for p in STATS_PATHS}


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path,params",
    [
        ("/api/stats/counts", {"from": "2026-03-01T00:00:00"}),  # naive
        ("/api/stats/counts", {"to": "yesterday"}),
        ("/api/stats/counts", {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}),
        ("/api/stats/counts", {"from": "0001-01-01T00:00:00+14:00"}),
        ("/api/stats/counts", {"tz": "Mars/Olympus_Mons"}),
        ("/api/stats/counts", {"tz": "../../../etc/passwd"}),
        ("/api/stats/counts", {"tz": ""}),
        ("/api/stats/counts", {"bucket": "month"}),
        ("/api/stats/counts", {"status": "rejected"}),
        ("/api/stats/counts", {"type": "speeding"}),
        ("/api/stats/counts", {"limit": 501}),
        ("/api/stats/hotspots", {"min_road_users": -1}),
        ("/api/stats/spatial", {}),  # crossing_id required
        ("/api/stats/spatial", {"crossing_id": "cx-a", "bins": 1}),
        ("/api/stats/trend", {"from": "2026-03-01T00:00:00Z"}),  # to missing
        ("/api/stats/trend", {"from": "1971-01-01T00:00:00Z", "to": "2199-01-01T00:00:00Z"}),  # too many buckets
        ("/api/exports/stats.csv", {"report": "events"}),
        ("/api/exports/stats.csv", {"lang": "fr"}),
    ],
)
def test_bad_input_is_422(world, path, params):
    r = get(world, path, **params)
    assert r.status_code == 422, r.text


# -- exports -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "report,lang,header,first",
    [
        (
            "counts",
            "zh",
            ["时间段起点", "路口编号", "违法类型代码", "违法类型", "交通参与者类别", "违法数"],
            ["2026-03-02T00:00:00+08:00", "cx-a", "red_light", "闯红灯", "car", "1"],
        ),
        (
            "counts",
            "en",
            ["Bucket start", "Crossing ID", "Violation type code", "Violation type", "Road user class", "Violations"],
            ["2026-03-02T00:00:00+08:00", "cx-a", "red_light", "Red-light running", "car", "1"],
        ),
        (
            "hotspots",
            "en",
            [
                "Rank",
                "Crossing ID",
                "Crossing name",
                "District",
                "Violations",
                "Red-light running",
                "Wrong-way riding",
                "Road users crossing",
                "Violations per 1,000 road users",
            ],
            ["1", "cx-b", "路口 cx-b", "西城区", "2", "1", "1", "500", "4.0"],
        ),
        (
            "weekday-hour",
            "zh",
            ["星期", *[f"{h:02d}时" for h in range(24)], "合计"],
            ["星期一", *["0"] * 7, "1", "0", "1", "0", "0", "1", *["0"] * 11, "3"],
        ),
    ],
)
def test_csv_export_parses_back(world, report, lang, header, first):
    r = get(world, "/api/exports/stats.csv", report=report, lang=lang, status="all", **RANGE)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == header and rows[1] == first


@pytest.mark.parametrize(
    "report,sheet,rows", [("counts", "违法统计", 8), ("hotspots", "热点路口", 4), ("weekday-hour", "星期小时分布", 8)]
)
def test_xlsx_export_parses_back(world, report, sheet, rows):
    from openpyxl import load_workbook

    r = get(world, "/api/exports/stats.xlsx", report=report, status="all", **RANGE)
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    assert wb.sheetnames == [sheet]
    assert len(list(wb[sheet].iter_rows(values_only=True))) == rows  # header + data


# -- cache and time-zone helpers ---------------------------------------------------------------
def test_answers_follow_reviews(api):
    """Cached answers are not served once a review changes the data."""
    api.seed(events_per_crossing=4)
    h = api.headers("analyst")
    confirmed = {"status": "confirmed", "bucket": "week"}
    assert api.client.get("/api/stats/counts", params=confirmed, headers=h).json()["count"] == 0
    with api.app.state.write_sessionmaker.begin() as s:
        s.execute(
            update(EventRow)
            .where(EventRow.crossing_id == "cx-a")
            .values(review_status="confirmed", reviewed_at=datetime.now(UTC))
        )
    rows = api.client.get("/api/stats/counts", params=confirmed, headers=h).json()["data"]
    assert sum(r["count"] for r in rows) == 4 and {r["crossing_id"] for r in rows} == {"cx-a"}


@pytest.mark.parametrize(
    "stamp2,advance,computed",
    [
        ((1,), 0.0, 1),  # same data, fresh: served from cache
        ((2,), 0.0, 2),  # data changed: recomputed
        ((1,), 31.0, 2),  # same data but older than ttl: recomputed
    ],
)
def test_stats_cache(monkeypatch, stamp2, advance, computed):
    now = [0.0]
    stamps = iter([(1,), stamp2])
    monkeypatch.setattr(stats_cache, "data_version", lambda s: next(stamps))
    cache = stats_cache.StatsCache(30.0, clock=lambda: now[0])
    calls = []
    assert cache.get(None, "k", lambda: calls.append(1) or len(calls)) == 1
    now[0] += advance
    assert cache.get(None, "k", lambda: calls.append(1) or len(calls)) == computed


@pytest.mark.parametrize(
    "tz,start,end,expected",
    [
        ("Asia/Shanghai", utc(2026, 1, 1), utc(2026, 12, 31), [(None, 8 * 3600)]),
        ("America/New_York", utc(2026, 3, 1), utc(2026, 3, 20), [(None, -5 * 3600), (utc(2026, 3, 8, 7), -4 * 3600)]),
        ("Europe/Berlin", utc(2026, 10, 20), utc(2026, 11, 2), [(None, 7200), (utc(2026, 10, 25, 1), 3600)]),
    ],
)
def test_offset_segments(tz, start, end, expected):
    assert list(stats_time.offset_segments(ZoneInfo(tz), start, end)) == expected


def test_bucket_start_round_trip():
    tz = ZoneInfo("Asia/Shanghai")
    at = utc(2026, 3, 8, 15, 59, 59)  # Sunday 23:59:59 local
    week = stats_time.bucket_key(stats_time.local_seconds_py(at, tz), "week")
    assert stats_time.bucket_start(week, "week", tz) == datetime(2026, 3, 2, tzinfo=tz)
    assert stats_time.bucket_start(week, "week", tz) + timedelta(days=7) > at
