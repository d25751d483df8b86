"""`crosswatch watch` (detector/live/, detector/ring.py, service/runs/watch/, service/cli/watch.py): live streams on loopback servers.

The stream tests serve a synthetic loop (320 x 240, 15 fps, 4 s; a red lamp always lit; the clip's
frame index as a 6-bit bar code along the bottom edge) and detect with a scripted detector that
reads the bar code back: in each loop one motorbike crosses the stop line on red at 1.925 s, so
every loop the watch sees in full must give exactly one red-light event. Servers (scripts/
stream_server.py): an RTSP relay fed by FFmpeg (cut = kill it, stall = SIGSTOP it), FFmpeg's own
one-client HTTP MPEG-TS server, and a file another process writes as it goes. The last test runs
the real model on the first 8 s of the vn_rear_stopline sample (skipped without `make assets`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:  # the project may not be pip-installed in the test environment
        sys.path.insert(0, str(p))

av = pytest.importorskip("av")

from detector.config import parse_crossing  # noqa: E402
from detector.evidence import EvidenceRecorder, FontNotFoundError, find_cjk_font  # noqa: E402
from detector.live import (  # noqa: E402
    Backoff,
    FollowFile,
    LiveProcessor,
    LiveSource,
    LiveStats,
    RawPacket,
    SegmentStart,
    SourceError,
    StreamGap,
    Watchdog,
    fill_timestamps,
    parse_source,
    settle_arrivals,
)
from detector.pipeline import Pipeline, PipelineSettings  # noqa: E402
from detector.ring import (  # noqa: E402
    PACKET_OVERHEAD_BYTES,
    BufferedPacket,
    PacketRing,
    RingFrames,
    Segment,
    SegmentClock,
    StreamFormat,
)
from detector.types import Detections  # noqa: E402
from service.db import make_engine, upgrade  # noqa: E402
from service.repository import Repository  # noqa: E402
from service.run_records import hash_settings  # noqa: E402
from service.runs.watch import Watcher, WatchOptions  # noqa: E402

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None,
    reason="needs the ffmpeg program as a stream server: apt-get install ffmpeg (scripts/system_packages.sh)",
)
try:
    find_cjk_font()
    NO_FONT = None
except FontNotFoundError as e:  # evidence captions need it
    NO_FONT = str(e)
needs_font = pytest.mark.skipif(NO_FONT is not None, reason=f"evidence needs a CJK font: {NO_FONT}")

# -- the synthetic loop --------------------------------------------------------------------------
W, H, FPS, LOOP_S = 320, 240, 15, 4.0
N = int(FPS * LOOP_S)
BITS, BLOCK = 6, 14
LINE_Y = 120
RED_LAMP = (284, 8, 24, 24)
CROSS_T = 0.3 + (250 - LINE_Y) / 80  # 1.925 s: the rider's bottom edge reaches the stop line

CROSSING = parse_crossing(
    {
        "id": "synthetic-live",
        "name": "合成路口 synthetic",
        "frame_size": [W, H],
        "signals": [{"id": "main", "lamps": {"red": list(RED_LAMP), "green": [284, 40, 24, 24]}}],
        "stop_lines": [
            {"id": "stop-1", "points": [[10, LINE_Y], [270, LINE_Y]], "entering": [0, -1], "signal": "main"}
        ],
        "lanes": [{"id": "through", "polygon": [[20, 10], [270, 10], [270, 235], [20, 235]], "direction": [0, -1]}],
    }
)


def rider_box(t: float) -> tuple[float, float, float, float] | None:
    """The motorbike at clip time t: up the picture at 80 px/s from t = 0.3 s, gone at the top."""
    if t < 0.3:
        return None
    y = 250 - 80 * (t - 0.3)
    if y <= 2:
        return None
    return (140.0, max(0.0, y - 40), 160.0, min(float(H), y))


def paint(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 70 + (i % 5) * 4, np.uint8)
    x, y, bw, bh = RED_LAMP
    img[y : y + bh, x : x + bw] = (40, 40, 250)  # BGR: lit red
    img[40:64, 284:308] = (60, 60, 60)  # dark green lamp
    img[LINE_Y - 1 : LINE_Y + 1, 10:270] = 230
    box = rider_box(i / FPS)
    if box is not None:
        img[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = (30, 200, 240)
    for b in range(BITS):
        x1 = 4 + BLOCK * b
        img[H - 4 - BLOCK : H - 4, x1 : x1 + BLOCK] = 255 if (i >> b) & 1 else 0
    return img


def read_code(img: np.ndarray) -> int:
    k = 0
    for b in range(BITS):
        x1 = 4 + BLOCK * b
        if img[H - BLOCK : H - 8, x1 + 4 : x1 + BLOCK - 4].mean() > 128:
            k |= 1 << b
    return k


class LoopDetector:
    """The rider's box from the bar code; remembers the clip indices it was shown, in order."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.lock = threading.Lock()

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for img in images:
            k = read_code(img)
            with self.lock:
                self.seen.append(k)
            box = rider_box(k / FPS)
            out.append(
                Detections.empty()
                if box is None
                else Detections(
                    np.array([box], np.float32), np.array([0.9], np.float32), np.array(["motorcycle"], object)
                )
            )
        return out

    def full_crossings(self) -> int:
        """Loops seen without a gap from 0.6 s before to 0.7 s after the crossing: each must give
        one event (a loop cut by a reconnect may or may not)."""
        lo, hi = int((CROSS_T - 0.6) * FPS), int((CROSS_T + 0.7) * FPS) + 1
        with self.lock:
            seen = list(self.seen)
        n, run = 0, []
        for k in seen + [-1]:
            if run and 0 < k - run[-1] <= 3:  # detected at 10 of 15 fps: a frame skipped now and then
                run.append(k)
                continue
            if run and run[0] <= lo and run[-1] >= hi:
                n += 1
            run = [k]
        return n


