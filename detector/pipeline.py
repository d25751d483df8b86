"""One video through the stages: decode -> detect -> merge riders -> track -> signal -> rules.

The pipeline knows nothing about databases or files of evidence; it returns events, line
crossings and per-minute counts. The detector is any object with `detect(images) -> [Detections]`,
so tests drive it with scripted detections and no model.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .boxes import nms_merge
from .config import Crossing, SignalPlan
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


Progress = Callable[[float, float | None], None]


class _Clock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.spent[stage] = self.spent.get(stage, 0.0) + now - self._t
        self._t = now


class Pipeline:
    def __init__(self, crossing: Crossing, detector: Detector, settings: PipelineSettings | None = None,
                 plan: SignalPlan | None = None):
        self.crossing = crossing
        self.detector = detector
        self.settings = settings or PipelineSettings()
        self.plan = plan

    def run(self, video: str | Path, progress: Progress | None = None) -> PipelineResult:
        started = time.perf_counter()
        info = probe(video)
        crossing = self.crossing.scaled_to((info.width, info.height))
        signals = PlanSignals(self.plan) if self.plan is not None else LampSignals(crossing)
        tracker = Tracker(self.settings.tracker)
        # at least the frames one model input holds (stacked wide frames / regions)
        per_call = getattr(self.detector, "frames_per_call", None)
        batch = max(self.settings.batch, per_call((info.height, info.width)) if per_call else 1)
        red = RedLightRule(crossing, signals.at)
        wrong = WrongWayRule(crossing)
        counter = TrafficCounter()
        events: list[ViolationEvent] = []
        crossings: list[LineCrossing] = []
        signal_log: dict[str, list[tuple[float, str]]] = {}  # per signal: (onset t, state) of each state
        # A road user's class is the vote over its whole track, not over the part seen when a rule decided
        # (a far motorbike's headlight at dusk first looks like a car): kept for judged road users only.
        final_class: dict[int, str] = {}
        judged: set[int] = set()  # track ids with an event or a counted crossing

        def record(ev: list[ViolationEvent], cr: list[LineCrossing]) -> None:
            events.extend(ev)
            crossings.extend(cr)
            judged.update(e.track_id for e in ev)
            judged.update(c.track_id for c in cr)

        def retire(ids: list[int]) -> None:
            if ids:
                record(*red.forget(ids))
                wrong.forget(ids)
                for tid in ids:
                    cls = tracker.final_class.pop(tid, None)
                    if cls and tid in judged:
                        final_class[tid] = cls

        pending: list[Frame] = []  # frames waiting to be detected together

        def detect_and_apply() -> int:
            """Detect the pending frames in one call, then track and judge them in time order."""
            if not pending:
                return 0
            found = self.detector.detect([f.image for f in pending])
            clock.lap("detect")
            for f, raw in zip(pending, found):
                # one box per road user: riders folded into their bikes, then leftover
                # overlapping boxes of the same kind of road user removed
                det = nms_merge([merge_riders(raw)], iou=0.6, by_family=True)
                upd = tracker.update(det, f.t, f.index)
                clock.lap("track")
                ev, cr = red.update(upd.points)
                record(ev + wrong.update(upd.points), cr)
                retire(upd.retired)
                clock.lap("rules")
            n = len(pending)
            pending.clear()
            return n

        interval = 1.0 / self.settings.detect_fps if self.settings.detect_fps > 0 else 0.0
        signal_interval = 1.0 / self.settings.signal_fps if self.settings.signal_fps > 0 else 0.0
        last_detect_t: float | None = None
        last_signal_t: float | None = None
        last_image: np.ndarray | None = None
        frames = processed = 0
        last_t = 0.0
        clock = _Clock()
        frame: Frame
        for frame in read_frames(video):
            clock.lap("decode")
            frames += 1
            last_t = frame.t
            due = last_detect_t is None or frame.t - last_detect_t >= interval * 0.9
            if due or last_signal_t is None or frame.t - last_signal_t >= signal_interval * 0.9:
                last_signal_t = frame.t
                image = frame.image  # the picture is made only for frames looked at
                clock.lap("decode")
                for sid, reading in signals.update(image, frame.t).items():
                    log = signal_log.setdefault(sid, [])
                    if not log or log[-1][1] != reading.state.value:
                        log.append((round(frame.t - reading.since_s, 3), reading.state.value))
                clock.lap("signal")
            if due and self.settings.skip_duplicates and last_image is not None and is_duplicate(frame.image, last_image):
                due = False
            if due:
                last_detect_t, last_image = frame.t, frame.image
                pending.append(frame)
                if len(pending) >= batch:
                    processed += detect_and_apply()
            if progress is not None:
                progress(frame.t, info.duration_s)
        processed += detect_and_apply()
        retire(tracker.finish())
        for e in events:
            e.class_name = final_class.get(e.track_id, e.class_name)
        crossings = [replace(c, class_name=final_class.get(c.track_id, c.class_name)) for c in crossings]
        counter.add(crossings)
        clock.lap("rules")
        events.sort(key=lambda e: (e.t, e.track_id))
        duration = max(last_t + (1.0 / info.nominal_fps if info.nominal_fps else 0.0), info.duration_s or 0.0)
        return PipelineResult(info=info, events=events, crossings=crossings, counts=counter.rows(), frames=frames,
                              processed=processed, duration_s=round(duration, 3),
                              elapsed_s=time.perf_counter() - started, timings=clock.spent, crossing=crossing,
                              signal_log=signal_log)
