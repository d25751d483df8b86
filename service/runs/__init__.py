"""The use cases: what crosswatch does with videos, on top of the vision library (`detector`) and
the store (`service.db`, `service.repository`, `service.jobs_repo`).

- `request`: `ProcessRequest` (one video, one crossing, settings, start time, signal plan,
  database, evidence root) and its `RunKey`; `process`: `process_video(request, on_progress)`;
- `tasks`, `executors`, `items`: the task a worker process runs for one job item, where it runs
  (local process pool or Ray) and the item's lifecycle — shared by `batch` and the jobs worker
  (`service.worker`);
- `batch`: many videos exactly once; `watch`: live streams; `evidence_check`: evidence on disk
  against the database.

Nothing here parses command lines or prints for a person: that is `service.cli`.
"""

from __future__ import annotations

from .errors import UserError
from .process import ProcessOutcome, process_video
from .request import ProcessRequest, RunKey

__all__ = ["ProcessOutcome", "ProcessRequest", "RunKey", "UserError", "process_video"]