def make_clip(path: Path, loops: int = 1, fmt: str | None = None) -> Path:
    """The loop as H.264 (keyframe every second, B-frames on) in MP4 or MPEG-TS."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.gop_size = FPS
        s.codec_context.options = {"crf": "16", "preset": "veryfast", "bf": "2", "sc_threshold": "0"}
        for j in range(loops * N):
            for p in s.encode(av.VideoFrame.from_ndarray(paint(j % N), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def loop_mp4(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("live") / "loop.mp4")


@pytest.fixture(scope="module")
def loop_ts(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("live") / "loop3.ts", loops=3, fmt="mpegts")


# -- a watch run in this process ----------------------------------------------------------------
class Recorded:
    """What a Watcher emitted, with the monotonic time of each line."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, kind: str, **fields) -> None:
        with self.lock:
            self.lines.append((time.monotonic(), kind, fields))

    def kinds(self, kind: str) -> list[tuple[float, dict]]:
        with self.lock:
            return [(t, f) for t, k, f in self.lines if k == kind]


class WatchRun:
    """A Watcher on `source` in a thread, with a fresh SQLite database and evidence folder."""

    def __init__(
        self,
        tmp: Path,
        source: LiveSource,
        *,
        stall_s: float = 2.0,
        pts_anchor: bool = False,
        run_start: datetime | None = None,
        detector=None,
        recorder: EvidenceRecorder | None = None,
    ):
        self.engine = make_engine(f"sqlite:///{tmp / 'live.db'}")
        upgrade(self.engine)
        self.repo = Repository(self.engine)
        version = self.repo.upsert_crossing(CROSSING, "synthetic")
        settings = PipelineSettings(model="scripted")
        self.run_start = run_start or datetime.now(UTC)
        self.run_id = self.repo.start_run(
            video_path=source.display,
            video_sha256="f" * 64,
            crossing_version_id=version.version_id,
            model="scripted",
            settings=settings.as_dict(),
            settings_hash=hash_settings(settings.as_dict()),
            start_time=self.run_start,
        )
        self.evidence = tmp / "evidence"
        recorder = recorder or EvidenceRecorder(self.evidence, CROSSING.name, start_time=self.run_start)
        self.detector = detector or LoopDetector()
        self.emitted = Recorded()
        self.watcher = Watcher(
            source,
            CROSSING,
            lambda size: self.detector,
            settings,
            self.repo,
            self.run_id,
            recorder,
            run_start=self.run_start,
            rel_root="live",
            evidence_root=self.evidence,
            emit=self.emitted,
            options=WatchOptions(stall_s=stall_s, heartbeat_s=3600),
            pts_anchor=pts_anchor,
        )
        self.summary: dict | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.summary = self.watcher.run()

    def __enter__(self) -> WatchRun:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.watcher.stop()
        self.thread.join(timeout=60)
        self.engine.dispose()

    def events(self):
        return self.repo.run_events(self.run_id)

    def stop(self) -> dict:
        self.watcher.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the watch did not stop"
        return self.summary


