"""Live streams for `crosswatch watch`: sources (RTSP, HTTP(S), a growing file), the reader that
demuxes and times their packets and reconnects, and the processor that runs the pipeline stages
on them and hands decided events to an `EventSink`. Storing events is the consumer's business
(`service.runs.watch`).

Detection is what `Pipeline.run` does on a file: the crossing's detection plan, frames decoded
straight to its working size, class from context, the identity check of each event's path
(`FrameSession`), and events moved back into the stream's pixels for their evidence.

Time: a frame's time is the wall clock at which its connection's first packet arrived (estimated
over the connection's first seconds, see `settle_arrivals`), plus the stream's own timestamps since
then (exact spacing; the wall clock only anchors each connection). A followed file with a start
time is timed by its timestamps from that start instead, as `process` does.

Across a gap (reconnect, timestamp jump, packets dropped because processing fell behind) the
processor finishes its pipeline session, so every road user still being judged is decided, and
starts a fresh one: after a gap the road users have moved on, and matching a new box to an old
track would join two road users into one path. Track ids keep counting over the run and frames are
numbered over the run, so event keys (`type-track-frame`) never repeat.
"""

from __future__ import annotations

from .processor import CLASS_WAIT_S, RELEASE_MARGIN_S, EventSink, LiveProcessor, PendingEvent
from .reader import (
    Emit,
    LiveStats,
    RawPacket,
    SegmentStart,
    StreamGap,
    StreamReader,
    fill_timestamps,
    reason_of,
    settle_arrivals,
)
from .source import Backoff, FollowFile, LiveSource, SourceError, Watchdog, parse_source

__all__ = [
    "CLASS_WAIT_S",
    "RELEASE_MARGIN_S",
    "Backoff",
    "Emit",
    "EventSink",
    "FollowFile",
    "LiveProcessor",
    "LiveSource",
    "LiveStats",
    "PendingEvent",
    "RawPacket",
    "SegmentStart",
    "SourceError",
    "StreamGap",
    "StreamReader",
    "Watchdog",
    "fill_timestamps",
    "parse_source",
    "reason_of",
    "settle_arrivals",
]
