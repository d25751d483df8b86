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
bottom edge lining up with another road user's. A track unseen for `left_after_s` whose motion has taken its
box mostly out of the picture (`Tracker(frame_size=...)`) has left it and is not found again: a box at that
edge later is a road user coming in. A box that changes its height by more than `shape_change` between two
looks (a rider boxed with its bike, then alone) moves its track by the shift of its steadier edges, not of its
centre (`_motion`), so a waiting rider is given no speed that would carry its track into the junction; and a
track seen fewer than 3 times is carried by its velocity for at most `young_predict_s` while it is unseen.
Given the picture (`update(image=...)`), a track unseen for `reid_after_s` is given only a box that looks
like it (`appearance.py`: the colours of its box against its last look and its running mean, `min_look`):
in a queue of riders a lost track is otherwise found again on the rider beside it.
Each point carries its own box's class (`box_class`); when
a rule decides an event, `pin_class` makes the track's class the score-weighted vote over its boxes from
the start of the deciding window to `class_after_s` after the decision (`pop_final_class`), not over its
whole life. When the track retires, those boxes are judged again by the perspective as learnt by then
(`settled_class`).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .appearance import describe, unlike
from .boxes import height_change, size_ramp, steady_shift
from .perspective import Perspective, context_class
from .tracking_cost import FOUR_WHEELERS, TrackState, assign, cover, pair_costs, predict
from .types import Detections, TrackPoint, as_box


@dataclass(frozen=True)
class TrackerConfig:
    high_conf: float = 0.35  # boxes used in the first association and to start tracks
    low_conf: float = 0.1  # weaker boxes only keep confirmed, currently visible tracks alive
    new_track_conf: float = 0.4
    min_hits: int = 2  # matched detections before a track is confirmed
    lost_s: float = 1.6  # how long a lost track waits to be found again (never longer: tracking_cost gates it)
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
    # A track unseen for left_after_s whose motion has taken its box (predicted) less than min_inside inside the
    # picture has left it: it is not found again (a box at that edge later is a road user coming in).
    left_after_s: float = 0.3
    min_inside: float = 0.75
    # A track seen fewer than 3 times is moved by its velocity (two boxes: perhaps two road users, or one cut by
    # the picture's edge) for at most this long when it is looked for; an older one for at most a second.
    young_predict_s: float = 0.3
    # A box whose height changes by more than this between two looks changed its shape (a rider boxed with its
    # bike, then alone): its track moves by the shift of its steadier edges, not of its centre (_motion).
    shape_change: float = 1.3
    # A confirmed track unseen for reid_after_s is given a box only if it looks like the track's last looks
    # (appearance.similarity of the colours of its box, against the last look and the running mean of its looks,
    # at least min_look for one of them): in a queue of riders a lost track is otherwise found again on a
    # neighbour. Only when the tracker is given the picture (`update(image=...)`).
    reid_after_s: float = 0.5
    min_look: float = 0.5
    look_keep: float = 0.8  # the running mean keeps this share of itself at each new look
    look_every_s: float = 0.2  # a track's look is taken again at most this often
    vote_memory_s: float = 10.0  # how far back each box's class is kept for an event's class vote (pin_class)
    class_after_s: float = 2.0  # an event's class vote takes the track's boxes up to this long after the decision

    def birth_conf(self, detail_px: np.ndarray) -> np.ndarray:
        """Per box (its size in pixels of real detail): the score it needs to start or grow a tentative track."""
        low = min(self.small_conf, self.new_track_conf)
        return size_ramp(detail_px, self.small_px, self.full_px, low, self.new_track_conf)


