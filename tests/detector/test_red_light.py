"""rules.red_light.RedLightRule on scripted TrackPoint paths and a fake signal lookup.

Crossing (640 x 480): stop line y = 240 from x = 40 to x = 600, road users enter the junction
moving up the picture. Three lanes meet the line: `through` (x < 300, inherits the stop line's
signal `main`), `free` (300..450, `signal: null`, exempt) and `arrow` (450..600, its own signal).
Boxes are 30 x 60, so a passage is decided 24 px beyond the line (0.4 box heights).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.config import parse_crossing  # noqa: E402
from detector.rules.red_light import RedLightRule  # noqa: E402
from detector.types import SignalReading, SignalState, TrackPoint, ViolationType  # noqa: E402

R, G, Y, U = SignalState.RED, SignalState.GREEN, SignalState.YELLOW, SignalState.UNKNOWN
W, H = 640, 480
LINE_Y = 240

CROSSING = parse_crossing(
    {
        "id": "test-junction",
        "name": "test",
        "frame_size": [W, H],
        "signals": [
            {"id": "main", "lamps": {"red": [620, 5, 10, 10]}},
            {"id": "arrow", "lamps": {"red": [620, 25, 10, 10]}},
        ],
        "stop_lines": [
            {"id": "stop-1", "points": [[40, LINE_Y], [600, LINE_Y]], "entering": [0, -1], "signal": "main"}
        ],
        "lanes": [
            {"id": "through", "polygon": [[40, 100], [300, 100], [300, 400], [40, 400]], "direction": [0, -1]},
            {
                "id": "free",
                "polygon": [[300, 100], [450, 100], [450, 400], [300, 400]],
                "direction": [0, -1],
                "signal": None,
            },
            {
                "id": "arrow",
                "polygon": [[450, 100], [600, 100], [600, 400], [450, 400]],
                "direction": [0, -1],
                "signal": "arrow",
            },
        ],
    }
)

# main: GREEN 0-8 s, YELLOW 8-10 s, RED 10-30 s, GREEN from 30 s.  arrow: GREEN until 20 s, then RED.
# Any other signal id: UNKNOWN.
PHASES = {"main": [(0.0, G), (8.0, Y), (10.0, R), (30.0, G)], "arrow": [(0.0, G), (20.0, R)]}


def fake_signals(signal_id: str, t: float) -> SignalReading:
    state, onset = U, 0.0
    for start, st in PHASES.get(signal_id, []):
        if t >= start:
            state, onset = st, start
    return SignalReading(signal_id, state, max(0.0, t - onset) if state is not U else 0.0, "fake")


def box(cx: float, bottom: float, w: float = 30, h: float = 60) -> tuple[float, float, float, float]:
    """Box with bottom-centre (cx, bottom), clipped to the frame like a detector's."""
    return (max(0.0, cx - w / 2), max(0.0, bottom - h), min(float(W), cx + w / 2), min(float(H), bottom))


def track(tid: int, samples, cls: str = "motorcycle", fps: float = 10.0) -> list[TrackPoint]:
    """samples: (t, cx, bottom_y)"""
    return [TrackPoint(tid, round(t, 6), round(t * fps), box(x, y), cls) for t, x, y in samples]


def line_path(t0: float, x: float, ys: list[float], dt: float = 0.1):
    return [(t0 + i * dt, x, y) for i, y in enumerate(ys)]


def up(y0: float, y1: float, step: float = 10.0) -> list[float]:
    """y values from y0 towards y1 (inclusive when on the grid), step px per observation."""
    n = int(round(abs(y1 - y0) / step))
    sign = -1 if y1 < y0 else 1
    return [y0 + sign * step * i for i in range(n + 1)]


def run(points: list[TrackPoint], crossing=CROSSING, forget: list[int] | None = None, **kw):
    """Feeds the points frame by frame (one update per time, like the pipeline), then forgets."""
    rule = RedLightRule(crossing, fake_signals, **kw)
    events, crossings = [], []
    by_time: dict[float, list[TrackPoint]] = {}
    for p in points:
        by_time.setdefault(p.t, []).append(p)
    for t in sorted(by_time):  # one update per frame, like the pipeline
        ev, cr = rule.update(sorted(by_time[t], key=lambda p: p.track_id))
        events += ev
        crossings += cr
    if forget:
        ev, cr = rule.forget(forget)
        events += ev
        crossings += cr
    return events, crossings


# -- scenarios -----------------------------------------------------------------------------------
FLICKER = [245, 235] * 10  # bottom edge jumping +-5 px around the line, 2 s at 10 fps

