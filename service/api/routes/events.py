"""Events: the filtered list, detail with evidence and review history, the review queue, and the
events exports (CSV streamed, XLSX capped).

Lists and exports are for reviewers and analysts; analysts get evidence links only when granted
evidence access. Every query is limited to the caller's scope, and an event out of scope is a 404
exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, tzinfo
from itertools import islice
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic_core
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from detector.plates.formats import clean as clean_plate

from ... import events_repo as repo
from ... import policy
from ...exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, Column, Lang, in_zone, label, range_suffix, to_csv, to_xlsx
from ...models import EventRow
from ...stats_cache import StatsCache
from ...vocabulary import EventType, ReviewStatus
from ..deps import EvidenceRootDep, Principal, Reviewer, SessionDep, SettingsDep, event_or_404, require_roles
from ..errors import AUTH_ERRORS, NOT_FOUND_ERROR, Responses
from ..params import NO_NUL, utc
from ..schemas import Page
from ..schemas.events import Box, EventDetail, EventOut, NextOut, event_detail, event_out

router = APIRouter(tags=["events"])

EventReader = Annotated[Principal, Depends(require_roles("reviewer", "analyst"))]
COUNT_CACHE_TTL_S = 300.0
COUNT_CACHE_ENTRIES = 2048  # (scope, filters) combinations; an entry is one int
PAGE_CACHE_ENTRIES = 256  # pages of <= PAGE_CACHE_MAX_LIMIT events (~600 bytes each): <= ~15 MB
PAGE_CACHE_MAX_LIMIT = 100
XLSX_MAX_ROWS = 200_000  # a workbook is built in memory; beyond this, narrow the filters or use CSV


# -- filters ------------------------------------------------------------------------------------
async def event_filters(
    crossing_id: Annotated[list[str], Query(max_length=200, description="repeatable")] = [],  # noqa: B006
    district: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    type: Annotated[EventType | None, Query()] = None,
    class_name: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    review_status: Annotated[ReviewStatus | None, Query()] = None,
    review_status_not: Annotated[
        ReviewStatus | None,
        Query(description="leave this status out, e.g. pending: every decided event (the 已审核 list)"),
    ] = None,
    reviewed_by: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="user name of the last review")
    ] = None,
    uid_prefix: Annotated[
        str | None,
        Query(
            min_length=4,
            max_length=32,
            pattern=r"^[0-9A-Za-z_-]+$",
            description="events whose id starts with this (at least 4 characters)",
        ),
    ] = None,
    lane: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    stop_line: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    occurred_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="ISO 8601 with zone; inclusive")
    ] = None,
    occurred_to: Annotated[AwareDatetime | None, Query(alias="to", description="ISO 8601 with zone; exclusive")] = None,
    plate: Annotated[
        str | None,
        Query(max_length=32, pattern=NO_NUL, description="plate, or part of it (corrected plate where there is one)"),
    ] = None,
) -> repo.EventFilters:
    """The filters shared by the list, the review queue and the exports."""
    occurred_from, occurred_to = utc("from", occurred_from), utc("to", occurred_to)
    if occurred_from is not None and occurred_to is not None and occurred_from >= occurred_to:
        raise HTTPException(422, "'from' must be earlier than 'to'")
    for cid in crossing_id:
        if not cid or len(cid) > 64 or "\x00" in cid:
            raise HTTPException(422, "crossing_id must be 1..64 characters (no NUL)")
    return repo.EventFilters(
        crossing_ids=tuple(crossing_id),
        district=district,
        type=type,
        class_name=class_name,
        review_status=review_status,
        review_status_not=review_status_not,
        reviewed_by=reviewed_by,
        uid_prefix=uid_prefix,
        lane=lane,
        stop_line=stop_line,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        plate=_plate_query(plate),
    )


def _plate_query(plate: str | None) -> str | None:
    if plate is None or not plate.strip():
        return None
    q = clean_plate(plate)
    if not q:
        raise HTTPException(422, "'plate' has no letters or digits")
    return q


Filters = Annotated[repo.EventFilters, Depends(event_filters)]
Sort = Annotated[repo.SortKey, Query(description="a column, '-' prefix for descending; nulls last")]


# -- endpoints ----------------------------------------------------------------------------------
def setup(app: FastAPI) -> None:
    """The answer caches of the list (see `events_repo.cached_count` and `list_events`): exact by
    the data stamp, so they are on whatever `stats_cache_s` says; their TTL only bounds what the
    stamp cannot see."""
    app.state.count_cache = StatsCache(COUNT_CACHE_TTL_S, max_entries=COUNT_CACHE_ENTRIES)
    app.state.page_cache = StatsCache(COUNT_CACHE_TTL_S, max_entries=PAGE_CACHE_ENTRIES)


def _count(request: Request, s: Session, p: Principal, filters: repo.EventFilters) -> int:
    return repo.cached_count(request.app.state.count_cache, s, p.visible, p.scope(EventRow.crossing_id), filters)


# `EventOut` field -> index in a `repo.LIST_KEYS` row (None: the box, built from x1..y2)
_ITEM_FIELDS: tuple[tuple[str, int | None], ...] = tuple(
    (name, None if name == "box" else repo.LIST_KEYS.index(name)) for name in EventOut.model_fields
)
_BOX_INDEX: tuple[tuple[str, int], ...] = tuple((k, repo.LIST_KEYS.index(k)) for k in Box.model_fields)


def event_item(row: Sequence[Any]) -> dict[str, Any]:
    """An `EventOut` as a plain dict (same keys, same order), from a `repo.LIST_COLUMNS` row."""
    return {name: row[i] if i is not None else {k: row[j] for k, j in _BOX_INDEX} for name, i in _ITEM_FIELDS}


def page_json(
    request: Request, s: Session, p: Principal, filters: repo.EventFilters, sort: str, limit: int, offset: int
) -> bytes:
    """One page as `Page[EventOut]` JSON, written straight from the rows with pydantic's
    serialiser (the same text the model gives: tests/service/api/test_perf_paths.py checks it).
    Building and then validating 50 `EventOut` objects was most of the CPU time of a page; the
    columns are typed and constrained in the database, which is what that validation checked."""
    rows, count = repo.list_event_rows(
        s, p.scope(EventRow.crossing_id), filters, sort, limit, offset, count=lambda: _count(request, s, p, filters)
    )
    return pydantic_core.to_json({"data": [event_item(r) for r in rows], "count": count})


@router.get("/api/events", response_model=Page[EventOut], responses=AUTH_ERRORS)
def list_events(
    request: Request,
    s: SessionDep,
    p: EventReader,
    filters: Filters,
    sort: Sort = repo.DEFAULT_SORT,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Events matching the filters, one page at a time, with the count of all that match.

    Pages of up to `PAGE_CACHE_MAX_LIMIT` rows are reused while no event or crossing changed
    (the data stamp, exact): many reviewers opening the same queue view cost one query."""
    if limit > PAGE_CACHE_MAX_LIMIT:
        body = page_json(request, s, p, filters, sort, limit, offset)
    else:
        body = request.app.state.page_cache.get(
            s,
            ("events_page", p.visible, filters, sort, limit, offset),
            lambda: page_json(request, s, p, filters, sort, limit, offset),
        )
    return Response(body, media_type="application/json")


