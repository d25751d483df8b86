"""Statistics SQL: violation counts per crossing × type × class × local time bucket, hotspot
rates per 1,000 road users, the weekday × hour matrix, spatial bins, trends and KPIs. Their
answers are cached by `stats_cache.StatsCache`; local-time arithmetic is in `stats_time`.

Why it is shaped this way:

- The database aggregates (GROUP BY); Python only reshapes the few grouped rows. Over 1,000,000
  events a Python loop over events would be seconds per request.
- Buckets are local-time (an IANA zone, default Asia/Shanghai), but SQLite has no time zones. So
  the zone's UTC offset is applied in SQL as *piecewise constant* (`stats_time.offset_segments()`
  and `stats_time.local_seconds_sql()`): the same expression on SQLite and PostgreSQL, so both
  give identical buckets.
- Statistics count only events with a known time (`occurred_at` not NULL): an event of a video
  whose start time is unknown has no hour, day or week, and counting it in some answers but not
  others would make totals disagree between endpoints.
- `status` chooses the events counted: `not_dismissed` (default: everything a reviewer has not
  thrown out, i.e. pending + confirmed + needs_info), `confirmed` (only reviewed-and-confirmed) or
  `all`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import ColumnElement, Integer, case, cast, func, select
from sqlalchemy.orm import Session

from .models import EVENT_TYPES, CrossingRow, CrossingVersionRow, EventRow, TrafficCountRow
from .stats_time import (
    _HOUR,
    _THURSDAY,
    Bucket,
    bucket_key,
    bucket_sql,
    bucket_start,
    local_seconds_py,
    local_seconds_sql,
    offset_segments,
)

Status = Literal["all", "confirmed", "not_dismissed"]


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """What every statistic is restricted to. `scope` is the caller's WHERE clause builder
    (`Principal.scope`), applied to every crossing-id column queried."""

    scope: Callable[[Any], ColumnElement[bool]]
    start: datetime | None = None  # inclusive, aware
    end: datetime | None = None  # exclusive, aware
    crossing_ids: tuple[str, ...] = ()
    district: str | None = None
    types: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    status: Status = "not_dismissed"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def with_range(self, start: datetime | None, end: datetime | None) -> StatsFilter:
        return replace(self, start=start, end=end)

    def with_status(self, status: Status) -> StatsFilter:
        return replace(self, status=status)


# -- filters -----------------------------------------------------------------------------------
def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name


def _crossing_filters(f: StatsFilter, col: Any) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [f.scope(col)]
    if f.crossing_ids:
        conds.append(col.in_(f.crossing_ids))
    if f.district is not None:
        conds.append(col.in_(select(CrossingRow.id).where(CrossingRow.district == f.district)))
    return conds


def _window(f: StatsFilter, time_col: Any, class_col: Any) -> list[ColumnElement[bool]]:
    """Dated rows (`time_col` set) in the range of `f`, of its road-user classes (`class_col`)."""
    conds: list[ColumnElement[bool]] = [time_col.is_not(None)]
    if f.start is not None:
        conds.append(time_col >= f.start)
    if f.end is not None:
        conds.append(time_col < f.end)
    if f.class_names:
        conds.append(class_col.in_(f.class_names))
    return conds


def event_conditions(f: StatsFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses of the events counted by `f` (dated events only, see module doc)."""
    e = EventRow
    conds = _crossing_filters(f, e.crossing_id) + _window(f, e.occurred_at, e.class_name)
    if f.types:
        conds.append(e.type.in_(f.types))
    if f.status == "confirmed":
        conds.append(e.review_status == "confirmed")
    elif f.status == "not_dismissed":
        conds.append(e.review_status != "dismissed")
    return conds


def exposure_conditions(f: StatsFilter) -> list[ColumnElement[bool]]:
    """Traffic counts matching `f`: same crossings, range and road-user classes (a class filter
    makes the rate "violations of motorcycles per 1,000 motorcycles"); types do not apply."""
    c = TrafficCountRow
    return _crossing_filters(f, c.crossing_id) + _window(f, c.minute_at, c.class_name)


