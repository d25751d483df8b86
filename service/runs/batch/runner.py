"""`BatchRunner`: hashes every video, skips what is already done, dispatches the rest to an
executor and records every outcome in the batch's job records (one job per crossing,
`created_by` "batch"). Item by item it follows the lifecycle shared with the service's jobs
worker (`service.runs.items`); the task is `service.runs.tasks.execute_task`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from detector.config import Crossing
from detector.video import file_sha256
from service import jobs_repo
from service.db import make_engine, session_factory, upgrade
from service.repository import Repository

from ..crossings import register_crossing
from ..executors import Executor, LocalExecutor, Message, RayExecutor
from ..items import ItemLifecycle
from ..tasks import RunConfig, Task, TaskResult, execute_task, settings_hash
from .display import Display, FileState, LogDisplay, Tally, TerminalDisplay
from .inputs import BatchError, CrossingMap, TimePattern, expand_inputs, load_crossings

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_PARTIAL, EXIT_EVIDENCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

CANCEL_POLL_S = 1.0  # how often the runner looks for a cancel requested through the jobs API
CACHE_FLUSH_S = 30.0  # how often new SHA-256 values are saved in the job record
HASH_THREADS = 2


# -- the job records ---------------------------------------------------------------------------------
@dataclass
class JobHandle:
    crossing_id: str
    job: Any  # jobs_repo.BatchJob
    sha_cache: dict[str, list]  # path -> [size, mtime_ns, sha256]
    dirty: bool = False


def batch_key(inputs: Sequence[Path], crossing: Crossing, settings_hash_: str) -> str:
    """Identity of "this batch" for reopening its job: the inputs as given, the crossing config
    and the settings."""
    blob = json.dumps(
        {
            "inputs": sorted(str(p) for p in inputs),
            "crossing": crossing.id,
            "geometry": crossing.geometry_hash(),
            "settings": settings_hash_,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def file_sha(path: Path, cached: list | None) -> list:
    """[size, mtime_ns, sha256] of the file: `cached` itself while size and mtime are unchanged,
    else read (runs in a hashing thread; the runner keeps the cache)."""
    st = path.stat()
    if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
        return cached
    if not path.is_file():
        raise IsADirectoryError(f"{path}: not a regular file")
    return [st.st_size, st.st_mtime_ns, file_sha256(path)]


def _hash_error(path: Path, e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(e, PermissionError):
        return f"{path}: unreadable (permission denied)"
    if isinstance(e, IsADirectoryError):
        return f"{path}: not a regular file"
    return f"{path}: cannot read: {e.strerror or e}"


# -- the runner --------------------------------------------------------------------------------------
@dataclass
class BatchPlan:
    inputs: list[Path]
    files: list[FileState]
    crossings: dict[str, tuple[Path, Crossing]]
    config: RunConfig
    unmatched_note: str | None = None  # "N files matched no crossing of MAP"


class Interrupted(Exception):
    """SIGTERM during a batch (handled like Ctrl-C)."""


class BatchRunner:
    """Hashes, skips what is done, dispatches the rest to the executor, records every outcome."""

    def __init__(
        self,
        plan: BatchPlan,
        executor: Executor,
        display_stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        poll_s: float = 0.2,
    ):
        self.plan = plan
        self.executor = executor
        self.poll_s = poll_s
        self.engine = make_engine(plan.config.db_url)
        upgrade(self.engine)
        self.repo = Repository(self.engine)
        self.write = session_factory(self.engine, write=True)
        self.read = session_factory(self.engine)
        self.settings_hash = settings_hash(plan.config)
        self.items = ItemLifecycle(
            self.write,
            self.read,
            db_url=plan.config.db_url,
            evidence_root=Path(plan.config.evidence_root),
            settings_hash=self.settings_hash,
        )
        self.files = plan.files
        self.tally = Tally(total=len(self.files))
        stream = display_stream or sys.stderr
        use_tty = stream.isatty() if tty is None else tty
        self.display: Display = (
            TerminalDisplay(self.files, self.tally, stream, executor.capacity)
            if use_tty
            else LogDisplay(self.files, self.tally, stream)
        )
        self.versions: dict[str, int] = {}
        self.jobs: dict[str, JobHandle] = {}
        self._inflight: dict[str, FileState] = {}  # executor key (path) -> file
        self._busy_keys: set[tuple[str, str]] = set()  # (sha256, crossing) being processed

    # ---- setup
    def _open_jobs(self) -> None:
        for cid, (cfile, crossing) in self.plan.crossings.items():
            self.versions[cid] = register_crossing(self.repo, crossing, cfile).version_id
            paths = [str(f.path) for f in self.files if f.crossing_id == cid]
            common = {f.start_time for f in self.files if f.crossing_id == cid}
            job = jobs_repo.open_batch_job(
                self.write,
                crossing_id=cid,
                key=batch_key(self.plan.inputs, crossing, self.settings_hash),
                paths=paths,
                start_time=common.pop() if len(common) == 1 else None,
                settings={
                    "source": "batch",
                    "crossing_file": str(cfile),
                    "inputs": [str(p) for p in self.plan.inputs][:50],
                    "settings_hash": self.settings_hash,
                    "executor": type(self.executor).__name__,
                },
            )
            self.jobs[cid] = JobHandle(cid, job, dict(job.settings.get("sha256") or {}))
            for f in self.files:
                if f.crossing_id == cid:
                    f.job_id, f.item_id = job.id, job.items[str(f.path)]

    # ---- outcomes
    def _finish(
        self,
        f: FileState,
        status: str,
        *,
        error: str | None = None,
        result: TaskResult | None = None,
        note: str | None = None,
    ) -> None:
        f.status, f.error = status, error
        if result is not None:
            f.run_id, f.events, f.reused = result.run_id, result.events, result.reused
            f.duration_s = result.duration_s if result.duration_s is not None else f.duration_s
            f.wall_s = result.wall_s
            if status == "done" and not result.reused:
                self.tally.processed_s += result.duration_s or 0.0
        self.tally.finished += 1
        self.tally.failed += status == "failed"
        if f.item_id is not None:
            self.items.finish(f.item_id, status, error=error, run_id=f.run_id, events=f.events)
        self.display.finished(f, note)

    def _finish_reused(self, f: FileState, run: Any) -> None:
        self._finish(
            f,
            "done",
            result=TaskResult(
                "done",
                run_id=run.id,
                events=self.repo.count_events(run_id=run.id),
                reused=True,
                duration_s=run.duration_s,
            ),
        )

    # ---- the loop
    def run(self) -> list[FileState]:
        """Process every file; returns them with their outcome. KeyboardInterrupt (or SIGTERM)
        stops the workers and marks the unfinished items cancelled before it propagates."""
        previous = _install_sigterm()
        hasher = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="crosswatch-sha")
        try:
            self._open_jobs()
            for f in self.files:
                if f.crossing_id is None:
                    self._finish(f, "failed", error=f"{f.path}: matched no pattern of the crossings map")
            todo = [f for f in self.files if not f.finished]
            hashes = deque(
                (
                    f,
                    hasher.submit(
                        file_sha,
                        f.path,
                        self.jobs[f.crossing_id].sha_cache.get(str(f.path)),  # type: ignore[index]
                    ),
                )
                for f in todo
            )
            self._loop(hashes)
        except (KeyboardInterrupt, Interrupted):
            self._interrupt("batch interrupted; run the same command again to resume")
            raise
        except Exception as e:  # a lost database, a lost Ray cluster: no job may stay `running`
            self._interrupt(f"batch runner failed: {type(e).__name__}: {e}"[:2000])
            raise
        finally:
            hasher.shutdown(wait=False, cancel_futures=True)  # an interrupt must not wait for every file
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            with contextlib.suppress(Exception):  # only a cache: it must not hide the real error
                self._save_caches()
            self.display.close()
            self.engine.dispose()
        self._finish_jobs()
        return self.files

    def _loop(self, hashes: deque[tuple[FileState, Future]]) -> None:
        ready: list[FileState] = []
        waiting: list[FileState] = []  # same content as a video in flight
        last_cancel = last_flush = time.monotonic()
        while hashes or ready or waiting or self._inflight:
            while hashes and hashes[0][1].done():
                f, fut = hashes.popleft()
                self._hashed(f, fut, ready)
            ready.extend(self._release(waiting))
            self._dispatch(ready, waiting)
            if self._inflight:
                for msg in self.executor.poll(self.poll_s):
                    self._message(msg)
            elif hashes and not ready:  # nothing to do until the next file is hashed
                futures_wait([hashes[0][1]], timeout=self.poll_s)
            now = time.monotonic()
            if now - last_cancel >= CANCEL_POLL_S:
                last_cancel = now
                self._check_cancel(ready, waiting)
            if now - last_flush >= CACHE_FLUSH_S:
                last_flush = now
                self._save_caches()
            self.display.tick()

    def _hashed(self, f: FileState, fut: Future, ready: list[FileState]) -> None:
        try:
            entry = fut.result()
        except OSError as e:
            self._finish(f, "failed", error=_hash_error(f.path, e))
            return
        handle = self.jobs[f.crossing_id]  # type: ignore[index]
        if handle.sha_cache.get(str(f.path)) is not entry:
            handle.sha_cache[str(f.path)], handle.dirty = entry, True
        f.sha256 = str(entry[2])
        run = self.repo.find_run(f.sha256, self.versions[f.crossing_id], self.settings_hash)  # type: ignore[index]
        if run is not None and run.status == "done":
            self._finish_reused(f, run)
            return
        if str(f.path) in self.jobs[f.crossing_id].job.done_before and f.item_id is not None:  # type: ignore[index]
            jobs_repo.requeue_items(self.write, [f.item_id])  # its run is gone: process it again
        ready.append(f)

    def _release(self, waiting: list[FileState]) -> list[FileState]:
        free = [f for f in waiting if (f.sha256, f.crossing_id) not in self._busy_keys]
        for f in free:
            waiting.remove(f)
        return free

    def _dispatch(self, ready: list[FileState], waiting: list[FileState]) -> None:
        while ready and len(self._inflight) < self.executor.capacity:
            f = ready.pop(0)
            key = (f.sha256 or "", f.crossing_id or "")
            if key in self._busy_keys:
                waiting.append(f)
                continue
            run = self.repo.find_run(key[0], self.versions[key[1]], self.settings_hash)
            if run is not None and run.status == "done":  # a duplicate whose twin just finished
                self._finish_reused(f, run)
                continue
            if f.item_id is not None and not self.items.start(f.item_id):
                self._finish(f, "cancelled", error="cancelled through the jobs API")
                continue
            cfile = self.plan.crossings[key[1]][0]
            task = Task(
                str(f.path),
                str(cfile),
                key[1],
                key[0],
                self.settings_hash,
                f.start_time.isoformat() if f.start_time else None,
                self.plan.config,
            )
            f.status = "running"
            self._inflight[str(f.path)] = f
            self._busy_keys.add(key)
            self.executor.submit(str(f.path), task)

    def _message(self, msg: Message) -> None:
        f = self._inflight.get(msg.key)
        if f is None:
            return  # a late report of a cancelled video
        if msg.kind == "started":
            f.duration_s = (msg.value or {}).get("duration_s")
            self.display.started(f)
        elif msg.kind == "progress":
            self._progress(f, float(msg.value))
        elif msg.kind in ("result", "crashed"):
            del self._inflight[msg.key]
            self._busy_keys.discard((f.sha256 or "", f.crossing_id or ""))
            settled = self.items.settle(msg, str(f.path), f.crossing_file, f.sha256)
            res = settled.result
            if res is not None:
                note = "; ".join(res.warnings) if res.warnings else None
                if res.removed:
                    note = (
                        f"removed {res.removed} evidence files no stored event names (left by an interrupted "
                        "attempt)" + (f"; {note}" if note else "")
                    )
            else:
                note = f"removed {settled.removed} evidence files it left" if settled.removed else None
            self._finish(f, settled.status, error=settled.error, result=res, note=note)

    def _progress(self, f: FileState, value: float) -> None:
        f.progress = min(max(value, 0.0), 1.0)
        self.display.progress(f)
        if f.item_id is not None:
            self.items.progress(f.item_id, f.progress)

    def _clean_after_crash(self, f: FileState) -> int:
        return self.items.clean_after_crash(f.crossing_file, f.sha256)

    def _check_cancel(self, ready: list[FileState], waiting: list[FileState]) -> None:
        for handle in self.jobs.values():
            if not self.items.cancel_requested(handle.job.id):
                continue
            for key, f in list(self._inflight.items()):
                if f.crossing_id == handle.crossing_id:
                    self.executor.cancel(key)
                    del self._inflight[key]
                    self._busy_keys.discard((f.sha256 or "", f.crossing_id or ""))
                    self._clean_after_crash(f)
                    self._finish(f, "cancelled", error="cancelled through the jobs API")
            for queue in (ready, waiting):
                for f in [x for x in queue if x.crossing_id == handle.crossing_id]:
                    queue.remove(f)
                    self._finish(f, "cancelled", error="cancelled through the jobs API")

    # ---- the end
    def _save_caches(self) -> None:
        for handle in self.jobs.values():
            if handle.dirty:
                live = {str(f.path) for f in self.files if f.crossing_id == handle.crossing_id}
                cache = {p: v for p, v in handle.sha_cache.items() if p in live}
                jobs_repo.update_job_settings(self.write, handle.job.id, {"sha256": cache})
                handle.dirty = False

    def _finish_jobs(self) -> None:
        for handle in self.jobs.values():
            jobs_repo.finish_job(self.write, handle.job.id, error=self.plan.unmatched_note)

    def _interrupt(self, reason: str) -> None:
        """Stop the workers (nothing in flight was committed), remove what they wrote, and mark the
        unfinished items and the jobs cancelled with `reason` — best effort: the database may be
        what failed."""
        self.executor.shutdown()
        for f in self._inflight.values():
            with contextlib.suppress(Exception):
                self._clean_after_crash(f)
        for handle in self.jobs.values():
            with contextlib.suppress(Exception):
                jobs_repo.interrupt_job(self.write, handle.job.id, reason)


def _install_sigterm() -> Any:
    """SIGTERM stops the batch like Ctrl-C (workers killed, items marked); the previous handler,
    to restore. Only the main thread may set handlers: elsewhere (an embedding) nothing changes."""

    def handler(_sig: int, _frame: Any) -> None:
        raise Interrupted()

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


# -- planning and the command ------------------------------------------------------------------------
def plan_batch(
    inputs: Sequence[str | Path],
    *,
    crossing: str | Path | None,
    crossings_map: str | Path | None,
    config: RunConfig,
    start_time: datetime | None = None,
    time_pattern: TimePattern | None = None,
) -> BatchPlan:
    """Expand the inputs, assign each video its crossing and wall-clock start; load the crossings."""
    if (crossing is None) == (crossings_map is None):
        raise BatchError("give exactly one of --crossing and --crossings-map")
    paths = expand_inputs(inputs)
    if not paths:
        raise BatchError("no video files among the inputs")
    cmap = CrossingMap.load(crossings_map) if crossings_map is not None else None
    assign = {p: (cmap.crossing_for(p) if cmap else Path(crossing).resolve()) for p in paths}  # type: ignore[arg-type]
    loaded = load_crossings({c for c in assign.values() if c is not None})
    files = [
        FileState(p, c, loaded[c].id if c else None, start_time or (time_pattern.start_of(p) if time_pattern else None))
        for p, c in assign.items()
    ]
    unmatched = sum(f.crossing_id is None for f in files)
    note = f"{unmatched} file(s) of this batch matched no pattern of {cmap.source}" if unmatched and cmap else None
    crossings = {c.id: (f, c) for f, c in loaded.items()}
    return BatchPlan([Path(os.path.abspath(Path(str(i)).expanduser())) for i in inputs], files, crossings, config, note)


def make_executor(
    kind: str,
    workers: int | None,
    *,
    address: str | None = None,
    init: Callable[[], None] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Executor:
    if kind == "local":
        return LocalExecutor(execute_task, workers or default_workers(), init=init)
    if kind == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise BatchError("--executor ray needs the `ray` package: pip install 'crosswatch[cluster]'")
        return RayExecutor(execute_task, workers, address=address, init=init, runtime_env=runtime_env)
    raise BatchError(f"unknown executor {kind!r} (local or ray)")


def default_workers() -> int:
    """Half the cores (each worker's inference uses several threads), at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def exit_status(files: Sequence[FileState]) -> int:
    failed = sum(f.status != "done" for f in files)
    if not failed:
        return EXIT_OK
    return EXIT_FAIL if failed == len(files) else EXIT_PARTIAL
