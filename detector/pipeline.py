"""One video through the stages: decode -> detect -> merge riders -> track -> signal -> rules.

The pipeline knows nothing about databases or files of evidence; it returns events, line
crossings and per-minute counts. The detector is any object with `detect(images) -> [Detections]`,
so tests drive it with scripted detections and no model. `FrameSession` is the per-frame part:
`Pipeline.run` feeds it a file's frames, `detector.live` (`crosswatch watch`) a stream's.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .boxes import nms_merge
from .config import Crossing, SignalPlan
from .identity import check_events
from .regions import plan_detection, scale_box
from .riders import merge_riders
from .rules import RedLightRule, TrafficCounter, WrongWayRule
from .rules.counting import CountRow
from .signal import LampSignals, PlanSignals
from .tracking import Tracker, TrackerConfig
from .types import Detections, Frame, LineCrossing, ViolationEvent
from .video import VideoInfo, is_duplicate, probe, read_frames


class Detector(Protocol):
    def detect(self, images: list[np.ndarray]) -> list[Detections]: ...


@dataclass(frozen=True)
class PipelineSettings:
    model: str = "yolo11n-openvino-int8"
    imgsz: int = 640
    conf: float = 0.1
    detect_fps: float = 10.0  # detect on at most this many frames per second of video; 0 = every frame
    skip_duplicates: bool = True  # a frame identical to the last detected one adds nothing
    batch: int = 2  # frames per detector call (a fixed-size model fits two wide frames in one input)
    signal_fps: float = 10.0  # lamps are read on detected frames and at least this often; 0 = every frame
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

    def as_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """Identity of everything that changes results (device and paths excluded)."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


@dataclass
class PipelineResult:
    info: VideoInfo
    events: list[ViolationEvent]
    crossings: list[LineCrossing]
    counts: list[CountRow]
    frames: int
    processed: int
    duration_s: float
    elapsed_s: float
    timings: dict[str, float]
    crossing: Crossing  # in the video's pixel space
    signal_log: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # (onset t, state) per signal
    dropped: list[ViolationEvent] = field(default_factory=list)  # events whose path jumps between road users


Progress = Callable[[float, float | None], None]


class _Clock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.spent[stage] = self.spent.get(stage, 0.0) + now - self._t
        self._t = now


