"""The jobs worker: runs queued processing jobs, one video at a time, each in a worker process.

Every video is the same task `crosswatch batch` runs (`service.runs.tasks.execute_task`, that is
`process_video`), handed to the same executor (`service.runs.executors.LocalExecutor`, one
long-lived spawned child), and its item follows the same lifecycle (`service.runs.items`): the
child reports the video's length and progress through its pipe as typed messages; the worker
stores them, polls the job's `cancel_requested` flag (and kills the child when set) and records the
outcome of each video: done (run id, events), or failed with a one-line reason (a bad file, or the
child's crash: its exception or the signal that killed it; evidence a crashed attempt left is
removed). A decoder or model that crashes takes only the child down, never the service. The job
then ends done / partial / failed / cancelled.

`Worker` is the thread the service starts (`api/routes/jobs.py` registers it when
`settings.worker` is true); `run_once()` processes one job synchronously, for tests and scripts.
The database URL reaches the child through its pipe, never a command line.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import jobs_repo, paths
from .db import session_factory
from .runs.executors import Executor, LocalExecutor, Target
from .runs.items import ItemLifecycle
from .runs.request import DEFAULT_DETECT_FPS, DEFAULT_IMGSZ
from .runs.tasks import Confined, RunConfig, Task, TaskResult, execute_task, settings_hash
from .settings import Settings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000


def offline_child() -> None:
    """Init of a worker child: never download anything (models come from the manifest's files)."""
    os.environ["YOLO_OFFLINE"] = "1"


@dataclass(frozen=True)
class WorkerConfig:
    """How videos are processed (model options, as `crosswatch process` takes them), how often to
    look for a cancel, and the task and child init (a test may give its own, importable by name)."""

    model: str | None = None
    device: str = "auto"
    imgsz: int = DEFAULT_IMGSZ
    detect_fps: float = DEFAULT_DETECT_FPS
    poll_s: float = 0.5
    target: Target = execute_task
    init: Callable[[], None] | None = offline_child


@dataclass(frozen=True)
class _Context:
    engine: Engine
    db_url: str
    evidence_dir: Path
    config: WorkerConfig
    write: sessionmaker[Session]
    read: sessionmaker[Session]
    roots: tuple[Path, ...] = ()  # videos are opened only under these (service.paths)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    status: str  # done | failed | cancelled | interrupted (worker stopping)
    error: str | None = None
    run_id: int | None = None
    events: int | None = None


def _context(app_or_engine: Any, settings: Settings | None, config: WorkerConfig | None) -> _Context:
    state = getattr(app_or_engine, "state", None)
    if state is not None:  # a FastAPI app
        engine: Engine = state.engine
        settings = settings or state.settings
        evidence = Path(state.evidence_dir)
    else:
        engine = app_or_engine
        if settings is None:
            raise TypeError("run_once(engine) needs settings=")
        evidence = settings.resolved_evidence_dir().resolve()
    assert settings is not None
    return _Context(
        engine,
        settings.db_url,
        evidence,
        config or WorkerConfig(),
        session_factory(engine, write=True),
        session_factory(engine),
        paths.allowed_roots(settings.ingest_root, settings.resolved_upload_dir()),
    )


def run_once(
    app_or_engine: Any,
    settings: Settings | None = None,
    *,
    config: WorkerConfig | None = None,
    stop: threading.Event | None = None,
) -> str | None:
    """Claim the oldest queued job and run it to the end; its uid, or None when none was queued.

    `stop` (set by `Worker.stop`) interrupts: the running video is killed and goes back to the
    queue with its job."""
    ctx = _context(app_or_engine, settings, config)
    job = jobs_repo.claim_next(ctx.write)
    if job is None:
        return None
    try:
        _run_job(ctx, job, stop or threading.Event())
    except Exception as e:  # a bug or a lost database: the job must not stay `running` for ever
        log.exception("job %s failed", job.uid)
        jobs_repo.finish_job(ctx.write, job.id, error=f"worker error: {e!r}"[:MAX_ERROR_CHARS])
    return job.uid


def _run_job(ctx: _Context, job: jobs_repo.ClaimedJob, stop: threading.Event) -> None:
    if job.config_yaml is None:
        for item in job.items:
            jobs_repo.finish_item(
                ctx.write, item.id, status="failed", error=f"crossing {job.crossing_id} has no config"
            )
        jobs_repo.finish_job(ctx.write, job.id)
        return
    c = ctx.config
    run_config = RunConfig(
        db_url=ctx.db_url,
        evidence_root=str(ctx.evidence_dir),
        model=c.model,
        device=c.device,
        imgsz=c.imgsz,
        detect_fps=c.detect_fps,
    )
    key = settings_hash(run_config)
    items = ItemLifecycle(ctx.write, ctx.read, db_url=ctx.db_url, evidence_root=ctx.evidence_dir, settings_hash=key)
    # the video is opened under the allowed roots at the moment the child uses it (service.paths),
    # not only checked when the job was submitted
    executor = LocalExecutor(Confined(c.target, tuple(str(r) for r in ctx.roots)), 1, init=c.init)
    try:
        with tempfile.TemporaryDirectory(prefix="crosswatch-job-") as tmp:
            cfg = Path(tmp) / f"{job.crossing_id}.crossing.yaml"
            cfg.write_text(job.config_yaml, encoding="utf-8")
            for item in job.items:
                if items.cancel_requested(job.id):
                    break
                if not items.start(item.id):
                    continue  # cancelled meanwhile
                # The job's start time is the wall clock of its first video only: later videos' starts are unknown.
                start = job.start_time if item.id == job.first_item_id else None
                task = Task(
                    item.path, str(cfg), job.crossing_id, None, key, start.isoformat() if start else None, run_config
                )
                out = _run_item(ctx, items, executor, job.id, item.id, task, stop)
                if out.status == "interrupted":
                    jobs_repo.requeue_item(ctx.write, job.id, item.id)
                    return
                items.finish(item.id, out.status, error=out.error, run_id=out.run_id, events=out.events)
                if stop.is_set():
                    jobs_repo.requeue_job(ctx.write, job.id)
                    return
    finally:
        executor.shutdown()
    jobs_repo.finish_job(ctx.write, job.id)


def _run_item(
    ctx: _Context,
    items: ItemLifecycle,
    executor: Executor,
    job_id: int,
    item_id: int,
    task: Task,
    stop: threading.Event,
) -> ItemOutcome:
    """Dispatch one video and follow its messages until it ends; kill it on cancel or stop."""
    key = f"item-{item_id}"
    sha: str | None = None
    try:
        executor.submit(key, task)
    except OSError as e:
        return ItemOutcome("failed", f"cannot start the processing child: {e}")
    while True:
        for msg in executor.poll(ctx.config.poll_s):
            if msg.kind == "started":
                sha = (msg.value or {}).get("sha256")
            elif msg.kind == "progress":
                items.progress(item_id, float(msg.value))
            elif msg.kind in ("result", "crashed"):
                settled = items.settle(msg, Path(task.path).name, task.crossing_file, sha)
                res: TaskResult | None = settled.result
                error = settled.error[:MAX_ERROR_CHARS] if settled.error else None
                return ItemOutcome(settled.status, error, res.run_id if res else None, res.events if res else None)
        if stop.is_set():
            executor.cancel(key)
            items.clean_after_crash(task.crossing_file, sha)
            return ItemOutcome("interrupted")
        if items.cancel_requested(job_id):
            executor.cancel(key)
            items.clean_after_crash(task.crossing_file, sha)
            return ItemOutcome("cancelled", "cancelled while processing")


class Worker:
    """The service's worker thread: requeues work a killed service left running, then runs jobs
    oldest first; `wake()` (after a submit) starts the next job without waiting for the poll."""

    def __init__(self, app: Any, *, config: WorkerConfig | None = None, idle_s: float = 2.0):
        self.app = app
        self.config = config or WorkerConfig()
        self.idle_s = idle_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        n = jobs_repo.requeue_interrupted(session_factory(self.app.state.engine, write=True))
        if n:
            log.info("jobs worker: %d interrupted video(s) queued again", n)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="crosswatch-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the running video is killed (within `poll_s`) and requeued."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_once(self.app, config=self.config, stop=self._stop)
            except Exception:  # the database may be briefly unreachable: try again later
                log.exception("jobs worker: claiming a job failed")
                ran = None
            if ran is None:
                self._wake.wait(self.idle_s)
                self._wake.clear()