SCENARIOS = {
    # name: (points, forget, expected events, expected counted crossings)
    "violation-on-red": (track(1, line_path(12.0, 150, up(303, 153))), None, 1, 1),
    "crossing-on-green": (track(1, line_path(2.0, 150, up(303, 153))), None, 0, 1),
    "crossing-on-yellow": (track(1, line_path(8.0, 150, up(303, 153))), None, 0, 1),
    "within-grace-after-red-onset": (track(1, line_path(9.9, 150, up(273, 153))), None, 0, 1),  # crosses at 10.23
    "just-after-grace": (track(1, line_path(10.2, 150, up(273, 153))), None, 1, 1),  # crosses at 10.53
    "stops-over-the-line": (track(1, line_path(12.0, 150, up(300, 230) + [230] * 50)), None, 0, 0),
    "stops-just-short-of-confirm-depth": (track(1, line_path(12.0, 150, up(300, 220) + [218] * 50)), None, 0, 0),
    "flicker-wait-behind-go-on-green": (
        track(1, line_path(11.0, 150, up(305, 245) + FLICKER + [245] * 170 + up(245, 150))),
        None,
        0,
        1,
    ),
    "flicker-wait-over-go-on-green": (
        track(1, line_path(11.0, 150, up(305, 245) + FLICKER + [235] * 170 + up(235, 145))),
        None,
        0,
        1,
    ),
    "flicker-then-go-on-red": (track(1, line_path(11.0, 150, up(305, 245) + FLICKER + up(235, 145))), None, 1, 1),
    "jump-over-the-line": (track(1, [(12.0, 150, 260), (12.5, 150, 200), (13.0, 150, 140)], fps=2), None, 1, 1),
    "exempt-lane-signal-null": (track(1, line_path(12.0, 375, up(303, 153))), None, 0, 1),
    "arrow-lane-green": (track(1, line_path(12.0, 520, up(303, 153))), None, 0, 1),
    "arrow-lane-red": (track(1, line_path(25.0, 520, up(303, 153))), None, 1, 1),
    "against-entering-direction": (track(1, line_path(12.0, 150, up(153, 303))), None, 0, 0),
    "crosses-twice": (track(1, line_path(12.0, 150, up(303, 193) + up(193, 293) + up(293, 153))), None, 1, 1),
    "green-when-in-junction": (track(1, line_path(29.2, 150, up(303, 153))), None, 0, 1),  # line 29.83, deep 30.1
    "outside-the-line-ends": (track(1, line_path(12.0, 625, up(303, 153))), None, 0, 0),
    "inside-the-slack": (track(1, line_path(12.0, 608, up(303, 153))), None, 1, 1),
    "starts-beyond-the-line": (track(1, line_path(12.0, 150, up(230, 100))), None, 0, 0),
    "two-road-users": (
        track(1, line_path(12.0, 150, up(303, 153))) + track(2, line_path(12.0, 250, up(353, 153))),
        None,
        2,
        2,
    ),
    "red-and-green-road-users": (
        track(1, line_path(12.0, 150, up(303, 153))) + track(2, line_path(32.0, 250, up(303, 153))),
        None,
        1,
        2,
    ),
    # the road user crosses, is not yet 24 px beyond and leaves the picture at the top edge
    "lost-at-frame-edge": None,  # filled below (needs a line near the top)
    "lost-inside-the-picture": (track(1, line_path(12.0, 150, up(300, 230))), [1], 0, 0),
    "lost-behind-the-line-at-edge": (track(1, [(12.0, 3, 300), (12.1, 3, 290)]), [1], 0, 0),
}

TOP = parse_crossing(
    {
        "id": "top",
        "name": "line near the top",
        "frame_size": [W, H],
        "signals": [{"id": "main", "lamps": {"red": [620, 5, 10, 10]}}],
        "stop_lines": [{"id": "stop-top", "points": [[0, 40], [W, 40]], "entering": [0, -1], "signal": "main"}],
    }
)
SCENARIOS["lost-at-frame-edge"] = (track(1, line_path(12.0, 150, [80, 70, 60, 50, 44, 36])), [1], 1, 1)
TOP_SCENARIOS = {"lost-at-frame-edge", "lost-at-frame-edge-on-green"}
SCENARIOS["lost-at-frame-edge-on-green"] = (track(1, line_path(2.0, 150, [80, 70, 60, 50, 44, 36])), [1], 0, 1)


