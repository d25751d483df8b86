"""Statistics SQL: violation counts per crossing × type × class × local time bucket, hotspot
rates per 1,000 road users, the weekday × hour matrix, spatial bins, trends and KPIs.

Why it is shaped this way:

- The database aggregates (GROUP BY); Python only reshapes the few grouped rows. Over 1,000,000
  events a Python loop over events would be seconds per request.
- Buckets are local-time (an IANA zone, default Asia/Shanghai), but SQLite has no time zones. So
  the zone's UTC offset is applied in SQL as *piecewise constant*: `offset_segments()` finds the
  zone's offset changes (DST) inside the queried range, and the SQL adds the right offset with a
  CASE over those instants (a plain constant for zones without DST, the common case). Local
  seconds since the epoch are then integer-divided into hours / days / Monday-first weeks, the
  same expression on SQLite and PostgreSQL, so both give identical buckets.
- Statistics count only events with a known time (`occurred_at` not NULL): an event of a video
  whose start time is unknown has no hour, day or week, and counting it in some answers but not
  others would make totals disagree between endpoints.
- `status` chooses the events counted: `not_dismissed` (default: everything a reviewer has not
  thrown out, i.e. pending + confirmed + needs_info), `confirmed` (only reviewed-and-confirmed) or
  `all`.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import BigInteger, ColumnElement, Integer, bindparam, case, cast, func, literal, select, text
from sqlalchemy.orm import Session

from .models import EVENT_TYPES, CrossingRow, CrossingVersionRow, DataVersionRow, EventRow, TrafficCountRow

log = logging.getLogger(__name__)

Status = Literal["all", "confirmed", "not_dismissed"]
Bucket = Literal["hour", "day", "week"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_HOUR, _DAY = 3600, 86400
# 1970-01-01 was a Thursday: Monday-first weekday of local day d is (d + 3) % 7.
_THURSDAY = 3


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


# -- time zone arithmetic ----------------------------------------------------------------------
def _offset_s(tz: ZoneInfo, at: datetime) -> int:
    off = at.astimezone(tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@lru_cache(maxsize=256)
def _segments_cached(tz: ZoneInfo, lo_day: int, hi_day: int) -> tuple[tuple[datetime | None, int], ...]:
    lo = EPOCH + timedelta(days=lo_day)
    hi = EPOCH + timedelta(days=hi_day + 1)
    segments: list[tuple[datetime | None, int]] = [(None, _offset_s(tz, lo))]
    prev_t, prev_off = lo, segments[0][1]
    t = lo
    while t < hi:
        t = min(t + timedelta(hours=6), hi)
        off = _offset_s(tz, t)
        if off != prev_off:  # a change in (prev_t, t]: bisect to the (whole) second
            a, b = int((prev_t - EPOCH).total_seconds()), int((t - EPOCH).total_seconds())
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_s(tz, EPOCH + timedelta(seconds=mid)) == prev_off:
                    a = mid
                else:
                    b = mid
            segments.append((EPOCH + timedelta(seconds=b), off))
            prev_off = off
        prev_t = t
    return tuple(segments)


def offset_segments(tz: ZoneInfo, start: datetime, end: datetime) -> tuple[tuple[datetime | None, int], ...]:
    """The zone's UTC offsets over [start, end]: ((None, off0), (t1, off1), ...) meaning off0
    before t1, off1 from t1 on, ... Whole days around the range, cached per zone and day span."""
    lo = (start - EPOCH).days - 1
    hi = (end - EPOCH).days + 1
    return _segments_cached(tz, lo, hi)


def local_seconds_py(at: datetime, tz: ZoneInfo) -> int:
    """Local wall-clock seconds since 1970-01-01 00:00 local: the value the SQL computes."""
    return int((at - EPOCH).total_seconds() // 1) + _offset_s(tz, at)


def bucket_key(local_s: int, bucket: Bucket) -> int:
    if bucket == "hour":
        return local_s // _HOUR
    if bucket == "day":
        return local_s // _DAY
    return (local_s // _DAY + _THURSDAY) // 7


def bucket_start(key: int, bucket: Bucket, tz: ZoneInfo) -> datetime:
    """The local start of bucket `key` as an aware datetime in `tz`."""
    if bucket == "hour":
        naive = datetime(1970, 1, 1) + timedelta(hours=key)
    elif bucket == "day":
        naive = datetime(1970, 1, 1) + timedelta(days=key)
    else:
        naive = datetime(1970, 1, 1) + timedelta(days=7 * key - _THURSDAY)
    return naive.replace(tzinfo=tz)


def _epoch_sql(col: Any, dialect: str) -> ColumnElement[int]:
    if dialect == "sqlite":
        # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC; strftime('%s') ROUNDS fractions
        # (23:59:59.9999 would land in the next day), so cut them off first.
        return cast(func.strftime("%s", func.substr(col, 1, 19)), BigInteger)
    return cast(func.floor(func.extract("epoch", col)), BigInteger)


def local_seconds_sql(col: Any, dialect: str, segments: Sequence[tuple[datetime | None, int]]) -> ColumnElement[int]:
    """SQL: local wall-clock seconds since the local epoch for the UTC column `col`."""
    if len(segments) == 1:
        offset: ColumnElement[int] = literal(segments[0][1], BigInteger)
    else:
        whens = [(col < segments[i + 1][0], literal(segments[i][1], BigInteger)) for i in range(len(segments) - 1)]
        offset = case(*whens, else_=literal(segments[-1][1], BigInteger))
    return _epoch_sql(col, dialect) + offset


def bucket_sql(local_s: ColumnElement[int], bucket: Bucket) -> ColumnElement[int]:
    if bucket == "hour":
        return local_s // _HOUR
    if bucket == "day":
        return local_s // _DAY
    return (local_s // _DAY + _THURSDAY) // 7


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


def event_conditions(f: StatsFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses of the events counted by `f` (dated events only, see module doc)."""
    e = EventRow
    conds = _crossing_filters(f, e.crossing_id)
    conds.append(e.occurred_at.is_not(None))
    if f.start is not None:
        conds.append(e.occurred_at >= f.start)
    if f.end is not None:
        conds.append(e.occurred_at < f.end)
    if f.types:
        conds.append(e.type.in_(f.types))
    if f.class_names:
        conds.append(e.class_name.in_(f.class_names))
    if f.status == "confirmed":
        conds.append(e.review_status == "confirmed")
    elif f.status == "not_dismissed":
        conds.append(e.review_status != "dismissed")
    return conds


