"""The campaign bulletin (创城简报): its numbers equal `/api/stats/*` for the same period and scope,
PDF and DOCX come out (A4, Chinese, escaped), roles and scopes hold, the public edition's case
pictures go through the bystander blurring (none without its models), and `crosswatch report` writes
a file or says in one line what is wrong.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from service.models import ReviewRow
from service.reports import data, render

from .conftest import BASE_TIME, ROOT, Api
from .test_stats import get, world  # noqa: F401  (the shared read-only statistics world)

WEEK = {"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-09T00:00:00+08:00"}
PREVIOUS_WEEK = {"from": "2026-02-23T00:00:00+08:00", "to": "2026-03-02T00:00:00+08:00"}


def _numbers(api: Api, role: str = "analyst", scope: dict | None = None, **params) -> dict:
    r = get(api, "/api/reports/bulletin", role, scope, format="json", **params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    "params,scope",
    [
        ({}, None),
        ({"district": "东城区"}, None),
        ({"status": "all"}, None),
        ({"status": "confirmed", "tz": "UTC"}, None),
        ({}, {"districts": ["西城区"]}),  # a scoped analyst: only their crossings, same as their /api/stats
    ],
)
def test_bulletin_numbers_equal_the_stats_endpoints(world, params, scope):  # noqa: F811
    p = {**WEEK, **params}
    b = _numbers(world, scope=scope, **p)

    def stats(path, **kw):
        return get(world, f"/api/stats/{path}", "analyst", scope, **{**p, **kw}).json()

    summary = stats("summary")
    for key in ("violations", "by_type", "by_status", "road_users", "rate_per_1000", "confirmed_share", "pending"):
        assert b["summary"][key] == summary[key], key
    previous = get(world, "/api/stats/summary", "analyst", scope, **{**p, **PREVIOUS_WEEK}).json()
    for key in ("violations", "by_type", "road_users", "rate_per_1000", "confirmed_share", "pending"):
        assert b["previous"][key] == previous[key], key
    hot = stats("hotspots", limit=500)["data"]
    assert [
        (h["rank"], h["crossing_id"], h["violations"], h["by_type"], h["road_users"], h["rate_per_1000"])
        for h in b["hotspots"]
    ] == [
        (h["rank"], h["crossing_id"], h["violations"], h["by_type"], h["road_users"], h["rate_per_1000"]) for h in hot
    ]
    assert b["weekday_hour"] == stats("weekday-hour")["matrix"]
    trend = stats("trend", bucket=b["trend_bucket"])["series"]
    assert [
        (t["type"], t["total"], t["previous_total"], t["change_pct"], t["current"], t["previous"]) for t in b["trend"]
    ] == [
        (
            t["type"],
            t["total"],
            t["previous_total"],
            t["change_pct"],
            [x["count"] for x in t["current"]],
            [x["count"] for x in t["previous"]],
        )
        for t in trend
    ]
    assert b["summary"]["violations"] > 0 or scope is not None


def test_bulletin_scope_label_and_district_limits(world):  # noqa: F811
    assert _numbers(world, **WEEK)["scope"] == "全市"
    assert _numbers(world, district="东城区", **WEEK)["scope"] == "东城区"
    scoped = _numbers(world, scope={"districts": ["西城区"]}, **WEEK)
    assert scoped["scope"] == "所辖路口"
    assert {h["crossing_id"] for h in scoped["hotspots"]} == {"cx-b"}


@pytest.mark.parametrize(
    "params,code",
    [
        ({}, 422),  # a bulletin needs a period
        ({"from": WEEK["from"]}, 422),
        ({**WEEK, "format": "html"}, 422),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 422),  # longer than 3 years
        ({"from": "1970-01-02T00:00:00Z", "to": "1971-01-01T00:00:00Z"}, 422),  # previous period before 1970
    ],
)
def test_bulletin_refuses_bad_periods(world, params, code):  # noqa: F811
    r = get(world, "/api/reports/bulletin", **params)
    assert r.status_code == code, r.text
    assert "detail" in r.json()


@pytest.mark.parametrize("role,code", [("reviewer", 403), ("operator", 403), ("analyst", 200), ("admin", 200)])
def test_bulletin_roles(world, role, code):  # noqa: F811
    assert get(world, "/api/reports/bulletin", role, format="json", **WEEK).status_code == code


def test_bulletin_pdf_and_docx(world):  # noqa: F811
    from docx import Document

    r = get(world, "/api/reports/bulletin", format="pdf", **WEEK)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert 'filename="crosswatch-bulletin_2026-03-02_2026-03-08.pdf"' in r.headers["content-disposition"]
    r = get(world, "/api/reports/bulletin", format="docx", **WEEK)
    assert r.status_code == 200 and r.headers["content-type"].endswith("wordprocessingml.document")
    doc = Document(io.BytesIO(r.content))
    body = "\n".join(p.text for p in doc.paragraphs)
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    summary = get(world, "/api/stats/summary", **WEEK).json()
    assert "全市文明交通创城简报" in body and "2026年3月2日—3月8日" in body
    assert cells[cells.index("违法总数（起）") + 1] == f"{summary['violations']:,}"
    assert "路口 cx-a" in cells and "每千通行违法率" in cells
    from service.reports.text import wilson

    lo, hi = wilson(summary["violations"], summary["road_users"])
    assert cells[cells.index("每千通行违法率") + 1] == (
        f"{summary['rate_per_1000']:.2f}‰（95% 区间 {lo * 1000:,.1f}–{hi * 1000:,.1f}‰）"
    )  # 2,500 road users
    assert abs(doc.sections[0].page_width.mm - 210) < 0.5 and abs(doc.sections[0].page_height.mm - 297) < 0.5


def _bulletin(api: Api, role: str, **kw):
    headers = api.headers(role, **kw.pop("scope", {}))
    params = {
        "from": (BASE_TIME - timedelta(days=1)).isoformat(),
        "to": (BASE_TIME + timedelta(days=1)).isoformat(),
        "format": "json",
        **kw,
    }
    r = api.client.get("/api/reports/bulletin", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_missing_pdf_engine_is_503_not_500(world, monkeypatch):  # noqa: F811
    import builtins

    real_import = builtins.__import__

    def no_weasyprint(name, *a, **kw):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_weasyprint)
    r = get(world, "/api/reports/bulletin", format="pdf", **WEEK)
    assert r.status_code == 503 and "pango" in r.json()["detail"]
    assert get(world, "/api/reports/bulletin", format="docx", **WEEK).status_code == 200  # DOCX needs no pango


def test_cases_only_confirmed_internal_and_with_evidence_access(api, monkeypatch):

    looked: list[tuple[int, int]] = []

    def finder(bgr):  # stands in for the models (tests/service/test_redact.py runs the real ones)
        looked.append(bgr.shape[:2])
        return []

    seeded = api.seed(events_per_crossing=4)
    for uid in seeded.events[:3]:
        r = api.client.post(f"/api/events/{uid}/review", json={"action": "confirm"}, headers=api.headers("reviewer"))
        assert r.status_code == 200, r.text
    assert _bulletin(api, "admin")["throughput"]["decisions"] == 0  # decided now, not in the period
    with api.app.state.write_sessionmaker.begin() as s:  # as if decided during the period
        s.execute(update(ReviewRow).values(at=BASE_TIME + timedelta(hours=2)))
    internal = _bulletin(api, "analyst", scope={"evidence_access": True})
    assert len(internal["cases"]) == 3 and set(internal["cases"]) <= set(seeded.events[:3])
    assert internal["cases_note"] == ""
    assert internal["throughput"]["decisions"] == 3 and internal["throughput"]["by_action"]["confirm"] == 3
    assert internal["throughput"]["by_reviewer"][0]["decisions"] == 3
    monkeypatch.setattr(data, "public_finder", lambda: (finder, None))
    public = _bulletin(api, "analyst", scope={"evidence_access": True}, public="true")
    assert public["cases"] == internal["cases"] and len(looked) == 3 * 3  # three scene pictures a case
    cached = sorted(p.name for p in (api.evidence_dir / "_public").iterdir())
    assert len(cached) == 2 * 3 and all(".v1." in n for n in cached)  # a picture and its JSON a case
    again = _bulletin(api, "analyst", scope={"evidence_access": True}, public="true")
    assert again["cases"] == public["cases"] and len(looked) == 3 * 3  # from the cache: no model ran
    monkeypatch.setattr(data, "public_finder", lambda: (None, "公开版未附案例图片：模型不可用。"))
    public = _bulletin(api, "analyst", scope={"evidence_access": True}, public="true")
    assert public["cases"] == [] and "公开版" in public["cases_note"]
    no_access = _bulletin(api, "analyst")
    assert no_access["cases"] == [] and "证据" in no_access["cases_note"]
    assert _bulletin(api, "admin")["cases"]  # admins see evidence
    # a tampered composite is never printed
    for f in api.evidence_dir.rglob("composite.jpg"):
        f.write_bytes(b"not the recorded picture")
    assert _bulletin(api, "admin")["cases"] == []


def test_html_escapes_server_text(api):
    from sqlalchemy import true

    from service import stats_repo

    api.seed(events_per_crossing=2)
    with api.app.state.write_sessionmaker.begin() as s:
        from service.models import CrossingRow

        s.get(CrossingRow, "cx-a").name = "<script>alert(1)</script>"
    f = stats_repo.StatsFilter(
        scope=lambda _c: true(), start=BASE_TIME - timedelta(days=1), end=BASE_TIME + timedelta(days=1)
    )
    with api.app.state.sessionmaker() as s:
        b = data.collect(s, f, evidence_root=api.evidence_dir)
    page = render.html(b)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert render.pdf(b).startswith(b"%PDF")
    from weasyprint import HTML

    pages = HTML(string=page).render().pages
    assert (round(pages[0].width * 25.4 / 96), round(pages[0].height * 25.4 / 96)) == (210, 297)  # A4, in mm


def _cli(*args: str):
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "report", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_report_writes_pdf_and_docx(api, tmp_path):
    api.seed(events_per_crossing=2)
    db = api.settings.db_url
    if not db.startswith("sqlite"):
        pytest.skip("the CLI test reads the SQLite database")
    out = _cli(
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-02",
        "--format",
        "docx",
        "--out",
        str(tmp_path),
        "--db",
        db,
        "--evidence-dir",
        str(api.evidence_dir),
        "--district",
        "东城区",
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / "crosswatch-bulletin_2026-03-02_2026-03-02.docx"
    assert path.is_file() and "2 violations" in out.stdout
    from docx import Document

    assert "东城区文明交通创城简报" in "\n".join(p.text for p in Document(str(path)).paragraphs)
    pdf = tmp_path / "b.pdf"
    out = _cli(
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-08",
        "--out",
        str(pdf),
        "--db",
        db,
        "--evidence-dir",
        str(api.evidence_dir),
    )
    assert out.returncode == 0, out.stderr
    assert pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--from", "yesterday", "--to", "2026-03-02"], "--from: 'yesterday' is neither a day"),
        (["--from", "2026-03-02T00:00:00", "--to", "2026-03-03"], "needs an offset"),
        (["--from", "2026-03-05", "--to", "2026-03-02"], "--from must be before --to"),
        (["--from", "2026-03-01", "--to", "2026-03-02", "--tz", "Mars/Base"], "unknown time zone"),
    ],
)
def test_cli_report_bad_input_is_one_line(args, message, tmp_path):
    out = _cli(*args, "--db", f"sqlite:///{tmp_path}/x.db")
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
