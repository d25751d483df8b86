"""The one task a worker process runs for a job item (`crosswatch batch` and the service's jobs
worker alike): probe the video, clear what a killed earlier attempt left in its evidence folder,
`process_video` it, and return a `TaskResult` — never raise for a bad video.

Progress and the video's length come back through the executor's typed channel
(`report("started", {...})`, `report("progress", share)`), not through any printed text.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from detector.config import ConfigError, load_crossing
from detector.video import VideoError, file_sha256, probe

from .errors import UserError
from .evidence_check import count_events, remove_unreferenced
from .executors import Report
from .process import ShareReporter, process_video
from .request import (
    DEFAULT_DETECT_FPS,
    DEFAULT_IMGSZ,
    ProcessRequest,
    check_options,
    parse_start,
    resolve_device_and_model,
    run_key_of,
)
from .request import settings_hash as _settings_hash


@dataclass(frozen=True, slots=True)
class RunConfig:
    """The `process` options shared by every video of a job (sent to each worker)."""

    db_url: str
    evidence_root: str
    model: str | None = None
    device: str = "auto"
    imgsz: int = DEFAULT_IMGSZ
    detect_fps: float = DEFAULT_DETECT_FPS
    signal_plan: str | None = None

    def __post_init__(self) -> None:
        check_options(imgsz=self.imgsz, detect_fps=self.detect_fps, device=self.device)

    def request(self, video: str | Path, crossing_file: str | Path, start_time: str | None) -> ProcessRequest:
        return ProcessRequest.build(
            video,
            crossing_file,
            db_url=self.db_url,
            evidence_dir=self.evidence_root,
            model=self.model,
            device=self.device,
            imgsz=self.imgsz,
            detect_fps=self.detect_fps,
            start_time=parse_start(start_time),
            signal_plan=self.signal_plan,
        )


@dataclass(frozen=True, slots=True)
class Task:
    path: str
    crossing_file: str
    crossing_id: str
    sha256: str | None  # None: the worker reads it (and reports it in "started")
    settings_hash: str
    start_time: str | None  # ISO 8601 with offset
    config: RunConfig


@dataclass(frozen=True, slots=True)
class TaskResult:
    status: str  # done | failed
    error: str | None = None
    run_id: int | None = None
    events: int | None = None
    reused: bool = False
    duration_s: float | None = None
    wall_s: float = 0.0
    warnings: tuple[str, ...] = ()
    removed: int = 0  # evidence files of an earlier, killed attempt removed first


def settings_hash(cfg: RunConfig) -> str:
    """The run key's settings hash of every video run with `cfg` (the same rule as
    `ProcessRequest.settings_hash`), so a runner can find finished runs without starting a worker."""
    from detector.pipeline import PipelineSettings

    _device, model = resolve_device_and_model(cfg.device, cfg.model)
    settings = PipelineSettings(model=model, imgsz=cfg.imgsz, detect_fps=cfg.detect_fps)
    return _settings_hash(settings, Path(cfg.signal_plan) if cfg.signal_plan else None)


def run_dir(crossing_file: str | Path, sha256: str, settings_hash_: str) -> str:
    """The evidence folder of a run, relative to the evidence root (`RunKey.evidence_dir`)."""
    return run_key_of(load_crossing(crossing_file), sha256, settings_hash_).evidence_dir


def execute_task(task: Task, report: Report) -> TaskResult:
    """Process one video in a worker: probe it (its duration and SHA-256 go to the runner), clear
    what a killed earlier attempt left in its evidence folder, run `process_video`; a bad video is
    a `failed` result with the reason, never an exception."""
    from service.run_records import RunAlreadyDone

    t0 = time.perf_counter()
    try:
        info = probe(task.path)
        sha = task.sha256 or file_sha256(task.path)
    except (VideoError, OSError) as e:
        return TaskResult("failed", str(e), wall_s=time.perf_counter() - t0)
    report("started", {"duration_s": info.duration_s, "sha256": sha})
    cfg = task.config
    rel = run_dir(task.crossing_file, sha, task.settings_hash)
    removed = remove_unreferenced(cfg.db_url, Path(cfg.evidence_root), rel)
    try:
        req = cfg.request(task.path, task.crossing_file, task.start_time)
        out = process_video(req, on_progress=ShareReporter(lambda share: report("progress", share)))
    except RunAlreadyDone as e:  # another process finished the same run meanwhile
        return TaskResult(
            "done",
            run_id=e.run.id,
            events=count_events(cfg.db_url, e.run.id),
            reused=True,
            duration_s=e.run.duration_s,
            wall_s=time.perf_counter() - t0,
            removed=removed,
        )
    except (UserError, ConfigError, VideoError) as e:
        error: str = str(e)
    except Exception as e:  # noqa: BLE001 - a database or pipeline bug fails this video, not the batch
        error = f"internal error: {type(e).__name__}: {e}"
    else:
        # pictures of an event whose evidence failed half-way are on disk without rows: not evidence
        removed += remove_unreferenced(cfg.db_url, Path(cfg.evidence_root), rel)
        return TaskResult(
            "done",
            run_id=out.run_id,
            events=len(out.events),
            reused=out.reused,
            duration_s=round(out.duration_s, 3),
            wall_s=time.perf_counter() - t0,
            warnings=out.warnings,
            removed=removed,
        )
    removed += remove_unreferenced(cfg.db_url, Path(cfg.evidence_root), rel)  # evidence of a failed video
    return TaskResult(
        "failed",
        error.splitlines()[0] if error else "failed",
        duration_s=info.duration_s,
        wall_s=time.perf_counter() - t0,
        removed=removed,
    )


@dataclass(frozen=True, slots=True)
class Confined:
    """A task target that first opens the task's video confined to `roots` (`service.paths`):
    checked when it is used, not only when the job was submitted. The target then reads the
    descriptor opened here (through a symlink to `/dev/fd/N` named like the video), so a path
    swapped for a symlink, a FIFO or another file afterwards changes nothing. A refused path is a
    `failed` result with the reason; no target runs."""

    target: Callable[[Task, Report], TaskResult]
    roots: tuple[str, ...]

    def __call__(self, task: Task, report: Report) -> TaskResult:
        from service import paths

        try:
            fd = paths.open_video(task.path, tuple(Path(r) for r in self.roots))
        except paths.PathRefused as e:
            return TaskResult("failed", str(e))
        try:
            with tempfile.TemporaryDirectory(prefix="crosswatch-video-") as tmp:
                link = paths.fd_link(fd, Path(tmp), Path(task.path).name)
                return self.target(replace(task, path=str(link)), report)
        finally:
            os.close(fd)
