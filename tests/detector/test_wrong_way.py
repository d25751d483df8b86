"""rules.wrong_way.WrongWayRule on scripted TrackPoint paths.

Lane `north` (x 100..400, y 50..450) allows travel up the picture (direction (0, -1)); lane `south`
(x 400..600) allows travel down. Boxes are 30 x 60: a decision needs >= 48 px (0.8 sizes) of net
contraflow over >= 0.6 s with >= 60 % of the moving steps against the lane.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.config import Crossing, parse_crossing  # noqa: E402
from detector.rules.wrong_way import WrongWayRule  # noqa: E402
from detector.types import TrackPoint, ViolationType  # noqa: E402

CROSSING = parse_crossing(
    {
        "id": "ww",
        "name": "wrong way",
        "frame_size": [640, 480],
        "lanes": [
            {"id": "north", "polygon": [[100, 50], [400, 50], [400, 450], [100, 450]], "direction": [0, -1]},
            {"id": "south", "polygon": [[400, 50], [600, 50], [600, 450], [400, 450]], "direction": [0, 1]},
        ],
    }
)


def box(cx, bottom, w=30.0, h=60.0):
    return (cx - w / 2, bottom - h, cx + w / 2, bottom)


def pts_from(tid, anchors, t0=0.0, dt=0.1, cls="motorcycle"):
    """anchors: list of (x, y) bottom-centres, one per frame."""
    return [
        TrackPoint(tid, round(t0 + i * dt, 6), int(round((t0 + i * dt) * 10)), box(x, y), cls)
        for i, (x, y) in enumerate(anchors)
    ]


def moving(x0, y0, vx, vy, n):
    """n anchors moving (vx, vy) px per frame."""
    return [(x0 + vx * i, y0 + vy * i) for i in range(n)]


def heading(deg_from_lane, speed, n, x0=250, y0=250):
    """Anchors moving at `deg_from_lane` degrees from the north lane's direction (0, -1)."""
    a = math.radians(deg_from_lane)
    vx, vy = speed * math.sin(a), -speed * math.cos(a)
    return moving(x0, y0, vx, vy, n)


def run(points, crossing=CROSSING, per_frame=True, **kw):
    rule = WrongWayRule(crossing, **kw)
    events = []
    if per_frame:
        for p in points:
            events += rule.update([p])
    else:
        events += rule.update(points)
    return rule, events


rng = np.random.default_rng(7)
PARKED = [(250 + rng.uniform(-3, 3), 300 + rng.uniform(-3, 3)) for _ in range(60)]
JITTER_BACK = moving(250, 400, 0, -8, 15) + [(250, 400 - 8 * 14 + 40)] + moving(250, 400 - 8 * 15, 0, -8, 15)


def from_steps(x, y0, dys):
    out, y = [(x, y0)], y0
    for dy in dys:
        y += dy
        out.append((x, y))
    return out


ZIGZAG = from_steps(250, 60, [30, -20] * 20)  # net contraflow, but every other step is legal: vote 50 %
MOSTLY_AGAINST = from_steps(250, 60, [20, 20, -10] * 10)  # 2 of 3 steps against: vote 67 %

