"""Wrong-way riding: sustained motion against a lane's allowed direction, decided by a vote.

For each road user the rule keeps its recent bottom-centre path inside the lane it is in. It flags
the road user once, when over the last `window_s` seconds (at least `min_time_s` of them) the net
displacement is against the lane direction (angle > `max_angle_deg`), at least `min_travel` road-
user sizes (and `min_px` pixels) long, at least `vote` of the individual moving steps (3 or more)
agree, and no single step makes up more than `max_step_share` of the way. One jittery step (or a
track jumping onto a neighbour) never decides; a parked road user never moves far enough. A step where
the box changes its height by more than `shape_change` from one look to the next (within `FLICKER_S`: a
small rider boxed with its bike in one look and alone in the next) is not such a jump: its size is the
shift of the box's edges that moved less (a creeping dusk rider's bottom jumping 21 px and back vetoed
its whole ride). The steps are
taken between looks at least `step_s` apart, so the vote means the same at 30 fps as at 10 Hz.

A road user is flagged once, even when its track breaks: a far or small road user's track is often
lost for a few looks and found again as a new track, which would then be judged (and fined) again.
A new track whose first look continues a flagged road user's path (`_continues`: it appears after
that one was last seen, within `stitch_s`, in the same lane, where that one's last motion would have
taken it (within one box height plus `stitch_drift` heights per second of the gap), at a similar size,
and that one was not last seen leaving the picture) is the same road user: it is not flagged again
(`stitched` counts them). A road user does not drift far from its own motion in a second or two: with
5 heights a second (before session 9) a yellow taxi coming in at the picture's edge was taken for a
slow motorbike that had vanished 1.7 s before, 218 px away, and the taxi's wrong-way ride was not
reported.

The event is dated and boxed at the first look of the deciding window that shows the whole road user,
and after the track's last gap longer than `max_gap_s` (a track found again after a gap may hold
another road user from there on: its evidence then shows the one that rode on).

The box that decides must be a confident one (`min_confidence`), judged by its size as the tracker
judges a new track: a road user only `small_px` pixels of real detail across (`TrackPoint.detail_px`)
is never scored high even when it is plainly there, so at that size `small_confidence` is enough
(linear up to `min_confidence` at `full_px`). The motion tests above stay as strict at every size.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..boxes import height_change, size_ramp, steady_shift
from ..config import Crossing
from ..geometry import angle_deg, point_in_polygon
from ..identity import cut_by_edge
from ..types import TrackPoint, ViolationEvent, ViolationType

TAIL_S = 0.6  # a flagged road user's last motion is measured over this long
FLICKER_S = 0.5  # a box that changes its shape from one look to the next this soon is the same road user's


@dataclass
class _Memory:
    path: deque = field(default_factory=deque)  # (t, anchor, box, frame, lane_id)
    first: tuple | None = None  # (t, anchor, box, lane_id) of the track's first look
    flagged_lane: str | None = None  # once flagged: the lane of its event (or of the event it continues)
    tail: deque = field(default_factory=deque)  # (t, anchor, box) of its last looks once flagged

    @property
    def done(self) -> bool:
        return self.flagged_lane is not None


@dataclass(frozen=True)
class _Gone:
    """A flagged road user's last looks: `tail` (t, anchor, box), in `lane`."""

    lane: str
    tail: tuple


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
        stitch_s: float = 2.0,
        stitch_drift: float = 1.5,
        shape_change: float = 1.3,
        max_gap_s: float = 1.0,
    ):
        self.lanes = list(crossing.lanes)
        self.frame_size = crossing.frame_size
        self.stitch_s = stitch_s
        self.stitch_drift = stitch_drift
        self.shape_change = shape_change
        self.max_gap_s = max_gap_s
        self.stitched = 0  # new tracks not flagged again: they continue a flagged road user (`_continues`)
        self._gone: dict[int, _Gone] = {}  # flagged road users whose tracks retired (kept 2 x stitch_s)
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
                self._keep_tail(mem, p)
                continue
            lane = next((ln for ln in self.lanes if point_in_polygon(p.anchor, ln.polygon)), None)
            if mem.first is None:
                mem.first = (p.t, p.anchor, p.box, lane.id if lane else None)
            mem.path.append((p.t, p.anchor, p.box, p.frame, lane.id if lane else None))
            while mem.path and p.t - mem.path[0][0] > self.window_s:
                mem.path.popleft()
            if lane is not None:
                ev = self._judge(p, lane, mem)
                if ev is not None:
                    mem.flagged_lane = lane.id
                    mem.tail.extend((q[0], q[1], q[2]) for q in mem.path if p.t - q[0] <= TAIL_S)
                    mem.path.clear()
                    if self._continues(p.track_id, mem):
                        self.stitched += 1
                    else:
                        events.append(ev)
        return events

    def forget(self, track_ids: list[int]) -> None:
        """These tracks retired: flagged road users keep their last looks for `stitch_s` (see `_continues`)."""
        for tid in track_ids:
            mem = self._mem.pop(tid, None)
            if mem is not None and mem.flagged_lane is not None and mem.tail:
                self._gone[tid] = _Gone(mem.flagged_lane, tuple(mem.tail))
        if self._gone and track_ids:  # memory bound: `_continues` itself only looks stitch_s back
            now = max(g.tail[-1][0] for g in self._gone.values())
            self._gone = {k: g for k, g in self._gone.items() if now - g.tail[-1][0] <= 2 * self.stitch_s}

    @staticmethod
    def _keep_tail(mem: _Memory, p: TrackPoint) -> None:
        mem.tail.append((p.t, p.anchor, p.box))
        while len(mem.tail) > 2 and p.t - mem.tail[0][0] > TAIL_S:
            mem.tail.popleft()

    def _continues(self, track_id: int, mem: _Memory) -> bool:
        """The track `mem` (just flagged) continues a flagged road user whose track was last seen before it
        first was, within `stitch_s`, in the same lane and not leaving the picture, and its first look lies
        where that one's last motion would have taken it (within one box height, plus `stitch_drift` heights
        per second of the gap), at a similar size (heights within 2x)."""
        assert mem.first is not None
        t0, (x0, y0), box0, lane0 = mem.first
        h0 = max(1.0, box0[3] - box0[1])
        flagged: list[tuple[str | None, tuple]] = [(g.lane, g.tail) for g in self._gone.values()]
        flagged += [
            (m.flagged_lane, tuple(m.tail)) for k, m in self._mem.items() if k != track_id and m.done and m.tail
        ]
        for lane, tail in flagged:
            t1, (x1, y1), box1 = tail[-1]
            gap = t0 - t1
            if lane != mem.flagged_lane or lane0 not in (None, lane) or not 0.0 < gap <= self.stitch_s:
                continue
            if cut_by_edge(box1, self.frame_size):  # it was leaving the picture
                continue
            h1 = max(1.0, box1[3] - box1[1])
            if max(h0 / h1, h1 / h0) > 2.0:
                continue
            ta, (xa, ya), _ = tail[0]
            span = t1 - ta
            vx, vy = ((x1 - xa) / span, (y1 - ya) / span) if span > 1e-6 else (0.0, 0.0)
            px, py = x1 + vx * gap, y1 + vy * gap
            if math.hypot(x0 - px, y0 - py) <= max(h0, h1) * (1.0 + self.stitch_drift * gap):
                return True
        return False

    def needed_confidence(self, p: TrackPoint) -> float:
        """The score the deciding box needs, by its size in pixels of real detail (the box's own if unknown)."""
        x1, y1, x2, y2 = p.box
        px = p.detail_px or max(0.0, (x2 - x1) * (y2 - y1)) ** 0.5
        low = min(self.small_confidence, self.min_confidence)
        return float(size_ramp(px, self.small_px, self.full_px, low, self.min_confidence))

    def _against(self, path: list[tuple[float, float]], direction, size: float, boxes: list) -> bool:
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
        # One big jump (a track taking over a neighbour's box) is not a road user moving. A step where the box
        # changes its height by more than `shape_change` from one look to the next (within FLICKER_S: a small rider
        # boxed with its bike in one look, alone in the next) is no jump: its size is the shift of the box's edges
        # that moved less. After a longer gap a box of another size is as likely another road user.
        jumps = [
            float(np.hypot(*steady_shift(a, b)))
            if t1 - t0 <= FLICKER_S and height_change(a, b) > self.shape_change
            else math.hypot(*st)
            for (t0, a), (t1, b), st in zip(boxes, boxes[1:], steps)
            if math.hypot(*st) >= 0.05 * size
        ]
        return max(jumps) <= self.max_step_share * math.hypot(*disp)

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
        boxes = [(q[0], q[2]) for q in looks]
        if not (
            self._against(bottoms, lane.direction, size, boxes) and self._against(tops, lane.direction, size, boxes)
        ):
            return None
        # The event is dated and boxed where the contraflow began (first point of the deciding window), at
        # the first look there that shows the whole road user (a box cut by the frame's edge shows part of it).
        # ... and from the track's last long gap on (unseen over `max_gap_s`): a track found again after a gap may
        # hold another road user from there on, so the evidence shows and dates the one that rode on.
        cut = next((i for i in range(len(pts) - 1, 0, -1) if pts[i][0] - pts[i - 1][0] > self.max_gap_s), 0)
        pts = pts[cut:]
        start = next((q for q in pts if not cut_by_edge(q[2], self.frame_size)), pts[0])
        mid = pts[len(pts) // 2]
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
