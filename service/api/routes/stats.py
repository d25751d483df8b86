"""Statistics for the campaign office (analysts; admins): counts per local time bucket, hotspot
ranking per 1,000 road users, weekday × hour matrix, spatial bins, trends, KPIs, and their CSV /
XLSX exports. Every answer is limited to the caller's crossings (`Principal.scope`).

Common query parameters: `from` / `to` (ISO 8601 with a zone; `to` exclusive), `crossing_id`
(repeatable), `district`, `type` (repeatable), `class_name` (repeatable), `status`
(`not_dismissed` default | `confirmed` | `all`) and `tz` (IANA zone of the local buckets, default
Asia/Shanghai). Only events with a known time are counted (see `service/stats_repo.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic_core
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from ... import stats_repo as repo
from ...exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, Column, range_suffix, to_csv, to_xlsx
from ...models import EVENT_TYPES
from ...stats_cache import StatsCache
from ...vocabulary import EVENT_TYPE_LABELS, EventType, label_dict
from ..deps import Analyst, Principal, SessionDep
from ..params import utc
from ..schemas import Label, Message, Page
from ..schemas.stats import (
    CountOut,
    HotspotOut,
    SpatialOut,
    SpatialVersionOut,
    SummaryOut,
    TrendOut,
    TrendPoint,
    TrendSeriesOut,
    WeekdayHourOut,
)

router = APIRouter(tags=["statistics"])

MIN_YEAR, MAX_YEAR = 1970, 2200  # epoch arithmetic in SQL; also keeps ranges finite
MAX_TREND_BUCKETS = 800  # > 2 years of days; a longer trend is unreadable anyway

TYPE_LABELS: dict[str, dict[str, str]] = {
    **{t: label_dict(EVENT_TYPE_LABELS, t) for t in EVENT_TYPE_LABELS},
    "all": {"zh": "全部", "en": "All"},
}
WEEKDAY_LABELS: list[dict[str, str]] = [
    {"zh": z, "en": e}
    for z, e in zip(
        ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    )
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "not logged in"},
    403: {"model": Message, "description": "not an analyst or admin"},
    422: {"description": "bad filter (naive time, from >= to, unknown zone, ...)"},
}


def setup(app: FastAPI) -> None:
    """One answer cache per app (see `stats_cache.StatsCache`)."""
    app.state.stats_cache = StatsCache(app.state.settings.stats_cache_s)


# -- parameters --------------------------------------------------------------------------------
def _unprocessable(msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, msg)


def parse_tz(name: str) -> ZoneInfo:
    """An IANA zone, or 422 (never a 500 for a made-up or path-like name)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise _unprocessable(f"tz: unknown time zone {name[:64]!r} (use an IANA name like Asia/Shanghai)") from None


async def stats_filter(
    p: Analyst,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="start, inclusive (ISO 8601 with zone)")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="end, exclusive (ISO 8601 with zone)")] = None,
    crossing_id: Annotated[list[str], Query(max_length=64, description="repeatable")] = [],  # noqa: B006
    district: Annotated[str | None, Query(max_length=200)] = None,
    type_: Annotated[list[EventType], Query(alias="type", description="repeatable")] = [],  # noqa: B006
    class_name: Annotated[list[str], Query(max_length=32, description="repeatable")] = [],  # noqa: B006
    status_: Annotated[
        repo.Status,
        Query(
            alias="status",
            description=("events counted: not_dismissed (pending + confirmed + needs_info), confirmed, or all"),
        ),
    ] = "not_dismissed",
    tz: Annotated[str, Query(max_length=64, description="IANA zone of local buckets")] = "Asia/Shanghai",
) -> repo.StatsFilter:
    start, end = utc("from", from_, (MIN_YEAR, MAX_YEAR)), utc("to", to, (MIN_YEAR, MAX_YEAR))
    if start is not None and end is not None and start >= end:
        raise _unprocessable("from must be before to")
    return repo.StatsFilter(
        scope=p.scope,
        start=start,
        end=end,
        crossing_ids=tuple(sorted(set(crossing_id))),
        district=district,
        types=tuple(sorted(set(type_))),
        class_names=tuple(sorted(set(class_name))),
        status=status_,
        tz=parse_tz(tz),
    )