def wait_for(what: str, cond, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def clip_start(path: Path) -> float:
    """The evidence clip's first frame on the run's time axis (written in its comment)."""
    with av.open(str(path)) as c:
        comment = c.metadata.get("comment", "")
    return float(comment.split("video t=")[1].split()[0])


def decoded_clip(path: Path) -> tuple[str, int, float]:
    """(codec, frames, seconds) of a clip, decoded to the end: it plays."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.time for f in c.decode(s)]
        return s.codec_context.name, len(frames), frames[-1] - frames[0]


# -- unit tests -----------------------------------------------------------------------------------
def _seg(index: int = 1) -> Segment:
    return Segment(index, StreamFormat("h264", None, W, H, Fraction(30)), SegmentClock(0.0, 0, Fraction(1, 90000)))


def _packet(seg: Segment, t: float, size: int, key: bool = False) -> BufferedPacket:
    return BufferedPacket(seg, t, int(t * 90000), int(t * 90000), key, bytes(size))


@pytest.mark.parametrize(
    ("max_s", "max_bytes", "size", "fps", "seconds", "kept_s"),
    [
        (10.0, 64 << 20, 20_000, 30, 120, 10.0),  # time-bound: 10 s of a 4.8 Mbit/s stream
        (60.0, 1 << 20, 50_000, 30, 60, 0.6),  # byte-bound: 1 MiB of 12 Mbit/s is ~0.7 s
        (60.0, 64 << 20, 400, 60, 300, 60.0),  # tiny packets: the per-packet overhead is counted
    ],
    ids=["seconds", "bytes", "tiny-packets"],
)
def test_ring_buffer_memory_is_bounded(max_s, max_bytes, size, fps, seconds, kept_s):
    ring, seg = PacketRing(max_s, max_bytes), _seg()
    peak = 0
    for i in range(int(seconds * fps)):
        ring.append(_packet(seg, i / fps, size, key=i % fps == 0))
        peak = max(peak, ring.bytes)
        assert ring.bytes <= max_bytes and ring.span_s <= max_s + 1e-9
    assert ring.bytes == len(ring) * (size + PACKET_OVERHEAD_BYTES)
    assert ring.peak_bytes == peak <= max_bytes
    assert ring.span_s == pytest.approx(kept_s, abs=0.1)
    assert ring.evicted == int(seconds * fps) - len(ring)


@pytest.mark.parametrize(
    ("lo", "first_t"),
    [(7.5, 6.0), (6.0, 6.0), (5.99, 4.0), (0.5, 4.0), (100.0, 8.0)],
    ids=["inside-gop", "on-keyframe", "just-before", "before-the-ring", "after-the-end"],
)
def test_ring_window_starts_at_the_keyframe_before(lo, first_t):
    ring, seg = PacketRing(6.0), _seg()
    for i in range(100):  # 10 fps, a keyframe every 2 s; keeps t = 3.9 .. 9.9
        ring.append(_packet(seg, i / 10, 100, key=i % 20 == 0))
    win = ring.window(lo)
    assert win[0].keyframe and win[0].t == pytest.approx(first_t)
    assert win[-1].t == pytest.approx(9.9)


def test_ring_refuses_nonsense_bounds():
    with pytest.raises(ValueError):
        PacketRing(0, 1)


def test_ring_frames_decode_a_window_across_segments(loop_ts):
    """Packets of a stream cut in two segments decode back with the run's times, each segment
    from its first keyframe."""
    with av.open(str(loop_ts)) as c:
        s = c.streams.video[0]
        fmt = StreamFormat(s.codec_context.name, None, W, H, Fraction(FPS))
        tb, start = s.time_base, s.start_time
        a = Segment(1, fmt, SegmentClock(0.0, start, tb))
        b = Segment(2, fmt, SegmentClock(100.0, start + int(6 / tb), tb))  # from 6 s on: a gap of 94 s
        packets = [
            BufferedPacket(a if p.pts < start + int(6 / tb) else b, 0.0, p.pts, p.dts, p.is_keyframe, bytes(p))
            for p in c.demux(s)
            if p.size
        ]
    frames = list(RingFrames(packets).frames(0.0, 1000.0))
    times = [round(t, 3) for t, _ in frames]
    assert len(frames) == 3 * N  # every frame, both segments
    assert times[:2] == [0.0, round(1 / FPS, 3)] and times[6 * FPS] == 100.0
    assert [read_code(f.to_ndarray(format="bgr24")) for _, f in frames[:3]] == [0, 1, 2]


@pytest.mark.parametrize(
    ("first", "cap", "expected"),
    [(1.0, 30.0, [1, 2, 4, 8, 16, 30, 30]), (0.5, 2.0, [0.5, 1, 2, 2, 2, 2, 2])],
)
def test_backoff_doubles_up_to_the_cap_and_resets(first, cap, expected):
    b = Backoff(first, cap)
    assert [b.next() for _ in expected] == expected
    b.reset()
    assert b.next() == first


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("beats_at", "checks_at", "fires_at"),
    [
        ([], [5.0, 9.9, 10.0, 10.5], 10.0),  # silent from the start: fires at stall_s
        ([4.0, 8.0], [10.0, 17.9, 18.0, 30.0], 18.0),  # last packet at 8 s: fires at 18 s
        ([3.0], [12.0, 12.9, 13.0], 13.0),
    ],
)
def test_watchdog_fires_once_stall_s_after_the_last_packet(beats_at, checks_at, fires_at):
    """Default stall_s = 10: a stall is noticed 10 s after the last packet (< 20 s), once."""
    clock, fired = FakeClock(), []
    dog = Watchdog(10.0, fired.append, clock=clock)
    dog.arm()
    t0 = clock.now
    for b in beats_at:
        clock.now = t0 + b
        dog.beat()
    hits = []
    for c in checks_at:
        clock.now = t0 + c
        if dog.check():
            hits.append(c)
    assert hits == [fires_at]
    assert fired == [pytest.approx(fires_at - max([0.0] + beats_at))]
    dog.disarm()
    clock.now += 100
    assert not dog.check()  # not armed (between connections): never fires


@pytest.mark.parametrize(
    ("packets", "expected"),
    [
        # RTSP: the first keyframe has no timestamps; the B-frames after it are shown first
        (
            [(None, None), (12000, None), (6000, None), (3000, 3000), (9000, 6000), (24000, 9000)],
            [(0, 0), (12000, 12000), (6000, 6000), (3000, 3000), (9000, 6000), (24000, 9000)],
        ),
        ([(0, 0), (None, None), (6000, 6000)], [(0, 0), (3000, 3000), (6000, 6000)]),  # a gap mid-stream
        ([(None, None), (9000, 9000)], [(6000, 6000), (9000, 9000)]),  # ended during the look-ahead
        ([(None, None), (None, None)], [(-6000, -6000), (-3000, -3000)]),
        ([(100, 90), (103, None)], [(100, 90), (103, 103)]),
    ],
    ids=["rtsp-start", "untimed-inside", "short", "never-timed", "dts-from-pts"],
)
def test_fill_timestamps(packets, expected):
    raw = [RawPacket(p, d, i == 0, b"", None) for i, (p, d) in enumerate(packets)]
    assert [(p.pts, p.dts) for p in fill_timestamps(raw, 3000)] == expected


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        # probing delivered the first 1 s (30 packets) at once at t = 5.1, then real time (+0.05 s)
        (
            [(k, 5.1) for k in range(30)] + [(k, 4.05 + k / 30) for k in range(30, 120)],
            [4.05 + k / 30 for k in range(120)],
        ),
        # a steady stream keeps its times
        ([(k, 1.0 + k / 30) for k in range(90)], [1.0 + k / 30 for k in range(90)]),
        # a connection that ended while settling
        ([(0, 3.0), (1, 3.0), (2, 3.1)], [3.0 - 1 / 30, 3.0, 3.0 + 1 / 30]),
    ],
    ids=["probe-burst", "steady", "short"],
)
def test_settle_arrivals_times_a_connection_by_its_earliest_packets(arrivals, expected):
    tb = Fraction(1, 90000)
    raw = [(RawPacket(3000 * k, 3000 * k, k == 0, b"", None), at) for k, at in arrivals]
    got = [at for _, at in settle_arrivals(raw, tb, settle_s=2.0)]
    assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "follow", "kind", "display"),
    [
        ("rtsp://admin:s3cret@10.1.2.3:554/stream1", False, "rtsp", "rtsp://admin:***@10.1.2.3:554/stream1"),
        ("rtsps://cam.example/live", False, "rtsp", "rtsps://cam.example/live"),
        ("https://cam.example/live.ts", False, "http", "https://cam.example/live.ts"),
        ("recording.ts", True, "file", None),
    ],
)
def test_parse_source(tmp_path, monkeypatch, text, follow, kind, display):
    monkeypatch.chdir(tmp_path)
    src = parse_source(text, follow)
    assert src.kind == kind
    assert src.display == (display or str(tmp_path / text))
    assert "s3cret" not in src.display


@pytest.mark.parametrize(
    ("text", "follow", "message"),
    [
        ("recording.ts", False, "only with --follow"),
        ("rtsp://cam/live", True, "--follow is for a local file"),
        ("ftp://cam/live", False, "unsupported source"),
        ("rtsp:///live", False, "no host"),
        ("missing-folder/x.ts", True, "folder does not exist"),
    ],
)
def test_parse_source_refuses(tmp_path, monkeypatch, text, follow, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError, match=message):
        parse_source(text, follow)


def test_follow_file_waits_for_more_bytes_and_ends_on_abort(tmp_path):
    path = tmp_path / "grow.ts"
    path.write_bytes(b"abc")
    abort = threading.Event()
    f = FollowFile(str(path), 1, abort)
    assert f.read(10) == b"bc"
    threading.Timer(0.2, lambda: path.open("ab").write(b"def")).start()
    t0 = time.monotonic()
    assert f.read(10) == b"def" and time.monotonic() - t0 >= 0.15  # waited for the writer
    threading.Timer(0.2, abort.set).start()
    assert f.read(10) == b""  # the watchdog gave up on it
    f.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "clip.mp4"], "only with --follow"),
        (["watch", "gopher://x/y"], "unsupported source"),
        (["watch", "rtsp://cam/live", "--stall-s", "0"], "--stall-s must be > 0"),
        (["watch", "rtsp://cam/live", "--start-time", "2026-01-01T08:00:00+08:00"], "--start-time is for --follow"),
    ],
)
def test_cli_refuses_bad_input_with_one_line(tmp_path, capsys, argv, message):
    from service.cli import main

    crossing = ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"
    assert main(argv + ["--crossing", str(crossing), "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "x.db").exists()  # nothing was written


class WindowOnly:
    """The writer's side the processor uses: clip windows of +-3.5 s; submitted work recorded."""

    def __init__(self) -> None:
        self.recorder = self
        self.events: list[tuple[float, list[BufferedPacket]]] = []
        self.counts: list[tuple] = []

    def window(self, e) -> tuple[float, float]:
        return max(0.0, e.t - 3.5), e.t + 3.5

    def submit_event(self, pending, packets) -> None:
        self.events.append((pending.event.t, packets))

    def submit_counts(self, rows) -> None:
        self.counts += rows


def test_processor_writes_an_event_in_flight_when_the_stream_is_cut(loop_ts):
    """Cut 1.4 s after a crossing: the event (decided, its clip window open) is handed to the writer
    once the clock passes the window, with the buffered video from the keyframe before it; the
    next connection starts fresh tracks and the event is not handed out twice."""
    clock = [0.0]
    CUT_T = CROSS_T + 1.4  # decided ~0.6 s after the crossing; the decoder holds a few frames back
    writer, stats = WindowOnly(), LiveStats()
    proc = LiveProcessor(
        CROSSING,
        lambda size: LoopDetector(),
        PipelineSettings(model="scripted"),
        PacketRing(),
        writer,
        stats,
        lambda *a, **k: None,
        lambda: clock[0],
        signal_box=lambda c, sid: None,
    )
    with av.open(str(loop_ts)) as c:
        s = c.streams.video[0]
        fmt = StreamFormat(s.codec_context.name, None, W, H, Fraction(FPS))
        seg = Segment(1, fmt, SegmentClock(0.0, s.start_time, s.time_base))
        packets = [
            BufferedPacket(seg, seg.clock.t(p.pts), p.pts, p.dts, p.is_keyframe, bytes(p)) for p in c.demux(s) if p.size
        ]
    proc.handle(SegmentStart(seg, "connected"))
    for p in packets:
        if p.t > CUT_T:  # the cut
            break
        proc.handle(p)
    clock[0] = CUT_T
    assert len(proc.pending) == 1 and writer.events == []  # decided, waiting for its window
    proc.handle(StreamGap("end of stream"))
    assert proc.session is None and proc.pending[0].class_known
    clock[0] = CROSS_T + 3.5 + 0.9
    proc.idle()
    assert writer.events == []  # the clock has not passed the window yet
    clock[0] = CROSS_T + 3.5 + 1.1  # disconnected: the window's end + 2 x RELEASE_MARGIN_S
    proc.idle()
    ((t, buffered),) = writer.events
    assert t == pytest.approx(CROSS_T, abs=1e-3)
    assert buffered[0].keyframe and buffered[0].t <= max(0.0, t - 3.5) + 1e-6 and buffered[-1].t <= CUT_T + 0.1
    assert [ft for ft, _ in RingFrames(buffered).frames(0, 99)][-1] <= CUT_T + 0.1  # the clip ends at the cut

    seg2 = Segment(2, fmt, SegmentClock(20.0, packets[0].pts, seg.clock.time_base))  # reconnected 16 s later
    proc.handle(SegmentStart(seg2, "connected"))
    for p in packets[:N]:  # one more loop on the new connection
        proc.handle(BufferedPacket(seg2, seg2.clock.t(p.pts), p.pts, p.dts, p.keyframe, p.data))
    proc.close()
    assert [round(t, 3) for t, _ in writer.events] == [round(CROSS_T, 3), round(20.0 + CROSS_T, 3)]
    assert sum(n for *_, n in writer.counts) == 2  # one road user counted per connection
    assert stats.frames == len([p for p in packets if p.t <= CUT_T]) + N


def _feed(proc: LiveProcessor, path: Path) -> None:
    """Every packet of `path` into the processor as one connection."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        ctx = s.codec_context
        seg = Segment(
            1,
            StreamFormat(ctx.name, None, ctx.width, ctx.height, Fraction(FPS)),
            SegmentClock(0.0, s.start_time, s.time_base),
        )
        packets = [
            BufferedPacket(seg, seg.clock.t(p.pts), p.pts, p.dts, p.is_keyframe, bytes(p)) for p in c.demux(s) if p.size
        ]
    proc.handle(SegmentStart(seg, "connected"))
    for p in packets:
        proc.handle(p)


class PlannedLoopDetector(LoopDetector):
    """A LoopDetector that takes a detection plan (as the model does): records the plan and the size
    of every picture it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.plans: list[tuple] = []
        self.shapes: set[tuple[int, ...]] = set()

    def use_regions(self, roi, tiles) -> None:
        self.plans.append((tuple(roi), tuple(tuple(t) for t in tiles)))

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        self.shapes.update(img.shape for img in images)
        return super().detect(images)


def test_processor_detects_at_the_crossing_working_size_like_the_file_pipeline(tmp_path, loop_ts):
    """A camera at twice the crossing file's resolution: the live processor decodes straight to the
    crossing's working size (the detector is given the crossing's plan, as in `Pipeline.run`), and its
    events come back in the stream's pixels, the same events `Pipeline.run` finds in the same file."""
    from detector.regions import plan_detection
    from detector.video import scaled_copy

    big = scaled_copy(loop_ts, tmp_path / "loop-2x.ts", (2 * W, 2 * H))
    reference = Pipeline(CROSSING, PlannedLoopDetector(), PipelineSettings(model="scripted")).run(big)
    assert len(reference.events) == 3

    detector, writer = PlannedLoopDetector(), WindowOnly()
    released: list = []
    writer.submit_event = lambda pending, packets: released.append(pending)  # type: ignore[method-assign]
    proc = LiveProcessor(
        CROSSING,
        lambda size: detector,
        PipelineSettings(model="scripted"),
        PacketRing(),
        writer,
        LiveStats(),
        lambda *a, **k: None,
        lambda: 0.0,
        signal_box=lambda c, sid: c.frame_size,
    )
    _feed(proc, big)
    proc.close()

    plan = plan_detection(CROSSING)
    assert detector.plans and set(detector.plans) == {(tuple(plan.roi), tuple(tuple(t) for t in plan.tiles))}
    assert detector.shapes == {(H, W, 3)}  # the working size, never the stream's 640 x 480
    assert [(round(p.event.t, 3), [round(v, 1) for v in p.event.box]) for p in released] == [
        (round(e.t, 3), [round(v, 1) for v in e.box]) for e in reference.events
    ]
    for p in released:  # the rider is at x 140-160 in the working picture: 280-320 in the stream's
        assert p.event.box[0] == pytest.approx(280, abs=2) and p.event.box[2] == pytest.approx(320, abs=2)
        assert all(b[2] == pytest.approx(320, abs=2) for _, b in p.event.path)
    assert all(p.signal_box == (2 * W, 2 * H) for p in released)  # the evidence's crossing: the stream's pixels


class SwitchingDetector(LoopDetector):
    """The rider's box, but from 0.2 s after the crossing a road user a third its height stands in its
    place (a track taking over another road user's box)."""

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for det, img in zip(super().detect(images), images):
            if len(det.xyxy) and read_code(img) / FPS >= CROSS_T + 0.2:
                x1, _, x2, y2 = (float(v) for v in det.xyxy[0])
                det = Detections(np.array([(x1, y2 - 14, x2, y2)], np.float32), det.confidence, det.class_name)
            out.append(det)
        return out


def test_processor_drops_an_event_whose_path_switches_road_user(loop_ts):
    """The file pipeline's identity check holds live: an event whose evidence times straddle a switch
    of road user is not handed to the writer; it is counted and reported."""
    emitted, writer, stats = Recorded(), WindowOnly(), LiveStats()
    reference = Pipeline(CROSSING, SwitchingDetector(), PipelineSettings(model="scripted")).run(loop_ts)
    assert reference.events == [] and len(reference.dropped) == 3
    proc = LiveProcessor(
        CROSSING,
        lambda size: SwitchingDetector(),
        PipelineSettings(model="scripted"),
        PacketRing(),
        writer,
        stats,
        emitted,
        lambda: 0.0,
        signal_box=lambda c, sid: None,
    )
    _feed(proc, loop_ts)
    proc.close()
    assert writer.events == [] and stats.dropped_events == 3
    assert [f["key"] for _, f in emitted.kinds("event_dropped")] == [e.key for e in reference.dropped]


# -- streams ----------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_ffmpeg
@needs_font
def test_rtsp_cut_and_stall_reconnect_without_losing_or_doubling_events(tmp_path, loop_mp4):
    from stream_server import RtspServer

    with RtspServer(loop_mp4, tmp_path) as srv, WatchRun(tmp_path, parse_source(srv.url, False), stall_s=2.0) as run:
        stats = run.watcher.stats
        wait_for("frames", lambda: stats.frames > FPS, 15)

        srv.cut()  # the connection drops: reconnect after 1 s
        time.sleep(0.3)
        srv.restore()
        wait_for("a reconnect after the cut", lambda: stats.reconnects >= 1, 15)

        srv.pause()  # silent but connected: the watchdog must notice
        paused = time.monotonic()
        wait_for("the watchdog", lambda: stats.stalls >= 1, 10, every=0.02)
        noticed = time.monotonic() - paused
        srv.resume()
        wait_for("a reconnect after the stall", lambda: stats.reconnects >= 2, 15)

        wait_for("the third connection's video", lambda: len(run.emitted.kinds("segment")) == 3, 10)
        seg_t0 = [f["t"] for _, f in run.emitted.kinds("segment")]
        wait_for(
            "an event 3.5 s into the last connection, stored while running",
            lambda: any(e.t >= seg_t0[-1] + 3.6 for e in run.events()),
            25,
        )
        assert run.thread.is_alive()
        # stop between crossings (clip time 3.0-3.6 s), so no crossing is cut in half by the stop
        wait_for("a quiet moment", lambda: 3.0 <= (time.time() - srv.feeder_started) % LOOP_S <= 3.6, 5, every=0.01)
        summary = run.stop()

    assert 1.5 <= noticed <= 2 * 2.0 + 0.5  # stall_s = 2: noticed within 2 x stall_s of the pause
    assert summary["stalls"] == 1 and summary["stalled_after_s"][0] >= 2.0
    assert summary["reconnects"] == 2 and summary["connects"] == 3
    assert summary["disconnects"] == 2 and summary["lost_events"] == 0

    events = run.events()
    keys = [e.event_key for e in events]
    assert len(keys) == len(set(keys))
    # each event is one loop's crossing: same clip phase, one per loop (no duplicate after a reconnect)
    walls = [e.occurred_at.timestamp() - srv.feeder_started for e in events]
    loops = [round((w - CROSS_T) / LOOP_S) for w in walls]
    assert len(set(loops)) == len(loops)
    phases = [w - n * LOOP_S for w, n in zip(walls, loops)]
    assert max(phases) - min(phases) < 0.5, phases
    # and every crossing the watch saw whole gave an event (those cut by a reconnect may not)
    full = run.detector.full_crossings()
    assert full >= 2 and full <= len(events) <= full + 2
    assert all(e.type == "red_light" and e.class_name == "motorcycle" for e in events)

    # clips start 3.5 s before their event, from the ring buffer: an event well inside a connection
    # exactly so; one just after a reconnect no later than its connection's first frame (the ring
    # keeps earlier connections too: the seconds before a short cut are in the clip, then the gap)
    lengths = []
    for e in events:
        assert {f.kind for f in e.evidence} == {
            "frame_before",
            "frame_past",
            "frame_junction",
            "closeup",
            "signal",
            "composite",
            "clip",
        }
        clip = run.evidence / next(f.relpath for f in e.evidence if f.kind == "clip")
        began = max(t0 for t0 in seg_t0 if t0 <= e.t)
        assert e.t - 3.5 - 0.1 <= clip_start(clip) <= max(e.t - 3.5, began) + 0.1
        if e.t >= seg_t0[-1] + 3.6:
            assert clip_start(clip) == pytest.approx(e.t - 3.5, abs=0.1)
        codec, n_frames, seconds = decoded_clip(clip)
        assert codec == "h264" and n_frames >= 2 * FPS
        lengths.append(seconds)
    # 3.5 s before and after; shorter when a cut or the stop came within 3.5 s after the event (the
    # event in flight at the stop was still written, with the video there was)
    assert max(lengths) >= 6.9 and 1.0 <= lengths[-1] <= 6.0


@pytest.mark.slow
@needs_ffmpeg
@needs_font
def test_http_stream_reconnects_after_the_server_is_cut(tmp_path, loop_mp4):
    from stream_server import HttpTsServer

    with HttpTsServer(loop_mp4, tmp_path) as srv, WatchRun(tmp_path, parse_source(srv.url, False), stall_s=2.0) as run:
        stats = run.watcher.stats
        wait_for("frames", lambda: stats.frames > FPS, 15)
        srv.cut()
        wait_for("the drop", lambda: stats.disconnects >= 1, 10)
        before = stats.frames
        srv.restore()
        wait_for("a reconnect", lambda: stats.reconnects >= 1, 15)
        wait_for("frames after the reconnect", lambda: stats.frames > before + FPS, 10)
        summary = run.stop()
    assert summary["connects"] == 2 and summary["segments"] == 2
    gap = [f for _, f in run.emitted.kinds("segment")]
    assert [g["reason"] for g in gap] == ["connected", "connected"] and gap[1]["t"] > gap[0]["t"]


@pytest.mark.slow
@needs_ffmpeg
@needs_font
def test_followed_file_paused_by_its_writer_gives_the_file_runs_events(tmp_path, loop_ts):
    """A file written as it goes, with a pause longer than stall_s: the watch notices the stall,
    reopens where it was and goes on. With --start-time its times are the file's own, so its
    events are exactly those of the finished file processed by `Pipeline.run`."""
    from stream_server import GrowingFile

    reference = Pipeline(CROSSING, LoopDetector(), PipelineSettings(model="scripted")).run(loop_ts)
    assert len(reference.events) == 3

    dst = tmp_path / "growing.ts"
    size = loop_ts.stat().st_size
    writer = GrowingFile(loop_ts, dst, chunk=16 * 1024, every_s=0.02, pause_after=size // 2, pause_s=2.5).start()
    start = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    try:
        wait_for("the file", dst.exists, 10)
        with WatchRun(tmp_path, parse_source(str(dst), True), stall_s=1.0, pts_anchor=True, run_start=start) as run:
            stats = run.watcher.stats
            assert writer.wait(30) == 0
            # the file's last packet (held back: a growing file's last packet may be cut off), the
            # decoder's last few frames and the last event (its clip window runs past the end of
            # the file) come at the stop
            wait_for("the file's frames", lambda: stats.frames >= 3 * N - 6, 20)
            wait_for("two events stored", lambda: len(run.events()) >= 2, 20)
            summary = run.stop()
    finally:
        writer.close()
    assert summary["stalls"] >= 1 and summary["reconnects"] >= 1  # the pause (and the end of the file)
    assert summary["segments"] == 1 and summary["frames"] == 3 * N  # resumed in place: no gap, no repeat
    events = run.events()
    assert [round(e.t, 3) for e in events] == [round(e.t, 3) for e in reference.events]
    assert [e.occurred_at for e in events] == [start + timedelta(seconds=e.t) for e in events]
    assert len({e.event_key for e in events}) == 3
    last = events[-1]
    clip = run.evidence / next(f.relpath for f in last.evidence if f.kind == "clip")
    assert clip_start(clip) == pytest.approx(last.t - 3.5, abs=0.07)


PLATE_MODELS = ROOT / "assets" / "models" / "plates"
_plate_models_present = pytest.mark.skipif(
    not (PLATE_MODELS / "y5fu_640x_sim.onnx").is_file(), reason="plate models missing: run `make assets`"
)


def needs_plate_models(test):
    """Skipped without the plate models; left out of `make check` (it reads them)."""
    return pytest.mark.needs_assets(_plate_models_present(test))


def _watch_request(tmp: Path, source: LiveSource, start: datetime | None):
    from service.runs.watch import WatchRequest

    return WatchRequest(
        source,
        tmp / "synthetic.crossing.yaml",
        f"sqlite:///{tmp / 'live.db'}",
        tmp / "evidence",
        "scripted",
        "cpu",
        640,
        10.0,
        follow=source.kind == "file",
        start_time=start,
    )


@needs_font
@needs_plate_models
def test_live_event_carries_plate_code_and_a_verifiable_anti_forgery_code(tmp_path, loop_ts):
    """A followed file watched with the recorder `watch` builds (`live_recorder`, as `process` builds
    it): every stored event has its plate answer (the synthetic rider has no plate: 未识别, with the
    reason), the violation code of a motorcycle on red (1625), GA/T 832 scene pictures and an
    anti-forgery code that `verify_event` accepts, and rejects once a picture's byte is flipped."""
    from PIL import Image

    from service.runs.watch.session import RECEIVER_CLOCK, live_recorder
    from service.verify import verify_event

    start = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    src = tmp_path / "cam.ts"
    shutil.copy(loop_ts, src)
    source = parse_source(str(src), True)
    recorder = live_recorder(_watch_request(tmp_path, source, start), CROSSING, start)
    assert recorder.plate_reader is not None and recorder.codes is not None and recorder.evidence_key
    assert recorder.clock_source is None  # --start-time: the file's own clock, as `process` says it
    network = live_recorder(_watch_request(tmp_path, parse_source("rtsp://cam/live", False), None), CROSSING, start)
    assert network.clock_label().endswith(RECEIVER_CLOCK)
    with WatchRun(tmp_path, source, stall_s=1.0, pts_anchor=True, run_start=start, recorder=recorder) as run:
        wait_for("the file's frames", lambda: run.watcher.stats.frames >= 3 * N - 6, 30)
        wait_for("two events stored", lambda: len(run.events()) >= 2, 30)
        summary = run.stop()
    assert summary["evidence_failures"] == 0 and summary["lost_events"] == 0 and summary["dropped_events"] == 0
    assert summary["plates_s"] > 0  # the plate reader looked at every event's road user
    events = run.events()
    assert len(events) == 3
    lines = [f for _, f in run.emitted.kinds("event")]
    assert [ln["plate_status"] for ln in lines] == ["not_read"] * 3
    assert [ln["violation_code"] for ln in lines] == ["1625"] * 3
    assert [ln["anti_forgery_code"] for ln in lines] == [e.anti_forgery_code for e in events]
    for e in events:
        assert e.plate_status == "not_read" and e.plate_text is None and e.plate_reason
        assert e.violation_code == "1625" and e.violation_full_code == "16250" and e.legal_basis
        assert e.anti_forgery_code and len(e.anti_forgery_code) == 11 and e.evidence_seal
        result = verify_event(e, run.evidence)
        assert result.ok, result.problems
        composite = run.evidence / next(f.relpath for f in e.evidence if f.kind == "composite")
        with Image.open(composite) as im:
            assert im.mode == "RGB" and min(im.size) >= 720  # GA/T 832: 24-bit colour, >= 1280 x 720
    first = events[0]
    picture = run.evidence / next(f.relpath for f in first.evidence if f.kind == "frame_past")
    data = bytearray(picture.read_bytes())
    data[len(data) // 2] ^= 0xFF
    picture.write_bytes(bytes(data))
    broken = verify_event(first, run.evidence)
    assert not broken.ok and any("frame_past changed" in p for p in broken.problems)
    assert verify_event(events[1], run.evidence).ok


@needs_plate_models
def test_watch_refuses_to_start_with_a_changed_plate_model(tmp_path, monkeypatch, capsys):
    """A plate model that does not match its SHA-256: one line, exit 1, no database, nothing watched."""
    from detector import assets
    from service.cli import main

    root = tmp_path / "assets"
    (root / "models" / "plates").mkdir(parents=True)
    for f in PLATE_MODELS.glob("*.onnx"):
        shutil.copy(f, root / "models" / "plates" / f.name)
    with open(root / "models" / "plates" / "y5fu_320x_sim.onnx", "ab") as fh:
        fh.write(b"\0")
    try:
        model = assets.resolve_model(assets.default_model_name("cpu"), assets.REPO_ROOT / "assets")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"model missing: {e}")
    monkeypatch.setenv("CROSSWATCH_ASSETS_DIR", str(root))
    db = tmp_path / "cw.db"
    rc = main(
        [
            "watch",
            str(tmp_path / "cam.ts"),
            "--follow",
            "--crossing",
            str(ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"),
            "--model",
            str(model),
            "--db",
            f"sqlite:///{db}",
            "--duration",
            "5",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert "y5fu_320x_sim.onnx does not match its SHA-256" in err[0] and "make assets" in err[0]
    assert not db.exists()


# -- the real model on a real clip -------------------------------------------------------------------
VN_CLIP = ROOT / "assets" / "sample_videos" / "vn_rear_stopline.mp4"


@pytest.mark.needs_assets
@needs_ffmpeg
@needs_font
@pytest.mark.skipif(not VN_CLIP.exists(), reason=f"{VN_CLIP.name} missing: run `make assets`")
def test_watch_command_stores_real_events_while_running(tmp_path):
    """`crosswatch watch --follow` on the vn clip's first 8 s, written as it goes: both red-light
    events (1.93 s and 3.70 s in `process`) are in the database while the watch still runs."""
    from stream_server import GrowingFile

    from detector.assets import resolve_model

    try:
        resolve_model("yolo11n-openvino-int8")
    except Exception as e:
        pytest.skip(f"model missing: {e}")
    ts = tmp_path / "vn8.ts"
    subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(VN_CLIP), "-t", "8", "-an", "-c", "copy", "-f", "mpegts", str(ts)],
        check=True,
        timeout=60,
    )
    dst = tmp_path / "vn-growing.ts"
    writer = GrowingFile(ts, dst, chunk=64 * 1024, every_s=0.05).start()
    db = tmp_path / "watch.db"
    env = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    wait_for("the file", dst.exists, 10)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "watch",
            str(dst),
            "--follow",
            "--crossing",
            str(ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"),
            "--db",
            f"sqlite:///{db}",
            "--start-time",
            "2026-03-01T08:00:00+08:00",
            "--stall-s",
            "3",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    repo = Repository(make_engine(f"sqlite:///{db}"))
    try:
        wait_for("the database", db.exists, 30)
        events = wait_for("two events", lambda: (ev := _events(repo)) and len(ev) >= 2 and ev, 90, every=0.5)
        assert proc.poll() is None  # still watching
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        writer.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [ln["event"]["type"] for ln in lines if "event" in ln] == ["red_light", "red_light"]
    summary = lines[-1]["summary"]
    assert summary["events"] == 2 and summary["lost_events"] == 0 and summary["evidence_failures"] == 0
    assert [round(e.t, 1) for e in events] == [1.9, 3.7]
    from service.verify import verify_event

    for e, line in zip(events, [ln["event"] for ln in lines if "event" in ln]):  # evidence as `process` makes it
        assert e.plate_status in ("read", "not_read") and (e.plate_text is not None) == (e.plate_status == "read")
        assert e.violation_code and line["violation_code"] == e.violation_code
        assert line["anti_forgery_code"] == e.anti_forgery_code and verify_event(e, tmp_path / "evidence").ok
    run = repo.get_run(events[0].run_id)
    assert run.status == "done" and run.start_time == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    second = events[1]
    clip = tmp_path / "evidence" / next(f.relpath for f in second.evidence if f.kind == "clip")
    assert clip_start(clip) <= second.t - 3.4  # 3.5 s before the event, from the ring buffer
    assert decoded_clip(clip)[0] == "h264"
    repo.engine.dispose()


def _events(repo: Repository):
    """The watch's events so far (run 1 of its fresh database); none while it is still creating it."""
    try:
        return repo.run_events(1)
    except Exception:  # no tables yet
        return []
