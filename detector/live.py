"""`crosswatch watch`: violations on a live stream (RTSP, HTTP(S), or a local file followed as it grows).

A file run decodes the whole video, then writes everything in one transaction; a stream never ends.
So `watch` opens one long `running` run and writes each event, with its evidence, as soon as it is
decided and its clip window has passed (`Repository.add_events`), and traffic counts every minute
(`Repository.add_counts`). Three threads:

- the *reader* opens the source, demuxes packets (no decoding) and stamps them with run time; it
  reconnects with backoff (1, 2, 4 ... 30 s) after an error, the end of the stream or a stall;
- a *watchdog* notices a stream that stops delivering video (no packet for `stall_s`, 10 s by
  default) and makes the reader drop the connection; a blocked read gives up `stall_s` + 2 s after
  it began (PyAV's read timeout), so a stall is over within 20 s;
- the *processor* (the calling thread) decodes, runs the pipeline stages (`FrameSession`), keeps
  the recent packets in a `PacketRing` and hands finished events to the *writer* thread, which
  decodes the event's window again from the ring, writes the evidence files and stores the event.

Time: a frame's time is the wall clock at which its connection's first packet arrived (estimated
over the connection's first seconds, see `settle_arrivals`), plus the stream's own timestamps since
then (exact spacing; the wall clock only anchors each connection). `t` is seconds since the run
started, the stored `occurred_at` is start + t. A followed file with `--start-time` is timed by its
timestamps from that start instead, as `process` does.

Across a gap (reconnect, timestamp jump, packets dropped because processing fell behind) the
pipeline finishes its session, so every road user still being judged is decided, and starts a fresh
one: after a gap the road users have moved on, and matching a new box to an old track would join two
road users into one path (a queue rider "crossing" the line). Track ids keep counting over the
run and frames are numbered over the run, so event keys (`type-track-frame`) never repeat. Events
decided before the gap keep their pending evidence windows; their clips end where the stream did.
A followed file that stops growing is reopened where it was read, with no gap at all.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import queue
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import av
import av.error

from .config import Crossing
from .pipeline import Detector, FrameSession, PipelineSettings
from .ring import BufferedPacket, PacketRing, RingFrames, Segment, SegmentClock, StreamFormat
from .types import Frame, LineCrossing, ViolationEvent

MPEGTS_PACKET = 188
FOLLOW_REWIND_BYTES = 1 << 20  # a reopened MPEG-TS file is read again from this far back: it holds PAT/PMT
RELEASE_MARGIN_S = 0.5  # an event's evidence is made once the stream is this far past its clip window
CLASS_WAIT_S = 20.0  # ... and its track has ended (whole-track class vote), or this long after the event
STABLE_S = 5.0  # a connection that delivered video this long resets the backoff
SETTLE_S = 2.0  # a connection's first seconds of packets time it (see settle_arrivals)


class SourceError(ValueError):
    """A source that `watch` cannot use (one line for a person)."""


# -- the source ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiveSource:
    kind: str  # "rtsp" | "http" | "file"
    target: str  # URL, or the file's absolute path
    display: str  # for logs and the database: the URL without its password

    @property
    def is_network(self) -> bool:
        return self.kind != "file"


def _redact(url: str) -> str:
    """The URL without its password (camera URLs often carry credentials)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def parse_source(text: str, follow: bool) -> LiveSource:
    """rtsp(s)://, http(s):// or, with `follow`, a local file (path or file:// URL)."""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("rtsp", "rtsps", "http", "https"):
        if follow:
            raise SourceError(f"{_redact(text)}: --follow is for a local file that grows, not for a URL")
        if not parts.hostname:
            raise SourceError(f"{_redact(text)}: no host in the URL")
        return LiveSource("rtsp" if scheme.startswith("rtsp") else "http", text, _redact(text))
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:3] in (":\\", ":/")):  # a path (C:\ too)
        path = Path(parts.path if scheme == "file" else text).expanduser().resolve()
        if not follow:
            raise SourceError(f"{text}: a local file is watched only with --follow (read as it grows, like "
                              "`tail -f`); a finished recording is for `crosswatch process`")
        if path.is_dir():
            raise SourceError(f"{path}: is a folder, not a video file")
        if not path.parent.is_dir():
            raise SourceError(f"{path}: its folder does not exist")
        return LiveSource("file", str(path), str(path))
    raise SourceError(f"{_redact(text)}: unsupported source; use rtsp://, rtsps://, http(s):// or a local "
                      "file with --follow")


