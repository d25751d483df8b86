"""Signal state: lamp boxes (or a phase plan) -> debounced RED / YELLOW / GREEN per signal over time."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

import numpy as np

from .config import Crossing, Signal, SignalPlan
from .types import SignalReading, SignalState


@dataclass(frozen=True)
class LampThresholds:
    """A lamp is lit when its brightest quarter of pixels is bright enough and of its own colour.

    Scores (channel means of the brightest quarter): red = R - (G+B)/2, yellow = (R+G)/2 - B,
    green = (G+B)/2 - R/2. On the shared clips: lit red 57-132 / dark <= 1, lit green 103-136,
    unlit lamps below the brightness gate, vn's dark amber lamp 27-29 during red. On the 75 labelled
    lights of datasets/redlight_intersections_40 (`python -m detector.quality`), red 25 / green 90
    cut wrong colours from 21 to 8 (grey sky in a loose box scores ~85 as "green"; night reds bloom).
    """

    min_brightness: float = 100.0
    red: float = 25.0
    yellow: float = 45.0
    green: float = 90.0


def lamp_scores(image: np.ndarray, signal: Signal) -> dict[str, tuple[float, float]]:
    """(colour score, brightness) of each configured lamp in a BGR image."""
    h, w = image.shape[:2]
    out: dict[str, tuple[float, float]] = {}
    for colour, (x, y, bw, bh) in signal.lamps.items():
        x1, y1 = max(0, int(round(x))), max(0, int(round(y)))
        x2, y2 = min(w, int(round(x + bw))), min(h, int(round(y + bh)))
        crop = image[y1:y2, x1:x2].reshape(-1, 3).astype(np.float32)
        if len(crop) == 0:
            out[colour] = (0.0, 0.0)
            continue
        bright = crop.max(axis=1)
        k = max(1, len(crop) // 4)
        top = crop[np.argpartition(bright, -k)[-k:]]
        b, g, r = top.mean(axis=0)
        score = {"red": r - (g + b) / 2, "yellow": (r + g) / 2 - b, "green": (g + b) / 2 - r / 2}[colour]
        out[colour] = (float(score), float(top.max(axis=1).mean()))
    return out


def classify_lamps(scores: dict[str, tuple[float, float]], th: LampThresholds = LampThresholds()) -> SignalState:
    """Raw state of one signal head from its lamp scores (no memory)."""
    margin = {}
    for colour, (score, brightness) in scores.items():
        limit = getattr(th, colour)
        if brightness >= th.min_brightness and score >= limit:
            margin[colour] = score - limit
    if not margin:
        return SignalState.UNKNOWN
    if "red" in margin and "yellow" in margin:  # red+amber (some countries): still red
        return SignalState.RED
    best = max(margin, key=lambda colour: margin[colour])
    return SignalState(best.upper())


class SignalTimeline:
    """Debounces raw readings of one signal and answers 'what was the state at time t?'.

    A new state is accepted after `debounce_s` and at least `min_readings` readings; its onset is
    the first of those readings. Dark readings (nothing lit, or LED flicker) keep the last state for
    `hold_s`; up to `amber_s` after GREEN, on a head with no amber lamp configured, dark means amber.
    Keeps `keep_s` seconds of history, so memory stays flat on long videos.
    """

    def __init__(
        self,
        signal_id: str,
        *,
        has_yellow: bool,
        debounce_s: float = 0.15,
        min_readings: int = 2,
        hold_s: float = 1.0,
        keep_s: float = 120.0,
        amber_s: float = 6.0,
    ):
        self.signal_id = signal_id
        self.has_yellow = has_yellow
        self.debounce_s, self.min_readings, self.hold_s, self.keep_s = debounce_s, min_readings, hold_s, keep_s
        self.amber_s = amber_s
        self._t0: float | None = None
        self._state = SignalState.UNKNOWN
        self._onset = 0.0
        self._cand: SignalState | None = None
        self._cand_t = 0.0
        self._cand_n = 0
        self._last_lit_t = -1e9
        self._last_green_t = -1e9
        self._times: deque[float] = deque()
        self._hist: deque[tuple[SignalState, float]] = deque()  # (state, onset) per reading

    def push(self, t: float, raw: SignalState) -> SignalReading:
        if self._t0 is None:
            self._t0 = t
            self._onset = t
        if raw is SignalState.UNKNOWN:
            if (
                not self.has_yellow
                and self._state in (SignalState.GREEN, SignalState.YELLOW)
                and t - self._last_green_t <= self.amber_s
            ):
                raw = SignalState.YELLOW
            elif t - self._last_lit_t <= self.hold_s:
                raw = self._state
        else:
            self._last_lit_t = t
            if raw is SignalState.GREEN:
                self._last_green_t = t
        if raw is self._state:
            self._cand = None
        else:
            if raw is not self._cand:
                self._cand, self._cand_t, self._cand_n = raw, t, 0
            self._cand_n += 1
            if not self._hist or (self._cand_n >= self.min_readings and t - self._cand_t >= self.debounce_s):
                self._state, self._onset, self._cand = raw, self._cand_t, None
                # the readings since the onset belong to the new state too
                i = len(self._times) - 1
                while i >= 0 and self._times[i] >= self._onset:
                    self._hist[i] = (self._state, self._onset)
                    i -= 1
        self._times.append(t)
        self._hist.append((self._state, self._onset))
        while self._times and self._times[0] < t - self.keep_s:
            self._times.popleft()
            self._hist.popleft()
        return SignalReading(self.signal_id, self._state, t - self._onset, "lamp")

    def at(self, t: float) -> SignalReading:
        """State at time t (the last reading at or before t)."""
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0:
            return SignalReading(self.signal_id, SignalState.UNKNOWN, 0.0, "lamp")
        state, onset = self._hist[i]
        return SignalReading(self.signal_id, state, max(0.0, t - onset), "lamp")


class LampSignals:
    """Reads every signal of a crossing from its lamp boxes, one frame at a time."""

    source = "lamp"

    def __init__(self, crossing: Crossing, thresholds: LampThresholds = LampThresholds()):
        self.crossing = crossing
        self.thresholds = thresholds
        self.timelines = {s.id: SignalTimeline(s.id, has_yellow=s.lamps.yellow is not None) for s in crossing.signals}

    def update(self, image: np.ndarray, t: float) -> dict[str, SignalReading]:
        return {
            s.id: self.timelines[s.id].push(t, classify_lamps(lamp_scores(image, s), self.thresholds))
            for s in self.crossing.signals
        }

    def at(self, signal_id: str, t: float) -> SignalReading:
        return self.timelines[signal_id].at(t)


class PlanSignals:
    """Signal states from a phase plan: `{t, state}` steps per signal (times from video start)."""

    source = "plan"

    def __init__(self, plan: SignalPlan):
        self._steps: dict[str, tuple[list[float], list[SignalState], list[float]]] = {}
        for sid, steps in plan.signals.items():
            times: list[float] = []
            states: list[SignalState] = []
            onsets: list[float] = []
            for s in steps:
                st = SignalState(s.state)
                onset = onsets[-1] if states and states[-1] is st else s.t
                times.append(s.t)
                states.append(st)
                onsets.append(onset)
            self._steps[sid] = (times, states, onsets)

    def update(self, image: np.ndarray, t: float) -> dict[str, SignalReading]:
        return {sid: self.at(sid, t) for sid in self._steps}

    def at(self, signal_id: str, t: float) -> SignalReading:
        if signal_id not in self._steps:
            return SignalReading(signal_id, SignalState.UNKNOWN, 0.0, "plan")
        times, states, onsets = self._steps[signal_id]
        i = bisect.bisect_right(times, t) - 1
        if i < 0:
            return SignalReading(signal_id, SignalState.UNKNOWN, 0.0, "plan")
        return SignalReading(signal_id, states[i], t - onsets[i], "plan")