# A rider waiting 10 px behind the line: the bike gets hidden and the box shrinks to the person, whose
# bottom edge lands beyond the line while the helmet (box top) stays where it was.
_WAITING = [(12.0 + i / 10, (135.0, 190.0, 165.0, 250.0)) for i in range(10)]
_OCCLUDED = [(13.0 + i / 10, (137.0, 190.0, 163.0, 205.0)) for i in range(5)]  # 35 px beyond, height 15
SCENARIOS["occlusion-bottom-edge-jump"] = (
    [
        TrackPoint(1, round(t, 6), round(t * 10), b, "motorcycle")
        for t, b in _WAITING + _OCCLUDED + [(13.5 + i / 10, (135.0, 190.0, 165.0, 250.0)) for i in range(10)]
    ],
    None,
    0,
    0,
)

# A slanted stop line (y = 300 at x = 40 down to y = 180 at x = 600), entering up the picture.
SLANTED = parse_crossing(
    {
        "id": "slanted",
        "name": "slanted",
        "frame_size": [W, H],
        "signals": [{"id": "main", "lamps": {"red": [620, 5, 10, 10]}}],
        "stop_lines": [{"id": "s", "points": [[40, 300], [600, 180]], "entering": [0, -1], "signal": "main"}],
    }
)
SLANTED_SCENARIOS = {"cross-traffic-over-slanted-line", "entering-over-slanted-line"}
# moving left along y = 250 passes the slanted line (at x = 273) from its near side to its far side
SCENARIOS["cross-traffic-over-slanted-line"] = (
    track(1, [(12.0 + i / 10, 500 - 10 * i, 250) for i in range(45)]),
    None,
    0,
    0,
)
SCENARIOS["entering-over-slanted-line"] = (track(1, line_path(12.0, 273, up(300, 150))), None, 1, 1)


@pytest.mark.parametrize("name", list(SCENARIOS), ids=list(SCENARIOS))
def test_red_light_scenarios(name):
    points, forget, n_events, n_crossings = SCENARIOS[name]
    crossing = TOP if name in TOP_SCENARIOS else SLANTED if name in SLANTED_SCENARIOS else CROSSING
    events, crossings = run(points, crossing, forget)
    assert (len(events), len(crossings)) == (n_events, n_crossings)
    assert len({(e.track_id, e.stop_line) for e in events}) == len(events)  # one decision per road user and line


# -- event fields --------------------------------------------------------------------------------
def test_violation_event_fields():
    pts = track(7, line_path(12.0, 150, up(303, 153)))  # y=243 at 12.6, 233 at 12.7: crosses at 12.63
    events, crossings = run(pts)
    (e,) = events
    assert e.type is ViolationType.RED_LIGHT
    assert e.track_id == 7 and e.class_name == "motorcycle"
    assert e.t == pytest.approx(12.63)
    assert e.frame == 126  # nearest observation to 12.63
    assert e.box == pytest.approx(box(150, 240))  # interpolated to the moment the bottom edge met the line
    assert (e.lane, e.stop_line, e.signal_id) == ("through", "stop-1", "main")
    assert e.signal is R and e.signal_source == "fake"
    assert e.since_red_s == pytest.approx(2.63)
    before, past, junction = e.key_times
    assert before == pytest.approx(12.6) and past == pytest.approx(12.7)
    assert junction == pytest.approx(13.2)  # first observation 0.8 box heights (48 px) beyond the line (y=183)
    assert before < e.t < past <= junction
    assert [t for t, _ in e.path] == pytest.approx([12.0 + i / 10 for i in range(13)])  # path up to the decision
    (c,) = crossings
    assert (c.stop_line, c.track_id, c.class_name, c.frame) == ("stop-1", 7, "motorcycle", 126)
    assert c.t == pytest.approx(12.63)
    assert e.key == "red_light-7-126"


def test_jump_over_the_line_interpolates_time_between_observations():
    pts = track(3, [(12.0, 150, 260), (12.5, 150, 200), (13.0, 150, 140)], fps=2)
    (e,), _ = run(pts)
    # depth -20 at 12.0, +40 at 12.5: the line is a third of the way
    assert e.t == pytest.approx(12.0 + 0.5 / 3, abs=1e-3)
    assert 12.0 < e.t < 12.5
    assert e.key_times == pytest.approx((12.0, 12.5, 13.0))  # 12.5 is only 29 px past: decided at 13.0
    assert e.box == pytest.approx(box(150, 240), abs=0.1)
    assert e.frame == pts[0].frame  # closer to the first observation
    assert e.since_red_s == pytest.approx(2.167, abs=1e-3)