@router.get("/api/events/next", response_model=NextOut, responses={**AUTH_ERRORS, **NOT_FOUND_ERROR})
def next_event(
    s: SessionDep,
    p: Reviewer,
    settings: SettingsDep,
    filters: Filters,
    after: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="uid of the event just reviewed")
    ] = None,
) -> NextOut:
    """The review queue: the oldest event with `review_status` (default pending) matching the
    filters, after `after` if given. With second review on, events you confirmed at stage 1 are
    skipped (someone else must do stage 2)."""
    if filters.review_status is None:
        filters = replace(filters, review_status="pending")
    anchor = event_or_404(s, p, after).event if after is not None else None
    v, remaining = repo.next_in_queue(
        s,
        p.scope(EventRow.crossing_id),
        filters,
        after=anchor,
        skip_awaiting_second_by=p.username if policy.second_review(s, settings) else None,
    )
    return NextOut(event=event_out(v) if v is not None else None, remaining=remaining)


@router.get("/api/events/{uid}", response_model=EventDetail, responses={**AUTH_ERRORS, **NOT_FOUND_ERROR})
def get_event(uid: str, s: SessionDep, p: EventReader, root: EvidenceRootDep) -> EventDetail:
    return event_detail(s, p, event_or_404(s, p, uid), root)