def _data_bounds(s: Session) -> tuple[datetime, datetime] | None:
    lo, hi = s.execute(select(func.min(EventRow.occurred_at), func.max(EventRow.occurred_at))).one()
    return None if lo is None or hi is None else (lo, hi)


def _segments(
    s: Session, f: StatsFilter, start: datetime | None = None, end: datetime | None = None
) -> tuple[tuple[datetime | None, int], ...] | None:
    """Offset segments of `f.tz` over the range queried ([start, end], default the filter's)
    clipped to the data's (indexed min/max): the zone's changes are only looked for where events
    can be, so a range of centuries costs nothing. None when there are no dated events."""
    bounds = _data_bounds(s)
    if bounds is None:
        return None
    start = start or f.start
    end = end or f.end
    lo = max(bounds[0], start) if start is not None else bounds[0]
    hi = min(bounds[1], end) if end is not None else bounds[1]
    if lo > hi:
        lo = hi = bounds[0]
    return offset_segments(f.tz, lo, hi)


# -- counts ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CountRow:
    crossing_id: str
    type: str
    class_name: str
    bucket_start: datetime
    count: int


def counts(s: Session, f: StatsFilter, bucket: Bucket) -> list[CountRow]:
    """Violations per crossing × type × class × local bucket, ordered by bucket then keys."""
    segs = _segments(s, f)
    if segs is None:
        return []
    e = EventRow
    key = bucket_sql(local_seconds_sql(e.occurred_at, _dialect(s), segs), bucket).label("k")
    q = (
        select(e.crossing_id, e.type, e.class_name, key, func.count().label("n"))
        .where(*event_conditions(f))
        .group_by(e.crossing_id, e.type, e.class_name, key)
    )
    rows = sorted(s.execute(q).all(), key=lambda r: (r.k, r.crossing_id, r.type, r.class_name))
    return [CountRow(r.crossing_id, r.type, r.class_name, bucket_start(int(r.k), bucket, f.tz), int(r.n)) for r in rows]


# -- hotspots ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Hotspot:
    crossing_id: str
    name: str
    district: str | None
    violations: int
    by_type: dict[str, int]
    road_users: int | None  # None: no traffic counts in the range (exposure unknown)
    rate_per_1000: float | None


def violations_by_crossing_type(s: Session, f: StatsFilter) -> dict[str, dict[str, int]]:
    e = EventRow
    q = select(e.crossing_id, e.type, func.count()).where(*event_conditions(f)).group_by(e.crossing_id, e.type)
    out: dict[str, dict[str, int]] = {}
    for cid, typ, n in s.execute(q):
        out.setdefault(cid, {t: 0 for t in EVENT_TYPES})[typ] = int(n)
    return out


def exposure_by_crossing(s: Session, f: StatsFilter) -> dict[str, int]:
    c = TrafficCountRow
    q = select(c.crossing_id, func.sum(c.count)).where(*exposure_conditions(f)).group_by(c.crossing_id)
    return {cid: int(n or 0) for cid, n in s.execute(q)}


def rate_per_1000(violations: int, road_users: int | None) -> float | None:
    if not road_users:
        return None
    return round(violations * 1000.0 / road_users, 4)


def hotspots(s: Session, f: StatsFilter, min_road_users: int = 0) -> list[Hotspot]:
    """Crossings ranked by violations per 1,000 road users crossing (highest first, then by
    violations); crossings without exposure data come last with rate None. `min_road_users`
    drops crossings whose known exposure is below it (tiny samples give wild rates)."""
    viol = violations_by_crossing_type(s, f)
    expo = exposure_by_crossing(s, f)
    ids = set(viol) | set(expo)
    if not ids:
        return []
    meta = {
        r.id: r
        for r in s.execute(
            select(CrossingRow.id, CrossingRow.name, CrossingRow.district).where(CrossingRow.id.in_(sorted(ids)))
        )
    }
    out: list[Hotspot] = []
    for cid in ids:
        by_type = viol.get(cid, {t: 0 for t in EVENT_TYPES})
        n = sum(by_type.values())
        users = expo.get(cid)
        if users is not None and users < min_road_users:
            continue
        m = meta.get(cid)
        out.append(
            Hotspot(cid, m.name if m else cid, m.district if m else None, n, by_type, users, rate_per_1000(n, users))
        )
    out.sort(key=lambda h: (h.rate_per_1000 is None, -(h.rate_per_1000 or 0.0), -h.violations, h.crossing_id))
    return out


