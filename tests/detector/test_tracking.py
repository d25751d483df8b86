"""tracking.Tracker on scripted detections: identity, confirmation, backlog, low fps, occlusion,
retirement, weak boxes."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.tracking import Tracker, TrackerConfig  # noqa: E402
from detector.types import Detections  # noqa: E402


def box_at(cx: float, bottom: float, w: float = 40, h: float = 80) -> tuple[float, float, float, float]:
    return (cx - w / 2, bottom - h, cx + w / 2, bottom)


def dets(*rows) -> Detections:
    """rows: (box, conf[, class])"""
    if not rows:
        return Detections.empty()
    return Detections(
        np.array([r[0] for r in rows], np.float32),
        np.array([r[1] for r in rows], np.float32),
        np.array([r[2] if len(r) > 2 else "motorcycle" for r in rows], object),
    )


class Run:
    """Feeds frames to a Tracker and keeps what came out."""

    def __init__(self, config: TrackerConfig | None = None, frame_size: tuple[int, int] | None = None):
        self.tracker = Tracker(config, frame_size)
        self.points = []
        self.retired: list[tuple[float, int]] = []
        self.frame = 0
        self.updates = []

    def step(self, t: float, *rows, image: np.ndarray | None = None):
        upd = self.tracker.update(dets(*rows), t, self.frame, image=image)
        self.frame += 1
        self.points.extend(upd.points)
        self.retired.extend((t, i) for i in upd.retired)
        self.updates.append(upd)
        return upd

    def ids(self) -> set[int]:
        return {p.track_id for p in self.points}

    def by_id(self) -> dict[int, list]:
        out = defaultdict(list)
        for p in self.points:
            out[p.track_id].append(p)
        return out


def test_constant_velocity_keeps_one_id():
    r = Run()
    n = 30
    for i in range(n):
        r.step(i / 10, (box_at(100 + 8 * i, 300), 0.9))
    assert r.ids() == {1}
    pts = r.by_id()[1]
    assert len(pts) == n  # every observation delivered, the first one via the backlog
    assert [p.frame for p in pts] == list(range(n))
    assert [p.t for p in pts] == pytest.approx([i / 10 for i in range(n)])
    assert pts[5].box == pytest.approx(box_at(140, 300))
    assert all(p.class_name == "motorcycle" for p in pts)
    assert r.tracker.active_ids == [1]
    assert r.retired == []


def test_unconfirmed_one_hit_object_produces_no_points():
    r = Run()
    r.step(0.0, (box_at(100, 300), 0.9))
    r.step(0.1)
    r.step(0.2)
    r.step(0.3, (box_at(400, 300), 0.9))  # something else, far away, once
    r.step(0.4)
    assert r.points == [] and r.retired == [] and r.tracker.active_ids == []
    assert all((u.detections.tracker_id == -1).all() for u in r.updates)


def test_new_track_backlog_is_delivered_on_confirmation():
    r = Run()
    first = r.step(0.0, (box_at(100, 300), 0.9))
    assert first.points == [] and list(first.detections.tracker_id) == [-1]
    second = r.step(0.1, (box_at(106, 300), 0.9))
    assert [(p.track_id, p.t, p.frame) for p in second.points] == [(1, 0.0, 0), (1, 0.1, 1)]
    assert second.points[0].box == pytest.approx(box_at(100, 300))
    assert list(second.detections.tracker_id) == [1]


def test_min_hits_three_backlog_has_two_observations():
    r = Run(TrackerConfig(min_hits=3))
    r.step(0.0, (box_at(100, 300), 0.9))
    assert r.step(0.1, (box_at(106, 300), 0.9)).points == []
    third = r.step(0.2, (box_at(112, 300), 0.9))
    assert [(p.track_id, p.frame) for p in third.points] == [(1, 0), (1, 1), (1, 2)]


@pytest.mark.parametrize(
    "step_px, w",
    [(50, 40), (60, 40), (45, 30)],
    ids=["50px-40wide", "60px-40wide", "45px-30wide"],
)
def test_low_fps_big_jumps_keep_one_id(step_px, w):
    """6 fps: a motorbike moves more than its own width between frames; boxes never overlap."""
    r = Run()
    n = 14
    for i in range(n):
        r.step(i / 6, (box_at(60 + step_px * i, 300, w=w, h=70), 0.8))
    assert r.ids() == {1}
    assert len(r.points) == n


def test_low_fps_two_riders_side_by_side_keep_their_ids():
    """6 fps, two motorbikes 90 px apart moving 50 px a frame in the same direction."""
    r = Run()
    for i in range(12):
        r.step(i / 6, (box_at(60 + 50 * i, 300, h=70), 0.8), (box_at(60 + 50 * i, 390, h=70), 0.8))
    tracks = r.by_id()
    assert set(tracks) == {1, 2}
    for pts in tracks.values():
        assert len(pts) == 12
        assert len({p.box[3] for p in pts}) == 1  # each id stays on its own row


@pytest.mark.parametrize("dy", [0, 12], ids=["same-row", "offset-rows"])
def test_two_crossing_objects_keep_their_ids(dy):
    r = Run()
    for i in range(30):
        right = (box_at(100 + 10 * i, 300), 0.9)
        left = (box_at(390 - 10 * i, 300 + dy), 0.9)
        r.step(i / 10, right, left)
    tracks = r.by_id()
    assert set(tracks) == {1, 2}
    for pts in tracks.values():
        assert len(pts) == 30
        xs = [(p.box[0] + p.box[2]) / 2 for p in pts]
        steps = np.diff(xs)
        assert (steps > 0).all() or (steps < 0).all(), xs  # never swapped to the other road user


@pytest.mark.parametrize("gap_s", [0.5, 1.0, 1.4], ids=["0.5s", "1.0s", "1.4s"])
def test_missing_then_reappearing_on_predicted_path_keeps_id(gap_s):
    r = Run()
    speed = 60.0  # px/s
    t = 0.0
    while t < 1.0 - 1e-9:
        r.step(round(t, 3), (box_at(100 + speed * t, 300), 0.9))
        t += 0.1
    last_seen = round(t - 0.1, 3)
    t = last_seen + 0.1
    while t < last_seen + gap_s - 1e-9:  # occluded: empty frames
        r.step(round(t, 3))
        t += 0.1
    t = last_seen + gap_s
    for _ in range(10):
        r.step(round(t, 3), (box_at(100 + speed * t, 300), 0.9))
        t += 0.1
    assert r.ids() == {1}
    assert r.retired == []


@pytest.mark.parametrize(("gap_s", "ids"), [(1.36, {1}), (1.68, {1, 2})], ids=["within lost_s", "past lost_s"])
def test_at_3_fps_a_track_lost_past_lost_s_is_not_found_in_the_frame_that_retires_it(gap_s, ids):
    """Frames 0.32-0.4 s apart: a waiting rider unseen for 1.68 s (lost_s is 1.6) is not given a box even in the
    frame where it retires (Hanoi at 3 fps: the track then took a rider in the junction)."""
    r = Run()
    waiting = (box_at(200, 300), 0.9)
    for i in range(4):
        r.step(round(i * 0.32, 2), waiting)
    last = 0.96
    t = last + 0.32
    while t <= last + gap_s - 0.32 + 1e-9:  # empty frames, the last one well within lost_s
        r.step(round(t, 2))
        t += 0.32
    for k in range(2):
        r.step(round(last + gap_s + 0.32 * k, 2), (box_at(200, 290 - 5 * k), 0.9))
    assert set(r.by_id()) == ids


def test_missing_longer_than_lost_s_retires_the_id():
    r = Run()
    lost_s = r.tracker.config.lost_s
    for i in range(10):
        r.step(i / 10, (box_at(100 + 6 * i, 300), 0.9))
    for i in range(10, 40):  # gone for 3 s
        r.step(i / 10)
    assert [i for _, i in r.retired] == [1]
    t_retired = r.retired[0][0]
    assert 0.9 + lost_s < t_retired <= 0.9 + lost_s + 0.1 + 1e-9  # at the first update past lost_s
    assert r.tracker.active_ids == []
    for i in range(40, 45):  # comes back where it was predicted to be: a new road user now
        r.step(i / 10, (box_at(100 + 6 * i, 300), 0.9))
    assert r.ids() == {1, 2}
    assert [i for _, i in r.retired] == [1]


def test_finish_retires_every_confirmed_track():
    r = Run()
    for i in range(5):
        r.step(i / 10, (box_at(100 + 6 * i, 300), 0.9), (box_at(400, 300 + i), 0.9))
    r.step(0.5, (box_at(200, 100), 0.9))  # a new, unconfirmed object
    assert sorted(r.tracker.finish()) == [1, 2]
    assert r.tracker.active_ids == []


def test_weak_boxes_keep_a_confirmed_track_alive():
    r = Run()
    for i in range(5):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.9))
    for i in range(5, 35):  # 3 s of low-confidence boxes (longer than lost_s)
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.2))
    for i in range(35, 40):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.9))
    assert r.ids() == {1}
    assert r.retired == []
    assert len(r.points) == 40  # weak observations are delivered too


def test_weak_boxes_never_start_a_track():
    r = Run()
    for i in range(30):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.3), (box_at(400, 200), 0.2))
    assert r.points == [] and r.tracker.active_ids == []


def test_boxes_between_high_and_new_track_conf_do_not_start_a_track():
    r = Run()  # high_conf 0.35, new_track_conf 0.4
    for i in range(10):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.37))
    assert r.points == []


def test_weak_box_far_from_the_track_is_not_taken():
    r = Run()
    for i in range(5):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.9))
    upd = r.step(0.5, (box_at(300, 300), 0.2))  # weak box elsewhere: IoU 0
    assert upd.points == [] and list(upd.detections.tracker_id) == [-1]


def test_confidence_below_low_conf_is_ignored():
    r = Run()
    for i in range(5):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.9))
    upd = r.step(0.5, (box_at(120, 300), 0.05))
    assert upd.points == []


def test_class_is_the_confidence_weighted_vote():
    r = Run()
    classes = ["motorcycle", "bicycle", "motorcycle", "motorcycle", "bicycle", "motorcycle"]
    for i, c in enumerate(classes):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.8, c))
    assert r.points[-1].class_name == "motorcycle"


def test_car_is_not_matched_to_a_nearby_two_wheeler_track_when_both_exist():
    """A car and a motorbike close together: each keeps its own id (class family is part of the cost)."""
    r = Run()
    for i in range(10):
        r.step(
            i / 10,
            (box_at(200 + 5 * i, 300, w=40, h=60), 0.9, "motorcycle"),
            (box_at(235 + 5 * i, 300, w=60, h=60), 0.9, "car"),
        )
    tracks = r.by_id()
    assert set(tracks) == {1, 2}
    assert {tuple(sorted({p.class_name for p in pts})) for pts in tracks.values()} == {("motorcycle",), ("car",)}


def test_points_are_time_ordered_within_an_update():
    r = Run()
    r.step(0.0, (box_at(100, 300), 0.9))
    r.step(0.1, (box_at(300, 300), 0.9), (box_at(104, 300), 0.9))  # confirms #1; #2 new
    upd = r.step(0.2, (box_at(304, 300), 0.9), (box_at(108, 300), 0.9))  # confirms #2 with backlog
    assert [(p.t, p.track_id) for p in upd.points] == [(0.1, 2), (0.2, 1), (0.2, 2)]


def test_neighbour_box_does_not_take_over_a_settled_track():
    """A waiting rider (velocity known, hits >= 3) is missed for a frame while another rider pulls up
    0.8 sizes beside it: the newcomer gets its own id, and the waiting rider keeps its own."""
    r = Run()
    waiting = (box_at(200, 300), 0.9)
    for i in range(6):
        r.step(i / 10, waiting)
    beside = (box_at(245, 300), 0.9)  # 45 px right of it: no overlap, 0.8 sizes away
    r.step(0.6, beside)
    r.step(0.7, waiting, beside)
    r.step(0.8, waiting, beside)
    tracks = r.by_id()
    assert set(tracks) == {1, 2}
    assert {(p.box[0] + p.box[2]) / 2 for p in tracks[1]} == {200.0}
    assert {(p.box[0] + p.box[2]) / 2 for p in tracks[2]} == {245.0}


def _painted(*patches) -> np.ndarray:
    """A grey 640x480 BGR picture with each (box, (b, g, r)) filled."""
    img = np.full((480, 640, 3), 110, np.uint8)
    for (x1, y1, x2, y2), colour in patches:
        img[round(y1) : round(y2), round(x1) : round(x2)] = colour
    return img


GREEN, WHITE = (20, 200, 20), (230, 230, 230)


@pytest.mark.parametrize(
    ("colour", "pictures", "ids"),
    [(GREEN, True, {1}), (WHITE, True, {1, 2}), (WHITE, False, {1})],
    ids=["the same rider", "another rider", "another rider, no pictures given"],
)
def test_a_lost_track_is_found_again_only_on_a_box_that_looks_like_it(colour, pictures, ids):
    """A green rider waits, then is hidden for 1.2 s; a box comes out 60 px below it (within the reach of a
    track lost that long). The waiting rider's track takes it only if it looks like that rider
    (`reid_after_s`, `min_look`): a white rider there gets its own id. Without pictures the looks are not
    compared (the old handover, as in Makassar at 15 fps: a waiting rider's track taken by the scooter
    coming down the kerb past it)."""
    r = Run()
    waiting = box_at(200, 300)
    for i in range(6):
        r.step(i / 10, (waiting, 0.9), image=_painted((waiting, GREEN)) if pictures else None)
    for i in range(6, 17):
        r.step(i / 10, image=_painted() if pictures else None)
    for k in range(4):
        below = box_at(200, 360 + 5 * k)
        r.step(1.7 + k / 10, (below, 0.9), image=_painted((below, colour)) if pictures else None)
    assert set(r.by_id()) == ids


# --- size-aware track birth: small, weakly scored road users (TrackerConfig.small_px ... min_hits_small) ---


def test_small_weak_rider_seen_steadily_starts_a_track():
    """A 12x20 px rider found at 0.25 on every frame (far, dusk): below new_track_conf, but small, so
    a steady run of min_hits_small sightings confirms it (its whole path is delivered)."""
    r = Run()
    for i in range(8):
        r.step(i / 10, (box_at(100, 200 + 3 * i, w=12, h=20), 0.25))
    assert r.ids() == {1}
    assert len(r.by_id()[1]) == 8
    assert r.updates[TrackerConfig().min_hits_small - 2].points == []  # not before min_hits_small sightings


def test_large_weak_box_never_starts_a_track():
    """The same score on a road user large in the picture is not enough: a 40x80 box needs new_track_conf."""
    r = Run()
    for i in range(8):
        r.step(i / 10, (box_at(100, 200 + 3 * i, w=40, h=80), 0.25))
    assert r.points == []


def test_small_weak_flicker_is_not_confirmed():
    """Small weak boxes that come and go (noise) never make a track: min_hits_small in a row are needed."""
    r = Run()
    for i in range(12):
        rows = [(box_at(100, 200, w=12, h=20), 0.25)] if i % 3 != 2 else []
        r.step(i / 10, *rows)
    assert r.points == []


def test_detail_size_decides_not_the_box_in_the_frame():
    """`detail_px` (the box in pixels of real detail) replaces the box's own size: a 40x80 box that the
    detector saw shrunk to a quarter counts as small and may start a track at a weak score."""
    r = Run()
    for i in range(6):
        d = dets((box_at(100, 200 + 3 * i, w=40, h=80), 0.25))
        upd = r.tracker.update(d, i / 10, i, detail_px=np.array([14.0]))
        r.points.extend(upd.points)
    assert {p.track_id for p in r.points} == {1}


def test_weak_small_track_is_confirmed_at_once_by_a_confident_box():
    r = Run()
    r.step(0.0, (box_at(100, 200, w=12, h=20), 0.25))
    second = r.step(0.1, (box_at(100, 203, w=12, h=20), 0.6))
    assert [p.track_id for p in second.points] == [1, 1]


def test_weak_small_box_on_a_tracked_road_user_starts_no_second_track():
    """A far car tracked with confident boxes, and a weak box that spans it and its neighbour (two far
    cars found as one): the weak box is not a new road user."""
    r = Run()
    for i in range(10):
        car = (box_at(100 + 3 * i, 50, w=20, h=12), 0.8, "car")
        merged = (box_at(110 + 3 * i, 52, w=42, h=14), 0.25, "car")
        r.step(i / 10, car, merged)
    assert r.ids() == {1}


def test_weak_small_box_beside_a_tracked_road_user_starts_its_own_track():
    """A rider right behind another (one behind the other on the kerb): boxes touch but do not overlap."""
    r = Run()
    for i in range(10):
        front = (box_at(100, 200 + 3 * i, w=14, h=20), 0.8)
        behind = (box_at(100, 178 + 3 * i, w=14, h=18), 0.25)
        r.step(i / 10, front, behind)
    assert r.ids() == {1, 2}


def test_weak_small_tentative_that_moves_onto_a_tracked_road_user_is_dropped():
    """A weak track beside a confirmed rider that then lies on top of it (the rider's own weak second box,
    or the rider behind merging with it) is that rider: it is not confirmed as a second road user."""
    r = Run()
    for i, bottom in enumerate([170, 178, 190, 195, 197, 199]):
        r.step(i / 10, (box_at(100, 200, w=14, h=20), 0.8), (box_at(100, bottom, w=14, h=20), 0.25))
    assert r.ids() == {1}


# -- handovers: a track must not carry its identity onto another road user -----------------------


def test_car_track_does_not_take_a_box_of_car_and_rider_together():
    """The Makassar dusk case: a car's track A, a far car B lost for 1.4 s a little above it, then one box
    covering A's car and a rider coming out from under it (still called "car", twice as tall) beside A's own
    box, then the rider alone. Matching as many tracks as possible gave A the two-in-one box (and B the car);
    now A's identity stays with its car, and the rider gets a new one, never A's or B's."""
    r = Run()
    for i in range(19):  # car A, 36 x 19, creeping up-left; car B (20 x 19) above it, seen for 0.5 s
        rows = [(box_at(170 - i / 2, 150 - i / 4, w=36, h=19), 0.9, "car")]
        if i <= 5:
            rows.append((box_at(173, 119, w=20, h=19), 0.6, "car"))
        r.step(i / 10, *rows)
    car_id = r.points[0].track_id
    r.step(1.9, (box_at(160, 145, w=36, h=19), 0.88, "car"), (box_at(158, 166, w=38, h=41), 0.5, "car"))
    for i in range(8):  # the rider rides down out from under it, the car goes on
        t = 2.0 + i / 10
        r.step(t, (box_at(160 - i, 145 - i, w=36, h=19), 0.9, "car"), (box_at(157, 180 + 6 * i, w=20, h=30), 0.6))
    for tid, pts in r.by_id().items():
        tall = [p.box[3] - p.box[1] > 25 for p in pts]
        assert all(tall) or not any(tall), f"track {tid} holds both a car's box and a rider's"
    assert all(p.box[3] - p.box[1] < 25 for p in r.by_id()[car_id])


