"""SQL for the crossings API: lists, versions, registration and per-crossing summaries.

Plain functions taking a `Session`; the handlers in `api/routes/crossings.py` stay thin. Every
function that lists takes the caller's scope clause (`Principal.scope(CrossingRow.id)`), so an
out-of-scope crossing is never read. Registration (`register`) runs inside the caller's write
session, so the new version and its audit entry commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from .models import CrossingRow, CrossingVersionRow, EventRow, TrafficCountRow, VideoRunRow

if TYPE_CHECKING:
    from detector.config import Crossing


@dataclass(frozen=True, slots=True)
class CrossingListRow:
    id: str
    name: str
    district: str | None
    lat: float | None
    lon: float | None
    version: int | None
    events: int
    last_processed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Registered:
    """What `register` did: the version now current, whether it is new, and the one before."""

    version: CrossingVersionRow
    created: bool
    previous_version: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    events: dict[str, dict[str, int]]  # type -> review status -> count
    road_users: int
    runs: int
    first_event_at: datetime | None
    last_event_at: datetime | None


def list_crossings(
    s: Session, scope: ColumnElement[bool], *, district: str | None, limit: int, offset: int
) -> tuple[list[CrossingListRow], int]:
    """One page of crossings (by id) with their current version, event count and the finish time
    of their last successful run; plus the count of all matching crossings."""
    where = [scope]
    if district is not None:
        where.append(CrossingRow.district == district)
    total = s.scalar(select(func.count()).select_from(CrossingRow).where(*where)) or 0
    events = select(EventRow.crossing_id, func.count().label("n")).group_by(EventRow.crossing_id).subquery()
    last_run = (
        select(CrossingVersionRow.crossing_id, func.max(VideoRunRow.finished_at).label("at"))
        .join(VideoRunRow, VideoRunRow.crossing_version_id == CrossingVersionRow.id)
        .where(VideoRunRow.status == "done")
        .group_by(CrossingVersionRow.crossing_id)
        .subquery()
    )
    q = (
        select(CrossingRow, CrossingVersionRow.version, events.c.n, last_run.c.at)
        .outerjoin(CrossingVersionRow, CrossingVersionRow.id == CrossingRow.current_version_id)
        .outerjoin(events, events.c.crossing_id == CrossingRow.id)
        .outerjoin(last_run, last_run.c.crossing_id == CrossingRow.id)
        .where(*where)
        .order_by(CrossingRow.id)
        .limit(limit)
        .offset(offset)
    )
    rows = [CrossingListRow(c.id, c.name, c.district, c.lat, c.lon, v, int(n or 0), at) for c, v, n, at in s.execute(q)]
    return rows, int(total)


def get_crossing(s: Session, crossing_id: str) -> CrossingRow | None:
    return s.get(CrossingRow, crossing_id)


def versions(s: Session, crossing_id: str) -> list[CrossingVersionRow]:
    return list(
        s.scalars(
            select(CrossingVersionRow)
            .where(CrossingVersionRow.crossing_id == crossing_id)
            .order_by(CrossingVersionRow.version)
        )
    )


def version(s: Session, crossing_id: str, number: int | None = None) -> CrossingVersionRow | None:
    """Version `number` of the crossing, or its current version when `number` is None."""
    if number is None:
        row = s.get(CrossingRow, crossing_id)
        if row is None or row.current_version_id is None:
            return None
        return s.get(CrossingVersionRow, row.current_version_id)
    return s.scalar(
        select(CrossingVersionRow).where(
            CrossingVersionRow.crossing_id == crossing_id, CrossingVersionRow.version == number
        )
    )


def version_with_hash(s: Session, crossing_id: str, geometry_hash: str) -> CrossingVersionRow | None:
    """The stored version of exactly this config (its geometry hash), if any."""
    return s.scalar(
        select(CrossingVersionRow).where(
            CrossingVersionRow.crossing_id == crossing_id, CrossingVersionRow.geometry_hash == geometry_hash
        )
    )


def register(s: Session, crossing: Crossing, config_yaml: str) -> Registered:
    """Make `crossing` the current config: the same config (geometry hash) reuses its version, any
    change adds version max+1, in the caller's transaction (the API's lands with its audit entry;
    `Repository.upsert_crossing` opens one of its own). The crossing row is locked on PostgreSQL."""
    row = s.get(CrossingRow, crossing.id, with_for_update=True)
    previous: int | None = None
    if row is None:
        row = CrossingRow(id=crossing.id, name=crossing.name)
        s.add(row)
        s.flush()
    elif row.current_version_id is not None:
        previous = s.scalar(select(CrossingVersionRow.version).where(CrossingVersionRow.id == row.current_version_id))
    h = crossing.geometry_hash()
    ver = version_with_hash(s, crossing.id, h)
    created = ver is None
    if ver is None:
        last = s.scalar(
            select(func.max(CrossingVersionRow.version)).where(CrossingVersionRow.crossing_id == crossing.id)
        )
        ver = CrossingVersionRow(
            crossing_id=crossing.id, version=(last or 0) + 1, geometry_hash=h, config_yaml=config_yaml
        )
        s.add(ver)
        s.flush()
    loc = crossing.location
    row.name = crossing.name
    row.district = crossing.district
    row.lat = loc.lat if loc is not None else None
    row.lon = loc.lon if loc is not None else None
    row.current_version_id = ver.id
    s.flush()
    return Registered(ver, created, previous)


def recent_videos(s: Session, crossing_id: str, limit: int = 20) -> list[tuple[str, str]]:
    """(video_path, video_sha256) of the crossing's runs, most recent first, one per video."""
    q = (
        select(VideoRunRow.video_path, VideoRunRow.video_sha256)
        .join(CrossingVersionRow, CrossingVersionRow.id == VideoRunRow.crossing_version_id)
        .where(CrossingVersionRow.crossing_id == crossing_id)
        .order_by(VideoRunRow.started_at.desc(), VideoRunRow.id.desc())
        .limit(limit * 4)
    )
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for path, sha in s.execute(q):
        if path not in seen:
            seen.add(path)
            out.append((path, sha))
    return out[:limit]


