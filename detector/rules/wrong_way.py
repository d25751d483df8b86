"""Wrong-way riding: sustained motion against a lane's allowed direction, decided by a vote.

For each road user the rule keeps its recent bottom-centre path inside the lane it is in. It flags
the road user once, when over the last `window_s` seconds (at least `min_time_s` of them) the net
displacement is against the lane direction (angle > `max_angle_deg`), at least `min_travel` road-
user sizes (and `min_px` pixels) long, at least `vote` of the individual moving steps (3 or more)
agree, and no single step makes up more than `max_step_share` of the way. One jittery step (or a
track jumping onto a neighbour) never decides; a parked road user never moves far enough. The steps are
taken between looks at least `step_s` apart, so the vote means the same at 30 fps as at 10 Hz.

The box that decides must be a confident one (`min_confidence`), judged by its size as the tracker
judges a new track: a road user only `small_px` pixels of real detail across (`TrackPoint.detail_px`)
is never scored high even when it is plainly there, so at that size `small_confidence` is enough
(linear up to `min_confidence` at `full_px`). The motion tests above stay as strict at every size.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ..boxes import size_ramp
from ..config import Crossing
from ..geometry import angle_deg, point_in_polygon
from ..types import TrackPoint, ViolationEvent, ViolationType


@dataclass
class _Memory:
    path: deque = field(default_factory=deque)  # (t, anchor, box, frame, lane_id)
    done: bool = False


def _spaced(pts: list, step_s: float) -> list:
    """The points (t first) thinned so that kept ones are at least `step_s` apart; the last one always kept."""
    out = [pts[0]]
    for q in pts[1:-1]:
        if q[0] - out[-1][0] >= step_s:
            out.append(q)
    if len(pts) > 1:
        if pts[-1][0] - out[-1][0] < step_s and len(out) > 1:
            out.pop()
        out.append(pts[-1])
    return out


class WrongWayRule:
    def __init__(
        self,
        crossing: Crossing,
        *,
        max_angle_deg: float = 120.0,
        window_s: float = 3.0,
        min_time_s: float = 0.6,
        min_travel: float = 1.5,
        min_px: float = 8.0,
        vote: float = 0.6,
        max_step_share: float = 0.5,
        min_confidence: float = 0.3,
        small_confidence: float = 0.15,
        small_px: float = 16.0,
        full_px: float = 48.0,
        step_s: float = 0.09,
    ):
        self.lanes = list(crossing.lanes)
        self.max_angle_deg = max_angle_deg
        self.window_s, self.min_time_s = window_s, min_time_s
        self.min_travel, self.min_px, self.vote = min_travel, min_px, vote
        self.max_step_share = max_step_share
        self.min_confidence = min_confidence
        self.small_confidence, self.small_px, self.full_px = small_confidence, small_px, full_px
        self.step_s = step_s
        self._mem: dict[int, _Memory] = {}

    def update(self, points: list[TrackPoint]) -> list[ViolationEvent]:
        events: list[ViolationEvent] = []
        if not self.lanes:
            return events
        for p in points:
            mem = self._mem.setdefault(p.track_id, _Memory())
            if mem.done:
                continue
            lane = next((ln for ln in self.lanes if point_in_polygon(p.anchor, ln.polygon)), None)
            mem.path.append((p.t, p.anchor, p.box, p.frame, lane.id if lane else None))
            while mem.path and p.t - mem.path[0][0] > self.window_s:
                mem.path.popleft()
            if lane is not None:
                ev = self._judge(p, lane, mem)
                if ev is not None:
                    mem.done = True
                    mem.path.clear()
                    events.append(ev)
        return events

    def forget(self, track_ids: list[int]) -> None:
        for tid in track_ids:
            self._mem.pop(tid, None)

    def needed_confidence(self, p: TrackPoint) -> float:
        """The score the deciding box needs, by its size in pixels of real detail (the box's own if unknown)."""
        x1, y1, x2, y2 = p.box
        px = p.detail_px or max(0.0, (x2 - x1) * (y2 - y1)) ** 0.5
        low = min(self.small_confidence, self.min_confidence)
        return float(size_ramp(px, self.small_px, self.full_px, low, self.min_confidence))

    def _against(self, path: list[tuple[float, float]], direction, size: float) -> bool:
        disp = (path[-1][0] - path[0][0], path[-1][1] - path[0][1])
        if math.hypot(*disp) < max(self.min_px, self.min_travel * size):
            return False
        if angle_deg(disp, direction) <= self.max_angle_deg:
            return False
        steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:])]
        moving = [s for s in steps if math.hypot(*s) >= 0.05 * size]
        against = sum(angle_deg(s, direction) > self.max_angle_deg for s in moving)
        if len(moving) < 3 or against < self.vote * len(moving):
            return False
        # One big jump (a track taking over a neighbour's box) is not a road user moving.
        return max(math.hypot(*s) for s in moving) <= self.max_step_share * math.hypot(*disp)

    def _judge(self, p: TrackPoint, lane, mem: _Memory) -> ViolationEvent | None:
        pts = [q for q in mem.path if q[4] == lane.id]
        if len(pts) < 3 or pts[-1][0] - pts[0][0] < self.min_time_s:
            return None
        if p.confidence < self.needed_confidence(p):  # weak boxes keep tracks alive but never decide
            return None
        heights = sorted(q[2][3] - q[2][1] for q in pts)
        size = heights[len(heights) // 2]
        # Both the bottom-centre and the top-centre of the box must go against the lane: a waiting
        # rider whose bottom edge jumps with occlusion moves only one of them.
        # The steps are voted on at most `step_s` apart in time (the default detection rate): at 30 fps a
        # crawling rider moves a pixel a frame and each step's direction is the box's jitter, not its motion.
        looks = _spaced(pts, self.step_s)
        bottoms = [q[1] for q in looks]
        tops = [((q[2][0] + q[2][2]) / 2, q[2][1]) for q in looks]
        if not (self._against(bottoms, lane.direction, size) and self._against(tops, lane.direction, size)):
            return None
        # The event is dated and boxed where the contraflow began (first point of the deciding window).
        start, mid = pts[0], pts[len(pts) // 2]
        return ViolationEvent(
            type=ViolationType.WRONG_WAY,
            track_id=p.track_id,
            class_name=p.class_name,
            t=round(start[0], 3),
            frame=start[3],
            box=tuple(round(v, 1) for v in start[2]),
            lane=lane.id,
            signal_id=None,
            signal=None,
            signal_source=None,
            since_red_s=None,
            key_times=(start[0], mid[0], p.t),
            path=[(q[0], q[2]) for q in pts],
        )
