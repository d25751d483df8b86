"""One job item's life, the same for `crosswatch batch` and the service's jobs worker.

Both hand a `Task` to an `Executor` (a local process pool or Ray: `service.runs.executors`) and
read the executor's `Message`s back; what the messages do to the item lives here:

- start: the item becomes `running` (False when it was cancelled meanwhile: it is not dispatched);
- ``started`` / ``progress``: the video's length and SHA-256; its share decoded, to the database at
  most every `PROGRESS_WRITE_S` seconds and only forward;
- ``result``: the task's `TaskResult` finishes the item (done or failed, run id, events);
- ``crashed``: the worker died or raised; whatever it wrote to the run's evidence folder is removed
  (no stored row names it: the run never committed) and the item fails with the reason;
- cancel: the jobs API's flag, looked up by the runner, which then cancels the task in the executor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from detector.config import ConfigError
from service import jobs_repo

from .evidence_check import remove_unreferenced
from .executors import Message
from .tasks import TaskResult, run_dir

PROGRESS_WRITE_S = 1.0  # an item's progress goes to the database at most this often


@dataclass(frozen=True, slots=True)
class Settled:
    """How a finished task leaves its item: status, error, the task's result (None after a crash)
    and the evidence files removed after a crash."""

    status: str  # done | failed
    error: str | None
    result: TaskResult | None
    removed: int = 0


class ItemLifecycle:
    """Database side of job items for one runner (write/read sessions of one engine)."""

    def __init__(
        self,
        write: sessionmaker[Session],
        read: sessionmaker[Session],
        *,
        db_url: str,
        evidence_root: Path,
        settings_hash: str,
        progress_write_s: float = PROGRESS_WRITE_S,
    ):
        self.write, self.read = write, read
        self.db_url, self.evidence_root, self.settings_hash = db_url, Path(evidence_root), settings_hash
        self.progress_write_s = progress_write_s
        self._written: dict[int, tuple[float, float]] = {}  # item -> (when, share) last written

    def start(self, item_id: int) -> bool:
        return jobs_repo.start_item(self.write, item_id)

    def progress(self, item_id: int, share: float) -> float:
        """Store the item's progress (throttled, never backwards); the share clamped to 0..1."""
        share = min(max(share, 0.0), 1.0)
        now = time.monotonic()
        when, shown = self._written.get(item_id, (float("-inf"), -1.0))
        if now - when >= self.progress_write_s and share > shown:
            self._written[item_id] = (now, share)
            jobs_repo.set_progress(self.write, item_id, share)
        return share

    def finish(
        self,
        item_id: int,
        status: str,
        *,
        error: str | None = None,
        run_id: int | None = None,
        events: int | None = None,
    ) -> None:
        self._written.pop(item_id, None)
        jobs_repo.finish_item(self.write, item_id, status=status, error=error, run_id=run_id, events=events)

    def cancel_requested(self, job_id: int) -> bool:
        return jobs_repo.cancel_requested(self.read, job_id)

    def clean_after_crash(self, crossing_file: str | Path | None, sha256: str | None) -> int:
        """Remove what a killed or crashed attempt wrote to the run's evidence folder; the count."""
        if crossing_file is None or sha256 is None:
            return 0
        try:
            return remove_unreferenced(
                self.db_url, self.evidence_root, run_dir(crossing_file, sha256, self.settings_hash)
            )
        except (OSError, ConfigError):
            return 0

    def settle(self, msg: Message, label: str, crossing_file: str | Path | None, sha256: str | None) -> Settled:
        """The outcome of a ``result`` or ``crashed`` message (after a crash: evidence cleaned up);
        `label` names the video in a crash's error."""
        if msg.kind == "result":
            res: TaskResult = msg.value
            return Settled(res.status, res.error, res)
        removed = self.clean_after_crash(crossing_file, sha256)
        return Settled("failed", f"{label}: {msg.value}", None, removed)
