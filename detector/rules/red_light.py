"""Red-light running: crossing a stop line into the junction on red, then travelling on.

Per road user and stop line, the rule remembers the last passage of its bottom-centre from before
the line to beyond it (tested on the segment between two observations, so a road user that jumps
over the line between processed frames is caught, and the crossing time is interpolated). Going
back behind the line (box flicker at the line) cancels the passage. The passage is decided once the
road user is `confirm_depth` beyond the line, its whole body having moved on with it (not just a
bottom edge jumping with occlusion) — it travelled on into the junction — or leaves the
picture past the line; a road user that stops over the line is never decided, and one whose way
over the line is not heading into the junction (cross traffic on a slanted line) is not a passage.
Decided passages
are counted (exposure); a passage is a violation when the governing signal was RED at the crossing
time, at least `grace_s` after red began, and still RED when the road user was in the junction.
One decision per road user and stop line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Crossing, Lane, StopLine
from ..geometry import DirectedLine, angle_deg, point_in_polygon
from ..types import (
    LineCrossing,
    SignalReading,
    SignalState,
    TrackPoint,
    ViolationEvent,
    ViolationType,
    as_box,
)

SignalLookup = Callable[[str, float], SignalReading]
Box = tuple[float, float, float, float]


@dataclass
class _Passage:
    last: TrackPoint | None = None
    cross_t: float | None = None
    cross_box: Box | None = None
    cross_frame: int = 0
    before_box: Box | None = None
    before_t: float = 0.0
    past_t: float = 0.0
    done: bool = False


@dataclass
class _TrackMemory:
    passages: dict[str, _Passage] = field(default_factory=dict)
    path: deque = field(default_factory=lambda: deque(maxlen=120))  # (t, box)
    last: TrackPoint | None = None


def _lerp_box(a: Box, b: Box, s: float) -> Box:
    return tuple(a[i] + s * (b[i] - a[i]) for i in range(4))  # type: ignore[return-value]


class RedLightRule:
    def __init__(
        self,
        crossing: Crossing,
        signals: SignalLookup,
        *,
        confirm_depth: float = 0.8,
        min_confirm_px: float = 8.0,
        edge_px: float = 4.0,
        slack_px: float = 12.0,
        max_heading_deg: float = 70.0,
        exit_motion: float = 0.3,
        min_confidence: float = 0.3,
    ):
        self.crossing = crossing
        self.signals = signals
        self.confirm_depth = confirm_depth  # in road-user box heights beyond the line
        self.min_confirm_px = min_confirm_px
        self.edge_px = edge_px
        self.slack_px = slack_px
        self.max_heading_deg = max_heading_deg
        self.exit_motion = exit_motion
        self.min_confidence = min_confidence  # a weak box may keep a track alive but never decides
        self.lines: list[tuple[StopLine, DirectedLine]] = [
            (sl, DirectedLine(sl.points[0], sl.points[1], sl.entering)) for sl in crossing.stop_lines
        ]
        self._mem: dict[int, _TrackMemory] = {}

    # -- public ----------------------------------------------------------------------------------
    def update(self, points: list[TrackPoint]) -> tuple[list[ViolationEvent], list[LineCrossing]]:
        events: list[ViolationEvent] = []
        crossings: list[LineCrossing] = []
        for p in points:
            mem = self._mem.setdefault(p.track_id, _TrackMemory())
            mem.path.append((p.t, p.box))
            for sl, line in self.lines:
                st = mem.passages.setdefault(sl.id, _Passage())
                if not st.done:
                    self._observe(sl, line, st, p, mem, events, crossings)
                st.last = p
            mem.last = p
        return events, crossings

    def forget(self, track_ids: list[int]) -> tuple[list[ViolationEvent], list[LineCrossing]]:
        """Tracks that ended: a pending passage whose road user drove out of the picture past the line is decided."""
        events: list[ViolationEvent] = []
        crossings: list[LineCrossing] = []
        for tid in track_ids:
            mem = self._mem.pop(tid, None)
            if mem is None or mem.last is None:
                continue
            for sl, line in self.lines:
                st = mem.passages.get(sl.id)
                if (
                    st
                    and not st.done
                    and st.cross_t is not None
                    and line.depth(mem.last.anchor) >= 0
                    and self._left_picture(mem)
                ):
                    self._decide(sl, st, mem.last, mem, events, crossings)
        return events, crossings

    # -- internals -------------------------------------------------------------------------------
    def _left_picture(self, mem: _TrackMemory) -> bool:
        """The road user's last box touches a frame edge and it was last moving out through that edge
        (at least `exit_motion` box heights per second): it drove out of view, it did not wait there."""
        w, h = self.crossing.frame_size
        # With a detection region, road users leave the detector's view at its edges.
        x0, y0, x1, y1 = self.crossing.detection.roi or (0.0, 0.0, float(w), float(h))
        e = self.edge_px
        t1, box = mem.path[-1]
        t0, first = next(((t, b) for t, b in mem.path if t >= t1 - 1.0), (t1, box))
        if t1 - t0 < 1e-6:
            return False
        vx = ((box[0] + box[2]) - (first[0] + first[2])) / 2 / (t1 - t0)
        vy = (box[3] - first[3]) / (t1 - t0)
        need = self.exit_motion * (box[3] - box[1])
        return (
            (box[0] <= x0 + e and -vx >= need)
            or (box[2] >= x1 - e and vx >= need)
            or (box[1] <= y0 + e and -vy >= need)
            or (box[3] >= y1 - e and vy >= need)
        )

    def _observe(
        self,
        sl: StopLine,
        line: DirectedLine,
        st: _Passage,
        p: TrackPoint,
        mem: _TrackMemory,
        events: list[ViolationEvent],
        crossings: list[LineCrossing],
    ) -> None:
        depth = line.depth(p.anchor)
        if st.last is not None:
            s = line.crossing(st.last.anchor, p.anchor, slack=self.slack_px)
            if s is not None:
                st.cross_t = st.last.t + s * (p.t - st.last.t)
                st.cross_box = _lerp_box(st.last.box, p.box, s)
                st.cross_frame = st.last.frame if s < 0.5 else p.frame
                st.before_t, st.past_t, st.before_box = st.last.t, p.t, st.last.box
            elif depth < 0:
                st.cross_t = None  # back behind the line: flicker or a road user reversing
        need = max(self.min_confirm_px, self.confirm_depth * (p.box[3] - p.box[1]))
        if (
            st.cross_t is not None
            and depth >= need
            and p.confidence >= self.min_confidence
            and self._body_moved(line, st, p, need)
        ):
            self._decide(sl, st, p, mem, events, crossings)

    @staticmethod
    def _body_moved(line: DirectedLine, st: _Passage, p: TrackPoint, need: float) -> bool:
        """The top of the box went on too: in a dense queue the bottom edge of a waiting rider jumps
        with occlusion (bike hidden, person box alone) while the helmet stays put."""
        assert st.before_box is not None
        top_now = ((p.box[0] + p.box[2]) / 2, p.box[1])
        top_before = ((st.before_box[0] + st.before_box[2]) / 2, st.before_box[1])
        return line.depth(top_now) - line.depth(top_before) >= 0.5 * need

    def _heading_in(self, sl: StopLine, cross_t: float, p: TrackPoint, mem: _TrackMemory) -> bool:
        """The road user's way over the line (from up to 1 s before it) points into the junction."""
        start = next((box for t, box in mem.path if t >= cross_t - 1.0), p.box)
        dx = (p.box[0] + p.box[2]) / 2 - (start[0] + start[2]) / 2
        dy = p.box[3] - start[3]
        return angle_deg((dx, dy), sl.entering) <= self.max_heading_deg

    def _lane_at(self, point) -> Lane | None:
        return next((ln for ln in self.crossing.lanes if point_in_polygon(point, ln.polygon)), None)

    def _decide(
        self,
        sl: StopLine,
        st: _Passage,
        p: TrackPoint,
        mem: _TrackMemory,
        events: list[ViolationEvent],
        crossings: list[LineCrossing],
    ) -> None:
        assert st.cross_t is not None and st.cross_box is not None
        if not self._heading_in(sl, st.cross_t, p, mem):
            st.cross_t = None  # crossing traffic grazing a slanted line, not entering: keep watching
            return
        st.done = True
        crossings.append(LineCrossing(sl.id, p.track_id, p.class_name, st.cross_t, st.cross_frame))
        anchor = ((st.cross_box[0] + st.cross_box[2]) / 2, st.cross_box[3])
        lane = self._lane_at(anchor)
        signal_id = lane.governing_signal(sl.signal) if lane is not None else sl.signal
        if signal_id is None:
            return
        at_line = self.signals(signal_id, st.cross_t)
        in_junction = self.signals(signal_id, p.t)
        if not (
            at_line.state is SignalState.RED
            and at_line.since_s >= self.crossing.grace_s
            and in_junction.state is SignalState.RED
        ):
            return
        events.append(
            ViolationEvent(
                type=ViolationType.RED_LIGHT,
                track_id=p.track_id,
                class_name=p.class_name,
                t=round(st.cross_t, 3),
                frame=st.cross_frame,
                box=as_box(round(v, 1) for v in st.cross_box),
                lane=lane.id if lane is not None else None,
                signal_id=signal_id,
                signal=at_line.state,
                signal_source=at_line.source,
                since_red_s=round(at_line.since_s, 3),
                stop_line=sl.id,
                key_times=(st.before_t, st.past_t, max(p.t, st.past_t)),
                path=list(mem.path),
            )
        )