Filter = Annotated[repo.StatsFilter, Depends(stats_filter)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def _cached(
    request: Request,
    s: Session,
    p: Principal,
    f: repo.StatsFilter,
    name: str,
    extra: tuple[Hashable, ...],
    compute: Callable[[], Any],
) -> Any:
    key = (
        name,
        extra,
        f.start,
        f.end,
        f.crossing_ids,
        f.district,
        f.types,
        f.class_names,
        f.status,
        f.tz.key,
        p.visible,
    )
    return request.app.state.stats_cache.get(s, key, compute)


# -- response models ---------------------------------------------------------------------------
# -- endpoints ---------------------------------------------------------------------------------
def _counts(request: Request, s: Session, p: Principal, f: repo.StatsFilter, bucket: str) -> list[repo.CountRow]:
    return _cached(request, s, p, f, "counts", (bucket,), lambda: repo.counts(s, f, bucket))  # type: ignore[arg-type]


def json_response(content: Any) -> Response:
    """`content` (dicts, lists, models, datetimes) as JSON by pydantic's serialiser: the text
    `response_model` would give, without FastAPI validating again what was built from typed rows
    (or cached models) and without its extra thread-pool hop for a sync handler's response."""
    return Response(pydantic_core.to_json(content), media_type="application/json")


@router.get("/api/stats/counts", response_model=Page[CountOut], responses=_ERRORS)
def stats_counts(
    request: Request,
    s: SessionDep,
    p: Analyst,
    f: Filter,
    bucket: Literal["hour", "day", "week"] = "day",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Violations per crossing × type × class × local bucket (weeks start on Monday)."""
    rows = _counts(request, s, p, f, bucket)
    page = [
        {
            "crossing_id": r.crossing_id,
            "type": r.type,
            "class_name": r.class_name,
            "bucket_start": r.bucket_start,
            "count": r.count,
        }
        for r in rows[offset : offset + limit]
    ]
    return json_response({"data": page, "count": len(rows)})


def _hotspots(request: Request, s: Session, p: Principal, f: repo.StatsFilter, min_road_users: int) -> list[HotspotOut]:
    def compute() -> list[HotspotOut]:
        return [
            HotspotOut(
                rank=i + 1,
                crossing_id=h.crossing_id,
                name=h.name,
                district=h.district,
                violations=h.violations,
                by_type=h.by_type,
                road_users=h.road_users,
                rate_per_1000=h.rate_per_1000,
            )
            for i, h in enumerate(repo.hotspots(s, f, min_road_users))
        ]

    return _cached(request, s, p, f, "hotspots", (min_road_users,), compute)


@router.get("/api/stats/hotspots", response_model=Page[HotspotOut], responses=_ERRORS)
def stats_hotspots(
    request: Request,
    s: SessionDep,
    p: Analyst,
    f: Filter,
    min_road_users: Annotated[int, Query(ge=0, le=10**12)] = 0,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Crossings ranked by violations per 1,000 road users crossing (exposure from traffic counts
    of the same range, crossings and classes); unknown exposure ranks last with rate null."""
    rows = _hotspots(request, s, p, f, min_road_users)
    return json_response({"data": rows[offset : offset + limit], "count": len(rows)})


def _weekday_hour(request: Request, s: Session, p: Principal, f: repo.StatsFilter) -> list[list[int]]:
    return _cached(request, s, p, f, "weekday_hour", (), lambda: repo.weekday_hour(s, f))


@router.get("/api/stats/weekday-hour", response_model=WeekdayHourOut, responses=_ERRORS)
def stats_weekday_hour(request: Request, s: SessionDep, p: Analyst, f: Filter) -> WeekdayHourOut:
    """Counts by local weekday (Monday first) × local hour."""
    m = _weekday_hour(request, s, p, f)
    return WeekdayHourOut(tz=f.tz.key, weekdays=[Label(**w) for w in WEEKDAY_LABELS], matrix=m, total=sum(map(sum, m)))


@router.get(
    "/api/stats/spatial",
    response_model=SpatialOut,
    responses={**_ERRORS, 404: {"model": Message, "description": "unknown or out-of-scope crossing"}},
)
def stats_spatial(
    request: Request,
    s: SessionDep,
    p: Analyst,
    f: Filter,
    crossing_id: Annotated[str, Query(max_length=64, description="the crossing (one)")],
    bins: Annotated[int, Query(ge=2, le=64)] = 16,
) -> SpatialOut:
    """Where violations happen in one crossing's camera view: box bottom-centres, normalised by
    each event's config version frame size, in a bins × bins grid over the current frame."""
    p.require_crossing(crossing_id)
    g = _cached(request, s, p, f, "spatial", (crossing_id, bins), lambda: repo.spatial(s, f, crossing_id, bins))
    if g is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "crossing not found")
    return SpatialOut(
        crossing_id=g.crossing_id,
        bins=g.bins,
        frame_size=g.frame_size,
        grid=g.grid,
        total=g.total,
        versions=[SpatialVersionOut(version=v, frame_size=fs, events=n) for v, fs, n in g.versions],
    )


@router.get("/api/stats/trend", response_model=TrendOut, responses=_ERRORS)
def stats_trend(
    request: Request, s: SessionDep, p: Analyst, f: Filter, bucket: Literal["day", "week"] = "day"
) -> TrendOut:
    """Per type and overall: [from, to) against the previous period of the same length."""
    if f.start is None or f.end is None:
        raise _unprocessable("trend needs both from and to")
    length = f.end - f.start
    if f.start - length < datetime(MIN_YEAR, 1, 1, tzinfo=UTC):
        raise _unprocessable(f"the previous period would start before {MIN_YEAR}")
    width = 86400 if bucket == "day" else 7 * 86400
    if length.total_seconds() / width > MAX_TREND_BUCKETS:
        raise _unprocessable(f"range too long: at most {MAX_TREND_BUCKETS} {bucket}s")
    series = _cached(request, s, p, f, "trend", (bucket,), lambda: repo.trend(s, f, bucket))
    return TrendOut(
        bucket=bucket,
        tz=f.tz.key,
        start=f.start,
        end=f.end,
        previous_start=f.start - length,
        series=[
            TrendSeriesOut(
                type=t.type,
                label=Label(**TYPE_LABELS[t.type]),
                current=[TrendPoint(bucket_start=b, count=n) for b, n in t.current],
                previous=[TrendPoint(bucket_start=b, count=n) for b, n in t.previous],
                total=t.total,
                previous_total=t.previous_total,
                change_pct=t.change_pct,
            )
            for t in series
        ],
    )


@router.get("/api/stats/summary", response_model=SummaryOut, responses=_ERRORS)
def stats_summary(request: Request, s: SessionDep, p: Analyst, f: Filter) -> SummaryOut:
    """KPIs of the range: violations, road users, rate per 1,000, confirmed share, pending."""
    r = _cached(request, s, p, f, "summary", (), lambda: repo.summary(s, f))
    return SummaryOut(
        violations=r.violations,
        by_type=r.by_type,
        by_status=r.by_status,
        road_users=r.road_users,
        rate_per_1000=r.rate_per_1000,
        confirmed_share=r.confirmed_share,
        pending=r.pending,
    )


# -- exports -----------------------------------------------------------------------------------
Report = Literal["counts", "hotspots", "weekday-hour"]
Lang = Literal["zh", "en"]

COUNT_COLUMNS: list[Column] = [
    ("bucket_start", "时间段起点", "Bucket start"),
    ("crossing_id", "路口编号", "Crossing ID"),
    ("type", "违法类型代码", "Violation type code"),
    ("type_label", "违法类型", "Violation type"),
    ("class_name", "交通参与者类别", "Road user class"),
    ("count", "违法数", "Violations"),
]
HOTSPOT_COLUMNS: list[Column] = [
    ("rank", "排名", "Rank"),
    ("crossing_id", "路口编号", "Crossing ID"),
    ("name", "路口名称", "Crossing name"),
    ("district", "辖区", "District"),
    ("violations", "违法数", "Violations"),
    *((str(t), zh, en) for t, (zh, en) in EVENT_TYPE_LABELS.items()),  # one column per violation type
    ("road_users", "通行量", "Road users crossing"),
    ("rate_per_1000", "每千通行违法率", "Violations per 1,000 road users"),
]
WEEKDAY_HOUR_COLUMNS: list[Column] = [
    ("weekday", "星期", "Weekday"),
    *[(f"h{h:02d}", f"{h:02d}时", f"{h:02d}:00") for h in range(24)],
    ("total", "合计", "Total"),
]
SHEETS = {
    "counts": ("违法统计", "Counts"),
    "hotspots": ("热点路口", "Hotspots"),
    "weekday-hour": ("星期小时分布", "Weekday x hour"),
}


def _report_rows(
    request: Request,
    s: Session,
    p: Principal,
    f: repo.StatsFilter,
    report: Report,
    bucket: str,
    min_road_users: int,
    lang: Lang,
) -> tuple[list[Column], list[dict[str, Any]]]:
    if report == "counts":
        rows = [
            {
                "bucket_start": r.bucket_start,
                "crossing_id": r.crossing_id,
                "type": r.type,
                "type_label": TYPE_LABELS[r.type][lang],
                "class_name": r.class_name,
                "count": r.count,
            }
            for r in _counts(request, s, p, f, bucket)
        ]
        return COUNT_COLUMNS, rows
    if report == "hotspots":
        rows = [
            {**h.model_dump(exclude={"by_type"}), **{t: h.by_type.get(t, 0) for t in EVENT_TYPES}}
            for h in _hotspots(request, s, p, f, min_road_users)
        ]
        return HOTSPOT_COLUMNS, rows
    m = _weekday_hour(request, s, p, f)
    rows = [
        {"weekday": WEEKDAY_LABELS[d][lang], **{f"h{h:02d}": m[d][h] for h in range(24)}, "total": sum(m[d])}
        for d in range(7)
    ]
    return WEEKDAY_HOUR_COLUMNS, rows


def _filename(report: str, f: repo.StatsFilter, ext: str) -> str:
    """crosswatch-stats-hotspots_2026-03-01_2026-03-07.csv: the report and its days in `f.tz`."""
    return f"crosswatch-stats-{report}{range_suffix(f.start, f.end, f.tz)}.{ext}"


ExportBucket = Annotated[Literal["hour", "day", "week"], Query(description="for report=counts")]


@dataclass(frozen=True, slots=True)
class _Export:
    """One statistics report, ready to write in either format."""

    report: Report
    lang: Lang
    f: repo.StatsFilter
    columns: list[Column]
    rows: list[dict[str, Any]]

    def attachment(self, ext: str) -> dict[str, str]:
        """The Content-Disposition header of the report's file with extension `ext`."""
        return {"Content-Disposition": f'attachment; filename="{_filename(self.report, self.f, ext)}"'}


def _export(
    request: Request,
    s: SessionDep,
    p: Analyst,
    f: Filter,
    report: Report = "counts",
    bucket: ExportBucket = "day",
    min_road_users: Annotated[int, Query(ge=0, le=10**12)] = 0,
    lang: Lang = "zh",
) -> _Export:
    """The parameters of both export routes, and the report's rows."""
    columns, rows = _report_rows(request, s, p, f, report, bucket, min_road_users, lang)
    return _Export(report, lang, f, columns, rows)


Export = Annotated[_Export, Depends(_export)]


@router.get(
    "/api/exports/stats.csv",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with BOM, localised header"}},
)
def export_stats_csv(x: Export) -> StreamingResponse:
    """A statistics report as CSV (all rows, no paging)."""
    body: Iterator[str] = to_csv(x.rows, x.columns, x.lang)
    return StreamingResponse(body, media_type=CSV_MEDIA_TYPE, headers=x.attachment("csv"))


@router.get(
    "/api/exports/stats.xlsx",
    response_class=Response,
    responses={**_ERRORS, 200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "XLSX workbook, localised header"}},
)
def export_stats_xlsx(x: Export) -> Response:
    """A statistics report as an XLSX workbook (one sheet)."""
    sheet = SHEETS[x.report][0 if x.lang == "zh" else 1]
    return Response(to_xlsx(x.rows, x.columns, sheet, x.lang), media_type=XLSX_MEDIA_TYPE, headers=x.attachment("xlsx"))