def exposure_conditions(f: StatsFilter) -> list[ColumnElement[bool]]:
    """Traffic counts matching `f`: same crossings, range and road-user classes (a class filter
    makes the rate "violations of motorcycles per 1,000 motorcycles"); types do not apply."""
    c = TrafficCountRow
    conds = _crossing_filters(f, c.crossing_id)
    conds.append(c.minute_at.is_not(None))
    if f.start is not None:
        conds.append(c.minute_at >= f.start)
    if f.end is not None:
        conds.append(c.minute_at < f.end)
    if f.class_names:
        conds.append(c.class_name.in_(f.class_names))
    return conds


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


# -- cache -------------------------------------------------------------------------------------
# Tables whose every write bumps `data_version` (triggers of migration 0004_data_version).
STAMPED_TABLES = ("events", "traffic_counts", "crossings", "crossing_versions")
_STAMP_OPS = ("insert", "update", "delete")
_STAMP_SQL = f"SELECT version FROM {DataVersionRow.__tablename__} WHERE id = 1"
# engine -> whether its stamp triggers are present (checked once per engine and process)
_triggers_checked: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def stamp_trigger_names(dialect: str) -> tuple[str, ...]:
    """The triggers that keep `data_version` exact: row triggers per table and operation on
    SQLite, one statement trigger per table on PostgreSQL."""
    if dialect == "sqlite":
        return tuple(f"trg_{t}_{op}_data_version" for t in STAMPED_TABLES for op in _STAMP_OPS)
    return tuple(f"trg_{t}_data_version" for t in STAMPED_TABLES)


