"""The campaign bulletin (创城简报) for analysts and admins: a period and scope as PDF or DOCX.

Same filter as `/api/stats/*` (`from`, `to`, `district`, `crossing_id`, `type`, `class_name`,
`status`, `tz`), so its numbers are those of the statistics endpoints for the same parameters;
scoped users get only their crossings. `format=json` returns the numbers the document shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ...reports import data, render
from ..deps import Analyst, SessionDep
from ..schemas import Message
from .stats import MIN_YEAR, Filter, json_response

router = APIRouter(tags=["reports"])

MAX_PERIOD = timedelta(days=3 * 366)


def _check_period(start: datetime | None, end: datetime | None) -> None:
    if start is None or end is None:
        raise HTTPException(422, "a bulletin needs both from and to")
    if end - start > MAX_PERIOD:
        raise HTTPException(422, "period too long: at most 3 years")
    if start - (end - start) < datetime(MIN_YEAR, 1, 1, tzinfo=UTC):
        raise HTTPException(422, f"the previous period would start before {MIN_YEAR}")


def numbers(b: data.Bulletin) -> dict[str, Any]:
    """The bulletin's numbers (what `format=json` answers)."""
    return {
        "start": b.start,
        "end": b.end,
        "previous_start": b.previous_start,
        "tz": b.tz,
        "scope": b.scope_label,
        "status": b.status,
        "public": b.public,
        "summary": b.summary,
        "previous": b.previous,
        "hotspots": [{"rank": i + 1, **{k: getattr(h, k) for k in h.__slots__}} for i, h in enumerate(b.hotspots)],
        "trend_bucket": b.trend_bucket,
        "trend": [
            {
                "type": t.type,
                "total": t.total,
                "previous_total": t.previous_total,
                "change_pct": t.change_pct,
                "current": [n for _, n in t.current],
                "previous": [n for _, n in t.previous],
            }
            for t in b.trend
        ],
        "weekday_hour": b.weekday_hour,
        "throughput": {
            "decisions": b.throughput.decisions,
            "by_action": b.throughput.by_action,
            "by_stage": {str(k): v for k, v in b.throughput.by_stage.items()},
            "by_reviewer": [{"username": u, "decisions": n} for u, n in b.throughput.by_reviewer],
        },
        "heatmaps": [{"crossing_id": h.crossing_id, "total": h.grid.total} for h in b.heatmaps],
        "cases": [c.uid for c in b.cases],
        "cases_note": b.cases_note,
    }


@router.get(
    "/api/reports/bulletin",
    response_class=Response,
    responses={
        200: {
            "content": {render.MEDIA_TYPES["pdf"]: {}, render.MEDIA_TYPES["docx"]: {}, "application/json": {}},
            "description": "the bulletin (A4, Chinese) or, with format=json, its numbers",
        },
        401: {"model": Message, "description": "not logged in"},
        403: {"model": Message, "description": "not an analyst or admin"},
        422: {"description": "bad filter, or no from / to"},
        503: {"model": Message, "description": "the PDF engine is not installed on the server"},
    },
)
def bulletin(
    request: Request,
    s: SessionDep,
    p: Analyst,
    f: Filter,
    format: Annotated[Literal["pdf", "docx", "json"], Query(description="pdf, docx or json")] = "pdf",
    public: Annotated[
        bool, Query(description="public edition: bystanders' persons and plates blurred in the case pictures")
    ] = False,
    min_road_users: Annotated[int, Query(ge=0, le=10**12)] = 0,
) -> Response:
    """创城简报: KPIs against the previous period, hotspots per 1,000 road users, trend, weekday × hour,
    the worst crossings' heatmaps, review throughput, and (internal edition, evidence access) a few
    confirmed cases with their composite pictures."""
    _check_period(f.start, f.end)
    label = f.district or ("所辖路口" if p.visible is not None else "全市")
    reason = None if p.can_see_evidence else "无证据查看权限，未附案例图片。"
    b = data.collect(
        s,
        f,
        evidence_root=request.app.state.evidence_dir,
        public=public,
        min_road_users=min_road_users,
        scope_label=label,
        no_cases_reason=reason,
    )
    if format == "json":
        return json_response(numbers(b))
    try:
        body = render.render(b, format)
    except render.RenderUnavailable as e:
        raise HTTPException(503, str(e)) from None
    return Response(
        body,
        media_type=render.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{render.filename(b, format)}"'},
    )
