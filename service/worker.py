"""The jobs worker: runs queued processing jobs, one video at a time, each in a child process.

Each video runs as `python -m detector.cli process VIDEO --crossing <tmp yaml> --evidence-dir
<dir> --json --progress` so a crashing decoder or model cannot take the service down. The child
reports progress as JSON lines on stderr; the worker stores it, polls the job's
`cancel_requested` flag (and kills the child when set) and records the outcome of each video: done
(run id, events), or failed with the child's one-line error. The job then ends done / partial /
failed / cancelled.

`Worker` is the thread the service starts (`routers/jobs.py` registers it when
`settings.worker` is true); `run_once()` processes one job synchronously, for tests and scripts.
The database URL reaches the child through `CROSSWATCH_DB_URL` (the CLI's default for `--db`)
rather than its command line, where a password would be visible to every local user in `ps`.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import jobs_repo, paths
from .db import session_factory
from .settings import Settings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ERROR_PREFIX = "crosswatch: error: "
PROGRESS_WRITE_S = 1.0  # store an item's progress at most this often
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class WorkerConfig:
    """How to run children: the interpreter, extra `process` options (e.g. `--device cpu`), how
    often to look for a cancel."""

    python: str = sys.executable
    extra_args: tuple[str, ...] = ()
    poll_s: float = 0.5
    env: dict[str, str] = field(default_factory=dict)


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
    return _Context(engine, settings.db_url, evidence, config or WorkerConfig(),
                    session_factory(engine, write=True), session_factory(engine),
                    paths.allowed_roots(settings.ingest_root, settings.resolved_upload_dir()))


def run_once(app_or_engine: Any, settings: Settings | None = None, *, config: WorkerConfig | None = None,
             stop: threading.Event | None = None, on_child: Any = None) -> str | None:
    """Claim the oldest queued job and run it to the end; its uid, or None when none was queued.

    `stop` (set by `Worker.stop`) interrupts: the running video is killed and goes back to the
    queue with its job. `on_child(proc | None)` is told the running child (the Worker kills it)."""
    ctx = _context(app_or_engine, settings, config)
    job = jobs_repo.claim_next(ctx.write)
    if job is None:
        return None
    try:
        _run_job(ctx, job, stop or threading.Event(), on_child)
    except Exception as e:  # a bug or a lost database: the job must not stay `running` for ever
        log.exception("job %s failed", job.uid)
        jobs_repo.finish_job(ctx.write, job.id, error=f"worker error: {e!r}"[:MAX_ERROR_CHARS])
    return job.uid


def _run_job(ctx: _Context, job: jobs_repo.ClaimedJob, stop: threading.Event, on_child: Any) -> None:
    if job.config_yaml is None:
        for item in job.items:
            jobs_repo.finish_item(ctx.write, item.id, status="failed", error=f"crossing {job.crossing_id} has no config")
        jobs_repo.finish_job(ctx.write, job.id)
        return
    with tempfile.TemporaryDirectory(prefix="crosswatch-job-") as tmp:
        cfg = Path(tmp) / f"{job.crossing_id}.crossing.yaml"
        cfg.write_text(job.config_yaml, encoding="utf-8")
        for item in job.items:
            if jobs_repo.cancel_requested(ctx.read, job.id):
                break
            if not jobs_repo.start_item(ctx.write, item.id):
                continue  # cancelled meanwhile
            # The job's start time is the wall clock of its first video only: later videos' starts are unknown.
            start = job.start_time if item.id == job.first_item_id else None
            out = _run_item(ctx, job.id, item, cfg, start, stop, on_child)
            if out.status == "interrupted":
                jobs_repo.requeue_item(ctx.write, job.id, item.id)
                return
            jobs_repo.finish_item(ctx.write, item.id, status=out.status, error=out.error, run_id=out.run_id,
                                  events=out.events)
            if stop.is_set():
                jobs_repo.requeue_job(ctx.write, job.id)
                return
    jobs_repo.finish_job(ctx.write, job.id)


def child_command(ctx_python: str, video: str, crossing_file: Path, evidence_dir: Path, start_time,
                  extra_args: Sequence[str]) -> list[str]:
    cmd = [ctx_python, "-m", "detector.cli", "process", video, "--crossing", str(crossing_file),
           "--evidence-dir", str(evidence_dir), "--json", "--progress", *extra_args]
    if start_time is not None:
        cmd += ["--start-time", start_time.isoformat()]
    return cmd


def _run_item(ctx: _Context, job_id: int, item: jobs_repo.ClaimedItem, crossing_file: Path, start_time,
              stop: threading.Event, on_child: Any) -> ItemOutcome:
    try:  # checked at open time, not only at submission; the child reads the descriptor opened here
        fd = paths.open_video(item.path, ctx.roots)
    except paths.PathRefused as e:
        return ItemOutcome("failed", str(e))
    try:
        return _run_child(ctx, job_id, item, fd, crossing_file, start_time, stop, on_child)
    finally:
        os.close(fd)


def _run_child(ctx: _Context, job_id: int, item: jobs_repo.ClaimedItem, fd: int, crossing_file: Path, start_time,
               stop: threading.Event, on_child: Any) -> ItemOutcome:
    # the child opens <job tmp>/item-N/<video name> -> /dev/fd/<fd>: the descriptor checked above,
    # under the video's own name (its messages name the file as before)
    video = paths.fd_link(fd, crossing_file.parent / f"item-{item.id}", Path(item.path).name)
    cmd = child_command(ctx.config.python, str(video), crossing_file, ctx.evidence_dir, start_time,
                        ctx.config.extra_args)
    env = {**os.environ, "CROSSWATCH_DB_URL": ctx.db_url, "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           **ctx.config.env}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, encoding="utf-8", errors="replace", cwd=PROJECT_ROOT, env=env,
                                start_new_session=True, pass_fds=(fd,))
    except OSError as e:
        return ItemOutcome("failed", f"cannot start the processing child: {e}")
    if on_child:
        on_child(proc)
    try:
        return _supervise(ctx, job_id, item, proc, stop)
    finally:
        if on_child:
            on_child(None)
        if proc.poll() is None:
            kill(proc)
        proc.wait()


def _supervise(ctx: _Context, job_id: int, item: jobs_repo.ClaimedItem, proc: subprocess.Popen,
               stop: threading.Event) -> ItemOutcome:
    """Read progress from the child's stderr until it exits; kill it on cancel or stop."""
    lines: queue.Queue[str | None] = queue.Queue()
    stdout: list[str] = []
    tail: deque[str] = deque(maxlen=50)  # the child's last non-progress stderr lines

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    def pump_out() -> None:
        assert proc.stdout is not None
        stdout.append(proc.stdout.read())

    readers = [threading.Thread(target=pump_err, daemon=True), threading.Thread(target=pump_out, daemon=True)]
    for t in readers:
        t.start()
    last_write, last_poll, shown = 0.0, time.monotonic(), 0.0
    while True:
        try:
            line = lines.get(timeout=ctx.config.poll_s)
        except queue.Empty:
            line = ""
        if line is None:
            break
        value = _progress_value(line) if line else None
        if value is not None:
            now = time.monotonic()
            if now - last_write >= PROGRESS_WRITE_S and value > shown:
                jobs_repo.set_progress(ctx.write, item.id, value)
                last_write, shown = now, value
        elif line.strip():
            tail.append(line.rstrip())
        if time.monotonic() - last_poll >= ctx.config.poll_s or not line:
            last_poll = time.monotonic()
            if stop.is_set():
                kill(proc)
                return ItemOutcome("interrupted")
            if jobs_repo.cancel_requested(ctx.read, job_id):
                kill(proc)
                return ItemOutcome("cancelled", "cancelled while processing")
    for t in readers:
        t.join(timeout=30)
    rc = proc.wait()
    if rc == 0:
        try:
            out = json.loads("".join(stdout))
            return ItemOutcome("done", run_id=int(out["run_id"]), events=len(out["events"]))
        except (ValueError, KeyError, TypeError) as e:
            return ItemOutcome("failed", f"unreadable result from the processing child: {e}")
    return ItemOutcome("failed", child_error(rc, list(tail)))