# -- weekday × hour ----------------------------------------------------------------------------
def weekday_hour(s: Session, f: StatsFilter) -> list[list[int]]:
    """7 × 24 counts, Monday first, local hours of `f.tz`."""
    matrix = [[0] * 24 for _ in range(7)]
    segs = _segments(s, f)
    if segs is None:
        return matrix
    local_s = local_seconds_sql(EventRow.occurred_at, _dialect(s), segs)
    how = ((local_s // _HOUR + 24 * _THURSDAY) % 168).label("how")
    for h, n in s.execute(select(how, func.count()).where(*event_conditions(f)).group_by(how)):
        matrix[int(h) // 24][int(h) % 24] += int(n)
    return matrix


# -- spatial -----------------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _frame_size(version_id: int, geometry_hash: str, config_yaml: str) -> tuple[int, int]:
    """`frame_size` of a stored crossing config (cached: a version's config never changes)."""
    data = yaml.safe_load(config_yaml)
    w, h = (int(v) for v in data["frame_size"])
    if w <= 0 or h <= 0:
        raise ValueError(f"crossing version {version_id}: frame_size must be positive")
    return w, h


def _floor_int(x: ColumnElement[float], dialect: str) -> ColumnElement[int]:
    """Bin index: PostgreSQL's CAST rounds, so floor first; SQLite's CAST truncates (and may lack
    floor()), which equals floor for x >= 0 and still lands in bin 0 after clamping for x < 0."""
    if dialect == "sqlite":
        return cast(x, Integer)
    return cast(func.floor(x), Integer)


@dataclass(slots=True)
class SpatialGrid:
    crossing_id: str
    bins: int
    frame_size: tuple[int, int]  # of the current (else latest) version: what the snapshot shows
    grid: list[list[int]]  # [row y][column x], top-left first
    total: int
    versions: list[tuple[int, tuple[int, int], int]]  # (version, frame_size, events)


def spatial(s: Session, f: StatsFilter, crossing_id: str, bins: int) -> SpatialGrid | None:
    """Where in the camera view violations happen: the bottom-centre of each event box (where the
    road user touches the road), normalised by the frame size of the crossing version the event
    was detected with (versions may differ in resolution), binned into bins × bins."""
    crossing = s.get(CrossingRow, crossing_id)
    if crossing is None:
        return None
    versions = {
        v.id: v for v in s.scalars(select(CrossingVersionRow).where(CrossingVersionRow.crossing_id == crossing_id))
    }
    current = versions.get(crossing.current_version_id or -1) or (
        max(versions.values(), key=lambda v: v.version) if versions else None
    )
    grid = [[0] * bins for _ in range(bins)]
    conds = event_conditions(replace(f, crossing_ids=(crossing_id,)))
    e = EventRow
    dialect = _dialect(s)
    per_version: list[tuple[int, tuple[int, int], int]] = []
    total = 0
    for vid in s.scalars(select(e.crossing_version_id).where(*conds).group_by(e.crossing_version_id)):
        v = versions[vid]
        w, h = _frame_size(v.id, v.geometry_hash, v.config_yaml)
        xb = _floor_int((e.x1 + e.x2) / 2.0 * bins / w, dialect).label("xb")
        yb = _floor_int(e.y2 * bins / float(h), dialect).label("yb")
        n_v = 0
        for x, y, n in s.execute(
            select(xb, yb, func.count()).where(*conds, e.crossing_version_id == vid).group_by(xb, yb)
        ):
            grid[min(max(int(y), 0), bins - 1)][min(max(int(x), 0), bins - 1)] += int(n)
            n_v += int(n)
        per_version.append((v.version, (w, h), n_v))
        total += n_v
    size = _frame_size(current.id, current.geometry_hash, current.config_yaml) if current is not None else (0, 0)
    per_version.sort()
    return SpatialGrid(crossing_id, bins, size, grid, total, per_version)


# -- trend -------------------------------------------------------------------------------------
@dataclass(slots=True)
class TrendSeries:
    type: str  # an event type, or "all"
    current: list[tuple[datetime, int]]
    previous: list[tuple[datetime, int]]
    total: int
    previous_total: int
    change_pct: float | None  # None when the previous period had none


def _bucket_range(start: datetime, end: datetime, bucket: Bucket, tz: ZoneInfo) -> list[int]:
    """Keys of every bucket touching [start, end)."""
    k0 = bucket_key(local_seconds_py(start, tz), bucket)
    k1 = bucket_key(local_seconds_py(end - timedelta(microseconds=1), tz), bucket)
    return list(range(k0, k1 + 1))


def change_pct(current: int, previous: int) -> float | None:
    if previous == 0:
        return None
    return round((current - previous) * 100.0 / previous, 2)


def trend(s: Session, f: StatsFilter, bucket: Bucket) -> list[TrendSeries]:
    """Per type (and "all"): buckets of [start, end) and of the previous period of the same
    length [start - (end - start), start), with totals and the change in percent."""
    assert f.start is not None and f.end is not None
    length = f.end - f.start
    prev_start = f.start - length
    wide = f.with_range(prev_start, f.end)
    segs = _segments(s, f, prev_start, f.end) or ((None, 0),)
    e = EventRow
    key = bucket_sql(local_seconds_sql(e.occurred_at, _dialect(s), segs), bucket).label("k")
    period = case((e.occurred_at >= f.start, 1), else_=0).label("cur")
    q = select(e.type, period, key, func.count()).where(*event_conditions(wide)).group_by(e.type, period, key)
    found: dict[tuple[str, int, int], int] = {}
    for typ, cur, k, n in s.execute(q):
        found[(typ, int(cur), int(k))] = found.get((typ, int(cur), int(k)), 0) + int(n)
    cur_keys = _bucket_range(f.start, f.end, bucket, f.tz)
    prev_keys = _bucket_range(prev_start, f.start, bucket, f.tz)
    types = list(f.types) if f.types else list(EVENT_TYPES)
    out: list[TrendSeries] = []
    for typ in [*types, "all"]:

        def n(c: int, k: int, typ: str = typ) -> int:
            if typ == "all":
                return sum(found.get((t, c, k), 0) for t in types)
            return found.get((typ, c, k), 0)

        cur = [(bucket_start(k, bucket, f.tz), n(1, k)) for k in cur_keys]
        prev = [(bucket_start(k, bucket, f.tz), n(0, k)) for k in prev_keys]
        tot, ptot = sum(c for _, c in cur), sum(c for _, c in prev)
        out.append(TrendSeries(typ, cur, prev, tot, ptot, change_pct(tot, ptot)))
    return out


# -- summary -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Summary:
    violations: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    road_users: int | None
    rate_per_1000: float | None
    confirmed_share: float | None
    pending: int


def summary(s: Session, f: StatsFilter) -> Summary:
    """KPIs: `violations` honour the status choice; `by_status`, `pending` and
    `confirmed_share` (confirmed / (confirmed + dismissed): how many decided events held up)
    look at every status, since they describe the review itself."""
    e = EventRow
    every = f.with_status("all")
    by_status = {st: 0 for st in ("pending", "confirmed", "dismissed", "needs_info")}
    by_type = {t: 0 for t in EVENT_TYPES}
    q = select(e.review_status, e.type, func.count()).where(*event_conditions(every)).group_by(e.review_status, e.type)
    violations = 0
    for st, typ, n in s.execute(q):
        by_status[st] = by_status.get(st, 0) + int(n)
        counted = (
            f.status == "all"
            or (f.status == "confirmed" and st == "confirmed")
            or (f.status == "not_dismissed" and st != "dismissed")
        )
        if counted:
            by_type[typ] = by_type.get(typ, 0) + int(n)
            violations += int(n)
    expo = exposure_by_crossing(s, f)
    road_users = sum(expo.values()) if expo else None
    decided = by_status["confirmed"] + by_status["dismissed"]
    share = round(by_status["confirmed"] / decided, 4) if decided else None
    return Summary(
        violations, by_type, by_status, road_users, rate_per_1000(violations, road_users), share, by_status["pending"]
    )
