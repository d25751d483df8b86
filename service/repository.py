"""The store of the pipeline's results: crossing versions, video runs, their events (with
evidence) and traffic counts, behind one `Repository` that opens its own transactions.

The pipeline writes through it:

    info = repo.upsert_crossing(crossing, yaml_text)          # crossing version (1, 2, 3, ...)
    if (run := repo.find_run(sha, info.version_id, settings_hash)) and run.status == "done":
        ...                                                    # nothing to do: already processed
    run_id = repo.start_run(...)                               # new, or clean restart of a crash
    try:
        ... process ...
        uids = repo.finish_run(run_id, events=..., counts=..., ...)   # one transaction
    except Exception as e:
        repo.fail_run(run_id, repr(e)); raise

The rest of the store is Session-taking functions, one module per aggregate, the caller owning
the transaction (`crossings_repo`, `events_repo`, `jobs_repo`, `runs_repo`, `stats_repo`,
`evidence_store`, `accounts`, `audit`); `Repository` is moving that way (crossings: it calls
`crossings_repo`; run reads: it calls `runs_repo`). The records it takes and returns, and its
errors, are in `run_records`.

Write transactions take the SQLite write lock at BEGIN (`BEGIN IMMEDIATE`, waits up to the 30 s
busy timeout) and lock the affected rows on PostgreSQL (`SELECT ... FOR UPDATE`), so several
processes can share one database. `Crossing` is only used for type checking and read through
its attributes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service import crossings_repo
from service.db import write_engine
from service.models import (
    CrossingVersionRow,
    EventRow,
    EvidenceFileRow,
    TrafficCountRow,
    VideoRunRow,
    utcnow,
)
from service.run_records import (
    _RECORD_FIELDS,
    CountRecord,
    CrossingVersionInfo,
    EventInfo,
    EventRecord,
    RunAlreadyDone,
    RunInfo,
    RunStateError,
    _run_info,
    _value,
)
from service.runs_repo import _run_key, count_events, find_run, get_run, run_counts, run_events

if TYPE_CHECKING:  # the service must not import the detector at run time
    from detector.config import Crossing

__all__ = ["Repository"]

_RETRIES = 3  # for races between processes inserting the same new row (unique key collisions)


class Repository:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(write_engine(engine), expire_on_commit=False)

    # -- crossings -----------------------------------------------------------------------------
    def upsert_crossing(self, crossing: Crossing, config_yaml: str) -> CrossingVersionInfo:
        """Register `crossing` in a write transaction of its own (`crossings_repo.register`: the
        same config reuses its version, any change makes version max+1), retried when another
        process inserted the same crossing or version first."""
        for attempt in range(_RETRIES):
            try:
                with self._write.begin() as s:
                    ver = crossings_repo.register(s, crossing, config_yaml).version
                    return CrossingVersionInfo(ver.crossing_id, ver.id, ver.version)
            except IntegrityError:  # another process inserted the same crossing/version first
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def find_crossing_version(self, crossing_id: str, geometry_hash: str) -> CrossingVersionInfo | None:
        """The stored version of exactly this config, without writing anything."""
        with self._read() as s:
            r = crossings_repo.version_with_hash(s, crossing_id, geometry_hash)
            return CrossingVersionInfo(r.crossing_id, r.id, r.version) if r is not None else None

    def crossing_versions(self, crossing_id: str) -> list[CrossingVersionInfo]:
        with self._read() as s:
            return [
                CrossingVersionInfo(r.crossing_id, r.id, r.version) for r in crossings_repo.versions(s, crossing_id)
            ]

    # -- runs ----------------------------------------------------------------------------------
    def find_run(self, video_sha256: str, crossing_version_id: int, settings_hash: str) -> RunInfo | None:
        with self._read() as s:
            return find_run(s, video_sha256, crossing_version_id, settings_hash)

    def get_run(self, run_id: int) -> RunInfo | None:
        with self._read() as s:
            return get_run(s, run_id)

    def start_run(
        self,
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
        Raises RunAlreadyDone when that run is `done`."""
        for attempt in range(_RETRIES):
            try:
                with self._write.begin() as s:
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
                    self._clear_run(s, run.id)
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
            except IntegrityError:  # another process created the same run first: restart that one
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _clear_run(s: Session, run_id: int) -> None:
        event_ids = select(EventRow.id).where(EventRow.run_id == run_id).scalar_subquery()
        s.execute(delete(EvidenceFileRow).where(EvidenceFileRow.event_id.in_(event_ids)))
        s.execute(delete(EventRow).where(EventRow.run_id == run_id))
        s.execute(delete(TrafficCountRow).where(TrafficCountRow.run_id == run_id))

    @staticmethod
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
        self,
        run_id: int,
        *,
        events: Sequence[EventRecord],
        counts: Sequence[CountRecord],
        duration_s: float | None,
        frames: int | None,
        elapsed_s: float | None,
        timings: dict[str, Any] | None,
    ) -> list[str]:
        """Store the run's events (+ evidence rows) and counts and mark it done, all in ONE
        transaction: on any error nothing of it is committed and the run stays `running`.
        Returns the new events' public uids, in the order of `events`."""
        with self._write.begin() as s:
            run = self._lock_running(s, run_id)
            ver = s.get_one(CrossingVersionRow, run.crossing_version_id)
            rows = [self._event_row(e, run, ver) for e in events]
            s.add_all(rows)
            s.flush()
            self._upsert_counts(s, run, ver, counts)
            run.status = "done"
            run.error = None
            run.finished_at = utcnow()
            run.duration_s = duration_s
            run.frames = frames
            run.elapsed_s = elapsed_s
            run.timings = timings
            return [r.uid for r in rows]

    def add_events(self, run_id: int, events: Sequence[EventRecord]) -> dict[str, str]:
        """Store events (+ evidence rows) of a running run now, in one transaction: a live stream
        never ends, so `crosswatch watch` writes each event as soon as it and its evidence are
        decided, instead of everything in `finish_run`. Idempotent per event key: a key the run
        already holds is skipped (a retried write after a lost connection adds nothing).
        Returns {event_key: uid} of the events added by this call."""
        keys = [e.event_key for e in events]
        if len(set(keys)) != len(keys):
            raise ValueError("add_events: two events have the same event_key")
        if not events:
            return {}
        with self._write.begin() as s:
            run = self._lock_running(s, run_id)
            ver = s.get_one(CrossingVersionRow, run.crossing_version_id)
            stored = set(
                s.scalars(select(EventRow.event_key).where(EventRow.run_id == run_id, EventRow.event_key.in_(keys)))
            )
            rows = [self._event_row(e, run, ver) for e in events if e.event_key not in stored]
            s.add_all(rows)
            s.flush()
            return {r.event_key: r.uid for r in rows}

    def add_counts(self, run_id: int, counts: Sequence[CountRecord]) -> None:
        """Add counts to a running run now (long streams); additive with later finish_run()."""
        with self._write.begin() as s:
            run = self._lock_running(s, run_id)
            self._upsert_counts(s, run, s.get_one(CrossingVersionRow, run.crossing_version_id), counts)

    def fail_run(self, run_id: int, error: str) -> None:
        """Mark a running (or failed) run failed; its events were never committed (finish_run is
        atomic). A later start_run() with the same key restarts it."""
        with self._write.begin() as s:
            run = s.get(VideoRunRow, run_id, with_for_update=True)
            if run is None:
                raise LookupError(f"run {run_id} does not exist")
            if run.status == "done":
                raise RunAlreadyDone(_run_info(run))
            run.status = "failed"
            run.error = error
            run.finished_at = utcnow()

    @staticmethod
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

    @staticmethod
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

    # -- reading -------------------------------------------------------------------------------
    def run_events(self, run_id: int) -> list[EventInfo]:
        """The run's events with their evidence, in video order."""
        with self._read() as s:
            return run_events(s, run_id)

    def run_counts(self, run_id: int) -> list[CountRecord]:
        with self._read() as s:
            return run_counts(s, run_id)

    def count_events(self, **filters: Any) -> int:
        """See the function `count_events`."""
        with self._read() as s:
            return count_events(s, **filters)