# one box's class vote: (t, class, score, the detector's own class, box)
_Vote = tuple[float, str, float, str, Sequence[float] | np.ndarray]


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
    # (t, class, score, the detector's own class, box) of the boxes of the last `vote_memory_s`
    recent: deque[_Vote] = field(default_factory=deque)
    born: float = 0.0  # time of the first box
    look: np.ndarray | None = None  # (2, BINS) the running mean of its boxes' looks (appearance.describe)
    last_look: np.ndarray | None = None  # the look of its last box looked at (every look_every_s)
    look_t: float = -math.inf  # when that was
    pinned_since: float | None = None  # start of the first event's window (pin_class)
    pinned: dict[str, float] = field(default_factory=dict)  # class votes of the boxes since pinned_since
    pinned_until: float = math.inf  # ... up to this time (pin_class)
    # the boxes of the pinned vote as in `recent`; None when `recent` no longer reached back to pinned_since,
    # or the span has no end
    pinned_boxes: list[_Vote] | None = None
    # tentative observations: (t, frame, box, score, detail_px, class of the box)
    backlog: list[tuple[float, int, tuple[float, float, float, float], float, float, str]] = field(default_factory=list)
    _class: str | None = field(default=None, init=False, repr=False)  # class_name, until the next vote

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0

    @property
    def class_name(self) -> str:
        """The score-weighted vote over all its boxes (the first class to reach the top score on a tie)."""
        if self._class is None:
            self._class = max(self.votes.items(), key=lambda kv: kv[1])[0]
        return self._class

    @property
    def final_class(self) -> str:
        """The vote over the boxes of its events' span (`pin`: the road user that did it), else over its life."""
        votes = self.pinned or self.votes
        return max(votes.items(), key=lambda kv: kv[1])[0]

    def vote(
        self,
        t: float,
        cls: str,
        conf: float,
        memory_s: float,
        raw: str | None = None,
        box: Sequence[float] | np.ndarray = (),
    ) -> None:
        """One box's class vote. `raw`: the detector's class before `context_class` changed it (default: cls)."""
        self.last = (cls, conf)
        self.votes[cls] = self.votes.get(cls, 0.0) + conf
        self._class = None
        entry = (t, cls, conf, raw or cls, box)  # the box as given (not copied: a per-frame hot path)
        if self.pinned_since is not None and t <= self.pinned_until + 1e-6:
            self.pinned[cls] = self.pinned.get(cls, 0.0) + conf
            if self.pinned_boxes is not None:
                self.pinned_boxes.append(entry)
        self.recent.append(entry)
        while self.recent and t - self.recent[0][0] > memory_s:
            self.recent.popleft()

    def settled_class(self, persp: Perspective | None) -> str:
        """`final_class`, with every box's class judged again by the perspective as learnt by now (a box seen
        before the fits were learnt, in the first seconds of a video, then counts as what its size says), where
        all the boxes of the vote are known (`pinned_boxes`, or `recent` back to the track's first box); else
        `final_class` as voted."""
        if persp is None:
            return self.final_class
        if self.pinned_since is not None:
            boxes = self.pinned_boxes
        else:
            boxes = list(self.recent) if self.recent and self.recent[0][0] <= self.born + 1e-6 else None
        if not boxes:
            return self.final_class
        votes: dict[str, float] = {}
        for _, _, conf, raw, box in boxes:
            if len(box) == 4:
                cls = context_class((box[0], box[1], box[2], box[3]), raw, persp)
                votes[cls] = votes.get(cls, 0.0) + conf
        return max(votes.items(), key=lambda kv: kv[1])[0] if votes else self.final_class

    def pin(self, since: float, until: float = math.inf) -> str:
        """From now on the track's final class is the vote over its boxes from `since` (as far back as
        `recent` reaches) to `until` (or its end); returns that vote so far. A second event widens the span."""
        if self.pinned_since is None or since < self.pinned_since or until > self.pinned_until:
            if self.pinned_since is not None:
                since, until = min(since, self.pinned_since), max(until, self.pinned_until)
            boxes = [e for e in self.recent if since - 1e-6 <= e[0] <= until + 1e-6]
            votes: dict[str, float] = {}
            for _, cls, conf, _, _ in boxes:
                votes[cls] = votes.get(cls, 0.0) + conf
            reached = bool(self.recent) and self.recent[0][0] <= max(since, self.born) + 1e-6
            self.pinned, self.pinned_since, self.pinned_until = votes or dict(self.votes), since, until
            # kept only for a bounded span (an open-ended one would grow with the track)
            self.pinned_boxes = boxes if reached and until < math.inf else None
        return self.final_class

    def observe(
        self,
        box: np.ndarray,
        t: float,
        frame: int,
        cls: str,
        conf: float,
        memory_s: float,
        velocity: np.ndarray | None,
        raw: str | None = None,
    ) -> None:
        """One more box (xyxy float64) of this track; `velocity`: its motion from this box on (`_motion`), None
        to keep the motion it had (a weak box, often two road users in one, must not set it); `raw`: the
        detector's class of the box (see `vote`)."""
        if velocity is not None:
            self.velocity = velocity
        self.box, self.t, self.frame = box, t, frame
        self.hits += 1
        self.vote(t, cls, conf, memory_s, raw, box)