CASES = {
    # name: (anchors, expected number of events)
    "legal-motion": (moving(250, 440, 0, -10, 40), 0),
    "legal-slow": (moving(250, 440, 0, -2, 60), 0),
    "sustained-contraflow": (moving(250, 60, 0, 10, 30), 1),
    "slow-sustained-contraflow": (moving(250, 60, 0, 4, 30), 1),  # 4 px/frame, 116 px over 2.9 s
    "one-jittery-backward-step": (JITTER_BACK, 0),
    "parked-jitter": (PARKED, 0),
    "short-contraflow-0.5s": (moving(250, 60, 0, 30, 6), 0),  # 150 px but only 0.5 s of track
    "contraflow-then-back": (moving(250, 200, 0, 15, 4) + moving(250, 230, 0, -15, 10), 0),  # 45 px back, 0.3 s
    "too-short-distance": (moving(250, 200, 0, 4, 12), 0),  # 44 px < 0.8 * 60
    "outside-any-lane": (moving(50, 60, 0, 10, 30), 0),
    "legal-in-south-lane": (moving(500, 60, 0, 10, 30), 0),
    "contraflow-in-south-lane": (moving(500, 440, 0, -10, 30), 1),
    "sideways": (heading(90, 10, 30), 0),
    "angle-119": (heading(119, 10, 30), 0),
    "angle-121": (heading(121, 10, 30), 1),
    "angle-180": (heading(180, 10, 30), 1),
    "zigzag-vote-50pct": (ZIGZAG, 0),
    "mostly-against-vote-67pct": (MOSTLY_AGAINST, 1),
    "steady-backwards-140px": (from_steps(250, 100, [10] * 14), 1),
    "one-jump-makes-most-of-the-way": (from_steps(250, 100, [10, 10, 100, 10, 10] + [0] * 9), 0),  # takeover
    "two-moving-steps-only": (from_steps(250, 100, [0, 0, 30, 30, 0, 0, 0, 0]), 0),  # fewer than 3 steps
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_wrong_way_cases(name):
    anchors, n_events = CASES[name]
    _, events = run(pts_from(1, anchors))
    assert len(events) == n_events


def test_sustained_contraflow_is_flagged_once_with_the_start_of_the_window():
    anchors = moving(250, 70, 0, 10, 80)  # 8 s down a north-bound lane (first box whole: top at 10 px)
    pts = pts_from(3, anchors, t0=5.0)
    _, events = run(pts)
    (e,) = events
    assert e.type is ViolationType.WRONG_WAY
    assert e.track_id == 3 and e.class_name == "motorcycle" and e.lane == "north"
    assert e.t == pytest.approx(5.0)  # the first point of the deciding window
    assert e.frame == 50
    assert e.box == pytest.approx(box(250, 70))
    assert e.signal is None and e.signal_id is None and e.since_red_s is None and e.stop_line is None
    start, mid, end = e.key_times
    assert start < mid < end
    decided = end
    assert 5.8 <= decided <= 6.0  # decided as soon as 0.6 s and 1.5 box heights (90 px) of contraflow are seen
    assert [t for t, _ in e.path][0] == pytest.approx(5.0) and [t for t, _ in e.path][-1] == pytest.approx(decided)


def test_the_event_shows_the_whole_road_user_when_it_came_in_over_the_edge():
    """A rider riding in over the top edge: its first boxes are cut by the edge (part of it is outside).
    The event is dated and boxed at the first look of the deciding window that shows all of it."""
    pts = pts_from(4, moving(250, 40, 0, 10, 40), t0=2.0)  # 60 px tall boxes, tops from -20 px
    (e,) = run(pts, crossing=_one_lane(480))[1]
    assert e.box == pytest.approx(box(250, 70)) and e.t == pytest.approx(2.3)  # top at 10 px: whole
    assert min(e.key_times) == pytest.approx(2.3)


def _creeping_rider(flicker: list[int]) -> list[TrackPoint]:
    """A small rider creeping down the north lane (against it) 1 px a look for 4 s, boxed alone (16 x 18 px)
    except at the looks in `flicker`, where its box takes in its bike below (20 x 40 px, the same top)."""
    out = []
    for i in range(40):
        top = 200.0 + i
        b = (242.0, top, 258.0, top + 18.0) if i not in flicker else (240.0, top, 260.0, top + 40.0)
        out.append(TrackPoint(6, round(i * 0.1, 6), i, b, "motorcycle", 0.5))
    return out


@pytest.mark.parametrize("flicker", [[], [15], [12, 25]], ids=["steady box", "one flicker", "two flickers"])
def test_a_small_riders_box_taking_in_its_bike_for_a_look_does_not_hide_its_contraflow(flicker):
    """A dusk rider 18 px tall creeping against the lane: its box takes in the bike for a look and drops it at
    the next, so its bottom jumps 22 px and back while the rider moved 1 px. Such a step is no jump (the
    box's edges that moved less, here the top, moved 1 px): it does not veto the way (max_step_share)."""
    (e,) = run(_creeping_rider(flicker))[1]
    assert e.t == pytest.approx(0.0)


def test_after_a_long_gap_the_event_shows_the_road_user_that_rode_on():
    """A track holds a standing road user for 0.5 s, is unseen for 1.3 s (max_gap_s is 1.0) and is found again on
    a rider coming down against the lane: it may be another road user from there on, so the event is dated and
    boxed at the first look after the gap, and its evidence times start there."""
    standing = pts_from(7, [(250, 150)] * 6, t0=0.0)
    riding = pts_from(7, moving(250, 160, 0, 10, 15), t0=1.8)
    (e,) = run(standing + riding)[1]
    assert e.t == pytest.approx(1.8) and e.box == pytest.approx(box(250, 160))
    assert min(e.key_times) == pytest.approx(1.8) and e.path[0][0] == pytest.approx(1.8)


def test_window_slides_when_legal_motion_came_first():
    """Up the lane for 4 s, then a U-turn: the deciding window starts inside the last window_s."""
    anchors = moving(250, 440, 0, -5, 40) + moving(250, 440 - 5 * 40, 0, 10, 40)
    _, events = run(pts_from(1, anchors))
    (e,) = events
    decided = e.key_times[2]
    assert 4.0 < decided < 7.0
    assert decided - 3.0 - 1e-6 <= e.t < decided  # within window_s of the decision


def test_whole_batch_in_one_update():
    _, events = run(pts_from(1, moving(250, 60, 0, 10, 30)), per_frame=False)
    assert len(events) == 1


def test_several_road_users_each_judged_alone():
    pts = pts_from(1, moving(250, 60, 0, 10, 30)) + pts_from(2, moving(300, 440, 0, -10, 30))
    pts.sort(key=lambda p: (p.t, p.track_id))
    _, events = run(pts)
    assert [e.track_id for e in events] == [1]


def test_lane_change_uses_only_the_current_lane():
    """Down the south lane (legal there), then a sideways move into `north` and on down (contraflow
    there): only the points inside `north` are judged."""
    anchors = moving(500, 60, 0, 10, 15) + moving(300, 200, 0, 10, 15)
    _, events = run(pts_from(1, anchors))
    (e,) = events
    assert e.lane == "north"
    assert e.t >= 1.5 - 1e-9  # the window starts at the first point in `north`


def test_no_lanes_never_flags():
    crossing = parse_crossing({"id": "nolanes", "name": "x", "frame_size": [640, 480]})
    _, events = run(pts_from(1, moving(250, 60, 0, 10, 30)), crossing)
    assert events == []


def test_forget_drops_memory():
    rule, _ = run(pts_from(1, moving(250, 60, 0, 10, 4)))
    assert 1 in rule._mem
    rule.forget([1, 42])
    assert rule._mem == {}


@pytest.mark.parametrize("max_angle_deg, n", [(100.0, 1), (140.0, 0)], ids=["wider", "narrower"])
def test_max_angle_is_configurable(max_angle_deg, n):
    _, events = run(pts_from(1, heading(121, 10, 30)), max_angle_deg=max_angle_deg)
    assert len(events) == n


def test_bottom_edge_growing_under_a_still_top_is_not_contraflow():
    """A waiting rider whose box bottom slides down (occlusion clearing) while the helmet stays put."""
    pts = [TrackPoint(1, round(i / 10, 6), i, (235.0, 200.0, 265.0, 260.0 + 8 * i), "motorcycle") for i in range(15)]
    _, events = run(pts)
    assert events == []
    moved = [
        TrackPoint(1, round(i / 10, 6), i, (235.0, 200.0 + 8 * i, 265.0, 260.0 + 8 * i), "motorcycle")
        for i in range(15)
    ]
    assert len(run(moved)[1]) == 1  # the whole box going down the lane is contraflow


def _weak_path(tid: int, w: float, h: float, conf: float, detail: float = 0.0) -> list[TrackPoint]:
    """A road user riding down the north lane (contraflow), 6 px a frame for 2.5 s, every box scored `conf`."""
    return [
        TrackPoint(tid, round(i / 10, 6), i, box(250, 150 + 6 * i, w, h), "motorcycle", conf, detail) for i in range(25)
    ]


def test_small_weakly_scored_rider_decides_by_its_size():
    """A 12x20 px rider on a dusk clip is never scored 0.3; at its size 0.2 is a sure box, so its
    sustained contraflow is flagged. The same score on a large box is not enough."""
    small = WrongWayRule(CROSSING).update(_weak_path(1, 12, 20, 0.2))
    assert [e.track_id for e in small] == [1]
    assert WrongWayRule(CROSSING).update(_weak_path(2, 30, 60, 0.2)) == []


def test_detail_px_overrides_the_box_size():
    """A box the detector saw shrunk (`detail_px` small) counts as small; an upscaled one as its detail."""
    assert [e.track_id for e in WrongWayRule(CROSSING).update(_weak_path(1, 30, 60, 0.2, detail=14.0))] == [1]
    assert WrongWayRule(CROSSING).update(_weak_path(2, 12, 20, 0.2, detail=60.0)) == []


def test_noise_below_the_small_score_never_decides():
    assert WrongWayRule(CROSSING).update(_weak_path(1, 12, 20, 0.1)) == []


def test_crawling_rider_at_full_frame_rate_is_judged_on_spaced_looks():
    """30 fps, a rider crawling down the north lane 1 px a frame with its box jittering 1.5 px up and
    down: frame to frame half the steps point the other way, but over 0.1 s every step goes down."""
    path = [
        TrackPoint(1, round(i / 30, 6), i, box(250, 150 + i + (1.5 if i % 2 else -1.5), 12, 20), "motorcycle", 0.5)
        for i in range(75)
    ]
    assert [e.track_id for e in WrongWayRule(CROSSING).update(path)] == [1]
    assert WrongWayRule(CROSSING, step_s=0.0).update(path) == []  # every frame's step voted: no decision


# -- a flagged road user whose track breaks is not flagged again (stitching) ------------------------------


def _rider(tid, y0, t0, n, x=250.0, h=30.0, vy=10.0, dt=0.1):
    """A road user riding down the north lane (contraflow) from bottom y0 at time t0, vy px per frame."""
    return [
        TrackPoint(
            tid, round(t0 + i * dt, 6), int(round((t0 + i * dt) * 10)), box(x, y0 + vy * i, h / 2, h), "motorcycle"
        )
        for i in range(n)
    ]


# track 1: y 60 -> 240 over t 0..1.8 s; it would be at y 270 at t 2.1
FIRST = _rider(1, 60, 0.0, 19)
STITCH_CASES = {
    # name: (second track's points, forget track 1 before the second appears, events expected)
    "found-again-where-it-would-be": (_rider(2, 270, 2.1, 16), False, 1),
    "found-again-after-its-track-retired": (_rider(2, 270, 2.1, 16), True, 1),
    "another-rider-far-behind": (_rider(2, 60, 2.1, 16), False, 2),
    "another-rider-beside-it-while-it-is-seen": (_rider(2, 230, 1.7, 16), False, 2),
    "found-again-too-late": (_rider(2, 270, 4.1, 16), False, 2),
    "a-much-larger-road-user": (_rider(2, 270, 2.1, 16, h=80.0), False, 2),
    # 1.7 s later, 5 heights (150 px) across from where track 1 was going: another road user coming in
    "another-road-user-far-from-its-way": (_rider(2, 330, 3.5, 16, x=400.0 - 1e-3), False, 2),
    "contraflow-in-the-other-lane": (_rider(2, 440, 2.1, 30, x=500.0, vy=-10.0), False, 2),
}


@pytest.mark.parametrize("name", list(STITCH_CASES), ids=list(STITCH_CASES))
def test_a_broken_track_of_a_flagged_road_user_is_not_flagged_again(name):
    second, retire_first, n_events = STITCH_CASES[name]
    rule = WrongWayRule(CROSSING)
    events = rule.update(FIRST)
    assert [e.track_id for e in events] == [1]
    if retire_first:
        rule.forget([1])
    events += rule.update(second)
    assert len(events) == n_events
    assert rule.stitched == 2 - n_events


def _one_lane(height: int) -> Crossing:
    """A crossing 640 x `height` with one north-bound lane (x 100..400) over its whole height."""
    poly = [[100, 0], [400, 0], [400, height], [100, height]]
    lane = {"id": "north", "polygon": poly, "direction": [0, -1]}
    return parse_crossing({"id": "one", "name": "one lane", "frame_size": [640, height], "lanes": [lane]})


def test_a_road_user_that_left_the_picture_is_not_stitched_to_a_newcomer():
    """Track 1 leaves across the bottom edge (its last box is cut). Another rider first seen 0.6 s later
    55 px above that edge, within the tolerance of where track 1 would be, is judged on its own."""
    rule = WrongWayRule(_one_lane(300))
    leaving = _rider(1, 120, 0.0, 19)  # bottom from 120 to 300 by t 1.8: the last box touches the edge
    assert leaving[-1].box[3] == 300.0
    events = rule.update(leaving)
    events += rule.update(_rider(2, 245, 2.4, 7, vy=8.0))  # 245 -> 293, inside the picture
    assert [e.track_id for e in events] == [1, 2] and rule.stitched == 0


def test_a_road_user_lost_right_after_its_decision_is_followed_by_its_motion():
    """Flagged on its last look before its track breaks: its motion comes from the deciding window, so a
    fast road user found again a second later, 200 px on, is still the same one."""
    rule = WrongWayRule(_one_lane(1000))
    events = rule.update(_rider(1, 60, 0.0, 7, vy=20.0))  # decided on its 7th and last look (t 0.6, y 180)
    assert [e.track_id for e in events] == [1] and events[0].key_times[2] == pytest.approx(0.6)
    events += rule.update(_rider(2, 380, 1.6, 10, vy=20.0))  # 200 px/s: at y 380 one second later
    assert [e.track_id for e in events] == [1] and rule.stitched == 1
