"""The live processor: decodes queued packets, runs the pipeline stages (`FrameSession`) and hands
decided events and traffic counts to an `EventSink` (the port a consumer of live events implements).

It works like `Pipeline.run` on a file: the detector gets the crossing's detection plan
(`pipeline.plan_work`), frames are decoded straight to the working size, judged there (class from
context in the tracker, the identity check of each event's path in the session) and the decided
events are moved back into the stream's pixels (`pipeline.to_video_pixels`), where the evidence
is drawn from the buffered packets."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import av
import av.error
from av.video.codeccontext import VideoCodecContext

from ..config import Crossing
from ..geometry import signal_box as lamps_box
from ..pipeline import Detector, FrameSession, PipelineSettings, plan_work, to_video_pixels
from ..ring import BufferedPacket, PacketRing, Segment
from ..types import Frame, LineCrossing, ViolationEvent
from .reader import Emit, LiveStats, SegmentStart, StreamGap

RELEASE_MARGIN_S = 0.5  # an event's evidence is made once the stream is this far past its clip window
CLASS_WAIT_S = 20.0  # ... and its track has ended (whole-track class vote), or this long after the event


@dataclass
class PendingEvent:
    event: ViolationEvent
    lo: float  # clip window on the run's time axis
    hi: float
    signal_box: tuple[float, float, float, float] | None
    class_known: bool = False


class ClipWindow(Protocol):
    def window(self, event: ViolationEvent) -> tuple[float, float]:
        """The event's evidence clip window (start, end) in video seconds."""
        ...