class FollowFile(io.RawIOBase):
    """A growing file read like `tail -f`: at its end, reading waits for more bytes instead of
    ending, until `abort` is set (the watchdog's doing when nothing arrives for `stall_s`)."""

    def __init__(self, path: str, offset: int, abort: threading.Event, poll_s: float = 0.05):
        super().__init__()
        self._f = open(path, "rb")
        self._f.seek(offset)
        self.offset = offset
        self.inode = os.fstat(self._f.fileno()).st_ino
        self.abort = abort
        self.poll_s = poll_s

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        while True:
            n = self._f.readinto(buffer)
            if n:
                return n
            if self.abort.is_set():
                return 0
            time.sleep(self.poll_s)

    def close(self) -> None:
        self._f.close()
        super().close()


# -- reconnect policy and watchdog ------------------------------------------------------------------
class Backoff:
    """Delays before reconnect attempts: `first`, doubling, at most `cap` (1, 2, 4 ... 30 s)."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, factor: float = 2.0):
        if first <= 0 or cap < first or factor < 1:
            raise ValueError("backoff: need 0 < first <= cap and factor >= 1")
        self.first, self.cap, self.factor = first, cap, factor
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * self.factor)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Watchdog(threading.Thread):
    """Calls `on_stall(silent_s)` once per connection when no `beat()` came for `stall_s` while armed.

    The reader arms it when a connection opens, beats on every video packet and disarms it when the
    connection closes. It checks every `stall_s / 10` (at most 0.5 s), so it fires within
    1.1 x `stall_s` of the last packet."""

    def __init__(self, stall_s: float, on_stall: Callable[[float], None], clock: Callable[[], float] = time.monotonic):
        super().__init__(name="crosswatch-watchdog", daemon=True)
        if stall_s <= 0:
            raise ValueError("stall_s must be > 0")
        self.stall_s = stall_s
        self.on_stall = on_stall
        self.clock = clock
        self._lock = threading.Lock()
        self._armed = False
        self._last = 0.0
        self._done = threading.Event()

    def arm(self) -> None:
        with self._lock:
            self._armed, self._last = True, self.clock()

    def beat(self) -> None:
        self._last = self.clock()

    def disarm(self) -> None:
        with self._lock:
            self._armed = False

    def check(self) -> bool:
        """Fire if stalled; True when it fired (one check; `run` calls it in a loop)."""
        with self._lock:
            silent = self.clock() - self._last
            if not self._armed or silent < self.stall_s:
                return False
            self._armed = False  # once per connection
        self.on_stall(silent)
        return True

    def run(self) -> None:
        while not self._done.wait(min(0.5, self.stall_s / 10)):
            self.check()

    def stop(self) -> None:
        self._done.set()


# -- reader -----------------------------------------------------------------------------------------
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
    lost_events: int = 0  # could not be stored (database unreachable until the end)
    count_rows: int = 0
    # silence before each stall was noticed (the last 100: a run of days must not grow a list)
    stalled_after_s: deque[float] = field(default_factory=lambda: deque(maxlen=100))

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["stalled_after_s"] = [round(s, 2) for s in self.stalled_after_s]
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
        timed = [_own_pts(q) for q in held if _own_pts(q) is not None]
        first = min(timed) if timed else 0
        lead = next((i for i, q in enumerate(held) if _own_pts(q) is not None), len(held))
        for i, q in enumerate(held):
            own = _own_pts(q)
            yield stamped(q, first - step * (lead - i) if i < lead else own if own is not None else last + step)
        held.clear()

    for p in packets:
        if last is None and (held or _own_pts(p) is None):  # the start of the stream, untimed
            held.append(p)
            if sum(_own_pts(q) is not None for q in held) >= lookahead:
                yield from release()
            continue
        own = _own_pts(p)
        yield stamped(p, own if own is not None else last + step)
    yield from release()  # the stream ended during the look-ahead


def settle_arrivals(arrivals: Iterable[tuple[RawPacket, float]], tb: Fraction,
                    settle_s: float = SETTLE_S) -> Iterator[tuple[RawPacket, float]]:
    """(packet, arrival time) with better arrival times for a connection's first `settle_s` seconds.

    Opening a stream reads its first packets while probing it: they reach us in a burst, later
    than they arrived, and timing the connection by the first of them would put every frame of
    it that much late. So the first `settle_s` seconds are held back; a packet cannot arrive
    before it was sent, so the earliest arrival minus presentation offset over them is the best
    anchor, and their arrival times are that anchor plus their presentation offsets. Later
    packets keep their own arrival times."""
    warm: list[tuple[RawPacket, float]] = []

    def settled() -> Iterator[tuple[RawPacket, float]]:
        p0 = warm[0][0].pts
        base = min(at - float((r.pts - p0) * tb) for r, at in warm)
        for r, _ in warm:
            yield r, base + float((r.pts - p0) * tb)
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

    def __init__(self, source: LiveSource, out: queue.Queue, *, run_t: Callable[[], float], stats: LiveStats,
                 emit: Emit, stop: threading.Event, stall_s: float, backoff: Backoff, pts_anchor: bool = False,
                 drift_s: float = 5.0, max_jump_s: float = 10.0, rtsp_transport: str = "tcp"):
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
            self.emit("connect_failed", reason="no data" if self.abort.is_set() else _reason(e))
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
        fmt = StreamFormat(ctx.name, bytes(ctx.extradata) if ctx.extradata else None, ctx.width, ctx.height,
                           stream.average_rate or stream.guessed_rate)
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
        self.emit("connected", codec=fmt.codec, width=fmt.width, height=fmt.height,
                  fps=round(float(fmt.rate), 3) if fmt.rate else None, resumed=resume_dts is not None)
        self.watchdog.arm()
        opened = time.monotonic()
        stable = False
        held: tuple[BufferedPacket, int | None] | None = None  # a followed file's last packet may be cut off
        self._tail = None
        dropping = False
        arrivals: Iterable[tuple[RawPacket, float]] = (
            (raw, self.run_t()) for raw in fill_timestamps(self._demux(container, stream), step))
        if self.source.is_network:
            arrivals = settle_arrivals(arrivals, tb)
        try:
            for raw, arrived in arrivals:
                if resume_dts is not None:
                    if raw.dts <= resume_dts:
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
            return "stalled" if self.abort.is_set() else _reason(e)
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
        pts = raw.pts
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


def _reason(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return msg.splitlines()[0].strip()


# -- processor --------------------------------------------------------------------------------------
@dataclass
class PendingEvent:
    event: ViolationEvent
    lo: float  # clip window on the run's time axis
    hi: float
    signal_box: tuple[float, float, float, float] | None
    class_known: bool = False


class LiveProcessor:
    """Decodes queued packets, runs the pipeline stages, and hands decided events to the writer."""

    def __init__(self, crossing: Crossing, detector_for: Callable[[tuple[int, int]], Detector],
                 settings: PipelineSettings, ring: PacketRing, writer: "EventWriter", stats: LiveStats,
                 emit: Emit, run_t: Callable[[], float], *, count_every_s: float = 60.0,
                 signal_box: Callable[[Crossing, str | None], Any] | None = None):
        self.crossing, self.detector_for, self.settings = crossing, detector_for, settings
        self.ring, self.writer, self.stats, self.emit, self.run_t = ring, writer, stats, emit, run_t
        self.count_every_s = count_every_s
        if signal_box is None:
            from .cli import _signal_box as signal_box  # the lamps' union box: the evidence's signal crop
        self.signal_box = signal_box
        self.segment: Segment | None = None
        self.decoder: av.CodecContext | None = None
        self.waiting_for_key = True
        self.session: FrameSession | None = None
        self.scaled: Crossing | None = None
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
            self.segment, self.decoder, self.waiting_for_key = item.segment, item.segment.fmt.decoder(), True
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
        try:
            frames = self.decoder.decode(p.to_av())
        except (av.error.FFmpegError, ValueError):
            self.stats.broken_packets += 1
            return
        for f in frames:
            self._frame(f)

    def _frame(self, f: av.VideoFrame) -> None:
        step = float(1 / self.segment.fmt.rate) if self.segment.fmt.rate else 1 / 30
        t = self.segment.clock.t(f.pts) if f.pts is not None else self.last_t + step
        if t <= self.last_t:  # keep time monotonic (B-frame reordering at a segment start, broken pts)
            t = self.last_t + 1e-3
        if self.session is None:
            size = (f.width, f.height)
            self.scaled = self.crossing.scaled_to(size)
            self.session = FrameSession(self.scaled, self.detector_for(size), self.settings, None, size,
                                        track_offset=self.next_track_offset, log_signals=False)
        self.session.push(Frame(index=self.frame_index, t=round(t, 6), convert=partial(f.to_ndarray, format="bgr24")))
        self.frame_index += 1
        self.last_t = t
        self.stats.frames += 1
        self._collect()

    def _collect(self) -> None:
        """Move what the session decided into the pending lists; classes of ended tracks are final."""
        s = self.session
        if s is None:
            return
        self.stats.detected = self._detected_before + s.processed
        rec = self.writer.recorder
        for e in s.events:
            lo, hi = rec.window(e)
            self.pending.append(PendingEvent(e, lo, hi, self.signal_box(self.scaled, e.signal_id)))
        s.events.clear()
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
        ready = [p for p in self.pending if horizon >= p.hi + RELEASE_MARGIN_S
                 and (p.class_known or horizon >= p.event.t + CLASS_WAIT_S)]
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


# -- writer -----------------------------------------------------------------------------------------
class EventWriter(threading.Thread):
    """Evidence files and database rows, in order, off the processing thread. A database that is
    unreachable is retried with backoff (events wait in memory) for up to `db_patience_s`."""

    def __init__(self, repo, run_id: int, recorder, rel_root: str, evidence_root: Path, stats: LiveStats,
                 emit: Emit, *, run_start: datetime, source_name: str, db_patience_s: float = 600.0):
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
        from .evidence import EvidenceBatchError, EvidenceError

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
        from service.repository import EventRecord, EvidenceRecord

        files = self._evidence(p, packets)
        del packets
        record = EventRecord.from_violation(p.event, [EvidenceRecord(f.kind, f.relpath, f.sha256, f.size, f.mime)
                                                      for f in files])
        added = self._with_retry(lambda: self.repo.add_events(self.run_id, [record]), what=f"event {record.event_key}")
        if added is None:
            self.stats.lost_events += 1
            return
        self.stats.events += 1
        self.emit("event", **self._event_json(p.event, added.get(record.event_key), files))

    def _counts(self, rows: list[tuple[str, str, int, int]]) -> None:
        from service.repository import CountRecord

        records = [CountRecord(sl, cls, minute, n) for sl, cls, minute, n in rows]
        if self._with_retry(lambda: self.repo.add_counts(self.run_id, records), what="traffic counts") is not None:
            self.stats.count_rows += len(records)

    def _with_retry(self, write: Callable[[], Any], what: str) -> Any:
        from sqlalchemy.exc import OperationalError

        backoff, waited = Backoff(), 0.0
        while True:
            try:
                result = write()
                return True if result is None else result
            except OperationalError as e:  # the database went away: wait for it
                if waited >= self.db_patience_s or (self.closing and waited >= 10.0):
                    self.emit("error", reason=f"{what} not stored: {_reason(e.orig or e)}")
                    return None
                delay = backoff.next()
                self.emit("db_retry", what=what, delay_s=delay, reason=_reason(e.orig or e))
                time.sleep(delay)
                waited += delay

    def _event_json(self, e: ViolationEvent, uid: str | None, files: list) -> dict:
        occurred = self.run_start.timestamp() + float(e.t)
        return {
            "id": uid, "key": e.key, "type": e.type.value, "track_id": e.track_id, "class": e.class_name,
            "t": round(float(e.t), 3), "frame": e.frame, "box": [round(v, 1) for v in e.box],
            "occurred_at": datetime.fromtimestamp(occurred, self.run_start.tzinfo).isoformat(timespec="milliseconds"),
            "lane": e.lane, "stop_line": e.stop_line, "signal": e.signal.value if e.signal is not None else None,
            "since_red_s": e.since_red_s, "latency_s": round(time.time() - occurred, 2),
            "evidence": {f.kind: {"path": str(self.evidence_root / f.relpath), "sha256": f.sha256, "size": f.size}
                         for f in files},
        }


# -- the whole watch ----------------------------------------------------------------------------------
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

    def __init__(self, source: LiveSource, crossing: Crossing, detector_for: Callable[[tuple[int, int]], Detector],
                 settings: PipelineSettings, repo, run_id: int, recorder, *, run_start: datetime, rel_root: str,
                 evidence_root: Path, emit: Emit, options: WatchOptions | None = None, pts_anchor: bool = False,
                 signal_box: Callable | None = None):
        self.options = opts = options or WatchOptions()
        self.source, self.emit = source, emit
        self.run_start = run_start
        self.stats = LiveStats()
        self.stop_event = threading.Event()
        self.started = time.perf_counter()
        self.ring = PacketRing(opts.ring_s, opts.ring_bytes)
        self.queue: queue.Queue = queue.Queue(maxsize=opts.max_queue)
        self.writer = EventWriter(repo, run_id, recorder, rel_root, evidence_root, self.stats, emit,
                                  run_start=run_start, source_name=source.display)
        self.processor = LiveProcessor(crossing, detector_for, settings, self.ring, self.writer, self.stats, emit,
                                       self.run_t, count_every_s=opts.count_every_s, signal_box=signal_box)
        self.reader = StreamReader(source, self.queue, run_t=self.run_t, stats=self.stats, emit=emit,
                                   stop=self.stop_event, stall_s=opts.stall_s,
                                   backoff=Backoff(opts.backoff_first_s, opts.backoff_cap_s), pts_anchor=pts_anchor,
                                   rtsp_transport=opts.rtsp_transport)

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
        self.emit("alive", frames=self.stats.frames, detected=self.stats.detected, events=self.stats.events,
                  lag_s=round(self.run_t() - p.last_t, 2) if p.last_t > float("-inf") else None,
                  queued=self.queue.qsize(), ring_bytes=self.ring.bytes, ring_s=round(self.ring.span_s, 1),
                  pending=len(p.pending))

    def summary(self) -> dict:
        p = self.processor
        return {
            "source": self.source.display,
            "duration_s": round(max(p.last_t, 0.0), 3) if p.last_t > float("-inf") else 0.0,
            "elapsed_s": round(time.perf_counter() - self.started, 3),
            **self.stats.as_dict(),
            "ring": {"max_s": self.ring.max_s, "max_bytes": self.ring.max_bytes, "peak_bytes": self.ring.peak_bytes},
        }


# -- command line -------------------------------------------------------------------------------------
class Emitter:
    """Status lines for a person (stderr) or JSON lines (`--json`, stdout), from any thread."""

    def __init__(self, as_json: bool, out=None, err=None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, kind: str, **fields: Any) -> None:
        now = datetime.now().astimezone().isoformat(timespec="milliseconds")
        with self._lock:
            if self.as_json:
                key = "event" if kind == "event" else "summary" if kind == "summary" else "status"
                line = {key: fields, "wall": now} if key != "status" else {"status": kind, "wall": now, **fields}
                self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.out.flush()
                return
            if kind == "event":
                self.out.write(f"{fields['occurred_at']}  {fields['type']:9s} track {fields['track_id']:<5d} "
                               f"{fields['class']:10s} lane={fields['lane']} ({len(fields['evidence'])} evidence files, "
                               f"{fields['latency_s']:.1f} s after it happened)\n")
                self.out.flush()
            elif kind == "summary":
                self.err.write("crosswatch watch: " + json.dumps(fields, ensure_ascii=False) + "\n")
            else:
                detail = ", ".join(f"{k}={v}" for k, v in fields.items())
                self.err.write(f"crosswatch watch: {now} {kind}" + (f" ({detail})" if detail else "") + "\n")
            self.err.flush()


def add_parser(sub) -> None:
    """The `watch` subcommand (called from `detector.cli.build_parser`)."""
    from .cli import _add_model_options

    w = sub.add_parser("watch", help="find violations on a live stream (rtsp://, http(s)://, or a growing file "
                                     "with --follow) and store each event as it happens")
    w.add_argument("source", help="rtsp://[user:pass@]host/path, http(s)://..., or a file path with --follow")
    w.add_argument("--crossing", required=True, help="crossing YAML file")
    w.add_argument("--follow", action="store_true", help="SOURCE is a local file (MPEG-TS) that keeps growing")
    w.add_argument("--db", help="SQLAlchemy URL (default: SQLite in the project's data folder, or $CROSSWATCH_DB_URL)")
    w.add_argument("--evidence-dir", help="evidence folder (default: beside the SQLite file, or $CROSSWATCH_EVIDENCE_DIR)")
    _add_model_options(w)
    w.add_argument("--start-time", help="with --follow: wall-clock time of the file's first frame (ISO 8601 with "
                                        "offset); frame times then come from the file's timestamps")
    w.add_argument("--duration", type=float, help="stop after this many seconds (default: until interrupted)")
    w.add_argument("--stall-s", type=float, default=WatchOptions.stall_s,
                   help="no video for this long = stalled: drop the connection and reconnect (default 10)")
    w.add_argument("--ring-s", type=float, default=WatchOptions.ring_s,
                   help="seconds of recent packets kept for evidence clips (default 60)")
    w.add_argument("--rtsp-transport", choices=["tcp", "udp"], default="tcp")
    w.add_argument("--json", action="store_true", help="JSON lines on stdout: status, events, a summary at the end")
    w.set_defaults(func=cmd_watch)


def _positive(name: str, value: float | None) -> None:
    from .cli import UserError

    if value is not None and not value > 0:
        raise UserError(f"{name} must be > 0 (got {value})")


def cmd_watch(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, UserError, _detector, _evidence_root, _parse_start, _resolve_model
    from .config import load_crossing

    try:
        source = parse_source(args.source, args.follow)
    except SourceError as e:
        raise UserError(str(e)) from None
    for name in ("duration", "stall_s", "ring_s"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    if args.start_time and not args.follow:
        raise UserError("--start-time is for --follow (a live stream is timed by the wall clock)")
    crossing_file = Path(args.crossing)
    crossing = load_crossing(crossing_file)
    start_time = _parse_start(args.start_time)
    device, model_name, model_path = _resolve_model(args)

    from service.db import default_db_url, make_engine, upgrade
    from service.repository import Repository, hash_settings

    from .evidence import EvidenceError, EvidenceRecorder

    settings = PipelineSettings(model=model_name, imgsz=args.imgsz, detect_fps=args.detect_fps)
    run_start = start_time or datetime.now().astimezone()
    settings_dict = {**settings.as_dict(), "live": {"source": source.display, "follow": bool(args.follow)}}
    db_url = args.db or default_db_url()
    engine = make_engine(db_url)
    upgrade(engine)
    repo = Repository(engine)
    evidence_root = _evidence_root(args.evidence_dir, db_url)
    try:
        recorder = EvidenceRecorder(evidence_root, crossing.name, start_time=run_start)
    except EvidenceError as e:
        raise UserError(str(e)) from None
    version = repo.upsert_crossing(crossing, crossing_file.read_text(encoding="utf-8"))
    # a live run is one watch of one source from one moment: its identity is (source, start)
    identity = hashlib.sha256(f"live\n{source.display}\n{datetime.now().astimezone().isoformat()}".encode()).hexdigest()
    run_id = repo.start_run(video_path=source.display, video_sha256=identity, crossing_version_id=version.version_id,
                            model=settings.model, settings=settings_dict, settings_hash=hash_settings(settings_dict),
                            start_time=run_start)
    detectors: dict[tuple[int, int], Detector] = {}

    def detector_for(size: tuple[int, int]) -> Detector:
        if size not in detectors:
            detectors[size] = _detector(crossing, size, device, model_path, settings.imgsz)
        return detectors[size]

    emit = Emitter(args.json)
    rel_root = f"{crossing.id}/live-{run_start:%Y%m%dT%H%M%S}-run{run_id}"
    opts = WatchOptions(stall_s=args.stall_s, ring_s=args.ring_s, rtsp_transport=args.rtsp_transport)
    watcher = Watcher(source, crossing, detector_for, settings, repo, run_id, recorder, run_start=run_start,
                      rel_root=rel_root, evidence_root=evidence_root, emit=emit, options=opts,
                      pts_anchor=start_time is not None)
    emit("started", run_id=run_id, source=source.display, crossing=crossing.id,
         run_start=run_start.isoformat(timespec="milliseconds"), stall_s=opts.stall_s, pid=os.getpid())
    restore = _stop_on_signals(watcher)
    try:
        summary = watcher.run(args.duration)
    except KeyboardInterrupt:  # a second Ctrl-C: no clean end, but what was written stays
        repo.fail_run(run_id, "interrupted")
        print(f"crosswatch: interrupted; the {watcher.stats.events} events written so far are kept "
              f"(run {run_id} marked failed)", file=sys.stderr)
        return 130
    except BaseException as e:
        repo.fail_run(run_id, f"{type(e).__name__}: {e}")
        raise
    finally:
        restore()
    summary["run_id"] = run_id
    repo.finish_run(run_id, events=[], counts=[], duration_s=summary["duration_s"], frames=summary["frames"],
                    elapsed_s=summary["elapsed_s"], timings={"live": watcher.stats.as_dict()})
    emit("summary", **summary)
    return EXIT_OK


def _stop_on_signals(watcher: Watcher) -> Callable[[], None]:
    """SIGINT/SIGTERM end the watch cleanly (pending events are still written); a second one is
    KeyboardInterrupt. Returns the function that puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, _frame):
        if watcher.stop_event.is_set():
            raise KeyboardInterrupt
        watcher.emit("stopping", signal=signal.Signals(signum).name)
        watcher.stop()

    for s in old:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return restore
