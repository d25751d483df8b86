"""Dashboard: the district (辖区) and road-user class filters give the statistics API's numbers for
the same filter; rates carry a Wilson interval and 样本不足 when built on few road users; the
创城简报 button downloads the bulletin (PDF and DOCX) of the chosen period and the page's scope."""

from __future__ import annotations

import math
from datetime import datetime
from urllib.parse import parse_qs, urlparse

from test_dashboard import default_range, open_dashboard, read_hotspots, read_kpis, stats_query, wait_reloaded  # noqa: F401


def wilson_permille(k: int, n: int) -> tuple[float, float]:
    z = 1.959964
    p = min(k, n) / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half) * 1000, min(1.0, centre + half) * 1000


def ci_text(k: int, n: int) -> str:
    """As the page writes it: one decimal below 10‰, none above."""
    lo, hi = wilson_permille(k, n)
    return "95% 区间 {}–{}‰".format(*(f"{x:,.1f}" if x < 10 else f"{x:,.0f}" for x in (lo, hi)))


def apply(page, **fields: str) -> None:
    before = page.get_attribute(".dashboard", "data-loaded")
    for field, value in fields.items():
        page.select_option(f"#{field}", value)
    page.click("#dash-apply")
    wait_reloaded(page, before)


def test_district_and_class_filters_equal_the_api(page_as, ui, default_range, screenshot):  # noqa: F811
    page = open_dashboard(page_as)
    crossings = ui.get("analyst", "/api/crossings", params={"limit": 500})["data"]
    districts = sorted({c["district"] for c in crossings if c["district"]})
    options = page.locator("#dash-district option").all_inner_texts()
    assert options[1:] == districts and len(districts) >= 2
    for district, cls in [
        (districts[0], ""),
        (districts[1], ""),
        ("", "motorcycle"),
        ("", "car"),
        (districts[0], "motorcycle"),
    ]:
        apply(page, **{"dash-district": district, "dash-class": cls, "dash-status": "all"})
        q = stats_query(*default_range, status="all")
        if district:
            q["district"] = district
        if cls:
            q["class_name"] = cls
        summary = ui.get("analyst", "/api/stats/summary", params=q)
        assert read_kpis(page)["violations"] == summary["violations"], (district, cls)
        hot = ui.get("analyst", "/api/stats/hotspots", params={**q, "limit": 500})["data"]
        assert [r["crossing_id"] for r in read_hotspots(page)] == [h["crossing_id"] for h in hot], (district, cls)
        if district:
            assert {h["district"] for h in hot} <= {district}
    apply(page, **{"dash-district": districts[0], "dash-class": ""})
    screenshot(page, "dashboard-district-filter")


def test_small_samples_are_flagged_with_an_interval(page_as, ui, default_range, screenshot):  # noqa: F811
    page = open_dashboard(page_as)
    q = stats_query(*default_range)
    summary = ui.get("analyst", "/api/stats/summary", params=q)
    assert summary["road_users"] is not None and summary["road_users"] < 100  # the sample clips: a few road users
    kpi = page.locator("[data-kpi='rate_per_1000']")
    assert kpi.locator(".rate-small").inner_text() == "样本不足"
    assert kpi.locator(".rate-ci").inner_text() == ci_text(summary["violations"], summary["road_users"])
    hot = ui.get("analyst", "/api/stats/hotspots", params={**q, "limit": 500})["data"]
    rows = page.locator("#hotspot-table tbody tr")
    for i, h in enumerate(hot):
        cell = rows.nth(i).locator("[data-col='rate_per_1000']")
        if h["rate_per_1000"] is None:
            assert cell.locator(".rate-small").count() == 0
            continue
        assert (cell.locator(".rate-small").count() == 1) == (h["road_users"] < 100)
        assert cell.locator(".rate-ci").inner_text() == ci_text(h["violations"], h["road_users"])
    screenshot(page, "dashboard-small-sample")


def test_bulletin_button_downloads_pdf_and_docx(page_as, ui, default_range, screenshot):  # noqa: F811
    from docx import Document

    page = open_dashboard(page_as)
    crossings = ui.get("analyst", "/api/crossings", params={"limit": 500})["data"]
    district = min(c["district"] for c in crossings if c["district"])
    apply(page, **{"dash-district": district})
    page.select_option("#dash-bulletin-period", "custom")
    assert page.locator("#dash-bulletin-days").inner_text() == f"{default_range[0]} 至 {default_range[1]}"
    with (
        page.expect_request(lambda r: "/api/reports/bulletin" in r.url) as req,
        page.expect_download(timeout=120000) as info,
    ):
        page.click("#dash-bulletin")
    sent = parse_qs(urlparse(req.value.url).query)
    want = stats_query(*default_range, district=district)
    for key in ("from", "to"):  # the same instants (the page sends UTC)
        assert datetime.fromisoformat(sent[key][0]) == datetime.fromisoformat(want.pop(key))
    assert {k: v[0] for k, v in sent.items() if k in want} == {k: str(v) for k, v in want.items()}
    assert sent["format"] == ["pdf"] and "public" not in sent
    d = info.value
    assert d.suggested_filename == f"crosswatch-bulletin_{default_range[0]}_{default_range[1]}.pdf"
    with open(d.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"

    page.select_option("#dash-bulletin-format", "docx")
    page.check("#dash-bulletin-public")
    with page.expect_download(timeout=120000) as info:
        page.click("#dash-bulletin")
    doc = Document(str(info.value.path()))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert f"{district}文明交通创城简报" in text and "公开版" in text
    summary = ui.get("analyst", "/api/stats/summary", params=stats_query(*default_range, district=district))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert cells[cells.index("违法总数（起）") + 1] == f"{summary['violations']:,}"

    page.select_option("#dash-bulletin-period", "week")
    screenshot(page, "dashboard-bulletin")


def test_bulletin_periods_and_wilson_helpers(page_as):
    page = open_dashboard(page_as)
    got = page.evaluate("""async () => {
        const b = await import('/static/pages/dashboard/bulletin.js');
        const r = await import('/static/pages/dashboard/rates.js');
        const st = (to) => ({ from: '2026-01-01', to });
        return {
            weekSun: b.periodDays('week', st('2026-03-08')), weekMon: b.periodDays('week', st('2026-03-09')),
            monthDec: b.periodDays('month', st('2026-12-31')), monthFeb: b.periodDays('month', st('2028-02-10')),
            custom: b.periodDays('custom', st('2026-03-08')),
            w: r.wilson(6, 14), none: r.wilson(3, 0), over: r.wilson(9, 7), small: [r.smallSample(99), r.smallSample(100)],
        };
    }""")
    assert got["weekSun"] == {"from": "2026-03-02", "to": "2026-03-08"}  # a Sunday closes its Monday week
    assert got["weekMon"] == {"from": "2026-03-09", "to": "2026-03-15"}
    assert got["monthDec"] == {"from": "2026-12-01", "to": "2026-12-31"}
    assert got["monthFeb"] == {"from": "2028-02-01", "to": "2028-02-29"}  # leap year
    assert got["custom"] == {"from": "2026-01-01", "to": "2026-03-08"}
    lo, hi = wilson_permille(6, 14)
    assert abs(got["w"][0] * 1000 - lo) < 1e-6 and abs(got["w"][1] * 1000 - hi) < 1e-6
    assert got["none"] is None and got["over"][1] == 1 and got["small"] == [True, False]