# -- exports ------------------------------------------------------------------------------------
EXPORT_COLUMNS: list[Column] = [
    ("uid", "事件编号", "Event ID"),
    ("crossing_id", "路口编号", "Crossing ID"),
    ("crossing_name", "路口名称", "Crossing"),
    ("district", "行政区", "District"),
    ("type", "违法类型", "Type"),
    ("class_name", "车辆类别", "Class"),
    ("occurred_at", "发生时间", "Occurred at"),
    ("t", "视频时间(秒)", "Video time (s)"),
    ("frame", "帧号", "Frame"),
    ("x1", "框 x1", "Box x1"),
    ("y1", "框 y1", "Box y1"),
    ("x2", "框 x2", "Box x2"),
    ("y2", "框 y2", "Box y2"),
    ("lane", "车道", "Lane"),
    ("stop_line", "停止线", "Stop line"),
    ("signal_id", "信号灯", "Signal"),
    ("signal_state", "信号灯状态", "Signal state"),
    ("since_red_s", "红灯已亮(秒)", "Since red (s)"),
    ("confidence", "置信度", "Confidence"),
    ("review_status", "审核状态", "Review status"),
    ("review_stage", "审核阶段", "Review stage"),
    ("reviewed_by", "审核人", "Reviewed by"),
    ("reviewed_at", "审核时间", "Reviewed at"),
    ("plate", "号牌号码", "Plate"),
    ("plate_text", "机器识别号牌", "Plate (machine reading)"),
    ("plate_corrected", "人工更正号牌", "Plate (reviewer's correction)"),
    ("plate_colour", "号牌颜色", "Plate colour"),
    ("plate_confidence", "号牌置信度", "Plate confidence"),
    ("violation_code", "违法代码", "Violation code"),
    ("legal_basis", "法律依据", "Legal basis"),
    ("anti_forgery_code", "防伪码", "Anti-forgery code"),
]


def export_row(v: repo.EventView, lang: Lang = "zh", zone: tzinfo = UTC) -> dict[str, Any]:
    """One event as people read it on the page: type, class, status and signal as labels in
    `lang`, times in `zone`."""
    e = v.event
    return {
        "uid": e.uid,
        "crossing_id": e.crossing_id,
        "crossing_name": v.crossing_name,
        "district": v.district,
        "type": label("type", e.type, lang),
        "class_name": label("class_name", e.class_name, lang),
        "occurred_at": in_zone(e.occurred_at, zone),
        "t": e.t,
        "frame": e.frame,
        "x1": e.x1,
        "y1": e.y1,
        "x2": e.x2,
        "y2": e.y2,
        "lane": e.lane,
        "stop_line": e.stop_line,
        "signal_id": e.signal_id,
        "signal_state": label("signal_state", e.signal_state, lang),
        "since_red_s": e.since_red_s,
        "confidence": e.confidence,
        "review_status": label("review_status", e.review_status, lang),
        "review_stage": e.review_stage,
        "reviewed_by": e.reviewed_by,
        "reviewed_at": in_zone(e.reviewed_at, zone),
        "plate": e.plate or ("未识别" if lang.startswith("zh") else "not read"),
        "plate_text": e.plate_text,
        "plate_corrected": e.plate_corrected,
        "plate_colour": e.plate_colour,
        "plate_confidence": e.plate_confidence,
        "violation_code": e.violation_code,
        "legal_basis": e.legal_basis,
        "anti_forgery_code": e.anti_forgery_code,
    }