def test_class_family_change_with_a_jump_in_size_is_a_new_road_user():
    """A car's track and, at its place, a motorbike box twice as tall (the car gone behind, a rider in front):
    a handover, so the motorbike gets a new id and never the car's."""
    r = Run()
    for i in range(6):
        r.step(i / 10, (box_at(100 + 2 * i, 200, w=40, h=20), 0.9, "car"))
    for i in range(6):
        r.step(0.6 + i / 10, (box_at(112 + 2 * i, 200 + 2 * i, w=20, h=42), 0.8, "motorcycle"))
    by_id = r.by_id()
    assert len(by_id) == 2
    assert {p.box_class for pts in by_id.values() for p in pts[:1]} == {"car", "motorcycle"}
    assert all(len({p.box_class for p in pts}) == 1 for pts in by_id.values())


@pytest.mark.parametrize(("dt", "same"), [(0.1, False), (1.0, True)])
def test_a_cars_box_may_change_shape_only_as_fast_as_time_allows(dt, same):
    """A car box growing 2.1x in height: impossible between two looks 0.1 s apart (another road user), but a
    car driving towards the camera between looks a second apart (low detection rate) keeps its id."""
    r = Run()
    t = 0.0
    for _ in range(4):
        r.step(t, (box_at(200, 200, w=60, h=30), 0.9, "car"))
        t += dt
    r.step(t, (box_at(200, 215, w=64, h=63), 0.9, "car"))
    r.step(t + dt, (box_at(200, 216, w=64, h=64), 0.9, "car"))
    assert (len(r.ids()) == 1) is same