def _progress_value(line: str) -> float | None:
    if not line.startswith('{"progress"'):
        return None
    try:
        return float(json.loads(line)["progress"])
    except (ValueError, KeyError, TypeError):
        return None


def child_error(rc: int, stderr_lines: Sequence[str]) -> str:
    """The child's one-line error: its `crosswatch: error:` line, else the last line it printed
    (a Python exception's last traceback line), else how it ended."""
    err = next((ln[len(ERROR_PREFIX):] for ln in reversed(stderr_lines) if ln.startswith(ERROR_PREFIX)), None)
    if err is None and rc < 0:
        err = f"processing child killed by signal {signal.Signals(-rc).name}"
    if err is None:
        err = stderr_lines[-1] if stderr_lines else f"processing child exited with status {rc}"
    return err.strip()[:MAX_ERROR_CHARS]


def kill(proc: subprocess.Popen) -> None:
    """Kill the child and anything it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


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
        self._child: subprocess.Popen | None = None

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
        self._stop.set()
        self._wake.set()
        child = self._child
        if child is not None and child.poll() is None:
            kill(child)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _set_child(self, proc: subprocess.Popen | None) -> None:
        self._child = proc

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_once(self.app, config=self.config, stop=self._stop, on_child=self._set_child)
            except Exception:  # the database may be briefly unreachable: try again later
                log.exception("jobs worker: claiming a job failed")
                ran = None
            if ran is None:
                self._wake.wait(self.idle_s)
                self._wake.clear()
