"""Track: Detections over time -> confirmed road-user tracks (ByteTrack-style, time-based).

Two-stage association as in ByteTrack (confident boxes first, then weak boxes keep existing tracks
alive), but every quantity is in seconds and pixels-per-second, not frames, so the same settings
work at 30 fps, at 6 fps with variable frame rate, and when only every k-th frame is processed.
Matching uses IoU of the motion-predicted box plus centre distance scaled by the road user's size,
so a fast motorbike whose boxes no longer overlap between two low-fps frames keeps its identity.
Only confirmed tracks reach the rules; a track's tentative observations are handed over when it is
confirmed, so no part of its path is lost.

The score a box needs to start (or grow) a tentative track follows its size in pixels of real detail
(`detail_px`: the box in the working picture, shrunk where the detector's pass shrank the picture;
an upscaled tile adds no detail). A rider 10-25 px tall on a low-resolution clip is found at scores
of 0.15-0.35 even where it is plainly there (upscaling does not help: the picture holds no more), so
with one fixed `new_track_conf` it never gets a track. Boxes at or under `small_px` need only
`small_conf` (linear up to `new_track_conf` at `full_px`), and a track born from such weak boxes is
confirmed only after `min_hits_small` sightings in a row (a steady sighting, not one noisy box),
unless one of its boxes is confident. Such small boxes first continue a lost confirmed track (by its
predicted position), and a weak box mostly on top of a road user tracked from confident boxes never
becomes a second one. Confirmed tracks are otherwise matched as before (confident boxes, then weak
ones by overlap), and boxes of full size are tracked exactly as before. Every point carries its
`detail_px`, so the rules can judge its score by its size too (rules/wrong_way.py).

Handovers: a track must never carry its identity onto another road user. A track whose last box was a
sure four-wheeler (`sure_car_conf`) is not given a box whose height or aspect changes faster than a car's
can between the two looks (`shape_step` plus `shape_rate` per second), of whatever class (a car's track
and one box of the car with a rider coming out from under it, or a rider's box at the car's place); that
box starts a new identity instead. A two-wheeler's box changes shape by itself (rider merged in or not,
a headlight at dusk boxed as an unsure "car"), so only sure four-wheelers are held to it. A track seen only once is matched by its centre alone, never by its top or
bottom edge lining up with another road user's. Each point carries its own box's class (`box_class`); when
a rule decides an event, `pin_class` makes the track's class the score-weighted vote over its boxes from
the start of the deciding window to the track's end (`pop_final_class`), not over its whole life.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import lap
import numpy as np

from .boxes import size_ramp
from .perspective import Perspective, context_class
from .types import Detections, TrackPoint, as_box

_FOUR_WHEELERS = {"car", "bus", "truck"}
_GATED = 1e6


def _cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each box of a (N,4): the largest share of the smaller box that it has in common with a box of b (M,4)."""
    ix = (np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
    iy = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])).clip(0)
    area_a = np.prod((a[:, 2:] - a[:, :2]).clip(1e-6), axis=1)[:, None]
    area_b = np.prod((b[:, 2:] - b[:, :2]).clip(1e-6), axis=1)[None, :]
    return (ix * iy / np.minimum(area_a, area_b)).max(axis=1)