def stamp_triggers_present(s: Session) -> bool:
    """Whether every stamp trigger exists (SQLite drops a table's triggers when a batch migration
    recreates it; without them a cached answer could outlive the data it was computed from)."""
    dialect = _dialect(s)
    names = stamp_trigger_names(dialect)
    if dialect == "sqlite":
        q = text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names").bindparams(
            bindparam("names", expanding=True)
        )
    else:
        q = text(
            "SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgname IN :names AND tgrelid IN "
            "(SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) AS t)"
        ).bindparams(bindparam("names", expanding=True))
    params: dict[str, Any] = {"names": list(names)}
    if dialect != "sqlite":
        params["tables"] = list(STAMPED_TABLES)
    return s.scalar(q, params) == len(names)


def data_version(s: Session) -> tuple[Any, ...] | None:
    """The data stamp: `data_version.version`, which triggers increment in the same transaction
    as any write to the tables statistics and event counts read (see migration 0004), so an
    unchanged stamp means unchanged data, exactly, whichever process wrote. One primary-key
    lookup. None (= do not cache) when the row or the triggers are missing."""
    bind = s.get_bind()
    engine = getattr(bind, "engine", bind)
    ok = _triggers_checked.get(engine)
    if ok is None:
        ok = _triggers_checked[engine] = stamp_triggers_present(s)
        if not ok:
            log.error(
                "data_version triggers are missing (run `crosswatch db upgrade`; a batch migration on "
                "SQLite drops them): answers are computed afresh on every request"
            )
    if not ok:
        return None
    # the driver's SQL on the session's connection: this runs on every cached answer, and the
    # ORM's statement handling costs more than the primary-key lookup itself
    version = s.connection().exec_driver_sql(_STAMP_SQL).scalar()
    return None if version is None else (version,)


@dataclass(slots=True)
class _Entry:
    at: float  # clock() when computed
    stamp: tuple[Any, ...]
    value: Any


class StatsCache:
    """Answers of identical requests (statistics, event counts), reused while the data stamp
    (`data_version`) is unchanged, and recomputed after `ttl_s` (a bound on anything the stamp
    cannot see, e.g. a changed time-zone database).

    Dashboards ask the same questions over and over; each answer costs a GROUP BY over up to
    millions of events. Concurrent identical requests compute once (per-key lock): without it,
    50 clients asking at once would run the same heavy query 50 times. When an answer only
    aged past `ttl_s` (same stamp, so it is still exact), one request recomputes it while the
    others keep getting it, instead of all of them waiting seconds for the recomputation. When
    the stamp changed, nobody gets the old answer. `ttl_s <= 0` disables the cache."""

    def __init__(self, ttl_s: float, max_entries: int = 512, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _current(self, key: Hashable, stamp: tuple[Any, ...]) -> _Entry | None:
        """The entry for `key` computed at `stamp` (fresh or not), counted as a hit if fresh."""
        with self._guard:
            entry = self._entries.get(key)
            if entry is None or entry.stamp != stamp:
                return None
            self._entries.move_to_end(key)
            return entry

    def _fresh(self, entry: _Entry | None) -> bool:
        return entry is not None and self.clock() - entry.at < self.ttl_s

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _store(self, key: Hashable, stamp: tuple[Any, ...], value: Any) -> None:
        with self._guard:
            self.misses += 1
            self._entries[key] = _Entry(self.clock(), stamp, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                old, _ = self._entries.popitem(last=False)
                self._locks.pop(old, None)

    def _hit(self, entry: _Entry) -> Any:
        with self._guard:
            self.hits += 1
        return entry.value

    def get(self, s: Session, key: Hashable, compute: Callable[[], Any]) -> Any:
        if self.ttl_s <= 0:
            return compute()
        stamp = data_version(s)
        if stamp is None:
            return compute()
        entry = self._current(key, stamp)
        if self._fresh(entry):
            return self._hit(entry)  # type: ignore[arg-type]
        lock = self._lock(key)
        if entry is not None and not lock.acquire(blocking=False):
            return self._hit(entry)  # aged but exact: someone is already refreshing it
        if entry is None:
            lock.acquire()
        try:
            entry = self._current(key, stamp)
            if self._fresh(entry):
                return self._hit(entry)  # type: ignore[arg-type]
            value = compute()
            self._store(key, stamp, value)
            return value
        finally:
            lock.release()
