"""Pipeline runs in the caller's session (the caller owns the transaction). Reads: a run by its
key or id, its events with their evidence, its traffic counts, and event counts under equality
filters. Writes (in a write transaction, `service.db.write_engine`): start or restart a run,
finish it with its events and counts, add events or counts to a running run (live streams),
fail it. `Repository` offers the same in transactions of its own, with the retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from service.models import CrossingVersionRow, EventRow, EvidenceFileRow, TrafficCountRow, VideoRunRow, utcnow
from service.run_records import (
    _RECORD_FIELDS,
    CountRecord,
    EventInfo,
    EventRecord,
    RunAlreadyDone,
    RunInfo,
    RunStateError,
    _event_info,
    _run_info,
    _value,
)

__all__ = [
    "add_counts",
    "add_events",
    "check_event_keys",
    "count_events",
    "fail_run",
    "find_run",
    "finish_run",
    "get_run",
    "run_counts",
    "run_events",
    "start_run",
]

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


# -- writes in the caller's write transaction (`service.db.write_engine`: BEGIN IMMEDIATE on SQLite) --
def start_run(
    s: Session,
    *,
    video_path: str,
    video_sha256: str,
    crossing_version_id: int,
    model: str,
    settings: dict[str, Any],
    settings_hash: str,
    start_time: datetime | None,
) -> int:
    """A new `running` run, or the clean restart of an earlier one with the same key that never
    finished (crashed or failed): its events, evidence rows and counts are deleted first.
    Raises RunAlreadyDone when that run is `done`, LookupError for an unknown crossing version."""
    run = s.scalar(_run_key(video_sha256, crossing_version_id, settings_hash).with_for_update())
    if run is None:
        if s.get(CrossingVersionRow, crossing_version_id) is None:
            raise LookupError(f"crossing version {crossing_version_id} does not exist")
        run = VideoRunRow(
            video_path=str(video_path),
            video_sha256=video_sha256,
            crossing_version_id=crossing_version_id,
            model=model,
            settings=settings,
            settings_hash=settings_hash,
            status="running",
            start_time=start_time,
        )
        s.add(run)
        s.flush()
        return run.id
    if run.status == "done":
        raise RunAlreadyDone(_run_info(run))
    _clear_run(s, run.id)
    run.video_path = str(video_path)
    run.model = model
    run.settings = settings
    run.start_time = start_time
    run.status = "running"
    run.error = None
    run.started_at = utcnow()
    run.finished_at = None
    run.duration_s = run.frames = run.elapsed_s = None
    run.timings = None
    return run.id


def _clear_run(s: Session, run_id: int) -> None:
    event_ids = select(EventRow.id).where(EventRow.run_id == run_id).scalar_subquery()
    s.execute(delete(EvidenceFileRow).where(EvidenceFileRow.event_id.in_(event_ids)))
    s.execute(delete(EventRow).where(EventRow.run_id == run_id))
    s.execute(delete(TrafficCountRow).where(TrafficCountRow.run_id == run_id))


def _lock_running(s: Session, run_id: int) -> VideoRunRow:
    run = s.get(VideoRunRow, run_id, with_for_update=True)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    if run.status == "done":
        raise RunAlreadyDone(_run_info(run))
    if run.status != "running":
        raise RunStateError(f"run {run_id} is {run.status}; start_run() restarts it")
    return run


def finish_run(
    s: Session,
    run_id: int,
    *,
    events: Sequence[EventRecord],
    counts: Sequence[CountRecord],
    duration_s: float | None,
    frames: int | None,
    elapsed_s: float | None,
    timings: dict[str, Any] | None,
) -> list[str]:
    """Store the run's events (+ evidence rows) and counts and mark it done (the caller's one
    transaction: on any error nothing of it is committed and the run stays `running`).
    Returns the new events' public uids, in the order of `events`."""
    run = _lock_running(s, run_id)
    ver = s.get_one(CrossingVersionRow, run.crossing_version_id)
    rows = [_event_row(e, run, ver) for e in events]
    s.add_all(rows)
    s.flush()
    _upsert_counts(s, run, ver, counts)
    run.status = "done"
    run.error = None
    run.finished_at = utcnow()
    run.duration_s = duration_s
    run.frames = frames
    run.elapsed_s = elapsed_s
    run.timings = timings
    return [r.uid for r in rows]


def check_event_keys(events: Sequence[EventRecord]) -> None:
    """ValueError when two of `events` have the same event key."""
    keys = [e.event_key for e in events]
    if len(set(keys)) != len(keys):
        raise ValueError("add_events: two events have the same event_key")