class FrameSession:
    """The per-frame stages of a run (signal -> detect -> merge riders -> track -> rules) for frames
    that arrive one at a time: `Pipeline.run` feeds it a file's frames, `detector.live` a stream's.

    Outputs accumulate in `events`, `crossings` and `final_class` (the class vote of each
    judged road user, known when its track retires); a long-running caller drains them as it goes,
    so memory stays flat. `track_offset` is added to every track id: a stream starts a fresh session
    after each gap and keeps ids unique over the whole run. `log_signals` keeps the (onset, state)
    history of each signal (a file run reports it; a stream never ends, so it does not keep it).

    `settle`: keep `settled`, the events whose road user's track has retired (their class final, see
    `final_class`), for a caller that starts their evidence while the video goes on; it drains the list.

    `lookahead`: the model looks at the next batch of frames in a worker thread while this thread
    tracks and judges the batch before it (and decodes the frames after it), so decoding, tracking and
    rules no longer wait for the model. Batches are still judged one after another in time order, so
    the results are the same as without it; what the session has judged lags one batch behind what it
    was given until `flush` or `finish`. Call `close` when done with a session that may not have
    finished (an error mid-video).
    """

    def __init__(
        self,
        crossing: Crossing,
        detector: Detector,
        settings: PipelineSettings,
        plan: SignalPlan | None,
        frame_size: tuple[int, int],
        *,
        track_offset: int = 0,
        log_signals: bool = True,
        clock: _Clock | None = None,
        lookahead: bool = False,
        settle: bool = False,
    ):
        self.crossing = crossing  # already in the video's pixel space
        self.detector = detector
        self.settings = settings
        self.track_offset = track_offset
        self.log_signals = log_signals
        self.clock = clock or _Clock()
        self.signals = PlanSignals(plan) if plan is not None else LampSignals(crossing)
        self.tracker = Tracker(settings.tracker, frame_size)
        # at least the frames one model input holds (stacked wide frames / regions)
        width, height = frame_size
        per_call = getattr(detector, "frames_per_call", None)
        self.batch = max(settings.batch, per_call((height, width)) if per_call else 1)
        self.red = RedLightRule(crossing, self.signals.at)
        self.wrong = WrongWayRule(crossing)
        self.events: list[ViolationEvent] = []
        self.dropped: list[ViolationEvent] = []  # events whose path is not one road user (identity.py)
        self.crossings: list[LineCrossing] = []
        self.signal_log: dict[str, list[tuple[float, str]]] = {}  # per signal: (onset t, state) of each state
        # A road user's class is the vote over its track from the start of its first event's window to shortly
        # after the decision (a far motorbike's headlight at dusk first looks like a car; a track's earlier and
        # much later boxes may be another road user's): known when the track retires, kept for judged road
        # users only.
        self.final_class: dict[int, str] = {}
        self._judged: set[int] = set()  # track ids with an event or a counted crossing, not yet retired
        self.settled: list[ViolationEvent] | None = [] if settle else None  # events with their class final
        self._unsettled: list[ViolationEvent] = []  # (settle) events whose track has not retired yet
        self._pending: list[Frame] = []  # frames waiting to be detected together
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="crosswatch-detect") if lookahead else None
        self._in_flight: tuple[list[Frame], Future[list[Detections]]] | None = None  # being detected
        self._interval = 1.0 / settings.detect_fps if settings.detect_fps > 0 else 0.0
        self._signal_interval = 1.0 / settings.signal_fps if settings.signal_fps > 0 else 0.0
        self._last_detect_t: float | None = None
        self._last_signal_t: float | None = None
        self._last_image: np.ndarray | None = None
        self.frames = self.processed = 0
        self.last_t = 0.0
        self.max_track_id = track_offset  # the highest track id handed out so far

    def _record(self, ev: list[ViolationEvent], cr: list[LineCrossing]) -> None:
        # the class of the road user that did it: the vote over the track's boxes from the start of the window
        # that decided the event to shortly after the decision (its last key time), not over the track's whole life
        for e in ev:
            cls = self.tracker.pin_class(e.track_id - self.track_offset, min(e.key_times), max(e.key_times))
            if cls:
                e.class_name = cls
        # an event whose path jumps between road users shows two of them: never stored as it is
        ev, dropped = check_events(ev, self.crossing.frame_size)
        self.dropped.extend(dropped)
        self.events.extend(ev)
        if self.settled is not None:
            self._unsettled.extend(ev)
        self.crossings.extend(cr)
        self._judged.update(e.track_id for e in ev)
        self._judged.update(c.track_id for c in cr)

    def _retire(self, ids: list[int]) -> None:
        if ids:
            self._record(*self.red.forget(ids))
            self.wrong.forget(ids)
            for tid in ids:
                cls = self.tracker.pop_final_class(tid - self.track_offset)
                if tid in self._judged:
                    self._judged.discard(tid)
                    if cls:
                        self.final_class[tid] = cls
            if self.settled is not None and self._unsettled:
                gone = set(ids)
                for e in self._unsettled:
                    if e.track_id in gone:
                        e.class_name = self.final_class.get(e.track_id, e.class_name)
                        self.settled.append(e)
                self._unsettled = [e for e in self._unsettled if e.track_id not in gone]

    def _detect_and_apply(self) -> None:
        """Detect the pending frames in one call, then track and judge them in time order. With
        `lookahead` the call goes to the worker thread, and the batch given to it before is judged
        while it runs."""
        batch, self._pending = self._pending, []
        if self._worker is None:
            if batch:
                found = self.detector.detect([f.image for f in batch])
                self.clock.lap("detect")
                self._apply(batch, found)
            return
        earlier = self._in_flight
        self._in_flight = None
        if batch:
            images = [f.image for f in batch]  # pictures made here, in time order
            self.clock.lap("decode")
            self._in_flight = (batch, self._worker.submit(self.detector.detect, images))
        if earlier is not None:
            found = earlier[1].result()  # the time spent waiting for the model counts as detection
            self.clock.lap("detect")
            self._apply(earlier[0], found)

    def _drain(self) -> None:
        """Detect and judge everything given so far (pending and in flight)."""
        self._detect_and_apply()
        while self._in_flight is not None:
            self._detect_and_apply()

    def _apply(self, batch: list[Frame], found: list[Detections]) -> None:
        """Track and judge one detected batch, frame by frame in time order."""
        clock = self.clock
        off = self.track_offset
        model_scale = getattr(self.detector, "model_scale", None)
        for f, raw in zip(batch, found):
            # one box per road user: riders folded into their bikes, then leftover
            # overlapping boxes of the same kind of road user removed
            det = nms_merge([merge_riders(raw)], iou=0.6, by_family=True)
            upd = self.tracker.update(det, f.t, f.index, detail_px(det, model_scale, f.image.shape[:2]), f.image)
            points, retired = upd.points, upd.retired
            if off:
                points = [replace(p, track_id=p.track_id + off) for p in points]
                retired = [tid + off for tid in retired]
            if points:
                self.max_track_id = max(self.max_track_id, max(p.track_id for p in points))
            clock.lap("track")
            ev, cr = self.red.update(points)
            self._record(ev + self.wrong.update(points), cr)
            self._retire(retired)
            clock.lap("rules")
        self.processed += len(batch)

    def push(self, frame: Frame) -> None:
        """One decoded frame, in time order: read the lamps when due, detect when due."""
        clock = self.clock
        clock.lap("decode")
        self.frames += 1
        self.last_t = frame.t
        due = self._last_detect_t is None or frame.t - self._last_detect_t >= self._interval * 0.9
        if due or self._last_signal_t is None or frame.t - self._last_signal_t >= self._signal_interval * 0.9:
            self._last_signal_t = frame.t
            image = frame.image  # the picture is made only for frames looked at
            clock.lap("decode")
            for sid, reading in self.signals.update(image, frame.t).items():
                if self.log_signals:
                    log = self.signal_log.setdefault(sid, [])
                    if not log or log[-1][1] != reading.state.value:
                        log.append((round(frame.t - reading.since_s, 3), reading.state.value))
            clock.lap("signal")
        if (
            due
            and self.settings.skip_duplicates
            and self._last_image is not None
            and is_duplicate(frame.image, self._last_image)
        ):
            due = False
        if due:
            self._last_detect_t, self._last_image = frame.t, frame.image
            self._pending.append(frame)
            if len(self._pending) >= self.batch:
                self._detect_and_apply()

    def flush(self) -> None:
        """Detect and judge the frames still waiting for a full batch or in flight (a stream that went quiet)."""
        self._drain()

    def finish(self) -> None:
        """End of the video (or of a stream's stretch before a gap): every track retires, so every
        pending decision is made. The worker thread, if any, is released."""
        try:
            self._drain()
        finally:
            self.close()
        self._retire([tid + self.track_offset for tid in self.tracker.finish()])
        self.clock.lap("rules")

    def close(self) -> None:
        """Release the worker thread (nothing more is detected); safe to call more than once."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None
            self._in_flight = None


def detail_px(det: Detections, model_scale: Callable | None, frame_hw: tuple[int, int]) -> np.ndarray | None:
    """Each box's size (sqrt of its area) in pixels of real detail: in the working picture, or in the model's
    input where the pass that saw it shrank the picture (the detector's `model_scale(xyxy, hw)`); an
    upscaled tile adds no detail. None for a detector without `model_scale` (its boxes' pixels count)."""
    if model_scale is None or not len(det):
        return None
    wh = (det.xyxy[:, 2:] - det.xyxy[:, :2]).clip(0)
    return np.sqrt(wh[:, 0] * wh[:, 1]) * np.minimum(1.0, model_scale(det.xyxy, frame_hw))


def plan_work(crossing: Crossing, detector: Detector, video_size: tuple[int, int]) -> tuple[int, int]:
    """The size frames are decoded to and judged at. A detector that takes a plan (the model) is given
    the crossing's regions (`regions.plan_detection`) and the answer is the crossing's working size; any
    other (scripted detections in tests) sees the video's own pictures, at `video_size`."""
    use_regions = getattr(detector, "use_regions", None)
    if use_regions is None:
        return video_size
    regions = plan_detection(crossing)
    use_regions(regions.roi, regions.tiles)
    return regions.work_size


def to_video_pixels(events: list[ViolationEvent], work: tuple[int, int], video_size: tuple[int, int]) -> None:
    """Move events judged at the working size `work` into the video's pixels (box and path, in place)."""
    sx, sy = video_size[0] / work[0], video_size[1] / work[1]
    if (sx, sy) == (1.0, 1.0):
        return
    for e in events:
        e.box = scale_box(e.box, sx, sy)
        e.path = [(t, scale_box(b, sx, sy)) for t, b in e.path]


class Pipeline:
    def __init__(
        self,
        crossing: Crossing,
        detector: Detector,
        settings: PipelineSettings | None = None,
        plan: SignalPlan | None = None,
    ):
        self.crossing = crossing
        self.detector = detector
        self.settings = settings or PipelineSettings()
        self.plan = plan

    def run(
        self,
        video: str | Path,
        progress: Progress | None = None,
        on_settled: Callable[[list[ViolationEvent]], None] | None = None,
    ) -> PipelineResult:
        """Frames are decoded straight to the crossing's working size (`regions.plan_detection`) when the
        detector takes a plan, judged there, and the results are handed back in the video's pixel space.

        `on_settled` is called, while the video goes on, with each batch of events whose road user's
        track has retired: their class and boxes (in the video's pixels) are final, so their evidence
        can be written meanwhile. Every event of the result is handed over once, the last ones at the end."""
        started = time.perf_counter()
        info = probe(video)
        crossing = self.crossing.scaled_to((info.width, info.height))
        work = plan_work(self.crossing, self.detector, (info.width, info.height))
        clock = _Clock()
        session = FrameSession(
            self.crossing.scaled_to(work),
            self.detector,
            self.settings,
            self.plan,
            work,
            clock=clock,
            lookahead=True,
            settle=on_settled is not None,
        )
        size = (info.width, info.height)
        handed: set[int] = set()  # id() of the events already moved to the video's pixels and handed over

        def hand_over() -> None:
            if on_settled is None or not session.settled:
                return
            batch, session.settled[:] = list(session.settled), []
            to_video_pixels(batch, work, size)
            handed.update(id(e) for e in batch)
            on_settled(batch)

        frame: Frame
        try:
            for frame in read_frames(video, size=work):
                session.push(frame)
                hand_over()
                if progress is not None:
                    progress(frame.t, info.duration_s)
            session.finish()
            hand_over()
        finally:
            session.close()
        final_class = session.final_class
        events = session.events
        rest = [e for e in events + session.dropped if id(e) not in handed]  # the handed ones are final
        for e in rest:
            e.class_name = final_class.get(e.track_id, e.class_name)
        to_video_pixels(rest, work, size)
        crossings = [replace(c, class_name=final_class.get(c.track_id, c.class_name)) for c in session.crossings]
        counter = TrafficCounter()
        counter.add(crossings)
        clock.lap("rules")
        events.sort(key=lambda e: (e.t, e.track_id))
        last_t = session.last_t
        duration = max(last_t + (1.0 / info.nominal_fps if info.nominal_fps else 0.0), info.duration_s or 0.0)
        return PipelineResult(
            info=info,
            events=events,
            crossings=crossings,
            counts=counter.rows(),
            frames=session.frames,
            processed=session.processed,
            duration_s=round(duration, 3),
            elapsed_s=time.perf_counter() - started,
            timings=clock.spent,
            crossing=crossing,
            signal_log=session.signal_log,
            dropped=session.dropped,
        )
