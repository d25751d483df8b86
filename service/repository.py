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

The store itself is Session-taking functions, one module per aggregate, the caller owning the
transaction (`crossings_repo`, `events_repo`, `jobs_repo`, `runs_repo`, `stats_repo`,
`evidence_store`, `accounts`, `audit`). `Repository` is the thin owner of the pipeline's
transactions over them: each method opens one (a write transaction for writes), calls
`crossings_repo` or `runs_repo`, and retries the inserts that can race with another process.
The records it takes and returns, and its errors, are in `run_records`.

Write transactions take the SQLite write lock at BEGIN (`BEGIN IMMEDIATE`, waits up to the 30 s
busy timeout) and lock the affected rows on PostgreSQL (`SELECT ... FOR UPDATE`), so several
processes can share one database. `Crossing` is only used for type checking and read through
its attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from service import crossings_repo, runs_repo
from service.db import write_engine
from service.run_records import CountRecord, CrossingVersionInfo, EventInfo, EventRecord, RunInfo

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
            return runs_repo.find_run(s, video_sha256, crossing_version_id, settings_hash)

    def get_run(self, run_id: int) -> RunInfo | None:
        with self._read() as s:
            return runs_repo.get_run(s, run_id)

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
        """`runs_repo.start_run` in a write transaction of its own: a new `running` run, or the clean
        restart of an unfinished one with the same key; RunAlreadyDone when that run is `done`.
        Retried when another process created the same run first (then that one is restarted)."""
        for attempt in range(_RETRIES):
            try:
                with self._write.begin() as s:
                    return runs_repo.start_run(
                        s,
                        video_path=video_path,
                        video_sha256=video_sha256,
                        crossing_version_id=crossing_version_id,
                        model=model,
                        settings=settings,
                        settings_hash=settings_hash,
                        start_time=start_time,
                    )
            except IntegrityError:  # another process created the same run first: restart that one
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

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
            return runs_repo.finish_run(
                s,
                run_id,
                events=events,
                counts=counts,
                duration_s=duration_s,
                frames=frames,
                elapsed_s=elapsed_s,
                timings=timings,
            )

    def add_events(self, run_id: int, events: Sequence[EventRecord]) -> dict[str, str]:
        """`runs_repo.add_events` (a live stream's events, idempotent per event key) in one write
        transaction; none for no events. Returns {event_key: uid} of the events added by this call."""
        runs_repo.check_event_keys(events)
        if not events:
            return {}
        with self._write.begin() as s:
            return runs_repo.add_events(s, run_id, events)

    def add_counts(self, run_id: int, counts: Sequence[CountRecord]) -> None:
        """Add counts to a running run now (long streams); additive with later finish_run()."""
        with self._write.begin() as s:
            runs_repo.add_counts(s, run_id, counts)

    def fail_run(self, run_id: int, error: str) -> None:
        """Mark a running (or failed) run failed; its events were never committed (finish_run is
        atomic). A later start_run() with the same key restarts it."""
        with self._write.begin() as s:
            runs_repo.fail_run(s, run_id, error)

    # -- reading -------------------------------------------------------------------------------
    def run_events(self, run_id: int) -> list[EventInfo]:
        """The run's events with their evidence, in video order."""
        with self._read() as s:
            return runs_repo.run_events(s, run_id)

    def run_counts(self, run_id: int) -> list[CountRecord]:
        with self._read() as s:
            return runs_repo.run_counts(s, run_id)

    def count_events(self, **filters: Any) -> int:
        """See the function `runs_repo.count_events`."""
        with self._read() as s:
            return runs_repo.count_events(s, **filters)
