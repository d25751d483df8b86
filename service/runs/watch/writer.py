"""The live run's writer: evidence files and database rows of each decided event, in order, off
the processing thread (the `EventSink` of `detector.live.LiveProcessor`). The recorder reads the
plate, looks up the violation code and seals the evidence from the ring buffer's packets, as
`process` does from the file."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from detector.evidence import EvidenceBatchError, EvidenceError
from detector.live import Backoff, Emit, LiveStats, PendingEvent, reason_of
from detector.ring import BufferedPacket, RingFrames
from detector.types import ViolationEvent
from service.run_records import CountRecord, EventRecord, EvidenceRecord


class EventWriter(threading.Thread):
    """Evidence files and database rows, in order, off the processing thread. A database that is
    unreachable is retried with backoff (events wait in memory) for up to `db_patience_s`."""

    def __init__(
        self,
        repo,
        run_id: int,
        recorder,
        rel_root: str,
        evidence_root: Path,
        stats: LiveStats,
        emit: Emit,
        *,
        run_start: datetime,
        source_name: str,
        db_patience_s: float = 600.0,
    ):
        super().__init__(name="crosswatch-writer", daemon=True)
        self.repo, self.run_id, self.recorder, self.rel_root = repo, run_id, recorder, rel_root
        self.evidence_root, self.stats, self.emit = evidence_root, stats, emit
        self.run_start, self.source_name, self.db_patience_s = run_start, source_name, db_patience_s
        self.jobs: queue.Queue = queue.Queue()
        self.closing = False

    def submit_event(self, pending: PendingEvent, packets: list[BufferedPacket]) -> None:
        self.jobs.put(("event", pending, packets))

    def submit_counts(self, rows: list[tuple[str, str, int, int]]) -> None:
        self.jobs.put(("counts", rows))

    def close(self) -> None:
        self.closing = True
        self.jobs.put(None)
        self.join()

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                if job[0] == "event":
                    self._event(job[1], job[2])
                else:
                    self._counts(job[1])
            except Exception as e:  # never let one bad write stop the stream's writer
                self.emit("error", reason=f"{type(e).__name__}: {e}")

    def _evidence(self, p: PendingEvent, packets: list[BufferedPacket]) -> list:
        ev = p.event
        if not packets:
            self.stats.evidence_failures += 1
            self.emit("evidence_incomplete", key=ev.key, reason="no buffered video for its window")
            return []
        job = (ev, f"{self.rel_root}/{ev.key}", p.signal_box)
        try:
            return self.recorder.record_frames(RingFrames(packets, self.source_name), [job])[ev.key]
        except EvidenceBatchError as e:
            self.stats.evidence_failures += 1
            self.emit("evidence_incomplete", key=ev.key, reason=e.failures.get(ev.key, str(e)))
            return e.results.get(ev.key, [])
        except (EvidenceError, OSError) as e:
            self.stats.evidence_failures += 1
            self.emit("evidence_incomplete", key=ev.key, reason=str(e))
            return []

    def _event(self, p: PendingEvent, packets: list[BufferedPacket]) -> None:
        files = self._evidence(p, packets)
        del packets
        if p.event.plate is not None:
            self.stats.plates_s += p.event.plate.ms / 1000.0
        record = EventRecord.from_violation(
            p.event, [EvidenceRecord(f.kind, f.relpath, f.sha256, f.size, f.mime) for f in files]
        )
        added = self._with_retry(lambda: self.repo.add_events(self.run_id, [record]), what=f"event {record.event_key}")
        if added is None:
            self.stats.lost_events += 1
            return
        self.stats.events += 1
        self.emit("event", **self._event_json(p.event, added.get(record.event_key), record, files))

    def _counts(self, rows: list[tuple[str, str, int, int]]) -> None:
        records = [CountRecord(sl, cls, minute, n) for sl, cls, minute, n in rows]
        if self._with_retry(lambda: self.repo.add_counts(self.run_id, records), what="traffic counts") is not None:
            self.stats.count_rows += len(records)

    def _with_retry(self, write: Callable[[], Any], what: str) -> Any:
        backoff, waited = Backoff(), 0.0
        while True:
            try:
                result = write()
                return True if result is None else result
            except OperationalError as e:  # the database went away: wait for it
                if waited >= self.db_patience_s or (self.closing and waited >= 10.0):
                    self.emit("error", reason=f"{what} not stored: {reason_of(e.orig or e)}")
                    return None
                delay = backoff.next()
                self.emit("db_retry", what=what, delay_s=delay, reason=reason_of(e.orig or e))
                time.sleep(delay)
                waited += delay

    def _event_json(self, e: ViolationEvent, uid: str | None, record: EventRecord, files: list) -> dict:
        """The event line: `process --json`'s event fields (plate, code, anti-forgery code as stored) plus
        the event key and how long after it happened it was stored."""
        occurred = self.run_start.timestamp() + float(e.t)
        return {
            "id": uid,
            "key": e.key,
            "type": e.type.value,
            "track_id": e.track_id,
            "class": e.class_name,
            "t": round(float(e.t), 3),
            "frame": e.frame,
            "box": [round(v, 1) for v in e.box],
            "occurred_at": datetime.fromtimestamp(occurred, self.run_start.tzinfo).isoformat(timespec="milliseconds"),
            "lane": e.lane,
            "stop_line": e.stop_line,
            "signal": e.signal.value if e.signal is not None else None,
            "since_red_s": e.since_red_s,
            "latency_s": round(time.time() - occurred, 2),
            "plate": record.plate_text,
            "plate_status": record.plate_status,
            "plate_colour": record.plate_colour,
            "plate_confidence": record.plate_confidence,
            "plate_reason": record.plate_reason,
            "violation_code": record.violation_code,
            "anti_forgery_code": record.anti_forgery_code,
            "evidence": {
                f.kind: {"path": str(self.evidence_root / f.relpath), "sha256": f.sha256, "size": f.size} for f in files
            },
        }
