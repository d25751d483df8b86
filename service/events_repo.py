"""Event queries for the API: filtered + scoped lists, detail, the review queue, review writes.

Plain functions taking a `Session` (the routers stay thin). Every read takes the caller's scope
clause (`Principal.scope(EventRow.crossing_id)`) so an out-of-scope event is indistinguishable
from a missing one. Works on SQLite and PostgreSQL (`NULLS LAST` is supported by both).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select, true
from sqlalchemy.orm import Session

from .models import CrossingRow, EventRow, EvidenceFileRow, ReviewRow, VideoRunRow

SortKey = Literal[
    "occurred_at",
    "-occurred_at",
    "created_at",
    "-created_at",
    "confidence",
    "-confidence",
    "since_red_s",
    "-since_red_s",
    "reviewed_at",
    "-reviewed_at",
    "crossing_id",
    "-crossing_id",
    "type",
    "-type",
    "class_name",
    "-class_name",
    "review_status",
    "-review_status",
]
DEFAULT_SORT: SortKey = "-occurred_at"
_SORT_COLUMNS: dict[str, Any] = {
    "occurred_at": EventRow.occurred_at,
    "created_at": EventRow.created_at,
    "confidence": EventRow.confidence,
    "since_red_s": EventRow.since_red_s,
    "reviewed_at": EventRow.reviewed_at,
    "crossing_id": EventRow.crossing_id,
    "type": EventRow.type,
    "class_name": EventRow.class_name,
    "review_status": EventRow.review_status,
}
_NULLABLE_SORTS = frozenset({"occurred_at", "confidence", "since_red_s", "reviewed_at"})
# Event uids are uuid4 hex; anything else cannot exist, so it is answered 404 without a query.
_UID_RE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")


@dataclass(frozen=True, slots=True)
class EventFilters:
    """The list/export/queue filters; empty fields do not filter. Times are aware (UTC)."""

    crossing_ids: tuple[str, ...] = ()
    district: str | None = None
    type: str | None = None
    class_name: str | None = None
    review_status: str | None = None
    review_status_not: str | None = None  # e.g. "dismissed": the statistics' "not_dismissed" scope
    reviewed_by: str | None = None
    uid_prefix: str | None = None  # the first characters of an event id (the UI shows 8)
    lane: str | None = None
    stop_line: str | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_to: datetime | None = None  # exclusive: [from, to) tiles without double counting
    plate: str | None = None  # cleaned plate text (or part of it): the corrected plate where there is one

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.crossing_ids:
            out.append(EventRow.crossing_id.in_(sorted(set(self.crossing_ids))))
        if self.district is not None:
            # a sub-select, not a join: counting and paging then never touch the crossings table
            out.append(EventRow.crossing_id.in_(select(CrossingRow.id).where(CrossingRow.district == self.district)))
        for value, column in (
            (self.type, EventRow.type),
            (self.class_name, EventRow.class_name),
            (self.review_status, EventRow.review_status),
            (self.lane, EventRow.lane),
            (self.stop_line, EventRow.stop_line),
            (self.reviewed_by, EventRow.reviewed_by),
        ):
            if value is not None:
                out.append(column == value)
        if self.uid_prefix is not None:
            out.append(EventRow.uid.startswith(self.uid_prefix, autoescape=True))
        if self.review_status_not is not None:
            out.append(EventRow.review_status != self.review_status_not)
        if self.plate is not None:
            out.append(
                or_(
                    EventRow.plate_corrected.contains(self.plate, autoescape=True),
                    and_(EventRow.plate_corrected.is_(None), EventRow.plate_text.contains(self.plate, autoescape=True)),
                )
            )
        if self.occurred_from is not None:
            out.append(EventRow.occurred_at >= self.occurred_from)
        if self.occurred_to is not None:
            out.append(EventRow.occurred_at < self.occurred_to)
        return out


@dataclass(frozen=True, slots=True)
class EventView:
    """An event with its crossing's name and district (what lists and exports show)."""

    event: EventRow
    crossing_name: str
    district: str | None


def valid_uid(uid: str) -> bool:
    return bool(_UID_RE.match(uid))


def _where(scope: ColumnElement[bool], filters: EventFilters) -> list[ColumnElement[bool]]:
    return [scope, *filters.clauses()]


def order_parts(sort: str) -> list[tuple[ColumnElement[bool], list[Any]]]:
    """`sort` ("key" ascending, "-key" descending) as consecutive parts: (extra WHERE, ORDER BY).

    NULLs always come last (an event whose video start is unknown has no time and should not
    push dated ones off page one), and the id breaks ties so pages never overlap or skip. A
    nullable column is read as two parts, dated rows then NULL rows, rather than with
    `NULLS LAST`: PostgreSQL's ascending index cannot serve `DESC NULLS LAST` (a full sort of
    every matching row), whereas `WHERE col IS NOT NULL ORDER BY col DESC` walks the index."""
    desc = sort.startswith("-")
    name = sort.lstrip("-")
    column = _SORT_COLUMNS[name]
    by_id = EventRow.id.desc() if desc else EventRow.id.asc()
    by_col = column.desc() if desc else column.asc()
    if name not in _NULLABLE_SORTS:
        return [(true(), [by_col, by_id])]
    return [(column.is_not(None), [by_col, by_id]), (column.is_(None), [by_id])]


