"""Association costs of the tracker (tracking.Tracker): every track against every box of a frame at once.

`pair_costs` takes the tracks' state as arrays (`TrackState`, one row per track) and a frame's boxes, and
returns the cost of every (track, box) pair, GATED where the pair may not be matched - once as a confident
box is gated and once as a weak one is (`PairCosts`). The tracker computes it once per frame and hands each
of its association stages the rows and columns it asks about (`PairCosts.gated`); a track's state does not
change between the stages of one frame for the tracks a stage sees (a track matched once is in no later
stage), so every stage sees the costs it would have computed itself. `assign` then solves a stage's
matching; `cover` is the overlap the crowding rule for weak boxes uses.

The cost of a pair: (1 - IoU of the motion-predicted box and the box) + 0.3 x centre distance in road-user
sizes + 0.3 when one is a four-wheeler and the other is not. The distance is the nearest of the centres,
bottom-centres and top-centres (a road user whose box loses its top, or its bottom, keeps one anchor); a
track seen once has only its centre. The gates are in the docstring of tracking.py and at each line below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import lap
import numpy as np

if TYPE_CHECKING:
    from .tracking import TrackerConfig

FOUR_WHEELERS = frozenset({"car", "bus", "truck"})
GATED = 1e6  # the cost of a pair that may not be matched


@dataclass(frozen=True)
class TrackState:
    """The tracks' state at the start of a frame, one row per track."""

    box: np.ndarray  # (K, 4) float64, xyxy of the last observation
    velocity: np.ndarray  # (K, 2) float64, pixels per second
    t: np.ndarray  # (K,) float64, time of the last observation
    hits: np.ndarray  # (K,) int64, observations so far
    four: np.ndarray  # (K,) bool, the track's class vote is a four-wheeler
    sure_car: np.ndarray  # (K,) bool, ... and its last box was a sure four-wheeler (held to the shape gate)


@dataclass(frozen=True)
class PairCosts:
    """Each track (row) against each box (column): the cost of the pair, GATED where it may not be matched."""

    cost: np.ndarray  # (K, N) float64, GATED where a confident box may not be matched
    cost_weak: np.ndarray  # (K, N) float64, GATED where a weak box may not be matched (overlap only)

    def gate(self, rows: np.ndarray, mask: np.ndarray) -> PairCosts:
        """These costs with the pairs of the tracks at `rows` and the boxes where `mask` (len(rows), N) is
        True GATED as well."""
        if not mask.any():
            return self
        cost, weak = self.cost.copy(), self.cost_weak.copy()
        cost[rows] = np.where(mask, GATED, cost[rows])
        weak[rows] = np.where(mask, GATED, weak[rows])
        return PairCosts(cost, weak)

    def gated(self, rows: np.ndarray, cols: np.ndarray, weak: bool) -> np.ndarray:
        """The cost matrix of these tracks against these boxes, GATED where the pair may not be matched."""
        return (self.cost_weak if weak else self.cost)[rows[:, None], cols]


def predict(
    box: np.ndarray, velocity: np.ndarray, last_t: np.ndarray, t: float, horizon: np.ndarray | float = 1.0
) -> np.ndarray:
    """Boxes (K,4) moved by their velocity (K,2) from their time (K,) to t, for at most `horizon` seconds (one
    second, or one per box)."""
    dt = np.minimum(np.maximum(0.0, t - last_t), horizon)
    return box + np.concatenate([velocity, velocity], axis=1) * dt[:, None]