def test_two_wheeler_box_merging_with_its_rider_keeps_its_id():
    """A motorbike's box with and without its rider merged in changes height a lot: no handover there."""
    r = Run()
    for i in range(10):
        h = 60 if i % 2 else 28
        r.step(i / 10, (box_at(100, 200 - 3 * i, w=24, h=h), 0.8, "motorcycle"))
    assert r.ids() == {1}


def test_a_dim_car_box_at_dusk_does_not_hold_the_track_to_a_cars_shape():
    """A motorbike's headlight at dusk boxed as an unsure "car" (wide, short), then the rider and bike (tall):
    only a track whose last box was a sure four-wheeler is held to a car's shape, so this one keeps its id."""
    r = Run(TrackerConfig(context_class=False))
    for i in range(4):
        r.step(i / 10, (box_at(100, 200 + 4 * i, w=22, h=12), 0.45, "car"))
    for i in range(4):
        r.step(0.4 + i / 10, (box_at(100, 216 + 4 * i, w=14, h=28), 0.45, "motorcycle"))
    assert r.ids() == {1}


def test_a_track_seen_once_is_not_matched_on_the_top_edge_alone():
    """The Hanoi case: a new track from a waiting rider's box; on the next frame only another rider's much
    taller box whose top lines up with it (centres far apart). Its second sighting must not be that rider."""
    r = Run()
    r.step(0.0, (box_at(100, 140, w=20, h=40), 0.8))  # the waiting rider, seen once
    other = box_at(100, 250, w=14, h=150)  # top at y=100 like the waiting rider's, centre 55 px lower
    r.step(0.1, (other, 0.8))
    r.step(0.2, (other, 0.8))
    assert all(p.box[3] == 250 for p in r.points), "the waiting rider's track took the other rider's box"