@dataclass
class TrackUpdate:
    points: list[TrackPoint]  # confirmed observations, time-ordered (may include a new track's backlog)
    retired: list[int]  # confirmed track ids that ended (lost for longer than lost_s)
    detections: Detections  # this frame's detections with tracker ids of confirmed tracks (-1 otherwise)


def _state(tracks: list[_Track], cfg: TrackerConfig) -> TrackState:
    """The tracks' state as arrays, one row per track (tracking_cost.pair_costs)."""
    four = [tr.class_name in FOUR_WHEELERS for tr in tracks]
    return TrackState(
        box=np.array([tr.box for tr in tracks], np.float64).reshape(-1, 4),
        velocity=np.array([tr.velocity for tr in tracks], np.float64).reshape(-1, 2),
        t=np.array([tr.t for tr in tracks], np.float64),
        hits=np.array([tr.hits for tr in tracks], np.int64),
        four=np.array(four, dtype=bool),
        sure_car=np.array(
            [f and tr.last[0] in FOUR_WHEELERS and tr.last[1] >= cfg.sure_car_conf for f, tr in zip(four, tracks)],
            dtype=bool,
        ),
    )


def _motion(
    state: TrackState, rows: np.ndarray, boxes: np.ndarray, centres: np.ndarray, t: float, shape_change: float
) -> np.ndarray:
    """The velocities (k,2) of these tracks (rows of `state`) once seen at time t in `boxes` (k,4) centred at
    `centres` (k,2, the detector's float32): centre shift over time, smoothed from the third box on; unchanged
    where no time has passed. Where a box's height changed by more than `shape_change` (a rider boxed with its
    bike, then alone), the shift is, across and along, that of the box's edge that moved less (left or right,
    top or bottom): one of them stays with the road user, while the centre jumps with the box's shape."""
    dt = t - state.t[rows]
    moving = dt > 1e-6
    old_box = state.box[rows]
    c_old = (old_box[:, :2] + old_box[:, 2:]) / 2
    shift = centres - c_old
    reshaped = height_change(old_box, boxes) > shape_change
    if reshaped.any():
        shift = np.where(reshaped[:, None], steady_shift(old_box, boxes), shift)
    v = shift / np.where(moving, dt, 1.0)[:, None]
    old = state.velocity[rows]
    v = np.where((state.hits[rows] == 1)[:, None], v, 0.6 * v + 0.4 * old)
    return np.where(moving[:, None], v, old)