def test_flicker_then_go_on_red_uses_the_last_passage():
    pts = track(1, line_path(11.0, 150, up(305, 245) + FLICKER + up(235, 145)))
    (e,), (c,) = run(pts)
    # the last upward passage through the line is from 245 (t=13.5) to 235 (t=13.6)
    assert e.t == pytest.approx(13.55)
    assert c.t == pytest.approx(13.55)
    assert e.key_times[:2] == pytest.approx((13.5, 13.6))


@pytest.mark.parametrize(
    "x, lane, signal_id",
    [(150, "through", "main"), (520, "arrow", "arrow"), (20, None, "main")],
    ids=["through", "arrow", "no-lane"],
)
def test_lane_and_signal_on_event(x, lane, signal_id):
    # main red since 10, arrow red since 20; at t = 25 both are red
    crossing = parse_crossing(
        {
            **CROSSING.model_dump(exclude_unset=True),
            "stop_lines": [
                {"id": "stop-1", "points": [[0, LINE_Y], [600, LINE_Y]], "entering": [0, -1], "signal": "main"}
            ],
        }
    )
    (e,), _ = run(track(1, line_path(25.0, x, up(303, 153))), crossing)
    assert (e.lane, e.signal_id) == (lane, signal_id)
    assert e.since_red_s == pytest.approx(25.63 - (10.0 if signal_id == "main" else 20.0))


def test_unsignalised_stop_line_counts_only():
    crossing = parse_crossing(
        {
            "id": "plain",
            "name": "plain",
            "frame_size": [W, H],
            "stop_lines": [{"id": "s", "points": [[0, LINE_Y], [W, LINE_Y]], "entering": [0, -1]}],
        }
    )
    events, crossings = run(track(1, line_path(12.0, 150, up(303, 153))), crossing)
    assert events == [] and len(crossings) == 1


def test_unknown_signal_state_is_not_a_violation():
    crossing = parse_crossing(
        {
            "id": "u",
            "name": "u",
            "frame_size": [W, H],
            "signals": [{"id": "side", "lamps": {"red": [620, 5, 10, 10]}}],
            "stop_lines": [{"id": "s", "points": [[0, LINE_Y], [W, LINE_Y]], "entering": [0, -1], "signal": "side"}],
        }
    )
    events, crossings = run(track(1, line_path(12.0, 150, up(303, 153))), crossing)
    assert events == [] and len(crossings) == 1


def test_two_stop_lines_one_decision_each():
    crossing = parse_crossing(
        {
            "id": "two",
            "name": "two lines",
            "frame_size": [W, H],
            "signals": [{"id": "main", "lamps": {"red": [620, 5, 10, 10]}}],
            "stop_lines": [
                {"id": "near", "points": [[0, 300], [W, 300]], "entering": [0, -1], "signal": "main"},
                {"id": "far", "points": [[0, 200], [W, 200]], "entering": [0, -1], "signal": "main"},
            ],
        }
    )
    events, crossings = run(track(1, line_path(12.0, 150, up(353, 103))), crossing)
    assert sorted(e.stop_line for e in events) == ["far", "near"]
    assert sorted(c.stop_line for c in crossings) == ["far", "near"]


# -- the frame edge ------------------------------------------------------------------------------
def _edge_crossing(line_end_x: float):
    return parse_crossing(
        {
            "id": "edge",
            "name": "edge",
            "frame_size": [W, H],
            "signals": [{"id": "main", "lamps": {"red": [620, 5, 10, 10]}}],
            "stop_lines": [
                {"id": "s", "points": [[300, LINE_Y], [line_end_x, LINE_Y]], "entering": [0, -1], "signal": "main"}
            ],
        }
    )


@pytest.mark.parametrize(
    "line_end_x, anchor_x, slack_px, n_events",
    [
        (W, W - 3, 12.0, 1),  # the line ends at the frame edge
        (W - 8, W - 3, 12.0, 1),  # drawn 8 px short of the edge: 5 px beyond its end, caught thanks to the slack
        (W - 8, W - 3, 0.0, 0),  # ... which is what catches it
        (W - 20, W - 3, 12.0, 0),  # 17 px beyond the end: outside the slack
    ],
    ids=["line-to-edge", "line-short-of-edge", "no-slack", "beyond-slack"],
)
def test_line_near_the_frame_edge(line_end_x, anchor_x, slack_px, n_events):
    # a narrow box touching the right frame edge, bottom-centre at x = anchor_x
    pts = [
        TrackPoint(1, round(t, 6), round(t * 10), (anchor_x - 3, y - 60, anchor_x + 3, y), "motorcycle")
        for t, y in ((12.0 + i / 10, y) for i, y in enumerate(up(303, 153)))
    ]
    assert pts[0].anchor[0] == anchor_x and pts[0].box[2] == W
    events, crossings = run(pts, _edge_crossing(line_end_x), slack_px=slack_px)
    assert (len(events), len(crossings)) == (n_events, n_events)