def test_points_carry_their_own_box_class():
    r = Run()
    for i, c in enumerate(["motorcycle", "motorcycle", "bicycle", "motorcycle"]):
        r.step(i / 10, (box_at(100 + 4 * i, 300), 0.8, c))
    assert [p.box_class for p in r.points] == ["motorcycle", "motorcycle", "bicycle", "motorcycle"]
    assert {p.class_name for p in r.points} == {"motorcycle"}


def test_pinned_class_is_the_vote_from_the_event_window_to_the_end():
    """Five sure "car" looks, then ten weaker "motorcycle" ones: over its life the track is a car, but over
    the looks since an event's window began (and to its end) it is the motorbike that did it."""
    r = Run()
    for i in range(5):
        r.step(i / 10, (box_at(100, 300 - 2 * i, w=30, h=32), 0.9, "car"))
    for i in range(5):
        r.step(0.5 + i / 10, (box_at(100, 290 + 3 * i, w=30, h=34), 0.5))
    tid = next(iter(r.ids()))
    assert r.points[-1].class_name == "car"  # the life vote: 4.5 car against 2.5 motorcycle
    assert r.tracker.pin_class(tid, 0.5) == "motorcycle"
    for i in range(5):
        r.step(1.0 + i / 10, (box_at(100, 305 + 3 * i, w=30, h=34), 0.5))
    r.tracker.finish()
    assert r.tracker.pop_final_class(tid) == "motorcycle"
    assert r.tracker.pop_final_class(tid) is None  # asked once