class Tracker:
    def __init__(self, config: TrackerConfig | None = None, frame_size: tuple[int, int] | None = None):
        """`frame_size`: the picture's (width, height); when given, a road user whose motion took it out of the
        picture is not found again (`TrackerConfig.left_after_s`)."""
        self.config = config or TrackerConfig()
        self.frame_size = frame_size
        self._tracks: list[_Track] = []
        self._keys = itertools.count()
        self._ids = itertools.count(1)
        self._ended: dict[int, _Track] = {}  # retired confirmed tracks by id, until the caller pops their class
        self.perspective = Perspective()  # box sizes vs row, learnt from confident boxes

    def pin_class(self, track_id: int, since: float, decided: float | None = None) -> str | None:
        """A rule decided an event of this track at `decided` over its boxes from `since` on: the track's final
        class (when it retires, `pop_final_class`) is the score-weighted vote over its boxes from `since` to
        `class_after_s` after `decided` (to its end when None), not over its whole life: before, and long
        after, the track may hold another road user's boxes. Returns that vote so far; None for an unknown
        track."""
        tr = next((tr for tr in self._tracks if tr.track_id == track_id), None) or self._ended.get(track_id)
        until = math.inf if decided is None else decided + self.config.class_after_s
        return tr.pin(since, until) if tr is not None and track_id >= 0 else None

    def pop_final_class(self, track_id: int) -> str | None:
        """The final class of a retired track (forgotten once asked): see `_Track.settled_class`."""
        tr = self._ended.pop(track_id, None)
        if tr is None:
            return None
        return tr.settled_class(self.perspective if self.config.context_class else None)

    @property
    def active_ids(self) -> list[int]:
        return [tr.track_id for tr in self._tracks if tr.confirmed]

    def _in_context(self, det: Detections) -> Detections:
        """Learn the perspective from this frame's boxes, then correct classes their size contradicts."""
        persp = self.perspective
        boxes = det.xyxy.tolist()
        for b, c, s in zip(boxes, det.class_name, det.confidence):
            persp.learn(b, c, float(s))
        cls = np.array([context_class(b, c, persp) for b, c in zip(boxes, det.class_name)], dtype=object)
        return Detections(det.xyxy, det.confidence, cls, det.tracker_id)

    def update(
        self,
        det: Detections,
        t: float,
        frame: int,
        detail_px: np.ndarray | None = None,
        image: np.ndarray | None = None,
    ) -> TrackUpdate:
        """One frame's detections at time t. `detail_px`: each box's size (sqrt of its area) in pixels of
        real detail (`pipeline.detail_px`); None = the boxes' own size. `image`: the picture the boxes are in
        (H,W,3 uint8), for the looks of lost tracks (`reid_after_s`); None = no looks are compared."""
        cfg = self.config
        raw_names = det.class_name
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
        # every stage below sees the tracks as they were when the frame came (a track matched in one stage is in
        # no later one), so the costs of all pairs are computed once (tracking_cost.py)
        tracks = self._tracks
        state = _state(tracks, cfg)
        boxes = det.xyxy.astype(np.float64)
        costs = None
        if tracks and len(det):
            four = np.array([c in FOUR_WHEELERS for c in det.class_name], dtype=bool)
            costs = pair_costs(state, boxes, four, t, cfg, self.frame_size)
        looks: tuple[np.ndarray, np.ndarray] | None = None
        if image is not None and costs is not None:
            lost = [row for row, tr in enumerate(tracks) if tr.look is not None and t - tr.t >= cfg.reid_after_s]
            if lost:
                looks = describe(image, boxes)
                last = np.array([tracks[row].last_look for row in lost])
                mean = np.array([tracks[row].look for row in lost])
                costs = costs.gate(np.array(lost), unlike(last, mean, *looks, cfg.min_look))
        centres = (det.xyxy[:, :2] + det.xyxy[:, 2:]) / 2  # float32, as the motion has always been measured
        names, scores = det.class_name, conf.tolist()
        matched: dict[int, int] = {}  # box index -> row (in tracks) of the track it continues

        def apply(rows: np.ndarray, idx: np.ndarray, weak: bool) -> tuple[np.ndarray, np.ndarray]:
            """Match these tracks (rows) to these boxes; the tracks and boxes left over."""
            if costs is None or not len(rows) or not len(idx):
                return rows, idx
            pairs = assign(costs.gated(rows, idx, weak))
            if not pairs:
                return rows, idx
            r_used, c_used = np.array(pairs).T
            rows_m, js = rows[r_used], idx[c_used]
            velocity = None if weak else _motion(state, rows_m, boxes[js], centres[js], t, cfg.shape_change)
            for k, (row, j) in enumerate(zip(rows_m.tolist(), js.tolist())):
                v = None if velocity is None else velocity[k]
                tracks[row].observe(boxes[j], t, frame, names[j], scores[j], cfg.vote_memory_s, v, str(raw_names[j]))
                matched[j] = row
            rows_left, idx_left = np.ones(len(rows), bool), np.ones(len(idx), bool)
            rows_left[r_used] = idx_left[c_used] = False
            return rows[rows_left], idx[idx_left]

        is_confirmed = np.array([tr.confirmed for tr in tracks], dtype=bool)
        left_confirmed, high_left = apply(np.flatnonzero(is_confirmed), high, weak=False)
        # weak boxes only continue tracks that were visible at their last chance (not long-lost ones)
        near = t - state.t[left_confirmed] <= 0.5
        left_recent, low_left = apply(left_confirmed[near], low, weak=True)
        # weak boxes that are small enough to be trusted (birth_conf) first continue a lost confirmed track
        # by its predicted position (a far road user found again), and only then grow or start a new one
        small_left = low_left[conf[low_left] >= new_thr[low_left]]
        _, small_left = apply(np.concatenate([left_confirmed[~near], left_recent]), small_left, weak=False)
        # a tentative track also grows with any small box over low_conf (a far road user flickers in score,
        # not in place); for boxes of full size nothing here differs from plain ByteTrack
        weak_left = low_left[(conf[low_left] < new_thr[low_left]) & (detail[low_left] < cfg.full_px)]
        grow = np.sort(np.concatenate([high_left, small_left, weak_left]))
        left_tentative, rest = apply(np.flatnonzero(~is_confirmed), grow, weak=False)
        dropped = set(left_tentative.tolist())  # rows of tentative tracks that end here
        born = rest[conf[rest] >= new_thr[rest]]
        # a weak box mostly on top of a road user tracked (or born now) from confident boxes is that road
        # user, or it merged with a neighbour: it neither starts nor keeps growing a track of its own
        grown = {
            j: row
            for j, row in matched.items()
            if not tracks[row].confirmed and max(tracks[row].peak, conf[j]) < cfg.new_track_conf
        }
        weak = born[conf[born] < cfg.new_track_conf].tolist() + list(grown)
        if weak:
            # where the sure road users are: this frame's box, or else the predicted one
            predicted = predict(state.box, state.velocity, state.t, t)
            sure = [row for row, tr in enumerate(tracks) if tr.confirmed or tr.peak >= cfg.new_track_conf]
            held = [tracks[row].box if tracks[row].t == t else predicted[row] for row in sure]
            held += [det.xyxy[j] for j in born if conf[j] >= cfg.new_track_conf]
            if held:
                shares = cover(det.xyxy[weak].astype(np.float64), np.array(held, np.float64))
                crowded = {j for j, c in zip(weak, shares) if c >= cfg.max_cover_weak}
                born = np.array([j for j in born if j not in crowded], dtype=np.int64)
                for j in crowded & grown.keys():  # the tentative track ends here
                    dropped.add(matched.pop(j))

        xyxy, sizes = det.xyxy.tolist(), detail.tolist()
        new: list[_Track] = []
        for j in born.tolist():  # boxes sure enough for their size start a tentative track
            tr = _Track(next(self._keys), boxes[j], t, frame, peak=scores[j], born=t)
            tr.vote(t, str(names[j]), scores[j], cfg.vote_memory_s, str(raw_names[j]), xyxy[j])
            tr.backlog.append((t, frame, as_box(xyxy[j]), scores[j], sizes[j], str(names[j])))
            new.append(tr)
        self._tracks = [tr for row, tr in enumerate(tracks) if row not in dropped] + new

        points: list[TrackPoint] = []
        for j, row in sorted(matched.items()):
            tr = tracks[row]
            box, score = as_box(xyxy[j]), scores[j]
            if not tr.confirmed:
                tr.backlog.append((t, frame, box, score, sizes[j], str(names[j])))
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
            points.append(TrackPoint(tr.track_id, t, frame, box, tr.class_name, score, sizes[j], str(names[j])))

        due = (
            [j for j, row in matched.items() if tracks[row].confirmed and t - tracks[row].look_t >= cfg.look_every_s]
            if image is not None
            else []
        )
        if image is not None and due:
            js = np.array(sorted(due))
            if looks is None:
                new_looks, ok = describe(image, boxes[js])
            else:
                new_looks, ok = looks[0][js], looks[1][js]
            for j, look, good in zip(js.tolist(), new_looks, ok):
                tr = tracks[matched[j]]
                if good:  # a confirmed track has both looks or neither
                    tr.last_look, tr.look_t = look, t
                    tr.look = look if tr.look is None else cfg.look_keep * tr.look + (1 - cfg.look_keep) * look

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
