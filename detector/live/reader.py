"""The live reader: demuxes a source's video packets (no decoding), stamps them with run time and
reconnects with backoff; `fill_timestamps` and `settle_arrivals` are its pure timing stages."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

import av
import av.error

from ..ring import BufferedPacket, Segment, SegmentClock, StreamFormat
from .source import Backoff, FollowFile, LiveSource, Watchdog

MPEGTS_PACKET = 188
FOLLOW_REWIND_BYTES = 1 << 20  # a reopened MPEG-TS file is read again from this far back: it holds PAT/PMT
STABLE_S = 5.0  # a connection that delivered video this long resets the backoff
SETTLE_S = 2.0  # a connection's first seconds of packets time it (see settle_arrivals)


@dataclass(frozen=True, slots=True)
class SegmentStart:
    segment: Segment
    reason: str  # "connected" | "timestamp jump" | "clock drift" | "fell behind" | "file replaced"


@dataclass(frozen=True, slots=True)
class StreamGap:
    reason: str  # why the connection ended


@dataclass
class LiveStats:
    """Counters over the whole run (written by several threads; each field by one thread)."""

    connects: int = 0
    reconnects: int = 0  # successful connections after the first
    connect_failures: int = 0
    disconnects: int = 0
    stalls: int = 0
    segments: int = 0
    packets: int = 0
    dropped_packets: int = 0  # processing fell behind a network stream
    broken_packets: int = 0  # the decoder refused them
    frames: int = 0
    detected: int = 0
    events: int = 0
    evidence_failures: int = 0
    dropped_events: int = 0  # decided, but the path is not one road user (identity check): not stored
    plates_s: float = 0.0  # time spent reading plates (inside the evidence stage)
    lost_events: int = 0  # could not be stored (database unreachable until the end)
    count_rows: int = 0
    # silence before each stall was noticed (the last 100: a run of days must not grow a list)
    stalled_after_s: deque[float] = field(default_factory=lambda: deque(maxlen=100))

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["stalled_after_s"] = [round(s, 2) for s in self.stalled_after_s]
        d["plates_s"] = round(self.plates_s, 3)
        return d


Emit = Callable[..., None]


class RawPacket(NamedTuple):
    pts: int | None
    dts: int | None
    keyframe: bool
    data: bytes
    pos: int | None  # byte offset in the input, when the demuxer knows it


def _own_pts(p: RawPacket) -> int | None:
    return p.pts if p.pts is not None else p.dts


def _timed(p: RawPacket) -> int:
    """The pts of a packet that went through `fill_timestamps` (always set there)."""
    if p.pts is None:
        raise ValueError("packet without a timestamp: fill_timestamps comes first")
    return p.pts


def fill_timestamps(packets: Iterable[RawPacket], step: int, lookahead: int = 4) -> Iterator[RawPacket]:
    """Packets with pts and dts always set.

    FFmpeg's RTSP demuxer hands out a connection's first packet (the keyframe it starts on) without
    timestamps. Such leading packets are held until `lookahead` timed packets have come: the first
    picture shown is the one before the earliest of their presentation times (B-frames are shown
    before the P-frame decoded ahead of them, so the earliest, not the first, is the reference).
    Later untimed packets come one frame (`step` ticks) after the previous packet. A missing dts is
    the pts (only a followed file uses dts: to skip what it already read)."""
    held: list[RawPacket] = []  # leading untimed packets, then the timed ones looked at
    last: int | None = None

    def stamped(p: RawPacket, pts: int) -> RawPacket:
        nonlocal last
        last = pts
        return p._replace(pts=pts, dts=p.dts if p.dts is not None else pts)

    def release() -> Iterator[RawPacket]:
        timed = [pts for q in held if (pts := _own_pts(q)) is not None]
        first = min(timed) if timed else 0
        lead = next((i for i, q in enumerate(held) if _own_pts(q) is not None), len(held))
        for i, q in enumerate(held):
            own = _own_pts(q)
            if i < lead:
                own = first - step * (lead - i)
            elif own is None:
                assert last is not None  # the first timed packet came before it
                own = last + step
            yield stamped(q, own)
        held.clear()

    for p in packets:
        if last is None and (held or _own_pts(p) is None):  # the start of the stream, untimed
            held.append(p)
            if sum(_own_pts(q) is not None for q in held) >= lookahead:
                yield from release()
            continue
        own = _own_pts(p)
        if own is None:
            assert last is not None  # an untimed packet is held unless one was timed before
            own = last + step
        yield stamped(p, own)
    yield from release()  # the stream ended during the look-ahead


def settle_arrivals(
    arrivals: Iterable[tuple[RawPacket, float]], tb: Fraction, settle_s: float = SETTLE_S
) -> Iterator[tuple[RawPacket, float]]:
    """(packet, arrival time) with better arrival times for a connection's first `settle_s` seconds.

    Opening a stream reads its first packets while probing it: they reach us in a burst, later
    than they arrived, and timing the connection by the first of them would put every frame of
    it that much late. So the first `settle_s` seconds are held back; a packet cannot arrive
    before it was sent, so the earliest arrival minus presentation offset over them is the best
    anchor, and their arrival times are that anchor plus their presentation offsets. Later
    packets keep their own arrival times."""
    warm: list[tuple[RawPacket, float]] = []

    def settled() -> Iterator[tuple[RawPacket, float]]:
        p0 = _timed(warm[0][0])
        base = min(at - float((_timed(r) - p0) * tb) for r, at in warm)
        for r, _ in warm:
            yield r, base + float((_timed(r) - p0) * tb)
        warm.clear()

    it = iter(arrivals)
    for raw, at in it:
        warm.append((raw, at))
        if at - warm[0][1] >= settle_s:
            yield from settled()
            yield from it
            return
    if warm:  # the connection ended while settling
        yield from settled()


class StreamReader(threading.Thread):
    """Opens the source, demuxes its video packets into `out`, reconnects with backoff."""

    def __init__(
        self,
        source: LiveSource,
        out: queue.Queue,
        *,
        run_t: Callable[[], float],
        stats: LiveStats,
        emit: Emit,
        stop: threading.Event,
        stall_s: float,
        backoff: Backoff,
        pts_anchor: bool = False,
        drift_s: float = 5.0,
        max_jump_s: float = 10.0,
        rtsp_transport: str = "tcp",
    ):
        super().__init__(name="crosswatch-reader", daemon=True)
        self.source, self.out, self.run_t, self.stats, self.emit = source, out, run_t, stats, emit
        self.stop_event, self.stall_s, self.backoff = stop, stall_s, backoff
        self.pts_anchor = pts_anchor  # a followed file with --start-time: t = its timestamps
        self.drift_s, self.max_jump_s, self.rtsp_transport = drift_s, max_jump_s, rtsp_transport
        self.abort = threading.Event()  # set by the watchdog (stall) or by stop()
        self.watchdog = Watchdog(stall_s, self._stalled)
        self._segment: Segment | None = None
        self._last_t = float("-inf")
        self._segments = 0
        # a followed file: where to go on after a reopen
        self._inode: int | None = None
        self._last_dts: int | None = None
        self._last_pos: int | None = None
        self._was_connected = False
        self._start_pts: int | None = None
        self._tail: tuple[BufferedPacket, int | None] | None = None

    # -- control
    def stop(self) -> None:
        self.stop_event.set()
        self.abort.set()

    def _stalled(self, silent_s: float) -> None:
        self.stats.stalls += 1
        self.stats.stalled_after_s.append(silent_s)
        self.emit("stalled", silent_s=round(silent_s, 2), stall_s=self.stall_s)
        self.abort.set()

    # -- main loop
    def run(self) -> None:
        self.watchdog.start()
        try:
            first = True
            while not self.stop_event.is_set():
                if not first:
                    delay = self.backoff.next()
                    self.emit("reconnecting", delay_s=delay)
                    if self._wait(delay):
                        break
                first = False
                self.abort.clear()
                reason = self._connection()
                if reason is not None and not self.stop_event.is_set():
                    self.stats.disconnects += 1
                    self.emit("disconnected", reason=reason)
            if self._tail is not None:  # a followed file's last packet, held back: the watch ends here
                self._deliver(*self._tail, block=False)
        finally:
            self.watchdog.stop()

    def _wait(self, delay: float) -> bool:
        """Sleep before a reconnect; True when the watch stops meanwhile. A followed file is
        reopened as soon as it grows (its writer is back), whatever the backoff says."""
        if self.source.kind != "file":
            return self.stop_event.wait(delay)
        size = _size(self.source.target)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self.stop_event.wait(0.1):
                return True
            if _size(self.source.target) != size:
                return False
        return False

    def _open(self, follow_file: FollowFile | None):
        opts = {"analyzeduration": "2000000", "probesize": "2000000"}
        if follow_file is not None:
            return av.open(follow_file, mode="r", options=opts)
        if self.source.kind == "rtsp":
            opts["rtsp_transport"] = self.rtsp_transport
        # PyAV interrupts any open/read that takes longer: a blocked read ends soon after the watchdog fired
        return av.open(self.source.target, mode="r", options=opts, timeout=(self.stall_s, self.stall_s + 2.0))

    def _connection(self) -> str | None:
        """One connection: open, pump packets until it ends; the reason it ended (None: stopped or
        never opened)."""
        follow = None
        if self.source.kind == "file":
            try:
                follow = self._follow_file()
            except OSError as e:
                self.stats.connect_failures += 1
                self.emit("connect_failed", reason=f"{e.strerror or e}")
                return None
            self.watchdog.arm()  # opening a growing file waits for its bytes: a stall too
        try:
            container = self._open(follow)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            self.watchdog.disarm()
            if follow is not None:
                follow.close()
            self.stats.connect_failures += 1
            self.emit("connect_failed", reason="no data" if self.abort.is_set() else reason_of(e))
            return None
        try:
            reason = self._pump(container, follow)
        finally:
            self.watchdog.disarm()
            try:
                container.close()
            except Exception:  # closing a broken connection
                pass
            if follow is not None:
                follow.close()
        if self.stop_event.is_set():
            return None
        if self.source.is_network:  # the processor ends its session: the next packets come after a gap
            self._put(StreamGap(reason), block=True)
        return reason

    def _follow_file(self) -> FollowFile:
        """Open the followed file: where it was left (same file, MPEG-TS: rewound a little so the
        demuxer finds its tables again; packets already read are skipped by decoding time), or
        from the start (first time, or a new file under the same name)."""
        path = self.source.target
        st = os.stat(path)
        offset = 0
        if self._inode == st.st_ino and self._last_dts is not None:
            if self._last_pos is not None and st.st_size >= self._last_pos:
                offset = max(0, self._last_pos - FOLLOW_REWIND_BYTES) // MPEGTS_PACKET * MPEGTS_PACKET
        elif self._inode is not None:  # replaced (rotated): a new recording, a new segment
            self._last_dts = self._last_pos = None
            self._segment = None
        self._inode = st.st_ino
        return FollowFile(path, offset, self.abort)

    def _pump(self, container, follow: FollowFile | None) -> str:
        """Demux one opened connection into the queue; returns why it ended."""
        if not container.streams.video:
            return "no video stream"
        stream = container.streams.video[0]
        ctx = stream.codec_context
        fmt = StreamFormat(
            ctx.name,
            bytes(ctx.extradata) if ctx.extradata else None,
            ctx.width,
            ctx.height,
            stream.average_rate or stream.guessed_rate,
        )
        tb = stream.time_base or Fraction(1, 90000)
        step = max(1, round(1 / ((fmt.rate if fmt.rate else 30) * tb)))  # one frame in time-base ticks
        resume_dts = self._last_dts if follow is not None else None
        if resume_dts is None:
            self._segment = None  # a network connection (or a file from its start): a new segment
        self._start_pts = stream.start_time  # the first frame's timestamp, when the container says
        self.stats.connects += 1
        if self._was_connected:
            self.stats.reconnects += 1
        self._was_connected = True
        self.emit(
            "connected",
            codec=fmt.codec,
            width=fmt.width,
            height=fmt.height,
            fps=round(float(fmt.rate), 3) if fmt.rate else None,
            resumed=resume_dts is not None,
        )
        self.watchdog.arm()
        opened = time.monotonic()
        stable = False
        held: tuple[BufferedPacket, int | None] | None = None  # a followed file's last packet may be cut off
        self._tail = None
        dropping = False
        arrivals: Iterable[tuple[RawPacket, float]] = (
            (raw, self.run_t()) for raw in fill_timestamps(self._demux(container, stream), step)
        )
        if self.source.is_network:
            arrivals = settle_arrivals(arrivals, tb)
        try:
            for raw, arrived in arrivals:
                if resume_dts is not None:
                    if raw.dts is not None and raw.dts <= resume_dts:
                        continue
                    resume_dts = None
                if not stable and time.monotonic() - opened >= STABLE_S:
                    stable = True
                    self.backoff.reset()
                item = self._stamp(raw, fmt, tb, arrived)
                if follow is not None:  # sent one packet late: the one read last may be incomplete
                    if held is not None and not self._deliver(*held):
                        return "stopped"
                    held = (item, None if raw.pos is None else follow.offset + raw.pos)
                    continue
                if dropping:
                    if not (item.keyframe and self.out.qsize() < self.out.maxsize - 2):
                        self.stats.dropped_packets += 1
                        continue
                    dropping = False  # go on after the gap, from a keyframe, as a new segment
                    seg = self._new_segment(fmt, item.segment.clock, "fell behind")
                    item = BufferedPacket(seg, item.t, item.pts, item.dts, item.keyframe, item.data)
                if not self._deliver(item):
                    dropping = True
                    self.stats.dropped_packets += 1
                    self.emit("behind", queued=self.out.qsize())
        except (av.error.FFmpegError, OSError, ValueError) as e:
            return "stalled" if self.abort.is_set() else reason_of(e)
        finally:
            self._tail = held  # read again after a reopen; delivered if the watch stops first
        return "stalled" if self.abort.is_set() else "end of stream"

    def _demux(self, container, stream) -> Iterator[RawPacket]:
        """The connection's video packets until it ends, is aborted (stall) or the watch stops."""
        for packet in container.demux(stream):
            # a followed file ends itself once aborted (FollowFile returns end-of-file), and the
            # demuxer then hands out the packets it still holds: those are wanted
            if self.stop_event.is_set() or (self.abort.is_set() and self.source.is_network):
                return
            if packet.size == 0:
                continue
            self.watchdog.beat()
            pos = packet.pos if packet.pos is not None and packet.pos >= 0 else None
            yield RawPacket(packet.pts, packet.dts, bool(packet.is_keyframe), bytes(packet), pos)

    def _stamp(self, raw: RawPacket, fmt: StreamFormat, tb: Fraction, now_t: float) -> BufferedPacket:
        """Give the packet its run time (`now_t`: when it arrived); start a new segment at a
        connection or a timestamp jump."""
        seg = self._segment
        pts = _timed(raw)
        if seg is None or seg.fmt != fmt:
            seg = self._new_segment(fmt, self._anchor(pts, tb, now_t), "connected")
        else:
            jump = seg.clock.t(pts) - self._last_t
            if jump < -1.0 or jump > self.max_jump_s:
                seg = self._new_segment(fmt, self._anchor(pts, tb, now_t), "timestamp jump")
            elif self.source.is_network and abs(seg.clock.t(pts) - now_t) > self.drift_s:
                seg = self._new_segment(fmt, self._anchor(pts, tb, now_t), "clock drift")
        t = seg.clock.t(pts)
        self._last_t = max(self._last_t, t)
        self.stats.packets += 1
        return BufferedPacket(seg, t, pts, raw.dts, raw.keyframe, raw.data)

    def _anchor(self, pts: int, tb: Fraction, now_t: float) -> SegmentClock:
        """Where a new segment starts on the run's time axis. First segment: the wall clock now, or
        (a followed file with --start-time) its timestamps from its first frame. Later ones: the
        wall clock for a network stream; a file's time just goes on (its gaps are not real time)."""
        step = 0.04
        if self._last_t == float("-inf"):
            start = self._start_pts if self._start_pts is not None else pts
            t0 = max(0.0, float((pts - start) * tb)) if self.pts_anchor else now_t
        elif self.source.is_network:
            t0 = max(now_t, self._last_t + step)
        else:
            t0 = self._last_t + step
        return SegmentClock(t0, pts, tb)

    def _new_segment(self, fmt: StreamFormat, clock: SegmentClock, reason: str) -> Segment:
        self._segments += 1
        self.stats.segments += 1
        self._segment = Segment(self._segments, fmt, clock)
        self._put(SegmentStart(self._segment, reason), block=True)
        return self._segment

    def _deliver(self, item: BufferedPacket, follow_pos: int | None = None, block: bool | None = None) -> bool:
        ok = self._put(item, block=not self.source.is_network if block is None else block)
        if ok and not self.source.is_network:
            self._last_dts = item.dts
            if follow_pos is not None:
                self._last_pos = follow_pos
        return ok

    def _put(self, item, block: bool) -> bool:
        """Queue an item. A file waits for room; a network stream does not (the caller drops)."""
        if not block:
            try:
                self.out.put_nowait(item)
                return True
            except queue.Full:
                return False
        while not self.stop_event.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def reason_of(e: BaseException) -> str:
    """One line saying why an I/O or decoder call failed."""
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return msg.splitlines()[0].strip()
