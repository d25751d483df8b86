"""The dashboard (#/dashboard) in a real browser on the processed sample clips: the KPIs and the
hotspot ranking shown equal the statistics API's answers for the same filter, the charts draw
what the API says (and are not blank), exports download files that parse, the filter form
changes the numbers, and a non-analyst role gets neither the nav link nor the page."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

TZ = "Asia/Shanghai"
DEFAULT_DAYS = 30
ALL_EVENTS = 6  # conftest: 4 (hanoi) + 2 (vn)
FORBIDDEN = "无权访问此页面"
KPI_LABELS = {"zh-CN": "违法总数", "en": "Violations"}
# KPI (data-kpi) -> (how the summary answer gives it, decimals shown; "%" = a share shown as percent)
KPIS: dict[str, tuple[str, int | str]] = {
    "violations": ("violations", 0),
    "rate_per_1000": ("rate_per_1000", 2),
    "confirmed_share": ("confirmed_share", "%"),
    "road_users": ("road_users", 0),
    "pending": ("pending", 0),
}
# hotspot table column (data-col) -> value in the API row, decimals shown
HOTSPOT_COLS: dict[str, tuple[Any, int]] = {
    "rank": (lambda h: h["rank"], 0),
    "violations": (lambda h: h["violations"], 0),
    "red_light": (lambda h: h["by_type"]["red_light"], 0),
    "wrong_way": (lambda h: h["by_type"]["wrong_way"], 0),
    "road_users": (lambda h: h["road_users"], 0),
    "rate_per_1000": (lambda h: h["rate_per_1000"], 2),
}
CHARTS = ["#dash-map", "#dash-trend", "#dash-weekday-hour", "#dash-spatial-chart"]


# -- helpers -------------------------------------------------------------------------------------
def stats_query(day_from: str, day_to: str, **extra: Any) -> dict[str, Any]:
    """What the page asks for days [day_from, day_to] (inclusive) in Shanghai time."""
    tz = ZoneInfo(TZ)
    start = datetime.combine(date.fromisoformat(day_from), time(0), tz)
    end = datetime.combine(date.fromisoformat(day_to) + timedelta(days=1), time(0), tz)
    return {"from": start.isoformat(), "to": end.isoformat(), "tz": TZ, "status": "not_dismissed", **extra}


def shown_number(text: str) -> float | None:
    """A number as the page shows it in zh-CN / en ("1,234", "12.50", "66.7%", "–" for none)."""
    text = text.strip()
    if text == "–":
        return None
    if text.endswith("%"):
        return float(text[:-1].replace(",", "")) / 100
    return float(text.replace(",", ""))


def rounded(value: float | None, decimals: int | str) -> float | None:
    """The API value as the page rounds it for display."""
    if value is None:
        return None
    if decimals == "%":
        return round(value * 100, 1) / 100
    return round(value, decimals)


def open_dashboard(page_as, role: str = "analyst", lang: str = "zh-CN"):
    page = page_as(role, "dashboard", lang=lang)
    page.wait_for_selector(".dashboard[data-loaded]", timeout=30000)
    return page


def wait_reloaded(page, before: str) -> None:
    page.wait_for_function(f"document.querySelector('.dashboard').dataset.loaded !== '{before}'", timeout=30000)


def chart_option(page, selector: str) -> dict:
    return page.evaluate(
        "sel => { const c = window.echarts.getInstanceByDom(document.querySelector(sel));"
        " const o = c.getOption(); return {series: o.series.map(s => ({name: s.name, data: s.data}))}; }",
        selector,
    )


def canvas_ink(page, selector: str) -> dict | None:
    """How much of the chart's canvas is painted: painted pixels and distinct (coarse) colours."""
    return page.evaluate(
        """sel => {
        const c = document.querySelector(sel + ' canvas');
        if (!c || !c.width || !c.height) return null;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0; const colours = new Set();
        for (let i = 0; i < d.length; i += 4 * 5) {
            if (d[i + 3] > 0) { painted++; colours.add(((d[i] >> 4) << 8) | ((d[i + 1] >> 4) << 4) | (d[i + 2] >> 4)); }
        }
        return {painted, colours: colours.size, samples: d.length / 20};
    }""",
        selector,
    )