class EventSink(Protocol):
    """What consumes a live run's decided events and traffic counts (the service's `EventWriter`
    stores them with their evidence). `recorder.window(event)` says how much video an event needs."""

    recorder: ClipWindow

    def submit_event(self, pending: PendingEvent, packets: list[BufferedPacket]) -> None:
        """A decided event with the buffered packets of its clip window."""
        ...

    def submit_counts(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Traffic counts (stop line, class, minute, count)."""
        ...


class LiveProcessor:
    """Decodes queued packets, runs the pipeline stages, and hands decided events to the sink."""

    def __init__(
        self,
        crossing: Crossing,
        detector_for: Callable[[tuple[int, int]], Detector],
        settings: PipelineSettings,
        ring: PacketRing,
        writer: EventSink,
        stats: LiveStats,
        emit: Emit,
        run_t: Callable[[], float],
        *,
        count_every_s: float = 60.0,
        signal_box: Callable[[Crossing, str | None], Any] | None = None,
    ):
        self.crossing, self.detector_for, self.settings = crossing, detector_for, settings
        self.ring, self.writer, self.stats, self.emit, self.run_t = ring, writer, stats, emit, run_t
        self.count_every_s = count_every_s
        self.signal_box = signal_box or lamps_box  # the lamps' union box: the evidence's signal crop
        self.segment: Segment | None = None
        self.decoder: VideoCodecContext | None = None
        self.waiting_for_key = True
        self.session: FrameSession | None = None
        self.scaled: Crossing | None = None  # the crossing in the stream's pixels (evidence drawing)
        self.sizes: tuple[tuple[int, int], tuple[int, int]] | None = None  # (stream size, working size)
        self.frame_index = 0
        self.last_t = float("-inf")
        self.next_track_offset = 0
        self._detected_before = 0
        self.connected = False
        self.last_packet_wall = time.monotonic()
        self.pending: list[PendingEvent] = []
        self.crossings: dict[int, list[LineCrossing]] = {}
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self._last_counts = time.monotonic()

    # -- queue items
    def handle(self, item: SegmentStart | StreamGap | BufferedPacket) -> None:
        if isinstance(item, BufferedPacket):
            self._packet(item)
        elif isinstance(item, SegmentStart):
            self._end_segment()
            self.segment, self.waiting_for_key = item.segment, True
            self.decoder = item.segment.fmt.decoder()
            self.connected = True
            self.emit("segment", segment=item.segment.index, reason=item.reason, t=round(item.segment.clock.t0, 3))
        elif isinstance(item, StreamGap):
            self._end_segment()
            self.connected = False
        self._release(self._horizon())
        self._flush_counts(force=False)

    def idle(self) -> None:
        """Nothing queued for a while: detect the frames waiting for a batch, release what is due."""
        if self.session is not None and time.monotonic() - self.last_packet_wall > 1.0:
            self.session.flush()
            self._collect()
        self._release(self._horizon())
        self._flush_counts(force=False)

    def close(self) -> None:
        """End of the run: decide everything, write every pending event and the last counts."""
        self._end_segment()
        self._release(float("inf"))
        self._flush_counts(force=True)

    def _end_segment(self) -> None:
        """The segment's last frames out of the decoder (it holds a few back), then the session ends."""
        if self.decoder is not None and not self.waiting_for_key:
            try:
                for f in self.decoder.decode(None):
                    self._frame(f)
            except (av.error.FFmpegError, ValueError):
                self.stats.broken_packets += 1
        self.decoder = None
        self.waiting_for_key = True
        self._end_session()

    # -- internals
    def _horizon(self) -> float:
        """How far the stream has got: its last frame, or the clock once the connection is gone."""
        if self.connected:
            return self.last_t
        return max(self.last_t, self.run_t() - RELEASE_MARGIN_S)

    def _packet(self, p: BufferedPacket) -> None:
        self.last_packet_wall = time.monotonic()
        if p.segment is not self.segment:  # cannot happen: a SegmentStart comes first
            self.handle(SegmentStart(p.segment, "connected"))
        self.ring.append(p)
        if self.waiting_for_key:
            if not p.keyframe:
                return
            self.waiting_for_key = False
        assert self.decoder is not None  # set with the segment
        try:
            frames = self.decoder.decode(p.to_av())
        except (av.error.FFmpegError, ValueError):
            self.stats.broken_packets += 1
            return
        for f in frames:
            self._frame(f)

    def _frame(self, f: av.VideoFrame) -> None:
        seg = self.segment
        assert seg is not None  # frames come from a segment's decoder
        step = float(1 / seg.fmt.rate) if seg.fmt.rate else 1 / 30
        t = seg.clock.t(f.pts) if f.pts is not None else self.last_t + step
        if t <= self.last_t:  # keep time monotonic (B-frame reordering at a segment start, broken pts)
            t = self.last_t + 1e-3
        if self.session is None:
            self._start_session((f.width, f.height))
        assert self.session is not None and self.sizes is not None
        size, work = self.sizes
        # the picture is made at the working size by the decoder's scaler (as `video.read_frames` does)
        scale: dict[str, Any] = (
            {} if work == size else {"width": work[0], "height": work[1], "interpolation": "BILINEAR"}
        )
        self.session.push(
            Frame(index=self.frame_index, t=round(t, 6), convert=partial(f.to_ndarray, format="bgr24", **scale))
        )
        self.frame_index += 1
        self.last_t = t
        self.stats.frames += 1
        self._collect()

    def _start_session(self, size: tuple[int, int]) -> None:
        """A fresh pipeline session for frames of `size`: judged at the crossing's working size."""
        detector = self.detector_for(size)
        work = plan_work(self.crossing, detector, size)
        self.scaled, self.sizes = self.crossing.scaled_to(size), (size, work)
        self.session = FrameSession(
            self.crossing.scaled_to(work),
            detector,
            self.settings,
            None,
            work,
            track_offset=self.next_track_offset,
            log_signals=False,
            lookahead=True,  # the model looks at the next frames while this thread decodes and judges
        )

    def _collect(self) -> None:
        """Move what the session decided into the pending lists; classes of ended tracks are final."""
        s = self.session
        if s is None:
            return
        self.stats.detected = self._detected_before + s.processed
        rec = self.writer.recorder
        scaled, sizes = self.scaled, self.sizes
        assert scaled is not None and sizes is not None  # set with the session
        size, work = sizes
        to_video_pixels(s.events + s.dropped, work, size)
        for e in s.events:
            lo, hi = rec.window(e)
            self.pending.append(PendingEvent(e, lo, hi, self.signal_box(scaled, e.signal_id)))
        s.events.clear()
        for e in s.dropped:  # its path jumps between road users (identity.py): never stored as it is
            self.stats.dropped_events += 1
            self.emit(
                "event_dropped",
                key=e.key,
                type=e.type.value,
                t=round(float(e.t), 3),
                reason="its path jumps between road users",
            )
        s.dropped.clear()
        for c in s.crossings:
            self.crossings.setdefault(c.track_id, []).append(c)
        s.crossings.clear()
        for tid, cls in s.final_class.items():
            for p in self.pending:
                if p.event.track_id == tid:
                    p.event.class_name, p.class_known = cls, True
            for c in self.crossings.pop(tid, []):
                self.counts[(c.stop_line, cls, int(c.t // 60))] += 1
        s.final_class.clear()

    def _end_session(self) -> None:
        s = self.session
        if s is None:
            return
        s.finish()
        self._collect()
        for p in self.pending:  # every track has ended: the votes are final
            p.class_known = True
        for cs in self.crossings.values():  # (none left: after finish every judged track has its class)
            for c in cs:
                self.counts[(c.stop_line, c.class_name, int(c.t // 60))] += 1
        self.crossings.clear()
        self._detected_before += s.processed
        self.next_track_offset = s.max_track_id
        self.session = None

    def _release(self, horizon: float) -> None:
        ready = [
            p
            for p in self.pending
            if horizon >= p.hi + RELEASE_MARGIN_S and (p.class_known or horizon >= p.event.t + CLASS_WAIT_S)
        ]
        if not ready:
            return
        done = {id(p) for p in ready}
        self.pending = [p for p in self.pending if id(p) not in done]
        for p in sorted(ready, key=lambda p: p.event.t):
            self.writer.submit_event(p, self.ring.window(p.lo))

    def _flush_counts(self, force: bool) -> None:
        if not self.counts or (not force and time.monotonic() - self._last_counts < self.count_every_s):
            return
        self._last_counts = time.monotonic()
        rows = [(sl, cls, minute, n) for (sl, cls, minute), n in sorted(self.counts.items())]
        self.counts.clear()
        self.writer.submit_counts(rows)