def summary(s: Session, crossing_id: str, event_types: Iterable[str], review_statuses: Iterable[str]) -> Summary:
    """Events by type x review status (every combination present, zeros included), road users
    counted crossing its stop lines, runs and the first / last event time."""
    matrix: dict[str, dict[str, int]] = {t: {r: 0 for r in review_statuses} for t in event_types}
    for typ, status, n in s.execute(
        select(EventRow.type, EventRow.review_status, func.count())
        .where(EventRow.crossing_id == crossing_id)
        .group_by(EventRow.type, EventRow.review_status)
    ):
        matrix.setdefault(typ, {})[status] = int(n)
    road_users = (
        s.scalar(
            select(func.coalesce(func.sum(TrafficCountRow.count), 0)).where(TrafficCountRow.crossing_id == crossing_id)
        )
        or 0
    )
    runs = (
        s.scalar(
            select(func.count())
            .select_from(VideoRunRow)
            .join(CrossingVersionRow, CrossingVersionRow.id == VideoRunRow.crossing_version_id)
            .where(CrossingVersionRow.crossing_id == crossing_id)
        )
        or 0
    )
    first, last = s.execute(
        select(func.min(EventRow.occurred_at), func.max(EventRow.occurred_at)).where(
            EventRow.crossing_id == crossing_id
        )
    ).one()
    return Summary(matrix, int(road_users), int(runs), _aware(first), _aware(last))


def _aware(value: Any) -> datetime | None:
    """min()/max() over a UTCDateTime column bypass the type on SQLite (a string or naive value
    comes back): read it as UTC like the column type does."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    from .models import UTCDateTime

    return UTCDateTime().process_result_value(value, None)
