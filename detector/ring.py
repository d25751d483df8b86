"""The recent past of a live stream, kept as encoded packets, so evidence clips can show the seconds
before an event.

A file can be re-read around an event (`detector.evidence` seeks back into it); a stream cannot.
`PacketRing` keeps the last `max_s` seconds of the stream's *encoded* packets (at most `max_bytes`):
a decoded 1620x720 picture is 1.7 MB, so 60 s at 30 fps would be 3 GB of pictures, while the
same minute of H.264 at the sample clip's 0.45 Mbit/s is 3.3 MB (8 Mbit/s, a high camera bitrate:
60 MB). `window(lo)` hands out the packets from the last keyframe at or before `lo` onwards, and
`RingFrames` decodes such a list again for `EvidenceRecorder.record_frames`.

A stream is cut into `Segment`s: one continuous stretch of packets from one connection with one
decoder set-up (`StreamFormat`) and one mapping of presentation timestamps to seconds on the run's
time axis (`SegmentClock`). A reconnect, a timestamp jump or dropped packets start a new segment;
decoding starts again at the new segment's first keyframe.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
from av.video.codeccontext import VideoCodecContext

# Bookkeeping of one stored packet besides its bytes (object headers, the dataclass, deque slot):
# counted against `max_bytes` so that a stream of tiny packets cannot grow the ring unnoticed.
PACKET_OVERHEAD_BYTES = 256


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """What a decoder needs to start on a segment's packets."""

    codec: str  # FFmpeg decoder name, e.g. "h264"
    extradata: bytes | None  # SPS/PPS (avcC or Annex B) when the container carries them out of band
    width: int
    height: int
    rate: Fraction | None  # nominal frame rate when known

    def decoder(self) -> VideoCodecContext:
        ctx = av.CodecContext.create(self.codec, "r")
        if not isinstance(ctx, VideoCodecContext):
            raise ValueError(f"{self.codec}: not a video codec")
        if self.extradata:
            ctx.extradata = self.extradata
        ctx.thread_type = "AUTO"
        return ctx


@dataclass(frozen=True, slots=True)
class SegmentClock:
    """Presentation timestamp -> seconds on the run's time axis: `t0` at `pts0`, then the stream's
    own timestamps (they are what keeps frame spacing exact; the wall clock only anchors them)."""

    t0: float
    pts0: int
    time_base: Fraction

    def t(self, pts: int) -> float:
        return self.t0 + float((pts - self.pts0) * self.time_base)


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    index: int  # 1, 2, 3, ... over the run
    fmt: StreamFormat
    clock: SegmentClock


@dataclass(frozen=True, slots=True, eq=False)
class BufferedPacket:
    segment: Segment
    t: float  # presentation time on the run's axis (segment clock of pts)
    pts: int | None
    dts: int | None
    keyframe: bool
    data: bytes

    @property
    def cost(self) -> int:
        return len(self.data) + PACKET_OVERHEAD_BYTES

    def to_av(self) -> av.Packet:
        p = av.Packet(self.data)
        p.pts, p.dts = self.pts, self.dts
        p.is_keyframe = self.keyframe
        return p


class PacketRing:
    """The last `max_s` seconds of packets, never more than `max_bytes` (bytes + per-packet
    overhead). Appended by the stream's processing thread; `window` may be called from any thread."""

    def __init__(self, max_s: float = 60.0, max_bytes: int = 64 << 20):
        if max_s <= 0 or max_bytes <= 0:
            raise ValueError("ring buffer: max_s and max_bytes must be > 0")
        self.max_s, self.max_bytes = float(max_s), int(max_bytes)
        self._packets: deque[BufferedPacket] = deque()
        self._bytes = 0
        self._newest_t = float("-inf")
        self._lock = threading.Lock()
        self.peak_bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._packets)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def span_s(self) -> float:
        """Seconds between the oldest packet and the newest time seen."""
        with self._lock:
            return self._newest_t - self._packets[0].t if self._packets else 0.0

    def append(self, packet: BufferedPacket) -> None:
        with self._lock:
            self._packets.append(packet)
            self._bytes += packet.cost
            self._newest_t = max(self._newest_t, packet.t)
            # one packet is always kept, however large (the bound then is that packet)
            while len(self._packets) > 1 and (
                self._bytes > self.max_bytes or self._newest_t - self._packets[0].t > self.max_s
            ):
                self._bytes -= self._packets.popleft().cost
                self.evicted += 1
            self.peak_bytes = max(self.peak_bytes, self._bytes)

    def window(self, lo: float) -> list[BufferedPacket]:
        """Packets from the last keyframe at or before `lo` (else the oldest keyframe kept) to the
        newest: enough to decode every kept frame from `lo` on. Empty when no keyframe is kept."""
        with self._lock:
            packets = list(self._packets)
        start = None
        for i, p in enumerate(packets):
            if p.keyframe:
                if p.t <= lo or start is None:
                    start = i
                if p.t > lo:
                    break
        return [] if start is None else packets[start:]


class RingFrames:
    """Decodes a list of ring packets for `EvidenceRecorder.record_frames` (an evidence.FrameSource):
    a new decoder at each segment, from that segment's first keyframe."""

    def __init__(self, packets: list[BufferedPacket], name: str = "live stream"):
        if not packets:
            raise ValueError("no buffered packets to make evidence from")
        self.packets = packets
        self.video = f"{name} (buffered packets)"
        fmt = packets[0].segment.fmt
        self.width, self.height = fmt.width, fmt.height
        rate = fmt.rate if fmt.rate and fmt.rate > 0 else Fraction(30)
        self.rate = Fraction(rate).limit_denominator(1001)
        self.time_base = Fraction(1, 90000)
        self.broken_packets = 0

    def frames(self, t0: float, t1: float) -> Iterator[tuple[float, av.VideoFrame]]:
        """(t, frame) in presentation order of each segment, up to the first frame after `t1`."""
        segment: Segment | None = None
        decoder: VideoCodecContext | None = None
        waiting_for_key = True
        last_t = float("-inf")
        step = float(1 / self.rate)

        def drain(frames) -> Iterator[tuple[float, av.VideoFrame]]:
            nonlocal last_t
            assert segment is not None, "frames come only after a segment's first packet"
            for f in frames:
                t = segment.clock.t(f.pts) if f.pts is not None else last_t + step
                last_t = max(last_t, t)
                yield t, f

        for p in self.packets:
            if p.segment is not segment or decoder is None:
                if decoder is not None:
                    yield from self._flush(decoder, drain)
                segment, decoder, waiting_for_key = p.segment, p.segment.fmt.decoder(), True
            if waiting_for_key and not p.keyframe:
                continue
            waiting_for_key = False
            try:
                decoded = decoder.decode(p.to_av())
            except (av.error.FFmpegError, ValueError):
                self.broken_packets += 1
                continue
            for t, f in drain(decoded):
                yield t, f
                if t > t1:
                    return
        if decoder is not None:
            yield from self._flush(decoder, drain)

    def _flush(self, decoder: VideoCodecContext, drain) -> Iterator[tuple[float, av.VideoFrame]]:
        try:
            frames = decoder.decode(None)
        except (av.error.FFmpegError, ValueError):
            return
        yield from drain(frames)

    def close(self) -> None:
        self.packets = []
