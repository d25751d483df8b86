"""Track: Detections over time -> confirmed road-user tracks (ByteTrack-style, time-based).

Two-stage association as in ByteTrack (confident boxes first, then weak boxes keep existing tracks
alive), but every quantity is in seconds and pixels-per-second, not frames, so the same settings
work at 30 fps, at 6 fps with variable frame rate, and when only every k-th frame is processed.
Matching uses IoU of the motion-predicted box plus centre distance scaled by the road user's size,
so a fast motorbike whose boxes no longer overlap between two low-fps frames keeps its identity.
Only confirmed tracks reach the rules; a track's tentative observations are handed over when it is
confirmed, so no part of its path is lost.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import lap
import numpy as np

from .perspective import Perspective, context_class
from .types import Detections, TrackPoint, as_box

_FOUR_WHEELERS = {"car", "bus", "truck"}
_GATED = 1e6


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


@dataclass(eq=False)
class _Track:
    key: int
    box: np.ndarray  # xyxy of the last observation
    t: float
    frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    track_id: int = -1  # assigned on confirmation
    votes: dict[str, float] = field(default_factory=dict)
    backlog: list[tuple[float, int, tuple[float, float, float, float], float]] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0

    @property
    def class_name(self) -> str:
        return max(self.votes.items(), key=lambda kv: kv[1])[0]

    def predicted(self, t: float) -> np.ndarray:
        dt = max(0.0, t - self.t)
        shift = np.concatenate([self.velocity, self.velocity]) * min(dt, 1.0)
        return self.box + shift

    def observe(self, box: np.ndarray, t: float, frame: int, cls: str, conf: float, weak: bool = False) -> None:
        dt = t - self.t
        if dt > 1e-6 and not weak:  # a weak box (often two road users in one) must not set the motion
            c_old = (self.box[:2] + self.box[2:]) / 2
            c_new = (box[:2] + box[2:]) / 2
            v = (c_new - c_old) / dt
            self.velocity = v if self.hits == 1 else 0.6 * v + 0.4 * self.velocity
        self.box, self.t, self.frame = box.astype(np.float64), t, frame
        self.hits += 1
        self.votes[cls] = self.votes.get(cls, 0.0) + float(conf)


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
        # class of each retired track by its whole life's vote (the caller pops what it needs)
        self.final_class: dict[int, str] = {}
        self.perspective = Perspective()  # box height vs row, learnt from confident boxes

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
            pcx = (p[0] + p[2]) / 2
            dist = (
                np.minimum.reduce(
                    [
                        np.linalg.norm(d_c - (p[:2] + p[2:]) / 2, axis=1),
                        np.hypot(d_c[:, 0] - pcx, boxes[:, 3] - p[3]),
                        np.hypot(d_c[:, 0] - pcx, boxes[:, 1] - p[1]),
                    ]
                )
                / size
            )
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
            fam_d = np.array([c in _FOUR_WHEELERS for c in det.class_name[idx]])
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

    def update(self, det: Detections, t: float, frame: int) -> TrackUpdate:
        cfg = self.config
        if cfg.context_class and len(det):
            det = self._in_context(det)
        tracker_id = np.full(len(det), -1, np.int64)
        conf = det.confidence
        high = np.flatnonzero(conf >= cfg.high_conf)
        low = np.flatnonzero((conf >= cfg.low_conf) & (conf < cfg.high_conf))
        matched: dict[int, _Track] = {}

        def apply(tracks: list[_Track], idx: np.ndarray, weak: bool) -> tuple[list[_Track], np.ndarray]:
            pairs = self._assign(self._cost(tracks, det, idx, t, weak))
            used_t, used_d = set(), set()
            for r, c in pairs:
                j = int(idx[c])
                tracks[r].observe(det.xyxy[j], t, frame, det.class_name[j], conf[j], weak=weak)
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
        apply(recent, low, weak=True)
        left_tentative, high_left = apply(tentative, high_left, weak=False)

        for j in high_left:
            if conf[j] >= cfg.new_track_conf:
                tr = _Track(
                    next(self._keys),
                    det.xyxy[j].astype(np.float64),
                    t,
                    frame,
                    votes={det.class_name[j]: float(conf[j])},
                )
                tr.backlog.append((t, frame, as_box(det.xyxy[j]), float(conf[j])))
                self._tracks.append(tr)
        self._tracks = [tr for tr in self._tracks if tr not in left_tentative]

        points: list[TrackPoint] = []
        for j, tr in sorted(matched.items(), key=lambda kv: kv[0]):
            box = as_box(det.xyxy[j])
            score = float(conf[j])
            if not tr.confirmed:
                tr.backlog.append((t, frame, box, score))
                if tr.hits < cfg.min_hits:
                    continue
                tr.track_id = next(self._ids)
                points.extend(
                    TrackPoint(tr.track_id, bt, bf, bb, tr.class_name, bc) for bt, bf, bb, bc in tr.backlog[:-1]
                )
                tr.backlog.clear()
            tracker_id[j] = tr.track_id
            points.append(TrackPoint(tr.track_id, t, frame, box, tr.class_name, score))

        ended = [tr for tr in self._tracks if tr.confirmed and t - tr.t > cfg.lost_s]
        retired = [tr.track_id for tr in ended]
        self.final_class.update((tr.track_id, tr.class_name) for tr in ended)
        self._tracks = [tr for tr in self._tracks if not (t - tr.t > cfg.lost_s)]
        points.sort(key=lambda p: (p.t, p.track_id))
        return TrackUpdate(points, retired, Detections(det.xyxy, det.confidence, det.class_name, tracker_id))

    def finish(self) -> list[int]:
        """End of the video: every confirmed track retires."""
        ids = self.active_ids
        self.final_class.update((tr.track_id, tr.class_name) for tr in self._tracks if tr.confirmed)
        self._tracks.clear()
        return ids