def add_events(s: Session, run_id: int, events: Sequence[EventRecord]) -> dict[str, str]:
    """Store events (+ evidence rows) of a running run now: a live stream never ends, so
    `crosswatch watch` writes each event as soon as it and its evidence are decided, instead of
    everything in `finish_run`. Idempotent per event key: a key the run already holds is skipped
    (a retried write after a lost connection adds nothing). Returns {event_key: uid} of the events
    added by this call."""
    check_event_keys(events)
    run = _lock_running(s, run_id)
    ver = s.get_one(CrossingVersionRow, run.crossing_version_id)
    keys = [e.event_key for e in events]
    stored = set(s.scalars(select(EventRow.event_key).where(EventRow.run_id == run_id, EventRow.event_key.in_(keys))))
    rows = [_event_row(e, run, ver) for e in events if e.event_key not in stored]
    s.add_all(rows)
    s.flush()
    return {r.event_key: r.uid for r in rows}


def add_counts(s: Session, run_id: int, counts: Sequence[CountRecord]) -> None:
    """Add counts to a running run now (long streams); additive with a later finish_run()."""
    run = _lock_running(s, run_id)
    _upsert_counts(s, run, s.get_one(CrossingVersionRow, run.crossing_version_id), counts)


def fail_run(s: Session, run_id: int, error: str) -> None:
    """Mark a running (or failed) run failed; its events were never committed (finish_run is
    atomic). A later start_run() with the same key restarts it."""
    run = s.get(VideoRunRow, run_id, with_for_update=True)
    if run is None:
        raise LookupError(f"run {run_id} does not exist")
    if run.status == "done":
        raise RunAlreadyDone(_run_info(run))
    run.status = "failed"
    run.error = error
    run.finished_at = utcnow()


def _event_row(e: EventRecord, run: VideoRunRow, ver: CrossingVersionRow) -> EventRow:
    occurred_at = e.occurred_at
    if occurred_at is None and run.start_time is not None:
        occurred_at = run.start_time + timedelta(seconds=e.t)
    return EventRow(
        uid=uuid.uuid4().hex,
        run_id=run.id,
        crossing_id=ver.crossing_id,
        crossing_version_id=ver.id,
        event_key=e.event_key,
        type=_value(e.type),
        track_id=e.track_id,
        class_name=e.class_name,
        t=e.t,
        frame=e.frame,
        x1=e.x1,
        y1=e.y1,
        x2=e.x2,
        y2=e.y2,
        lane=e.lane,
        stop_line=e.stop_line,
        signal_id=e.signal_id,
        signal_state=_value(e.signal_state),
        signal_source=e.signal_source,
        since_red_s=e.since_red_s,
        confidence=e.confidence,
        occurred_at=occurred_at,
        **{k: getattr(e, k) for k in _RECORD_FIELDS},
        evidence=[
            EvidenceFileRow(kind=f.kind, relpath=f.relpath, sha256=f.sha256, size=f.size, mime=f.mime)
            for f in e.evidence
        ],
    )


def _upsert_counts(s: Session, run: VideoRunRow, ver: CrossingVersionRow, counts: Sequence[CountRecord]) -> None:
    """Counts are additive: records with the same (stop_line, class, minute) are summed, and
    summed into a row already stored for the run (INSERT ... ON CONFLICT DO UPDATE)."""
    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for c in counts:
        key = (c.stop_line, c.class_name, int(c.minute_start))
        minute_at = c.minute_at
        if minute_at is None and run.start_time is not None:
            minute_at = run.start_time + timedelta(minutes=int(c.minute_start))
        if key in merged:
            merged[key]["count"] += int(c.count)
        else:
            merged[key] = dict(
                crossing_id=ver.crossing_id,
                crossing_version_id=ver.id,
                run_id=run.id,
                stop_line=key[0],
                class_name=key[1],
                minute_start=key[2],
                minute_at=minute_at,
                count=int(c.count),
            )
    if not merged:
        return
    dialect = s.get_bind().dialect.name
    ins_mod = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if ins_mod is None:
        raise NotImplementedError(f"traffic count upsert on {dialect}")
    stmt = ins_mod.insert(TrafficCountRow)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "stop_line", "class_name", "minute_start"],
        set_={"count": TrafficCountRow.count + stmt.excluded["count"], "minute_at": stmt.excluded["minute_at"]},
    )
    s.execute(stmt, list(merged.values()))
