"""SQL for processing jobs: submit, list, read, cancel (API) and claim / progress / finish
(worker).

A job is claimed with a conditional UPDATE (`... WHERE id = :id AND status = 'queued'`): when two
workers race for the same job exactly one UPDATE changes a row, the other sees rowcount 0 and
looks again. Worker functions take a `sessionmaker` and commit each step on its own, so the API
sees progress while a video is being processed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Update, func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .models import CrossingRow, CrossingVersionRow, JobItemRow, JobRow, utcnow

FINAL_JOB_STATUSES = ("done", "failed", "partial", "cancelled")


@dataclass(frozen=True, slots=True)
class ClaimedItem:
    id: int
    path: str


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """What the worker needs to run a job: its items still queued and the crossing config."""

    id: int
    uid: str
    crossing_id: str
    config_yaml: str | None
    start_time: datetime | None
    settings: dict[str, Any]
    items: tuple[ClaimedItem, ...]
    first_item_id: int | None


# -- API ---------------------------------------------------------------------------------------
def _changed(s: Session, statement: Update) -> int:
    """Run an UPDATE; the number of rows it changed."""
    result = s.execute(statement)
    assert isinstance(result, CursorResult)  # an UPDATE's result is a cursor result
    return result.rowcount


def create_job(
    s: Session,
    *,
    crossing_id: str,
    paths: Sequence[str],
    created_by: str,
    start_time: datetime | None = None,
    settings: dict[str, Any] | None = None,
) -> JobRow:
    job = JobRow(
        uid=uuid.uuid4().hex,
        crossing_id=crossing_id,
        status="queued",
        settings=settings or {},
        start_time=start_time,
        created_by=created_by,
        items=[JobItemRow(path=p, status="queued", progress=0.0) for p in paths],
    )
    s.add(job)
    s.flush()
    return job


def list_jobs(
    s: Session, scope: ColumnElement[bool], *, status: str | None, crossing_id: str | None, limit: int, offset: int
) -> tuple[list[JobRow], int]:
    """Newest first, with their items loaded (for progress and per-status counts)."""
    where = [scope]
    if status is not None:
        where.append(JobRow.status == status)
    if crossing_id is not None:
        where.append(JobRow.crossing_id == crossing_id)
    total = s.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0
    rows = s.scalars(
        select(JobRow)
        .where(*where)
        .options(selectinload(JobRow.items))
        .order_by(JobRow.created_at.desc(), JobRow.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def get_job(s: Session, uid: str, *, for_update: bool = False) -> JobRow | None:
    q = select(JobRow).where(JobRow.uid == uid).options(selectinload(JobRow.items))
    if for_update:
        q = q.with_for_update()
    return s.scalar(q)


def request_cancel(s: Session, job: JobRow) -> None:
    """Queued items are cancelled now; a running item is stopped by the worker (it polls
    `cancel_requested` and kills the child process). A job nobody runs yet is cancelled at once."""
    now = utcnow()
    job.cancel_requested = True
    for item in job.items:
        if item.status == "queued":
            item.status, item.finished_at = "cancelled", now
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", now
    s.flush()


def progress(job: JobRow) -> float:
    """Mean of the items' progress (finished items count as 1: failed and cancelled ones too)."""
    if not job.items:
        return 0.0
    return sum(1.0 if i.status in ("done", "failed", "cancelled") else i.progress for i in job.items) / len(job.items)


def item_counts(job: JobRow) -> dict[str, int]:
    return dict(Counter(i.status for i in job.items))


def crossing_exists(s: Session, crossing_id: str) -> bool:
    return s.get(CrossingRow, crossing_id) is not None


# -- worker ------------------------------------------------------------------------------------
BATCH_CREATOR = "batch"  # `created_by` of the jobs that `crosswatch batch` records


def requeue_interrupted(sm: sessionmaker[Session]) -> int:
    """Items (and jobs) left `running` by a service that was killed go back to `queued`: the
    pipeline's database writes are all-or-nothing and idempotent, so running them again is safe.
    Jobs of `crosswatch batch` are left alone: their runner resumes them (re-run the command)."""
    service_jobs = select(JobRow.id).where(JobRow.created_by != BATCH_CREATOR)
    with sm.begin() as s:
        n = _changed(
            s,
            update(JobItemRow)
            .where(JobItemRow.status == "running", JobItemRow.job_id.in_(service_jobs))
            .values(status="queued", progress=0.0, started_at=None),
        )
        s.execute(
            update(JobRow).where(JobRow.status == "running", JobRow.created_by != BATCH_CREATOR).values(status="queued")
        )
    return int(n or 0)