def test_unpinned_final_class_is_the_life_vote():
    r = Run()
    for i in range(4):
        r.step(i / 10, (box_at(100, 300, w=30, h=32), 0.9, "car"))
    r.step(0.4, (box_at(100, 300, w=30, h=34), 0.5))
    tid = next(iter(r.ids()))
    r.tracker.finish()
    assert r.tracker.pop_final_class(tid) == "car"


@pytest.mark.parametrize("frame_size, same", [((596, 308), False), (None, True)])
def test_a_road_user_that_drove_out_of_the_picture_is_not_found_again(frame_size, same):
    """Makassar played backwards (its boxes, rounded): a car drives down-right out of the bottom edge; 0.6 s
    later a car comes in at that corner, up-left, where the first one's motion points, and was taken for it.
    Only the picture's size tells that the first one has left (its predicted box is mostly below the edge)."""
    r = Run(frame_size=frame_size)
    for i in range(10):  # 110 px/s right, 50 px/s down; the last box [385, 252, 520, 304]
        x, y = 385 - 11 * (9 - i), 304 - 5 * (9 - i)
        r.step(i / 10, ((x, y - 52, x + 135, y), 0.7, "car"))
    for i in range(8):  # unseen for 0.6 s, then the other car comes in at the right edge, going up-left
        x, y = 534 - 14 * i, 283 - 7 * i
        r.step(1.5 + i / 10, ((x, y - 52, min(595, x + 61 + 14 * i), y), 0.7, "car"))
    assert (r.ids() == {1}) is same
    if not same:
        assert [len(v) for v in r.by_id().values()] == [10, 8]


