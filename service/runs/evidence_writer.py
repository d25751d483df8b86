"""Write a file run's evidence while its video is still being processed.

`Pipeline.run(on_settled=...)` hands over each event once its road user's track has retired (class and
boxes final). `BackgroundEvidence.add` queues those events for the recorder on one worker thread, which
re-reads the file for their windows while the pipeline decodes further on; `finish` waits for the rest
and gives back every event's files, plus a one-line warning per event whose evidence is incomplete.
On a 2-core machine the pipeline's own thread (decoding, tracking, rules) leaves room beside the model's
threads, so most of the evidence costs no wall time.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.config import Crossing
from detector.geometry import signal_box
from detector.types import ViolationEvent

from .errors import UserError

if TYPE_CHECKING:  # the evidence package (Pillow, fonts) is imported only by a run that writes evidence
    from detector.evidence import EvidenceFile


class BackgroundEvidence:
    """One worker thread that records the evidence of the events it is given, in the order given.

    `crossing` is the crossing in the video's pixels (the signal crop); `evidence_dir` the run key's
    folder name under the recorder's root."""

    def __init__(self, recorder: Any, video: Path, crossing: Crossing, evidence_dir: str):
        self.recorder, self.video, self.crossing, self.evidence_dir = recorder, video, crossing, evidence_dir
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="crosswatch-evidence")
        self._calls: list[Future[dict[str, list[EvidenceFile]]]] = []
        self.busy_s = 0.0  # seconds the worker spent recording

    def _record(self, jobs: list[tuple[ViolationEvent, str, Any]]) -> dict[str, list[EvidenceFile]]:
        t0 = time.perf_counter()
        try:
            return self.recorder.record_many(self.video, jobs)
        finally:
            self.busy_s += time.perf_counter() - t0

    def add(self, events: list[ViolationEvent]) -> None:
        """Queue these events' evidence (one decode pass per stretch of video they share)."""
        jobs = [(e, f"{self.evidence_dir}/{e.key}", signal_box(self.crossing, e.signal_id)) for e in events]
        if jobs:
            self._calls.append(self._pool.submit(self._record, jobs))

    def finish(self) -> tuple[dict[str, list[EvidenceFile]], list[str]]:
        """Wait for every queued event: (files by event key, warnings). An unreadable video is a
        UserError; an event whose evidence failed keeps what was written and gets a warning."""
        from detector.evidence import EvidenceBatchError, EvidenceError

        files: dict[str, list[EvidenceFile]] = {}
        warnings: list[str] = []
        try:
            for call in self._calls:
                try:
                    files.update(call.result())
                except EvidenceBatchError as e:  # keep every event; say which evidence is incomplete
                    files.update(e.results)
                    warnings += [f"evidence of event {k} incomplete: {reason}" for k, reason in e.failures.items()]
                except EvidenceError as e:
                    raise UserError(str(e)) from None
        finally:
            self.close()
        return files, warnings

    def close(self) -> None:
        """Stop: queued work not started is dropped, the running call is waited for. Safe to repeat."""
        self._pool.shutdown(wait=True, cancel_futures=True)