LangQuery = Annotated[Lang, Query(description="language of the header and of the type/class/status/signal labels")]
StatusScope = Annotated[
    Literal["all", "confirmed", "not_dismissed"] | None,
    Query(
        alias="status",
        description="the statistics' status scope (统计口径), so an export equals the dashboard: "
        "not_dismissed (all but dismissed), confirmed or all; review_status, if given, narrows further",
    ),
]
TzQuery = Annotated[
    str,
    Query(
        max_length=64,
        pattern=NO_NUL,
        description="IANA zone of the exported times and of the dates in the file name (the page's zone)",
    ),
]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise HTTPException(422, f"tz: unknown time zone {name[:64]!r} (use an IANA name like Asia/Shanghai)") from None


def _export_filters(filters: repo.EventFilters, scope: str | None) -> repo.EventFilters:
    if scope == "confirmed" and filters.review_status is None:
        return replace(filters, review_status="confirmed")
    if scope == "confirmed" and filters.review_status != "confirmed":
        return replace(filters, review_status="confirmed", review_status_not="confirmed")  # matches nothing
    if scope == "not_dismissed":
        if filters.review_status_not not in (None, "dismissed"):
            raise HTTPException(422, "status=not_dismissed cannot be combined with review_status_not")
        return replace(filters, review_status_not="dismissed")
    return filters


def _export_name(filters: repo.EventFilters, zone: tzinfo, ext: str) -> str:
    return f"crosswatch-events{range_suffix(filters.occurred_from, filters.occurred_to, zone)}.{ext}"


_CSV_RESPONSE: Responses = {200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with BOM"}}
_XLSX_RESPONSE: Responses = {
    200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "XLSX workbook"},
    422: {"description": f"bad filters, or more than {XLSX_MAX_ROWS} rows match"},
}


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/api/exports/events.csv", response_class=StreamingResponse, responses={**AUTH_ERRORS, **_CSV_RESPONSE})
def export_events_csv(
    request: Request,
    p: EventReader,
    filters: Filters,
    sort: Sort = repo.DEFAULT_SORT,
    lang: LangQuery = "zh",
    status_scope: StatusScope = None,
    tz: TzQuery = "UTC",
) -> StreamingResponse:
    """All matching events, streamed: the rows are read in batches while the response is sent,
    with a session owned by the stream (the request's session may close before the body ends)."""
    scope = p.scope(EventRow.crossing_id)
    zone, filters = _zone(tz), _export_filters(filters, status_scope)
    sessionmaker = request.app.state.sessionmaker

    def body() -> Iterator[bytes]:
        with sessionmaker() as s:
            rows = (export_row(v, lang, zone) for v in repo.iter_events(s, scope, filters, sort))
            for chunk in to_csv(rows, EXPORT_COLUMNS, lang):
                yield chunk.encode("utf-8")

    return StreamingResponse(body(), media_type=CSV_MEDIA_TYPE, headers=_attachment(_export_name(filters, zone, "csv")))


@router.get("/api/exports/events.xlsx", response_class=Response, responses={**AUTH_ERRORS, **_XLSX_RESPONSE})
def export_events_xlsx(
    request: Request,
    s: SessionDep,
    p: EventReader,
    filters: Filters,
    sort: Sort = repo.DEFAULT_SORT,
    lang: LangQuery = "zh",
    status_scope: StatusScope = None,
    tz: TzQuery = "UTC",
) -> Response:
    scope = p.scope(EventRow.crossing_id)
    zone, filters = _zone(tz), _export_filters(filters, status_scope)
    n = _count(request, s, p, filters)
    if n > XLSX_MAX_ROWS:
        raise HTTPException(
            422, f"{n} events match; XLSX exports are limited to {XLSX_MAX_ROWS} rows: narrow the filters or export CSV"
        )
    rows = (export_row(v, lang, zone) for v in islice(repo.iter_events(s, scope, filters, sort), XLSX_MAX_ROWS))
    data = to_xlsx(rows, EXPORT_COLUMNS, sheet="事件" if lang == "zh" else "events", lang=lang)
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers=_attachment(_export_name(filters, zone, "xlsx")))
