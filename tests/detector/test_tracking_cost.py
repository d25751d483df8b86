"""tracking_cost: the tracker's pair costs for all (track, box) pairs at once equal the pair-by-pair formula, bit
for bit, and `assign` gives the solver's matching (also where it skips the solver)."""

from __future__ import annotations

import lap
import numpy as np
import pytest

from detector.tracking import TrackerConfig
from detector.tracking_cost import GATED, PairCosts, TrackState, assign, pair_costs


def reference_cost(state: TrackState, k: int, box: np.ndarray, four: bool, t: float, cfg: TrackerConfig, weak: bool):
    """The cost of track k against one box, one pair at a time (as the tracker computed it before pair_costs; a
    track seen fewer than 3 times moved by its velocity for at most `young_predict_s` since session 8; a track lost
    for longer than `lost_s` is never matched since session 9)."""
    dt = min(max(0.0, t - float(state.t[k])), 1.0 if state.hits[k] >= 3 else cfg.young_predict_s)
    p = state.box[k] + np.concatenate([state.velocity[k], state.velocity[k]]) * dt
    ix = max(0.0, min(p[2], box[2]) - max(p[0], box[0]))
    iy = max(0.0, min(p[3], box[3]) - max(p[1], box[1]))
    t_area = max(1.0, (p[2] - p[0]) * (p[3] - p[1]))
    d_area = max(1.0, (box[2] - box[0]) * (box[3] - box[1]))
    inter = ix * iy
    iou = inter / (t_area + d_area - inter)
    size = np.sqrt((t_area + d_area) / 2)
    dx = (box[0] + box[2]) / 2 - (p[0] + p[2]) / 2
    dy = (box[1] + box[3]) / 2 - (p[1] + p[3]) / 2
    dist = np.sqrt(dx * dx + dy * dy)
    if state.hits[k] > 1:  # bottom-centres and top-centres too
        dist = min(dist, np.hypot(dx, box[3] - p[3]), np.hypot(dx, box[1] - p[1]))
    dist /= size
    lost_for = t - float(state.t[k])
    if weak:
        ok = iou >= cfg.min_iou_weak
    else:
        reach = (cfg.settled_dist if state.hits[k] >= 3 else cfg.max_dist) * (1 + min(lost_for, 2.0))
        ok = iou > 0.3 or dist < reach
    ok = ok and max(d_area / t_area, t_area / d_area) <= cfg.max_area_ratio and lost_for <= cfg.lost_s
    if state.sure_car[k]:
        w0, h0 = max(1.0, state.box[k, 2] - state.box[k, 0]), max(1.0, state.box[k, 3] - state.box[k, 1])
        w, h = max(1.0, box[2] - box[0]), max(1.0, box[3] - box[1])
        aspect = (w / h) / (w0 / h0)
        jump = max(h / h0, h0 / h, aspect, 1 / aspect)
        ok = ok and jump <= cfg.shape_step + cfg.shape_rate * max(0.0, lost_for)
    return (1 - iou) + 0.3 * dist + 0.3 * (four != bool(state.four[k])) if ok else GATED


def scene(seed: int, k: int = 9, n: int = 11) -> tuple[TrackState, np.ndarray, np.ndarray]:
    """k tracks and n boxes in one busy patch of road (many overlaps), some tracks lost for a while."""
    rng = np.random.default_rng(seed)

    def boxes(m: int) -> np.ndarray:
        xy = rng.uniform(0, 200, (m, 2))
        wh = rng.uniform(8, 90, (m, 2))
        return np.hstack([xy, xy + wh])

    four = rng.random(k) < 0.4
    state = TrackState(
        box=boxes(k),
        velocity=rng.normal(0, 40, (k, 2)),
        t=rng.choice([1.0, 0.9, 0.4, -0.8], k),
        hits=rng.integers(1, 6, k),
        four=four,
        sure_car=four & (rng.random(k) < 0.6),
    )
    # half the boxes near a track's last box (as the road user moved on), detector boxes in float32 widened as
    # the tracker does
    found = boxes(n)
    found[: k // 2] = state.box[: k // 2] + rng.normal(0, 4, (k // 2, 4))
    return state, found.astype(np.float32).astype(np.float64), rng.random(n) < 0.4


@pytest.mark.parametrize("seed", range(6))
def test_pair_costs_equal_the_pair_by_pair_formula_bit_for_bit(seed):
    cfg = TrackerConfig()
    state, boxes, four = scene(seed)
    costs = pair_costs(state, boxes, four, 1.0, cfg)
    rows, cols = np.arange(len(state.t)), np.arange(len(boxes))
    for weak in (False, True):
        want = np.array([[reference_cost(state, k, b, f, 1.0, cfg, weak) for b, f in zip(boxes, four)] for k in rows])
        got = costs.gated(rows, cols, weak)
        assert (want < GATED).any() and (want == GATED).any()  # the scene has pairs of both kinds
        assert np.array_equal(got, want)
    sub_r, sub_c = np.array([4, 0, 7]), np.array([10, 2, 3, 5])
    assert np.array_equal(costs.gated(sub_r, sub_c, False), costs.gated(rows, cols, False)[np.ix_(sub_r, sub_c)])


def solver(cost: np.ndarray) -> list[tuple[int, int]]:
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=GATED - 1)
    return [(r, int(c)) for r, c in enumerate(x) if c >= 0 and cost[r, c] < GATED]


@pytest.mark.parametrize("allowed_share", [0.0, 0.05, 0.15, 0.4, 1.0])
def test_assign_gives_the_solvers_matching(allowed_share):
    rng = np.random.default_rng(int(allowed_share * 100))
    for _ in range(200):
        shape = tuple(rng.integers(1, 9, 2))
        cost = np.where(rng.random(shape) < allowed_share, rng.uniform(0, 2, shape), GATED)
        assert assign(cost) == solver(cost)
    assert assign(np.zeros((0, 3))) == [] and assign(np.zeros((2, 0))) == []


def test_one_to_one_allowed_pairs_are_the_matching():
    cost = np.full((4, 5), GATED)
    cost[0, 3], cost[2, 0], cost[3, 4] = 1.7, 0.2, 0.9  # no row and no column with two allowed pairs
    assert assign(cost) == solver(cost) == [(0, 3), (2, 0), (3, 4)]


def test_gate_closes_only_the_given_pairs_and_keeps_the_original():
    costs = PairCosts(np.arange(6, dtype=np.float64).reshape(3, 2), np.full((3, 2), 7.0))
    gated = costs.gate(np.array([0, 2]), np.array([[True, False], [False, True]]))
    assert gated.cost.tolist() == [[GATED, 1.0], [2.0, 3.0], [4.0, GATED]]
    assert gated.cost_weak.tolist() == [[GATED, 7.0], [7.0, 7.0], [7.0, GATED]]
    assert costs.cost[0, 0] == 0.0 and costs.gate(np.array([1]), np.zeros((1, 2), bool)) is costs