def _view_select() -> Select:
    return select(EventRow, CrossingRow.name, CrossingRow.district).join(
        CrossingRow, CrossingRow.id == EventRow.crossing_id
    )


def count_events(s: Session, scope: ColumnElement[bool], filters: EventFilters) -> int:
    return s.scalar(select(func.count()).select_from(EventRow).where(*_where(scope, filters))) or 0


class AnswerCache(Protocol):
    """What `cached_count` needs of `stats_cache.StatsCache`: an answer per key, reused while the
    data stamp is unchanged."""

    def get(self, s: Session, key: Hashable, compute: Callable[[], Any]) -> Any: ...


def cached_count(
    cache: AnswerCache, s: Session, visible: Hashable, scope: ColumnElement[bool], filters: EventFilters
) -> int:
    """`count_events`, reused from `cache` while no event or crossing changed.

    Why: a list answers `{data, count}`, and counting the rows matching a filter means visiting
    all of them (hundreds of milliseconds at a million events, per request) while the page itself
    is an index walk of `limit` rows. `visible` is the caller's scope (`Principal.visible`), part
    of the key because `scope` is the SQL built from it. The stamp makes the count exact: a new
    run or a review changes it, and the next request counts afresh."""
    return cache.get(s, ("events_count", visible, filters), lambda: count_events(s, scope, filters))


def _page(
    s: Session,
    base: Select,
    where: list[ColumnElement[bool]],
    sort: str,
    limit: int,
    offset: int,
    *,
    execute: Callable[[Select], Any] | None = None,
) -> list[Any]:
    """Rows `offset`..`offset + limit` of `base` filtered by `where` in `sort` order, read part
    by part (see `order_parts`): the NULL part is only queried when the dated part does not fill
    the page. The first page of the default sort is an index walk of `limit` rows. `execute`
    runs the page queries (default `s.execute`)."""
    run = execute or s.execute
    rows: list[Any] = []
    skip = offset
    for extra, order in order_parts(sort):
        part = [*where, extra]
        got = list(run(base.where(*part).order_by(*order).limit(limit - len(rows)).offset(skip)))
        # rows of this part before the page: all `skip` of them if any came back, else count them
        before = skip if got else min(skip, s.scalar(select(func.count()).select_from(EventRow).where(*part)) or 0)
        rows += got
        if len(rows) >= limit:
            break
        skip -= before
    return rows


def list_events(
    s: Session,
    scope: ColumnElement[bool],
    filters: EventFilters,
    sort: str = DEFAULT_SORT,
    limit: int = 50,
    offset: int = 0,
    *,
    count: Callable[[], int] | None = None,
) -> tuple[list[EventView], int]:
    """One page of events (ORM rows with their crossing's name and district) and the count of
    all that match (`count()` if given, e.g. a `cached_count`, else counted now)."""
    rows = _page(s, _view_select(), _where(scope, filters), sort, limit, offset)
    views = [EventView(e, name, district) for e, name, district in rows]
    return views, count() if count is not None else count_events(s, scope, filters)


# What a list shows of an event: plain columns, no ORM objects (building 50 mapped instances per
# page costs more than the indexed query that finds them).
LIST_COLUMNS: tuple[Any, ...] = (
    EventRow.uid,
    EventRow.crossing_id,
    CrossingRow.name.label("crossing_name"),
    CrossingRow.district,
    EventRow.type,
    EventRow.class_name,
    EventRow.occurred_at,
    EventRow.t,
    EventRow.frame,
    EventRow.x1,
    EventRow.y1,
    EventRow.x2,
    EventRow.y2,
    EventRow.lane,
    EventRow.stop_line,
    EventRow.signal_id,
    EventRow.signal_state,
    EventRow.since_red_s,
    EventRow.confidence,
    EventRow.review_status,
    EventRow.review_stage,
    EventRow.reviewed_by,
    EventRow.reviewed_at,
    EventRow.created_at,
    func.coalesce(EventRow.plate_corrected, EventRow.plate_text).label("plate"),
    EventRow.plate_text,
    EventRow.plate_corrected,
    EventRow.plate_status,
    EventRow.plate_colour,
    EventRow.plate_confidence,
    EventRow.violation_code,
)
LIST_KEYS: tuple[str, ...] = tuple(c.key for c in LIST_COLUMNS)


def list_event_rows(
    s: Session,
    scope: ColumnElement[bool],
    filters: EventFilters,
    sort: str = DEFAULT_SORT,
    limit: int = 50,
    offset: int = 0,
    *,
    count: Callable[[], int] | None = None,
) -> tuple[list[Row[Any]], int]:
    """`list_events` as rows of `LIST_COLUMNS` (named `LIST_KEYS`), what the list API answers.
    Run on the session's connection (Core): no ORM result processing for plain columns."""
    conn = s.connection()
    base = select(*LIST_COLUMNS).join(CrossingRow, CrossingRow.id == EventRow.crossing_id)
    rows = _page(s, base, _where(scope, filters), sort, limit, offset, execute=conn.execute)
    return rows, count() if count is not None else count_events(s, scope, filters)