def read_kpis(page) -> dict[str, float | None]:
    return {k: shown_number(page.locator(f"[data-kpi='{k}'] .kpi-value").inner_text()) for k in KPIS}


def read_hotspots(page) -> list[dict[str, Any]]:
    rows = page.locator("#hotspot-table tbody tr")
    out = []
    for i in range(rows.count()):
        row = rows.nth(i)
        cells = {
            c: shown_number(
                row.locator(
                    f"[data-col='{c}'] .rate-value"
                    if c == "rate_per_1000" and row.locator(f"[data-col='{c}'] .rate-value").count()
                    else f"[data-col='{c}']"
                ).inner_text()
            )
            for c in HOTSPOT_COLS
        }
        out.append(
            {
                "crossing_id": row.get_attribute("data-crossing"),
                "name": row.locator("[data-col='name']").inner_text(),
                **cells,
            }
        )
    return out


@pytest.fixture(scope="module")
def default_range(ui) -> tuple[str, str]:
    """The range the page picks by itself: the 30 days ending on the newest event's local day."""
    newest = ui.get("analyst", "/api/events", params={"limit": 1, "sort": "-occurred_at"})["data"][0]["occurred_at"]
    last = datetime.fromisoformat(newest).astimezone(ZoneInfo(TZ)).date()
    return (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), last.isoformat()


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_kpis_and_hotspots_equal_the_api(lang, page_as, ui, default_range, screenshot):
    page = open_dashboard(page_as, lang=lang)
    assert (page.input_value("#dash-from"), page.input_value("#dash-to")) == default_range
    q = stats_query(*default_range)
    summary = ui.get("analyst", "/api/stats/summary", params=q)
    assert sum(summary["by_status"].values()) == ALL_EVENTS, "the default range must hold every sample event"
    assert page.locator("[data-kpi='violations'] .kpi-label").inner_text() == KPI_LABELS[lang]

    shown = read_kpis(page)
    for key, (field, decimals) in KPIS.items():
        assert shown[key] == rounded(summary[field], decimals), f"KPI {key}: page {shown[key]} vs API {summary[field]}"
    assert shown["violations"] >= 1 and shown["road_users"] >= 1

    hotspots = ui.get("analyst", "/api/stats/hotspots", params={**q, "limit": 500})["data"]
    rows = read_hotspots(page)
    assert [r["crossing_id"] for r in rows] == [h["crossing_id"] for h in hotspots]
    assert len(rows) == 2
    for row, h in zip(rows, hotspots):
        assert row["name"] == h["name"]
        for col, (get, decimals) in HOTSPOT_COLS.items():
            assert row[col] == rounded(get(h), decimals), f"{h['crossing_id']} {col}: page {row[col]} vs API {get(h)}"
    if lang == "en":
        screenshot(page, "dashboard-en")
    else:
        screenshot(page, "dashboard")
        page.locator("#dash-trend-section").scroll_into_view_if_needed()
        screenshot(page, "dashboard-charts")
        page.locator("#dash-spatial-figure").scroll_into_view_if_needed()
        page.wait_for_function("document.querySelector('#dash-spatial-img')?.complete")
        screenshot(page, "dashboard-spatial")


