"""`crosswatch batch` as a use case: many videos, each processed exactly once, on a local pool or on Ray.

Inputs are video files, folders (searched recursively for video file names) and list files
(`.txt`/`.lst`/`.list`: one path a line, relative to the list; `#` starts a comment). Every video
is one task, keyed like `crosswatch process` keys its run (`ProcessRequest.run_key`): the video's
content SHA-256, the crossing's geometry version and the settings. The task itself is
`service.runs.tasks.execute_task` — `process_video()`, all-or-nothing and idempotent per key —
running in a worker process (`service.runs.executors`).

Exactly once, also when the runner is killed at any moment:

- a task whose run is already `done` is skipped before it is dispatched (SHA-256 cached per
  (path, size, mtime) in the job record, so a re-run does not read every file again);
- the same content twice among the inputs is processed once (the second waits, then is reused);
- a killed run never reached its single commit, so nothing of it is in the database; the re-run
  restarts it (`Repository.start_run` clears a never-finished run) — and first deletes every file
  in the run's evidence folder that no stored evidence row names (pictures written before the
  kill, half-written temp files), so evidence on disk and rows in the database agree again.
  `service.runs.evidence_check.check_evidence()` (`crosswatch batch --verify`) proves it for a
  whole evidence folder.

The batch records itself as one job per crossing (`jobs`/`job_items`, `created_by` "batch") with
each video's status, progress, error and run id, so `GET /api/jobs` shows it like any other job;
running the same batch again reopens that job. Bad files are failed items with the reason, and
the batch goes on. Modules: `inputs` (videos, crossings, file-name times), `display` (per-video
state and progress), `runner` (the loop, planning, executors, exit status).
"""

from __future__ import annotations

from ..evidence_check import EvidenceCheck, check_evidence, remove_unreferenced
from ..tasks import RunConfig, Task, TaskResult, execute_task, run_dir, settings_hash
from .display import FileState, LogDisplay, Tally, TerminalDisplay
from .inputs import (
    DEFAULT_TIME_PATTERN,
    BatchError,
    CrossingMap,
    TimePattern,
    expand_inputs,
    load_crossings,
    parse_timezone,
)
from .runner import (
    EXIT_EVIDENCE,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    BatchPlan,
    BatchRunner,
    Interrupted,
    JobHandle,
    default_workers,
    exit_status,
    make_executor,
    plan_batch,
)

__all__ = [
    "DEFAULT_TIME_PATTERN",
    "EXIT_EVIDENCE",
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "BatchError",
    "BatchPlan",
    "BatchRunner",
    "CrossingMap",
    "EvidenceCheck",
    "FileState",
    "Interrupted",
    "JobHandle",
    "LogDisplay",
    "RunConfig",
    "Tally",
    "Task",
    "TaskResult",
    "TerminalDisplay",
    "TimePattern",
    "check_evidence",
    "default_workers",
    "execute_task",
    "exit_status",
    "expand_inputs",
    "load_crossings",
    "make_executor",
    "parse_timezone",
    "plan_batch",
    "remove_unreferenced",
    "run_dir",
    "settings_hash",
]