def iter_events(
    s: Session, scope: ColumnElement[bool], filters: EventFilters, sort: str = DEFAULT_SORT, batch: int = 1000
) -> Iterator[EventView]:
    """All matching events, fetched `batch` at a time (server-side cursor on PostgreSQL), for
    exports of any size without loading them all."""
    where = _where(scope, filters)
    for extra, order in order_parts(sort):
        stmt = _view_select().where(*where, extra).order_by(*order)
        for e, name, district in s.execute(stmt.execution_options(yield_per=batch)):
            yield EventView(e, name, district)


def get_event(s: Session, scope: ColumnElement[bool], uid: str, *, for_update: bool = False) -> EventView | None:
    """The event `uid` if it exists and is in scope (else None: callers answer 404 either way)."""
    if not valid_uid(uid):
        return None
    stmt = _view_select().where(scope, EventRow.uid == uid)
    if for_update:  # PostgreSQL row lock; SQLite's write transaction already serialises writers
        stmt = stmt.with_for_update(of=EventRow)
    row = s.execute(stmt).first()
    return EventView(row[0], row[1], row[2]) if row is not None else None


def evidence_of(s: Session, event_id: int) -> list[EvidenceFileRow]:
    return list(
        s.scalars(select(EvidenceFileRow).where(EvidenceFileRow.event_id == event_id).order_by(EvidenceFileRow.id))
    )


def reviews_of(s: Session, event_id: int) -> list[ReviewRow]:
    """The event's review history, oldest first."""
    return list(s.scalars(select(ReviewRow).where(ReviewRow.event_id == event_id).order_by(ReviewRow.at, ReviewRow.id)))


def run_of(s: Session, run_id: int) -> VideoRunRow | None:
    return s.get(VideoRunRow, run_id)


# -- the review queue ---------------------------------------------------------------------------
def _queue_order() -> list[Any]:
    return [EventRow.occurred_at.asc().nulls_last(), EventRow.id.asc()]


def _after(anchor: EventRow) -> ColumnElement[bool]:
    """Events strictly after `anchor` in queue order (occurred_at ascending, NULLs last, id)."""
    if anchor.occurred_at is None:
        return and_(EventRow.occurred_at.is_(None), EventRow.id > anchor.id)
    return or_(
        EventRow.occurred_at > anchor.occurred_at,
        and_(EventRow.occurred_at == anchor.occurred_at, EventRow.id > anchor.id),
        EventRow.occurred_at.is_(None),
    )


def next_in_queue(
    s: Session,
    scope: ColumnElement[bool],
    filters: EventFilters,
    *,
    after: EventRow | None = None,
    skip_awaiting_second_by: str | None = None,
) -> tuple[EventView | None, int]:
    """The oldest event matching `filters` (the caller sets review_status, normally pending),
    after `after` if given, and how many match after it (itself included).

    `skip_awaiting_second_by`: with second review on, events this user confirmed at stage 1 wait
    for someone else, so they are left out of that user's queue."""
    where = _where(scope, filters)
    if after is not None:
        where.append(_after(after))
    if skip_awaiting_second_by is not None:
        where.append(
            or_(
                EventRow.review_stage != 1,
                EventRow.review_status != "pending",
                EventRow.reviewed_by.is_(None),
                EventRow.reviewed_by != skip_awaiting_second_by,
            )
        )
    row = s.execute(_view_select().where(*where).order_by(*_queue_order()).limit(1)).first()
    if row is None:
        return None, 0
    remaining = s.scalar(select(func.count()).select_from(EventRow).where(*where)) or 0
    return EventView(row[0], row[1], row[2]), remaining


# -- review writes ------------------------------------------------------------------------------
def reopen(s: Session, event: EventRow) -> None:
    """Put a decided event back into the review queue (pending, no stage, no reviewer); its
    earlier decisions stay in the reviews table (flushed, not committed: the caller commits it
    with the audit entry that records who reopened it and why)."""
    event.review_status = "pending"
    event.review_stage = 0
    event.reviewed_by = None
    event.reviewed_at = None
    s.flush()


def add_review(
    s: Session,
    event: EventRow,
    *,
    stage: int,
    action: str,
    status: str,
    reason_code: str | None,
    comment: str | None,
    user_id: int | None,
    username: str,
    at: datetime | None = None,
) -> ReviewRow:
    """Record one review decision and update the event's review summary (flushed, not committed:
    the caller commits it together with the audit entry)."""
    at = at or datetime.now(UTC)
    row = ReviewRow(
        event_id=event.id,
        stage=stage,
        action=action,
        reason_code=reason_code,
        comment=comment,
        user_id=user_id,
        username=username,
        at=at,
    )
    s.add(row)
    event.review_status = status
    event.review_stage = stage
    event.reviewed_by = username
    event.reviewed_at = at
    s.flush()
    return row
