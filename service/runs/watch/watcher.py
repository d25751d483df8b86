"""The whole live watch: reader, processor and writer threads of one run (see `detector.live`).

A file run decodes the whole video, then writes everything in one transaction; a stream never ends.
So `watch` opens one long `running` run and writes each event, with its evidence, as soon as it is
decided and its clip window has passed (`Repository.add_events`), and traffic counts every minute
(`Repository.add_counts`). The *reader* demuxes and reconnects, a *watchdog* notices a stalled
stream, the *processor* (the calling thread) runs the pipeline stages and keeps recent packets in
a `PacketRing`, and the *writer* decodes each event's window again from the ring, writes the
evidence files and stores the event.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from detector.config import Crossing
from detector.live import Backoff, Emit, LiveProcessor, LiveSource, LiveStats, StreamReader
from detector.pipeline import Detector, PipelineSettings
from detector.ring import PacketRing

from .writer import EventWriter


@dataclass
class WatchOptions:
    stall_s: float = 10.0
    ring_s: float = 60.0
    ring_bytes: int = 64 << 20
    max_queue: int = 1200  # packets between reader and processor (~20-40 s of video)
    count_every_s: float = 60.0
    heartbeat_s: float = 60.0
    rtsp_transport: str = "tcp"
    backoff_first_s: float = 1.0
    backoff_cap_s: float = 30.0


class Watcher:
    """Runs reader, processor and writer until `stop` is set or `duration_s` has passed."""

    def __init__(
        self,
        source: LiveSource,
        crossing: Crossing,
        detector_for: Callable[[tuple[int, int]], Detector],
        settings: PipelineSettings,
        repo,
        run_id: int,
        recorder,
        *,
        run_start: datetime,
        rel_root: str,
        evidence_root: Path,
        emit: Emit,
        options: WatchOptions | None = None,
        pts_anchor: bool = False,
        signal_box: Callable | None = None,
    ):
        self.options = opts = options or WatchOptions()
        self.source, self.emit = source, emit
        self.run_start = run_start
        self.stats = LiveStats()
        self.stop_event = threading.Event()
        self.started = time.perf_counter()
        self.ring = PacketRing(opts.ring_s, opts.ring_bytes)
        self.queue: queue.Queue = queue.Queue(maxsize=opts.max_queue)
        self.writer = EventWriter(
            repo,
            run_id,
            recorder,
            rel_root,
            evidence_root,
            self.stats,
            emit,
            run_start=run_start,
            source_name=source.display,
        )
        self.processor = LiveProcessor(
            crossing,
            detector_for,
            settings,
            self.ring,
            self.writer,
            self.stats,
            emit,
            self.run_t,
            count_every_s=opts.count_every_s,
            signal_box=signal_box,
        )
        self.reader = StreamReader(
            source,
            self.queue,
            run_t=self.run_t,
            stats=self.stats,
            emit=emit,
            stop=self.stop_event,
            stall_s=opts.stall_s,
            backoff=Backoff(opts.backoff_first_s, opts.backoff_cap_s),
            pts_anchor=pts_anchor,
            rtsp_transport=opts.rtsp_transport,
        )

    def run_t(self) -> float:
        """Seconds since the run started (wall clock)."""
        return time.time() - self.run_start.timestamp()

    def stop(self) -> None:
        self.stop_event.set()
        self.reader.abort.set()

    def run(self, duration_s: float | None = None) -> dict:
        self.writer.start()
        self.reader.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        next_beat = time.monotonic() + self.options.heartbeat_s
        try:
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    item = self.queue.get(timeout=0.25)
                except queue.Empty:
                    self.processor.idle()
                else:
                    self.processor.handle(item)
                if time.monotonic() >= next_beat:
                    next_beat += self.options.heartbeat_s
                    self._heartbeat()
        finally:
            self.reader.stop()
            self.reader.join(timeout=self.options.stall_s + 5.0)
            while True:  # what was already read is still processed
                try:
                    self.processor.handle(self.queue.get_nowait())
                except queue.Empty:
                    break
            self.processor.close()
            self.writer.close()
        return self.summary()

    def _heartbeat(self) -> None:
        p = self.processor
        self.emit(
            "alive",
            frames=self.stats.frames,
            detected=self.stats.detected,
            events=self.stats.events,
            lag_s=round(self.run_t() - p.last_t, 2) if p.last_t > float("-inf") else None,
            queued=self.queue.qsize(),
            ring_bytes=self.ring.bytes,
            ring_s=round(self.ring.span_s, 1),
            pending=len(p.pending),
        )

    def summary(self) -> dict:
        p = self.processor
        return {
            "source": self.source.display,
            "duration_s": round(max(p.last_t, 0.0), 3) if p.last_t > float("-inf") else 0.0,
            "elapsed_s": round(time.perf_counter() - self.started, 3),
            **self.stats.as_dict(),
            "ring": {"max_s": self.ring.max_s, "max_bytes": self.ring.max_bytes, "peak_bytes": self.ring.peak_bytes},
        }