def claim_next(sm: sessionmaker[Session]) -> ClaimedJob | None:
    """Claim the oldest queued job for this worker (None when there is none)."""
    for _ in range(20):  # another worker may win each candidate; a few rounds at most in practice
        with sm.begin() as s:
            job_id = s.scalar(
                select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.created_at, JobRow.id).limit(1)
            )
            if job_id is None:
                return None
            won = _changed(
                s,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "queued")
                .values(status="running", started_at=utcnow()),
            )
            if won != 1:
                continue
            job = s.get_one(JobRow, job_id)
            cfg = s.scalar(
                select(CrossingVersionRow.config_yaml)
                .join(CrossingRow, CrossingRow.current_version_id == CrossingVersionRow.id)
                .where(CrossingRow.id == job.crossing_id)
            )
            items = s.execute(
                select(JobItemRow.id, JobItemRow.path).where(JobItemRow.job_id == job_id).order_by(JobItemRow.id)
            ).all()
            queued = s.execute(
                select(JobItemRow.id, JobItemRow.path)
                .where(JobItemRow.job_id == job_id, JobItemRow.status == "queued")
                .order_by(JobItemRow.id)
            ).all()
            return ClaimedJob(
                job.id,
                job.uid,
                job.crossing_id,
                cfg,
                job.start_time,
                dict(job.settings or {}),
                tuple(ClaimedItem(i, p) for i, p in queued),
                items[0][0] if items else None,
            )
    return None


def cancel_requested(sm: sessionmaker[Session], job_id: int) -> bool:
    with sm() as s:
        return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))


def start_item(sm: sessionmaker[Session], item_id: int) -> bool:
    """queued -> running; False when the item is no longer queued (cancelled meanwhile)."""
    with sm.begin() as s:
        return (
            _changed(
                s,
                update(JobItemRow)
                .where(JobItemRow.id == item_id, JobItemRow.status == "queued")
                .values(status="running", progress=0.0, started_at=utcnow(), error=None),
            )
            == 1
        )


def set_progress(sm: sessionmaker[Session], item_id: int, value: float) -> None:
    with sm.begin() as s:
        s.execute(
            update(JobItemRow)
            .where(JobItemRow.id == item_id, JobItemRow.status == "running")
            .values(progress=min(max(float(value), 0.0), 1.0))
        )


def finish_item(
    sm: sessionmaker[Session],
    item_id: int,
    *,
    status: str,
    error: str | None = None,
    run_id: int | None = None,
    events: int | None = None,
) -> None:
    values: dict[str, Any] = dict(status=status, error=error, finished_at=utcnow())
    if status == "done":
        values.update(progress=1.0, run_id=run_id, events=events)
    with sm.begin() as s:
        s.execute(update(JobItemRow).where(JobItemRow.id == item_id).values(**values))


def requeue_item(sm: sessionmaker[Session], job_id: int, item_id: int) -> None:
    """The worker is stopping mid-video: the item and job wait for the next start."""
    with sm.begin() as s:
        s.execute(
            update(JobItemRow).where(JobItemRow.id == item_id).values(status="queued", progress=0.0, started_at=None)
        )
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running").values(status="queued"))


def requeue_job(sm: sessionmaker[Session], job_id: int) -> None:
    """The worker stopped between two videos: the job's remaining items wait for the next start."""
    with sm.begin() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running").values(status="queued"))


def finish_job(sm: sessionmaker[Session], job_id: int, *, error: str | None = None) -> str:
    """Final status from the items: cancelled (cancel requested), done (all done), failed (none
    done), partial (some failed). Items still queued (cancel) are cancelled."""
    with sm.begin() as s:
        job = s.get_one(JobRow, job_id, with_for_update=True)
        items = s.scalars(select(JobItemRow).where(JobItemRow.job_id == job_id)).all()
        now = utcnow()
        if job.cancel_requested:
            for i in items:
                if i.status in ("queued", "running"):
                    i.status, i.finished_at = "cancelled", now
            status = "cancelled"
        else:
            done = sum(i.status == "done" for i in items)
            status = "done" if done == len(items) else "failed" if done == 0 else "partial"
        job.status, job.finished_at = status, now
        if error is not None:
            job.error = error
        return status