def test_charts_draw_the_apis_numbers(page_as, ui, default_range):
    page = open_dashboard(page_as)
    page.wait_for_selector("#dash-spatial-chart canvas")
    for sel in CHARTS:
        ink = canvas_ink(page, sel)
        assert ink is not None, f"{sel}: no canvas"
        assert ink["painted"] > 0.01 * ink["samples"] and ink["colours"] >= 3, f"{sel} looks blank: {ink}"
    q = stats_query(*default_range)

    wh = ui.get("analyst", "/api/stats/weekday-hour", params=q)
    cells = {(h, d): n for h, d, n in chart_option(page, "#dash-weekday-hour")["series"][0]["data"]}
    assert cells == {(h, d): wh["matrix"][d][h] for d in range(7) for h in range(24) if wh["matrix"][d][h]}
    assert wh["total"] == sum(cells.values()) > 0

    trend = ui.get("analyst", "/api/stats/trend", params={**q, "bucket": "day"})
    series = chart_option(page, "#dash-trend")["series"]
    total = next(s for s in trend["series"] if s["type"] == "all")
    # the total line (the last series is the previous period)
    assert series[-2]["data"] == [p["count"] for p in total["current"]]
    assert len(series[-2]["data"]) == DEFAULT_DAYS

    crossings = ui.get("analyst", "/api/crossings", params={"limit": 500})["data"]
    points = chart_option(page, "#dash-map")["series"][0]["data"]
    assert sorted(p["name"] for p in points) == sorted(c["name"] for c in crossings)

    top = ui.get("analyst", "/api/stats/hotspots", params=q)["data"][0]["crossing_id"]
    assert page.input_value("#dash-spatial-crossing") == top
    spatial = ui.get("analyst", "/api/stats/spatial", params={**q, "crossing_id": top, "bins": 16})
    drawn = chart_option(page, "#dash-spatial-chart")["series"][0]["data"]
    assert sum(n for _, _, n in drawn) == spatial["total"] > 0
    cells = {(x, y) for y, row in enumerate(spatial["grid"]) for x, n in enumerate(row) if n}
    assert {(x, y) for x, y, _ in drawn} == cells
    size = page.evaluate(
        "() => { const i = document.getElementById('dash-spatial-img'); return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert size[0] > 0 and size[1] > 0, "the crossing snapshot did not load"


FILTER_CASES = [  # (form fields to set on top of the defaults, violations expected)
    ({"dash-from": "2026-01-01", "dash-to": "2026-01-31", "dash-status": "all"}, 0),
    ({"dash-crossing": "vn-rear-stopline", "dash-status": "all"}, 2),
    ({"dash-crossing": "hanoi-giangvo-langha", "dash-type": "red_light", "dash-status": "all"}, 4),
    ({"dash-type": "wrong_way", "dash-status": "all"}, 0),
    ({"dash-status": "all"}, ALL_EVENTS),
]


def test_filters_change_the_numbers(page_as, ui, default_range):
    """One page, the filter cases one after another (each from the default form)."""
    page = open_dashboard(page_as)
    defaults = {"dash-from": default_range[0], "dash-to": default_range[1], "dash-crossing": "", "dash-type": ""}
    for filters, expect_violations in FILTER_CASES:
        fields = {**defaults, **filters}
        before = page.get_attribute(".dashboard", "data-loaded")
        for field, value in fields.items():
            if field in ("dash-from", "dash-to"):
                page.fill(f"#{field}", value)
            else:
                page.select_option(f"#{field}", value)
        page.click("#dash-apply")
        wait_reloaded(page, before)
        q = stats_query(fields["dash-from"], fields["dash-to"], status=fields["dash-status"])
        if fields["dash-crossing"]:
            q["crossing_id"] = fields["dash-crossing"]
        if fields["dash-type"]:
            q["type"] = fields["dash-type"]
        summary = ui.get("analyst", "/api/stats/summary", params=q)
        assert summary["violations"] == expect_violations, filters
        assert read_kpis(page)["violations"] == expect_violations, filters
        hotspots = ui.get("analyst", "/api/stats/hotspots", params=q)["data"]
        assert [r["crossing_id"] for r in read_hotspots(page)] == [h["crossing_id"] for h in hotspots], filters


def test_bad_range_is_refused_in_the_form(page_as):
    page = open_dashboard(page_as)
    before = page.get_attribute(".dashboard", "data-loaded")
    page.fill("#dash-from", "2026-03-10")
    page.fill("#dash-to", "2026-03-01")
    page.click("#dash-apply")
    assert page.locator("#dash-filter-error").inner_text() == "开始日期不能晚于结束日期"
    assert page.get_attribute(".dashboard", "data-loaded") == before


def _hotspots_csv(data: bytes, ui, q) -> None:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["排名", "路口编号", "路口名称"]
    api = ui.get("analyst", "/api/stats/hotspots", params=q)["data"]
    assert [r[1] for r in rows[1:]] == [h["crossing_id"] for h in api]
    assert [int(r[4]) for r in rows[1:]] == [h["violations"] for h in api]


def _weekday_hour_xlsx(data: bytes, ui, q) -> None:
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(data), read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "星期" and rows[1][0] == "星期一" and len(rows) == 8
    matrix = ui.get("analyst", "/api/stats/weekday-hour", params=q)["matrix"]
    assert [list(r[1:25]) for r in rows[1:]] == matrix


def _events_csv(data: bytes, ui, q) -> None:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == ui.get("analyst", "/api/stats/summary", params=q)["violations"]
    assert {r["路口编号"] for r in rows} == {"hanoi-giangvo-langha", "vn-rear-stopline"}


def _events_xlsx(data: bytes, ui, q) -> None:
    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(data), read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 1 + ui.get("analyst", "/api/stats/summary", params=q)["violations"]


EXPORT_CASES = [  # (report, format, file name without the date range, how to check its content)
    ("hotspots", "csv", "crosswatch-stats-hotspots.csv", _hotspots_csv),
    ("weekday-hour", "xlsx", "crosswatch-stats-weekday-hour.xlsx", _weekday_hour_xlsx),
    ("events", "csv", "crosswatch-events.csv", _events_csv),
    ("events", "xlsx", "crosswatch-events.xlsx", _events_xlsx),
]


def test_export_downloads_files_that_parse(page_as, ui, default_range):
    page = open_dashboard(page_as)
    for report, fmt, name, check in EXPORT_CASES:
        page.select_option("#dash-export-report", report)
        with page.expect_download(timeout=30000) as info:
            page.click(f"#dash-export-{fmt}")
        download = info.value
        stem, ext = name.rsplit(".", 1)
        assert download.suggested_filename == f"{stem}_{default_range[0]}_{default_range[1]}.{ext}"
        check(open(download.path(), "rb").read(), ui, stats_query(*default_range))


@pytest.mark.parametrize("role", ["operator", "reviewer"])
def test_other_roles_get_no_dashboard(role, page_as):
    page = page_as(role, "jobs" if role == "operator" else "review")
    page.wait_for_function("document.querySelectorAll('#nav a').length > 0")
    routes = page.eval_on_selector_all("#nav a", "as => as.map(a => a.dataset.route)")
    assert "dashboard" not in routes and routes
    page.evaluate("location.hash = '#/dashboard'")
    page.wait_for_function(f"document.querySelector('#page h1')?.textContent === {FORBIDDEN!r}")
    assert page.locator(".dashboard").count() == 0


# -- the page module's pure helpers, run in the browser (the same Intl data the page uses) ------
MIDNIGHTS = [  # (day, zone, instant of 00:00 there)
    ("2026-03-02", "Asia/Shanghai", "2026-03-01T16:00:00.000Z"),
    ("2024-02-29", "Asia/Kolkata", "2024-02-28T18:30:00.000Z"),
    ("2026-03-08", "America/New_York", "2026-03-08T05:00:00.000Z"),  # DST starts at 02:00 that day
    ("2026-11-01", "America/New_York", "2026-11-01T04:00:00.000Z"),  # DST ends at 02:00 that day
    ("2026-03-29", "Europe/London", "2026-03-29T00:00:00.000Z"),
    ("2026-01-01", "UTC", "2026-01-01T00:00:00.000Z"),
]
ADD_DAYS = [
    ("2026-02-28", 1, "2026-03-01"),
    ("2024-02-28", 1, "2024-02-29"),
    ("2026-01-01", -1, "2025-12-31"),
    ("2026-03-02", -29, "2026-02-01"),
]
SYMBOL_SIZES = [(0, 10, 14), (10, 10, 56), (None, 10, 14), (5, 0, 14), (2.5, 10, 35)]


def test_date_and_size_helpers(page_as):
    page = open_dashboard(page_as)
    out = page.evaluate(
        """async ([midnights, adds, sizes]) => {
        const m = await import('/static/pages/dashboard.js');
        return {
            midnights: midnights.map(([day, tz]) => m.zonedMidnightIso(day, tz)),
            back: midnights.map(([day, tz, iso]) => m.dayIn(Date.parse(iso), tz)),
            adds: adds.map(([day, n]) => m.addDays(day, n)),
            sizes: sizes.map(([v, max]) => m.symbolSize(v, max)),
        };
    }""",
        [MIDNIGHTS, ADD_DAYS, SYMBOL_SIZES],
    )
    assert out["midnights"] == [iso for _, _, iso in MIDNIGHTS]
    assert out["back"] == [day for day, _, _ in MIDNIGHTS]
    assert out["adds"] == [want for _, _, want in ADD_DAYS]
    assert out["sizes"] == [want for _, _, want in SYMBOL_SIZES]


MAP_CASES = [  # (crossings, hotspots, geo layout?, ids in drawing order)
    (
        [{"id": "b", "name": "B", "lat": 36.4, "lon": 115.9}, {"id": "a", "name": "A", "lat": 36.5, "lon": 116.0}],
        [{"crossing_id": "a", "rank": 1, "rate_per_1000": 2.0, "violations": 4}],
        True,
        ["a", "b"],
    ),
    (
        [{"id": "b", "name": "B", "lat": None, "lon": None}, {"id": "a", "name": "A", "lat": 36.5, "lon": 116.0}],
        [
            {"crossing_id": "b", "rank": 1, "rate_per_1000": None, "violations": 3},
            {"crossing_id": "a", "rank": 2, "rate_per_1000": None, "violations": 1},
        ],
        False,
        ["b", "a"],
    ),
]


@pytest.mark.parametrize(("crossings", "hotspots", "geo", "order"), MAP_CASES)
def test_map_layout(crossings, hotspots, geo, order, page_as):
    page = open_dashboard(page_as)
    out = page.evaluate(
        """async ([c, h]) => {
        const m = await import('/static/pages/dashboard.js');
        const r = m.mapPoints(c, h);
        return {geo: r.geo, byRate: r.byRate, ids: r.points.map(p => p.id), sizes: r.points.map(p => p.size),
                xy: r.points.map(p => [p.x, p.y])};
    }""",
        [crossings, hotspots],
    )
    assert out["geo"] is geo and out["ids"] == order
    assert out["sizes"][0] == 56 and out["sizes"][-1] < 56  # the worst crossing is the biggest dot
    assert out["byRate"] is any(h["rate_per_1000"] is not None for h in hotspots)
    if geo:
        by_id = {c["id"]: c for c in crossings}
        assert out["xy"] == [[by_id[i]["lon"], by_id[i]["lat"]] for i in order]
    else:
        assert out["xy"] == [[0, 0], [1, 0]]  # schematic grid, ranking order


@pytest.fixture
def one_dismissed(ui):
    """One sample event dismissed for the length of a test (written straight into the database and
    put back afterwards, so the review tests still find the queue they expect)."""
    import sqlite3

    uid = ui.get(
        "analyst", "/api/events", params={"crossing_id": "vn-rear-stopline", "sort": "-occurred_at", "limit": 1}
    )["data"][0]["uid"]
    with sqlite3.connect(ui.db_path) as c:
        before = c.execute("SELECT review_status FROM events WHERE uid = ?", (uid,)).fetchone()[0]
        c.execute("UPDATE events SET review_status = 'dismissed' WHERE uid = ?", (uid,))
    try:
        yield uid
    finally:
        with sqlite3.connect(ui.db_path) as c:
            c.execute("UPDATE events SET review_status = ? WHERE uid = ?", (before, uid))


EXPORT_LABELS = {  # page language -> header of (id, time, type, status, signal), labels that may appear
    "zh-CN": (
        ("事件编号", "发生时间", "违法类型", "审核状态", "信号灯状态"),
        {"闯红灯", "逆行"},
        {"待审核", "已确认", "待补充信息"},
        {"红灯", "黄灯", "绿灯", "熄灭", "未知", ""},
    ),
    "en": (
        ("Event ID", "Occurred at", "Type", "Review status", "Signal state"),
        {"Red-light running", "Wrong-way riding"},
        {"Pending", "Confirmed", "Needs information"},
        {"Red", "Amber", "Green", "Dark", "Unknown", ""},
    ),
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_events_export_equals_the_dashboard(lang, one_dismissed, page_as, ui, default_range):
    """With 统计口径 = 未驳回 the export has the rows the KPI counts (the dismissed one left out),
    times in the page's zone (北京时间), type/status/signal as the page's labels, and the date
    range in the file name."""
    page = open_dashboard(page_as, lang=lang)
    assert page.input_value("#dash-status") == "not_dismissed"
    shown = shown_number(page.locator("[data-kpi='violations'] .kpi-value").inner_text())
    assert shown == ALL_EVENTS - 1  # the dashboard leaves the dismissed event out
    events = {e["uid"]: e for e in ui.get("analyst", "/api/events", params={"limit": 100})["data"]}
    (uid_h, time_h, type_h, status_h, signal_h), types, statuses, signals = EXPORT_LABELS[lang]
    page.select_option("#dash-export-report", "events")
    for fmt in ("csv", "xlsx"):
        with page.expect_download(timeout=30000) as info:
            page.click(f"#dash-export-{fmt}")
        download = info.value
        assert download.suggested_filename == f"crosswatch-events_{default_range[0]}_{default_range[1]}.{fmt}"
        with open(download.path(), "rb") as fh:
            data = fh.read()
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        else:
            from openpyxl import load_workbook

            table = list(load_workbook(io.BytesIO(data), read_only=True).active.iter_rows(values_only=True))
            rows = [{h: ("" if v is None else str(v)) for h, v in zip(table[0], r)} for r in table[1:]]
        assert len(rows) == shown, (fmt, len(rows))
        assert one_dismissed not in {r[uid_h] for r in rows}
        for r in rows:
            want = datetime.fromisoformat(events[r[uid_h]]["occurred_at"]).astimezone(ZoneInfo(TZ))
            assert r[time_h] == want.isoformat() and r[time_h].endswith("+08:00"), r[time_h]
            assert r[type_h] in types and r[status_h] in statuses and r[signal_h] in signals, r


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_hotspot_table_fits_1366_without_sideways_scrolling(lang, page_as, new_page, ui, screenshot):
    page = page_as("analyst", "dashboard", viewport=(1366, 768), lang=lang)
    page.wait_for_selector(".dashboard[data-loaded] #hotspot-table", timeout=30000)
    box = page.evaluate(
        "() => { const b = document.getElementById('dash-hotspots-box');"
        " return {sw: b.scrollWidth, cw: b.clientWidth}; }"
    )
    assert box["sw"] <= box["cw"], box
    if lang == "en":
        page.locator("#dash-hotspots-box").scroll_into_view_if_needed()
        screenshot(page, "dashboard-hotspots-en")