def _shape_jump(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each of boxes (N,4): the larger of its height ratio and its aspect (w/h) ratio to box (4,), >= 1."""
    w0, h0 = max(1.0, float(box[2] - box[0])), max(1.0, float(box[3] - box[1]))
    w = (boxes[:, 2] - boxes[:, 0]).clip(1.0)
    h = (boxes[:, 3] - boxes[:, 1]).clip(1.0)
    dh = np.maximum(h / h0, h0 / h)
    aspect = (w / h) / (w0 / h0)
    return np.maximum(dh, np.maximum(aspect, 1 / aspect))


@dataclass(frozen=True)
class TrackerConfig:
    high_conf: float = 0.35  # boxes used in the first association and to start tracks
    low_conf: float = 0.1  # weaker boxes only keep confirmed, currently visible tracks alive
    new_track_conf: float = 0.4
    min_hits: int = 2  # matched detections before a track is confirmed
    lost_s: float = 1.5  # how long a lost track waits to be found again
    max_dist: float = 1.2  # centre distance gate, in road-user sizes (grows while lost)
    settled_dist: float = 0.6  # the same gate once a track's velocity is known (3+ hits)
    min_iou_weak: float = 0.3  # IoU needed to match a weak box
    max_area_ratio: float = 4.0
    context_class: bool = True  # a box's class also follows its shape and the learnt perspective (perspective.py)
    small_px: float = 16.0  # a box this small (sqrt of its area, in detail pixels) may start a track at small_conf
    full_px: float = 48.0  # from this size on new_track_conf applies (linear in between)
    small_conf: float = 0.15  # the score the smallest boxes need to start or grow a tentative track
    min_hits_small: int = 4  # matched detections before a track born from a weak small box is confirmed
    max_cover_weak: float = 0.5  # a weak box sharing this much (of the smaller box) with a sure track's starts none
    # A four-wheeler's box keeps its height and shape between two looks (no rider merging in or out): for a
    # track whose last box was a sure four-wheeler, a box whose height or aspect (w/h) changes by more than
    # shape_step (+ shape_rate per second between the looks) is another road user (a rider coming out from
    # under the car, boxed with it, or a two-wheeler at its place): it is never given the track's identity.
    shape_step: float = 1.6
    shape_rate: float = 1.0
    sure_car_conf: float = 0.5  # the score of a track's last four-wheeler box that holds it to shape_step
    vote_memory_s: float = 10.0  # how far back each box's class is kept for an event's class vote (pin_class)

    def birth_conf(self, detail_px: np.ndarray) -> np.ndarray:
        """Per box (its size in pixels of real detail): the score it needs to start or grow a tentative track."""
        low = min(self.small_conf, self.new_track_conf)
        return size_ramp(detail_px, self.small_px, self.full_px, low, self.new_track_conf)


@dataclass(eq=False)
class _Track:
    key: int
    box: np.ndarray  # xyxy of the last observation
    t: float
    frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    peak: float = 0.0  # best score seen while tentative
    track_id: int = -1  # assigned on confirmation
    votes: dict[str, float] = field(default_factory=dict)
    last: tuple[str, float] = ("", 0.0)  # class and score of the last box
    recent: deque[tuple[float, str, float]] = field(default_factory=deque)  # (t, class, score) of the last boxes
    pinned_since: float | None = None  # start of the first event's window (pin_class)
    pinned: dict[str, float] = field(default_factory=dict)  # class votes of the boxes since pinned_since
    # tentative observations: (t, frame, box, score, detail_px, class of the box)
    backlog: list[tuple[float, int, tuple[float, float, float, float], float, float, str]] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0

    @property
    def class_name(self) -> str:
        return max(self.votes.items(), key=lambda kv: kv[1])[0]

    @property
    def final_class(self) -> str:
        """The vote over the boxes since the first event's window began (the road user that did it), else over its life."""
        votes = self.pinned or self.votes
        return max(votes.items(), key=lambda kv: kv[1])[0]

    def vote(self, t: float, cls: str, conf: float, memory_s: float) -> None:
        self.last = (cls, conf)
        self.votes[cls] = self.votes.get(cls, 0.0) + conf
        if self.pinned_since is not None:
            self.pinned[cls] = self.pinned.get(cls, 0.0) + conf
        self.recent.append((t, cls, conf))
        while self.recent and t - self.recent[0][0] > memory_s:
            self.recent.popleft()

    def pin(self, since: float) -> str:
        """From now on the track's final class is the vote over its boxes from `since` (as far back as
        `recent` reaches) to its end; returns that vote so far."""
        if self.pinned_since is None or since < self.pinned_since:
            votes: dict[str, float] = {}
            for t, cls, conf in self.recent:
                if t >= since - 1e-6:
                    votes[cls] = votes.get(cls, 0.0) + conf
            self.pinned, self.pinned_since = votes or dict(self.votes), since
        return self.final_class

    def predicted(self, t: float) -> np.ndarray:
        dt = max(0.0, t - self.t)
        shift = np.concatenate([self.velocity, self.velocity]) * min(dt, 1.0)
        return self.box + shift

    def observe(
        self, box: np.ndarray, t: float, frame: int, cls: str, conf: float, memory_s: float, weak: bool = False
    ) -> None:
        dt = t - self.t
        if dt > 1e-6 and not weak:  # a weak box (often two road users in one) must not set the motion
            c_old = (self.box[:2] + self.box[2:]) / 2
            c_new = (box[:2] + box[2:]) / 2
            v = (c_new - c_old) / dt
            self.velocity = v if self.hits == 1 else 0.6 * v + 0.4 * self.velocity
        self.box, self.t, self.frame = box.astype(np.float64), t, frame
        self.hits += 1
        self.vote(t, cls, float(conf), memory_s)


@dataclass
class TrackUpdate:
    points: list[TrackPoint]  # confirmed observations, time-ordered (may include a new track's backlog)
    retired: list[int]  # confirmed track ids that ended (lost for longer than lost_s)
    detections: Detections  # this frame's detections with tracker ids of confirmed tracks (-1 otherwise)


class Tracker:
    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._keys = itertools.count()
        self._ids = itertools.count(1)
        self._ended: dict[int, _Track] = {}  # retired confirmed tracks by id, until the caller pops their class
        self.perspective = Perspective()  # box height vs row, learnt from confident boxes

    def pin_class(self, track_id: int, since: float) -> str | None:
        """A rule decided an event of this track over its boxes from `since` on: the track's final class (when
        it retires, `pop_final_class`) is the score-weighted vote over its boxes from `since` to its end, not
        over its whole life (which may hold another road user's boxes). Returns that vote so far; None for an
        unknown track."""
        tr = next((tr for tr in self._tracks if tr.track_id == track_id), None) or self._ended.get(track_id)
        return tr.pin(since) if tr is not None and track_id >= 0 else None

    def pop_final_class(self, track_id: int) -> str | None:
        """The final class of a retired track (forgotten once asked): see `_Track.final_class`."""
        tr = self._ended.pop(track_id, None)
        return tr.final_class if tr is not None else None

    @property
    def active_ids(self) -> list[int]:
        return [tr.track_id for tr in self._tracks if tr.confirmed]

    def _cost(self, tracks: list[_Track], det: Detections, idx: np.ndarray, t: float, weak: bool) -> np.ndarray:
        cfg = self.config
        cost = np.full((len(tracks), len(idx)), _GATED)
        if not tracks or not len(idx):
            return cost
        boxes = det.xyxy[idx].astype(np.float64)
        d_c = (boxes[:, :2] + boxes[:, 2:]) / 2
        d_area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1).clip(1.0)
        for i, tr in enumerate(tracks):
            p = tr.predicted(t)
            ix = (np.minimum(p[2], boxes[:, 2]) - np.maximum(p[0], boxes[:, 0])).clip(0)
            iy = (np.minimum(p[3], boxes[:, 3]) - np.maximum(p[1], boxes[:, 1])).clip(0)
            t_area = max(1.0, float((p[2] - p[0]) * (p[3] - p[1])))
            inter = ix * iy
            iou = inter / (t_area + d_area - inter)
            size = np.sqrt((t_area + d_area) / 2)
            # the nearest of the centres, bottom-centres and top-centres: a road user whose box loses
            # its top (rider not merged) or its bottom (bike hidden, person box alone) keeps one anchor
            # A track seen once has no anchor to trust yet: only its centre counts (a new track from a
            # waiting rider's box must not jump to another rider whose box top happens to line up).
            pcx = (p[0] + p[2]) / 2
            anchors = [np.linalg.norm(d_c - (p[:2] + p[2:]) / 2, axis=1)]
            if tr.hits > 1:
                anchors += [
                    np.hypot(d_c[:, 0] - pcx, boxes[:, 3] - p[3]),
                    np.hypot(d_c[:, 0] - pcx, boxes[:, 1] - p[1]),
                ]
            dist = np.minimum.reduce(anchors) / size
            lost_for = t - tr.t
            ratio = np.maximum(d_area / t_area, t_area / d_area)
            if weak:
                ok = iou >= cfg.min_iou_weak
            else:
                # A track whose motion is known predicts well: allow only a small residual, so a
                # waiting rider in a queue does not take over the box of the rider in front of it.
                reach = cfg.settled_dist if tr.hits >= 3 else cfg.max_dist
                ok = (iou > 0.3) | (dist < reach * (1 + min(lost_for, 2.0)))
            ok &= ratio <= cfg.max_area_ratio
            fam_t = tr.class_name in _FOUR_WHEELERS
            fam_d = np.array([c in _FOUR_WHEELERS for c in det.class_name[idx]], dtype=bool)
            # a four-wheeler's box cannot change its height or shape abruptly: a box that does is a handover
            # (a two-wheeler's box may: its rider merged in or not, its headlight at dusk boxed as a "car" - so
            # only a track whose last box was a sure four-wheeler is held to it)
            if fam_t and tr.last[0] in _FOUR_WHEELERS and tr.last[1] >= cfg.sure_car_conf:
                ok &= _shape_jump(tr.box, boxes) <= cfg.shape_step + cfg.shape_rate * max(0.0, lost_for)
            c = (1 - iou) + 0.3 * dist + 0.3 * (fam_d != fam_t)
            cost[i] = np.where(ok, c, _GATED)
        return cost

    @staticmethod
    def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
        if cost.size == 0:
            return []
        _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=_GATED - 1)
        return [(r, int(c)) for r, c in enumerate(x) if c >= 0 and cost[r, c] < _GATED]

    def _in_context(self, det: Detections) -> Detections:
        """Learn the perspective from this frame's boxes, then correct classes their size contradicts."""
        persp = self.perspective
        boxes = det.xyxy.tolist()
        for b, c, s in zip(boxes, det.class_name, det.confidence):
            persp.learn(b, c, float(s))
        cls = np.array([context_class(b, c, persp) for b, c in zip(boxes, det.class_name)], dtype=object)
        return Detections(det.xyxy, det.confidence, cls, det.tracker_id)

    def update(self, det: Detections, t: float, frame: int, detail_px: np.ndarray | None = None) -> TrackUpdate:
        """One frame's detections at time t. `detail_px`: each box's size (sqrt of its area) in pixels of
        real detail (`pipeline.detail_px`); None = the boxes' own size."""
        cfg = self.config
        if cfg.context_class and len(det):
            det = self._in_context(det)
        tracker_id = np.full(len(det), -1, np.int64)
        conf = det.confidence
        if detail_px is None:
            wh = (det.xyxy[:, 2:] - det.xyxy[:, :2]).clip(0)
            detail_px = np.sqrt(wh[:, 0] * wh[:, 1])
        detail = np.asarray(detail_px, np.float64)
        new_thr = cfg.birth_conf(detail)
        high = np.flatnonzero(conf >= cfg.high_conf)
        low = np.flatnonzero((conf >= cfg.low_conf) & (conf < cfg.high_conf))
        matched: dict[int, _Track] = {}

        def apply(tracks: list[_Track], idx: np.ndarray, weak: bool) -> tuple[list[_Track], np.ndarray]:
            pairs = self._assign(self._cost(tracks, det, idx, t, weak))
            used_t, used_d = set(), set()
            for r, c in pairs:
                j = int(idx[c])
                tracks[r].observe(det.xyxy[j], t, frame, det.class_name[j], conf[j], cfg.vote_memory_s, weak=weak)
                matched[j] = tracks[r]
                used_t.add(r)
                used_d.add(c)
            rest_t = [tr for k, tr in enumerate(tracks) if k not in used_t]
            rest_d = np.array([j for k, j in enumerate(idx) if k not in used_d], dtype=np.int64)
            return rest_t, rest_d

        confirmed = [tr for tr in self._tracks if tr.confirmed]
        tentative = [tr for tr in self._tracks if not tr.confirmed]
        left_confirmed, high_left = apply(confirmed, high, weak=False)
        # weak boxes only continue tracks that were visible at their last chance (not long-lost ones)
        recent = [tr for tr in left_confirmed if t - tr.t <= 0.5]
        left_recent, low_left = apply(recent, low, weak=True)
        # weak boxes that are small enough to be trusted (birth_conf) first continue a lost confirmed track
        # by its predicted position (a far road user found again), and only then grow or start a new one
        small_left = np.array([j for j in low_left if conf[j] >= new_thr[j]], dtype=np.int64)
        lost = [tr for tr in left_confirmed if tr not in recent] + left_recent
        _, small_left = apply(lost, small_left, weak=False)
        # a tentative track also grows with any small box over low_conf (a far road user flickers in score,
        # not in place); for boxes of full size nothing here differs from plain ByteTrack
        weak_left = np.array([j for j in low_left if conf[j] < new_thr[j] and detail[j] < cfg.full_px], dtype=np.int64)
        grow = np.sort(np.concatenate([high_left, small_left, weak_left]))
        left_tentative, rest = apply(tentative, grow, weak=False)
        born = np.array([j for j in rest if conf[j] >= new_thr[j]], dtype=np.int64)
        # a weak box mostly on top of a road user tracked (or born now) from confident boxes is that road
        # user, or it merged with a neighbour: it neither starts nor keeps growing a track of its own
        grown = {j: tr for j, tr in matched.items() if not tr.confirmed and max(tr.peak, conf[j]) < cfg.new_track_conf}
        weak = [j for j in born if conf[j] < cfg.new_track_conf] + list(grown)
        if weak:
            sure = [tr for tr in self._tracks if tr.confirmed or tr.peak >= cfg.new_track_conf]
            held = [tr.box if tr.t == t else tr.predicted(t) for tr in sure]
            held += [det.xyxy[j] for j in born if conf[j] >= cfg.new_track_conf]
            if held:
                cover = _cover(det.xyxy[weak].astype(np.float64), np.array(held, np.float64))
                crowded = {j for j, c in zip(weak, cover) if c >= cfg.max_cover_weak}
                born = np.array([j for j in born if j not in crowded], dtype=np.int64)
                for j in crowded & grown.keys():  # the tentative track ends here
                    left_tentative.append(matched.pop(j))

        for j in born:  # boxes sure enough for their size start a tentative track
            tr = _Track(
                next(self._keys),
                det.xyxy[j].astype(np.float64),
                t,
                frame,
                peak=float(conf[j]),
            )
            tr.vote(t, str(det.class_name[j]), float(conf[j]), cfg.vote_memory_s)
            tr.backlog.append((t, frame, as_box(det.xyxy[j]), float(conf[j]), float(detail[j]), str(det.class_name[j])))
            self._tracks.append(tr)
        self._tracks = [tr for tr in self._tracks if tr not in left_tentative]

        points: list[TrackPoint] = []
        for j, tr in sorted(matched.items(), key=lambda kv: kv[0]):
            box = as_box(det.xyxy[j])
            score = float(conf[j])
            if not tr.confirmed:
                tr.backlog.append((t, frame, box, score, float(detail[j]), str(det.class_name[j])))
                tr.peak = max(tr.peak, score)
                # one confident box and a second sighting, or a steady run of weak small boxes
                need = cfg.min_hits if tr.peak >= cfg.new_track_conf else max(cfg.min_hits, cfg.min_hits_small)
                if tr.hits < need:
                    continue
                tr.track_id = next(self._ids)
                points.extend(
                    TrackPoint(tr.track_id, bt, bf, bb, tr.class_name, bc, bd, bk)
                    for bt, bf, bb, bc, bd, bk in tr.backlog[:-1]
                )
                tr.backlog.clear()
            tracker_id[j] = tr.track_id
            points.append(
                TrackPoint(tr.track_id, t, frame, box, tr.class_name, score, float(detail[j]), str(det.class_name[j]))
            )

        ended = [tr for tr in self._tracks if tr.confirmed and t - tr.t > cfg.lost_s]
        retired = [tr.track_id for tr in ended]
        self._ended.update((tr.track_id, tr) for tr in ended)
        self._tracks = [tr for tr in self._tracks if not (t - tr.t > cfg.lost_s)]
        points.sort(key=lambda p: (p.t, p.track_id))
        return TrackUpdate(points, retired, Detections(det.xyxy, det.confidence, det.class_name, tracker_id))

    def finish(self) -> list[int]:
        """End of the video: every confirmed track retires."""
        ids = self.active_ids
        self._ended.update((tr.track_id, tr) for tr in self._tracks if tr.confirmed)
        self._tracks.clear()
        return ids