# -- batch runner (`crosswatch batch`) -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BatchJob:
    """A `crosswatch batch` job as the runner sees it: item ids by path, and the paths whose
    item was already done before this run (re-checked against the runs table, not trusted)."""

    id: int
    uid: str
    items: dict[str, int]
    done_before: frozenset[str]
    settings: dict[str, Any]


def open_batch_job(
    sm: sessionmaker[Session],
    *,
    crossing_id: str,
    key: str,
    paths: Sequence[str],
    settings: dict[str, Any],
    created_by: str = BATCH_CREATOR,
    start_time: datetime | None = None,
) -> BatchJob:
    """The job recording one crossing's share of a batch, created `running` — never `queued`, so
    the service's worker does not claim it. Running the same batch again (same `key`: inputs,
    crossing config, settings) reopens that job instead of adding another: it is running again,
    its unfinished items are queued again, new paths get items, and unfinished items whose file
    is no longer among the inputs are failed with that reason. Done items stay done."""
    with sm.begin() as s:
        found = s.execute(
            select(JobRow.id, JobRow.settings)
            .where(JobRow.crossing_id == crossing_id, JobRow.created_by == created_by)
            .order_by(JobRow.id.desc())
        ).all()
        job_id = next((i for i, st in found if (st or {}).get("batch_key") == key), None)
        now = utcnow()
        if job_id is None:
            job = create_job(
                s,
                crossing_id=crossing_id,
                paths=paths,
                created_by=created_by,
                start_time=start_time,
                settings={**settings, "batch_key": key},
            )
            job.status, job.started_at = "running", now
            s.flush()
            return BatchJob(job.id, job.uid, {i.path: i.id for i in job.items}, frozenset(), dict(job.settings))
        job = s.get_one(JobRow, job_id, with_for_update=True)
        job.status, job.started_at, job.finished_at = "running", now, None
        job.cancel_requested, job.error, job.start_time = False, None, start_time
        job.settings = {**(job.settings or {}), **settings, "batch_key": key}
        wanted = set(paths)
        items = s.scalars(select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.id)).all()
        have = {i.path for i in items}
        done: set[str] = set()
        for item in items:
            if item.status == "done":
                done.add(item.path)
            elif item.path in wanted:
                item.status, item.progress, item.error, item.run_id, item.events = "queued", 0.0, None, None, None
                item.started_at = item.finished_at = None
            else:
                item.status, item.error, item.finished_at = "failed", "no longer among the batch's inputs", now
        s.add_all(JobItemRow(job_id=job_id, path=p, status="queued", progress=0.0) for p in paths if p not in have)
        s.flush()
        ids = dict(s.execute(select(JobItemRow.path, JobItemRow.id).where(JobItemRow.job_id == job_id)).tuples().all())
        return BatchJob(job.id, job.uid, ids, frozenset(done & wanted), dict(job.settings))


def update_job_settings(sm: sessionmaker[Session], job_id: int, updates: dict[str, Any]) -> None:
    """Merge `updates` into the job's `settings` (the batch keeps its SHA-256 cache there)."""
    with sm.begin() as s:
        job = s.get_one(JobRow, job_id, with_for_update=True)
        job.settings = {**(job.settings or {}), **updates}


def requeue_items(sm: sessionmaker[Session], item_ids: Sequence[int]) -> None:
    """Items (done earlier, but their run is gone) go back to `queued` to be processed again."""
    if not item_ids:
        return
    with sm.begin() as s:
        s.execute(
            update(JobItemRow)
            .where(JobItemRow.id.in_(list(item_ids)))
            .values(
                status="queued", progress=0.0, error=None, run_id=None, events=None, started_at=None, finished_at=None
            )
        )


def interrupt_job(sm: sessionmaker[Session], job_id: int, message: str) -> None:
    """The batch runner was stopped (Ctrl-C, SIGTERM): its unfinished items and the job are
    `cancelled` with `message` (re-running the batch reopens them)."""
    now = utcnow()
    with sm.begin() as s:
        s.execute(
            update(JobItemRow)
            .where(JobItemRow.job_id == job_id, JobItemRow.status.in_(("queued", "running")))
            .values(status="cancelled", error=message, finished_at=now)
        )
        s.execute(update(JobRow).where(JobRow.id == job_id).values(status="cancelled", error=message, finished_at=now))