def pair_costs(
    tracks: TrackState,
    boxes: np.ndarray,
    four: np.ndarray,
    t: float,
    cfg: TrackerConfig,
    frame: tuple[int, int] | None = None,
) -> PairCosts:
    """Costs and gates of every track against every box (N,4 float64; `four`: (N,) bool, a four-wheeler)
    at time t. `frame`: the picture's (width, height), for the gate of road users that left it (None: no such gate)."""
    # a track seen once or twice has no motion to trust (its two boxes may be two road users, or one cut by the
    # picture's edge): it is carried by its velocity for at most young_predict_s
    p = predict(tracks.box, tracks.velocity, tracks.t, t, np.where(tracks.hits < 3, cfg.young_predict_s, 1.0))
    # np.maximum(x, 0.0) rather than x.clip(0): the same numbers, without clip's Python wrapper
    ix = np.maximum(np.minimum(p[:, None, 2], boxes[None, :, 2]) - np.maximum(p[:, None, 0], boxes[None, :, 0]), 0.0)
    iy = np.maximum(np.minimum(p[:, None, 3], boxes[None, :, 3]) - np.maximum(p[:, None, 1], boxes[None, :, 1]), 0.0)
    t_area = np.maximum(1.0, (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1]))[:, None]
    d_area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)[None, :]
    inter = ix * iy
    areas = t_area + d_area
    iou = inter / (areas - inter)
    size = np.sqrt(areas / 2)
    d_c = (boxes[:, :2] + boxes[:, 2:]) / 2
    p_c = (p[:, :2] + p[:, 2:]) / 2
    dx = d_c[None, :, 0] - p_c[:, None, 0]
    dy = d_c[None, :, 1] - p_c[:, None, 1]
    dist = np.sqrt(dx * dx + dy * dy)
    # the nearest of the centres, bottom-centres and top-centres: a road user whose box loses its top (rider not
    # merged) or its bottom (bike hidden, person box alone) keeps one anchor. A track seen once has no anchor to
    # trust yet: only its centre counts (a new track from a waiting rider's box must not jump to another rider
    # whose box top happens to line up).
    edges = np.minimum(np.hypot(dx, boxes[None, :, 3] - p[:, None, 3]), np.hypot(dx, boxes[None, :, 1] - p[:, None, 1]))
    dist = np.where((tracks.hits > 1)[:, None], np.minimum(dist, edges), dist) / size
    lost_for = t - tracks.t
    ratio = np.maximum(d_area / t_area, t_area / d_area)
    fits = ratio <= cfg.max_area_ratio
    # a four-wheeler's box cannot change its height or shape abruptly: a box that does is a handover (a
    # two-wheeler's box may: its rider merged in or not, its headlight at dusk boxed as a "car" - so only a
    # track whose last box was a sure four-wheeler is held to it)
    sure = np.flatnonzero(tracks.sure_car)
    if len(sure):
        limit = cfg.shape_step + cfg.shape_rate * np.maximum(0.0, lost_for[sure])
        fits[sure] &= shape_jump(tracks.box[sure], boxes) <= limit[:, None]
    # A track whose motion is known predicts well: allow only a small residual, so a waiting rider in a
    # queue does not take over the box of the rider in front of it.
    reach = np.where(tracks.hits >= 3, cfg.settled_dist, cfg.max_dist) * (1 + np.minimum(lost_for, 2.0))
    unseen = lost_for >= cfg.left_after_s
    if frame is not None and unseen.any():
        # a road user unseen for a while whose motion has taken it mostly out of the picture has left it: a box
        # found later at that edge is another road user coming in (a two-way road's near edge), not that one
        fits &= (~unseen | (inside_share(p, frame) >= cfg.min_inside))[:, None]
    # a track unseen for longer than lost_s is not found again, also in the frame that retires it (at 3 fps the
    # next frame may come 0.3 s after lost_s is up: a waiting rider's track lost for 1.7 s took a rider in the
    # junction)
    fits &= (lost_for <= cfg.lost_s)[:, None]
    ok = ((iou > 0.3) | (dist < reach[:, None])) & fits
    ok_weak = (iou >= cfg.min_iou_weak) & fits
    cost = (1 - iou) + 0.3 * dist + 0.3 * (four[None, :] != tracks.four[:, None])
    return PairCosts(np.where(ok, cost, GATED), np.where(ok_weak, cost, GATED))


def inside_share(box: np.ndarray, frame: tuple[int, int]) -> np.ndarray:
    """For each box (K,4): the share of its area inside a picture of `frame` (width, height)."""
    w, h = frame
    ix = np.maximum(np.minimum(box[:, 2], w) - np.maximum(box[:, 0], 0.0), 0.0)
    iy = np.maximum(np.minimum(box[:, 3], h) - np.maximum(box[:, 1], 0.0), 0.0)
    area = np.maximum((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]), 1e-6)
    return ix * iy / area


def shape_jump(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """For each box of `box` (K,4) and each of `boxes` (N,4): the larger of the height ratio and the aspect (w/h)
    ratio of the two, >= 1 (K,N)."""
    w0 = np.maximum(1.0, box[:, 2] - box[:, 0])[:, None]
    h0 = np.maximum(1.0, box[:, 3] - box[:, 1])[:, None]
    w = (boxes[:, 2] - boxes[:, 0]).clip(1.0)[None, :]
    h = (boxes[:, 3] - boxes[:, 1]).clip(1.0)[None, :]
    dh = np.maximum(h / h0, h0 / h)
    aspect = (w / h) / (w0 / h0)
    return np.maximum(dh, np.maximum(aspect, 1 / aspect))


def cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each box of a (N,4): the largest share of the smaller box that it has in common with a box of b (M,4)."""
    ix = (np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
    iy = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])).clip(0)
    area_a = np.prod((a[:, 2:] - a[:, :2]).clip(1e-6), axis=1)[:, None]
    area_b = np.prod((b[:, 2:] - b[:, :2]).clip(1e-6), axis=1)[None, :]
    return (ix * iy / np.minimum(area_a, area_b)).max(axis=1)


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """The (row, column) pairs of the cheapest one-to-one matching (Jonker-Volgenant), gated pairs left out,
    in row order.

    Where no row and no column has more than one pair that may be matched, those pairs are the only cheapest
    matching (each costs far less than leaving its row and its column unmatched, `cost_limit`), so the solver
    is not asked."""
    rows, cols = np.nonzero(cost < GATED)
    if not len(rows):
        return []
    r, c = rows.tolist(), cols.tolist()
    if len(set(r)) == len(r) and len(set(c)) == len(c):
        return list(zip(r, c))
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=GATED - 1)
    return [(r, int(c)) for r, c in enumerate(x) if c >= 0 and cost[r, c] < GATED]