def test_forget_decides_at_the_frame_edge_with_the_last_observation():
    pts = track(4, line_path(12.0, 150, [80, 70, 60, 50, 44, 36]))
    rule = RedLightRule(TOP, fake_signals)
    for p in pts:
        ev, cr = rule.update([p])
        assert ev == [] and cr == []  # only 4 px beyond the line: not decided while visible
    events, crossings = rule.forget([4])
    (e,) = events
    assert e.t == pytest.approx(12.4 + 0.1 * 4 / 8)  # 44 -> 36 crosses y = 40 halfway
    assert e.key_times[2] == pytest.approx(12.5)
    assert len(crossings) == 1
    assert rule.forget([4]) == ([], [])  # memory is gone


def test_forget_unknown_track_is_harmless():
    assert RedLightRule(CROSSING, fake_signals).forget([99]) == ([], [])


def test_rule_memory_is_freed_on_forget():
    rule = RedLightRule(CROSSING, fake_signals)
    for p in track(1, line_path(2.0, 150, up(303, 153))) + track(2, line_path(2.0, 250, up(303, 293))):
        rule.update([p])
    rule.forget([1, 2])
    assert rule._mem == {}


def test_grace_s_comes_from_the_crossing():
    strict = parse_crossing({**CROSSING.model_dump(exclude_unset=True), "grace_s": 0.0})
    lenient = parse_crossing({**CROSSING.model_dump(exclude_unset=True), "grace_s": 3.0})
    pts = track(1, line_path(10.0, 150, up(273, 153)))  # crosses at 10.33: red for 0.33 s
    assert len(run(pts, strict)[0]) == 1
    assert len(run(pts, CROSSING)[0]) == 0
    pts = track(1, line_path(12.0, 150, up(303, 153)))  # red for 2.63 s
    assert len(run(pts, lenient)[0]) == 0


FULL_WIDTH = parse_crossing(
    {
        "id": "full",
        "name": "line across the picture",
        "frame_size": [W, H],
        "signals": [{"id": "main", "lamps": {"red": [620, 5, 10, 10]}}],
        "stop_lines": [{"id": "s", "points": [[0, LINE_Y], [W, LINE_Y]], "entering": [0, -1], "signal": "main"}],
    }
)


@pytest.mark.parametrize("x1, x2", [(0.0, 20.0), (W - 20.0, float(W))], ids=["left-edge", "right-edge"])
def test_stopped_over_the_line_at_the_side_edge_is_not_decided_on_forget(x1, x2):
    ys = up(300, 230) + [230] * 20  # crosses at 12.6 on red, then waits 10 px over the line (needs 24)
    pts = [TrackPoint(1, round(12.0 + i / 10, 6), 120 + i, (x1, y - 60, x2, y), "motorcycle") for i, y in enumerate(ys)]
    events, crossings = run(pts, FULL_WIDTH)
    assert (events, crossings) == ([], [])  # not decided while visible: correct
    events, crossings = run(pts, FULL_WIDTH, forget=[1])
    assert events == []  # actual: one RED_LIGHT event at t=12.6
    assert crossings == []


@pytest.mark.parametrize("roi, n_events", [(None, 0), ([0, 100, W, H], 1)], ids=["whole-frame", "roi-top-at-100"])
def test_leaving_the_detection_region_counts_as_leaving_the_picture(roi, n_events):
    """The lost-at-frame-edge case moved 100 px down: with a detection region whose top is at
    y = 100 the road user drove out of the detector's view; without it, it vanished mid-picture."""
    data = {
        "id": "top-roi",
        "name": "line near the region's top",
        "frame_size": [W, H],
        "signals": [{"id": "main", "lamps": {"red": [620, 5, 10, 10]}}],
        "stop_lines": [{"id": "stop", "points": [[0, 140], [W, 140]], "entering": [0, -1], "signal": "main"}],
    }
    if roi is not None:
        data["detection"] = {"roi": roi}
    rule = RedLightRule(parse_crossing(data), fake_signals)
    for p in track(4, line_path(12.0, 150, [180, 170, 160, 150, 144, 136])):
        assert rule.update([p]) == ([], [])
    events, _ = rule.forget([4])
    assert len(events) == n_events