def test_a_waiting_riders_box_changing_shape_gives_it_no_speed():
    """Hanoi at 320x240 (its boxes in the 640x480 working picture, 6 looks a second): a rider waits in the queue,
    boxed with its bike (to y 412) and then alone (to y 375). The top of the box stays; its centre jumps up 18 px.
    Measured from the centre that was a speed of ~70 px/s up, and the track, unseen for a second, was given a
    rider already in the junction where that speed pointed (a red-light event with two road users in its
    evidence). The shift of the box's top (the end that moved less) is its motion: none."""
    r = Run()
    t = 0.0
    for k in range(6):  # waiting, boxed with its bike, then alone in the last look
        box = (423, 317, 465, 412) if k < 5 else (435, 317, 465, 375)
        r.step(t, (box, 0.6 if k < 5 else 0.45, "motorcycle" if k < 5 else "person"))
        t += 1 / 6
    assert np.hypot(*r.tracker._tracks[0].velocity) < 5  # px/s: it stands still
    t += 1.0
    for k in range(4):  # another rider in the junction, riding up
        r.step(t, ((431, 243 - 8 * k, 469, 281 - 8 * k), 0.6, "motorcycle"))
        t += 1 / 6
    assert len(r.ids()) == 2


@pytest.mark.parametrize("young_s, jumps", [(0.3, False), (1.0, True)])
def test_a_track_seen_twice_is_not_carried_far_by_its_first_step(young_s, jumps):
    """Hanoi at 320x240 (boxes in the 640x480 working picture, 6 looks a second): a track is born from a
    person's box cut by the bottom edge and, 0.16 s later, a rider's box 60 px away: a 'speed' of ~350 px/s.
    Unseen for 0.64 s, it was looked for ~220 px further up, where a rider already in the junction was, and
    took it (a red-light event whose evidence shows two road users). A track seen twice is moved by that
    velocity for at most `young_predict_s` (1.0 s before)."""
    r = Run(TrackerConfig(young_predict_s=young_s), frame_size=(640, 480))
    r.step(0.0, ((433, 445, 480, 479), 0.66, "person"))
    r.step(0.16, ((467, 395, 502, 439), 0.5, "motorcycle"))
    for k in range(4):  # the rider in the junction, riding up
        r.step(0.80 + k / 6, ((520, 192 - 6 * k, 557, 224 - 6 * k), 0.5, "motorcycle"))
    first = [p.t for p in r.by_id()[1]]
    assert (max(first) > 0.5) is jumps  # the track born at the bottom holds the rider in the junction
    assert len(r.ids()) == 2
