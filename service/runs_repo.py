"""Reads of pipeline runs in the caller's session (the caller owns the transaction): a run by
its key or id, its events with their evidence, its traffic counts, and event counts under
equality filters. `Repository` offers the same reads in a transaction of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from service.models import EventRow, TrafficCountRow, VideoRunRow
from service.run_records import CountRecord, EventInfo, RunInfo, _event_info, _run_info, _value

__all__ = ["count_events", "find_run", "get_run", "run_counts", "run_events"]

# Filters accepted by count_events(): name -> events column. A list/tuple/set means IN, None IS NULL.
_EVENT_FILTERS = {
    "run_id": EventRow.run_id,
    "crossing_id": EventRow.crossing_id,
    "crossing_version_id": EventRow.crossing_version_id,
    "type": EventRow.type,
    "review_status": EventRow.review_status,
    "class_name": EventRow.class_name,
    "lane": EventRow.lane,
    "stop_line": EventRow.stop_line,
    "signal_id": EventRow.signal_id,
}


# -- reads in the caller's session ----------------------------------------------------------------
def _run_key(video_sha256: str, crossing_version_id: int, settings_hash: str) -> Select[VideoRunRow]:
    return select(VideoRunRow).where(
        VideoRunRow.video_sha256 == video_sha256,
        VideoRunRow.crossing_version_id == crossing_version_id,
        VideoRunRow.settings_hash == settings_hash,
    )


def find_run(s: Session, video_sha256: str, crossing_version_id: int, settings_hash: str) -> RunInfo | None:
    """The run of this video, crossing version and settings (the run key), if any."""
    r = s.scalar(_run_key(video_sha256, crossing_version_id, settings_hash))
    return _run_info(r) if r is not None else None


def get_run(s: Session, run_id: int) -> RunInfo | None:
    r = s.get(VideoRunRow, run_id)
    return _run_info(r) if r is not None else None


def run_events(s: Session, run_id: int) -> list[EventInfo]:
    """The run's events with their evidence, in video order."""
    rows = s.scalars(
        select(EventRow)
        .where(EventRow.run_id == run_id)
        .options(selectinload(EventRow.evidence))
        .order_by(EventRow.t, EventRow.id)
    )
    return [_event_info(e) for e in rows]


def run_counts(s: Session, run_id: int) -> list[CountRecord]:
    rows = s.scalars(
        select(TrafficCountRow)
        .where(TrafficCountRow.run_id == run_id)
        .order_by(TrafficCountRow.stop_line, TrafficCountRow.class_name, TrafficCountRow.minute_start)
    )
    return [CountRecord(r.stop_line, r.class_name, r.minute_start, r.count, r.minute_at) for r in rows]


def count_events(s: Session, **filters: Any) -> int:
    """Number of events matching equality filters (run_id, crossing_id, crossing_version_id,
    type, review_status, class_name, lane, stop_line, signal_id; a list/tuple/set means any of
    them, None means unset) and `since` / `until` on occurred_at ([since, until))."""
    q = select(func.count()).select_from(EventRow)
    for name, value in filters.items():
        if name == "since":
            q = q.where(EventRow.occurred_at >= value)
        elif name == "until":
            q = q.where(EventRow.occurred_at < value)
        elif name in _EVENT_FILTERS:
            col = _EVENT_FILTERS[name]
            if value is None:
                q = q.where(col.is_(None))
            elif isinstance(value, (list, tuple, set, frozenset)):
                q = q.where(col.in_([_value(v) for v in value]))
            else:
                q = q.where(col == _value(value))
        else:
            raise TypeError(f"count_events: unknown filter {name!r} (known: {sorted(_EVENT_FILTERS)}, since, until)")
    return int(s.scalar(q) or 0)
