"""geometry: DirectedLine (normal, depth, span, crossing), point_in_polygon, angle_deg, unit."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.geometry import DirectedLine, angle_deg, point_in_polygon, unit  # noqa: E402

# A horizontal line y = 100 from x = 0 to x = 200; whether "into the junction" is up or down
# depends only on the side the entering vector points to, never on its exact angle or length.
A, B = (0.0, 100.0), (200.0, 100.0)


# -- normal / depth ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "a, b, entering, normal",
    [
        (A, B, (0, -1), (0.0, -1.0)),
        (A, B, (0, 1), (0.0, 1.0)),
        (A, B, (0.3, -5), (0.0, -1.0)),  # oblique, long: only the side matters
        (A, B, (-0.9, 0.2), (0.0, 1.0)),  # mostly along the line, slightly down
        (B, A, (0, -1), (0.0, -1.0)),  # end points swapped: same side
        ((50, 0), (50, 300), (1, 0), (1.0, 0.0)),  # vertical line, entering to the right
        ((50, 0), (50, 300), (-2, 7), (-1.0, 0.0)),
        ((0, 0), (100, 100), (1, -1), (math.sqrt(0.5), -math.sqrt(0.5))),  # diagonal
        ((0, 0), (100, 100), (-1, 3), (-math.sqrt(0.5), math.sqrt(0.5))),
    ],
    ids=[
        "up",
        "down",
        "oblique-up",
        "grazing-down",
        "swapped-ends",
        "vertical-right",
        "vertical-left",
        "diagonal-upright",
        "diagonal-downleft",
    ],
)
def test_normal_points_to_the_entering_side_and_is_unit(a, b, entering, normal):
    line = DirectedLine(a, b, entering)
    assert line.normal == pytest.approx(normal, abs=1e-12)
    assert math.hypot(*line.normal) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "entering, point, depth",
    [
        ((0, -1), (50, 90), 10.0),  # above the line, entering up: beyond by 10
        ((0, -1), (50, 130), -30.0),  # below: still before the line
        ((0, 1), (50, 90), -10.0),  # same point, entering down: before
        ((0, 1), (50, 130), 30.0),
        ((0, -1), (500, 100), 0.0),  # on the infinite line, far past the end: depth 0
        ((0.5, -3), (-40, 75), 25.0),  # oblique entering vector changes only the sign choice
    ],
    ids=["up-beyond", "up-before", "down-before", "down-beyond", "on-line-outside-ends", "oblique"],
)
def test_depth_is_signed_distance_beyond_the_line(entering, point, depth):
    assert DirectedLine(A, B, entering).depth(point) == pytest.approx(depth)


@pytest.mark.parametrize(
    "point, span",
    [((0, 50), 0.0), ((200, 150), 1.0), ((50, 100), 0.25), ((-20, 0), -0.1), ((260, 5), 1.3)],
    ids=["a", "b", "quarter", "before-a", "past-b"],
)
def test_span_is_projection_along_the_line(point, span):
    assert DirectedLine(A, B, (0, -1)).span(point) == pytest.approx(span)


# -- crossing ------------------------------------------------------------------------------------
UP = DirectedLine(A, B, (0, -1))  # road users travel up the picture into the junction


@pytest.mark.parametrize(
    "p, q, slack, expected",
    [
        ((100, 110), (100, 90), 0.0, 0.5),  # straight pass, halfway
        ((100, 104), (100, 96), 0.0, 0.5),  # small step at 30 fps
        ((100, 180), (100, 20), 0.0, 0.5),  # a jump of 160 px over the line between two observations
        ((100, 190), (100, 90), 0.0, 0.9),  # the crossing fraction is interpolated, not rounded
        ((20, 140), (180, 60), 0.0, 0.5),  # diagonal path
        ((100, 105), (100, 100), 0.0, 1.0),  # touching exactly: reaches the line at q
        ((100, 100), (100, 90), 0.0, None),  # starts on the line: it was already there, no new passage
        ((100, 90), (100, 110), 0.0, None),  # backwards (leaving the junction)
        ((100, 90), (100, 80), 0.0, None),  # stays beyond
        ((100, 120), (100, 101), 0.0, None),  # stays before
        ((100, 110), (100, 110), 0.0, None),  # no motion
        ((-10, 110), (-10, 90), 0.0, None),  # passes 10 px left of the line's end
        ((-10, 110), (-10, 90), 12.0, 0.5),  # ... caught with 12 px slack
        ((-13, 110), (-13, 90), 12.0, None),  # ... but not 13 px beyond the end
        ((209, 110), (209, 90), 12.0, 0.5),  # slack works at the other end too
        ((215, 110), (215, 90), 12.0, None),
        ((0, 110), (0, 90), 0.0, 0.5),  # exactly at the end point, no slack needed
        ((-60, 120), (20, 80), 0.0, None),  # diagonal: the path meets y=100 at x=-20, outside the ends
        ((-60, 120), (20, 80), 25.0, 0.5),
    ],
    ids=[
        "straight",
        "small-step",
        "jump-over",
        "interpolated",
        "diagonal",
        "touching",
        "starts-on-line",
        "backwards",
        "beyond-both",
        "before-both",
        "still",
        "outside-end",
        "outside-end-slack",
        "beyond-slack",
        "far-end-slack",
        "far-end-beyond-slack",
        "at-end-point",
        "diagonal-outside",
        "diagonal-outside-slack",
    ],
)
def test_crossing(p, q, slack, expected):
    s = UP.crossing(p, q, slack=slack)
    if expected is None:
        assert s is None
    else:
        assert s == pytest.approx(expected)


def test_crossing_fraction_lands_on_the_line():
    line = DirectedLine((10, 300), (400, 120), (1, 1))  # slanted line, entering down-right
    p, q = (100, 100), (400, 400)
    s = line.crossing(p, q)
    assert s is not None and 0 < s < 1
    x = (p[0] + s * (q[0] - p[0]), p[1] + s * (q[1] - p[1]))
    assert line.depth(x) == pytest.approx(0.0, abs=1e-9)
    assert line.crossing(q, p) is None  # the reverse path leaves the junction


# -- point_in_polygon ----------------------------------------------------------------------------
SQUARE = [(0, 0), (10, 0), (10, 10), (0, 10)]
# A "U": the notch between x = 4..6 from y = 0 to y = 7 is outside.
U_SHAPE = [(0, 0), (4, 0), (4, 7), (6, 7), (6, 0), (10, 0), (10, 10), (0, 10)]
TRIANGLE = [(0, 0), (10, 0), (5, 8)]


@pytest.mark.parametrize(
    "poly, p, inside",
    [
        (SQUARE, (5, 5), True),
        (SQUARE, (11, 5), False),
        (SQUARE, (-0.001, 5), False),
        (SQUARE, (0, 5), True),  # left edge
        (SQUARE, (10, 5), True),  # right edge (the ray-cast alone would say outside)
        (SQUARE, (5, 10), True),  # top edge
        (SQUARE, (5, 0), True),  # bottom edge
        (SQUARE, (10, 10), True),  # corner
        (SQUARE, (0, 0), True),
        (SQUARE, (10.001, 10), False),
        (list(reversed(SQUARE)), (5, 5), True),  # orientation does not matter
        (U_SHAPE, (5, 3), False),  # in the notch of the concave polygon
        (U_SHAPE, (5, 8), True),  # above the notch
        (U_SHAPE, (2, 3), True),  # left arm
        (U_SHAPE, (8, 3), True),  # right arm
        (U_SHAPE, (5, 7), True),  # on the notch's bottom edge
        (U_SHAPE, (4, 3), True),  # on the notch's side edge
        (U_SHAPE, (2, 7), True),  # ray passes through the notch vertices' height
        (U_SHAPE, (-1, 7), False),
        (TRIANGLE, (5, 4), True),
        (TRIANGLE, (1, 7), False),
        (TRIANGLE, (2.5, 4), True),  # on the slanted edge
        (TRIANGLE, (5, 8), True),  # apex
        (TRIANGLE, (5, 8.01), False),
    ],
    ids=[
        "sq-in",
        "sq-out",
        "sq-just-out",
        "sq-left-edge",
        "sq-right-edge",
        "sq-top-edge",
        "sq-bottom-edge",
        "sq-corner",
        "sq-origin",
        "sq-just-past-corner",
        "sq-reversed",
        "u-notch",
        "u-above-notch",
        "u-left-arm",
        "u-right-arm",
        "u-notch-bottom-edge",
        "u-notch-side-edge",
        "u-vertex-height",
        "u-left-outside-vertex-height",
        "tri-in",
        "tri-out",
        "tri-slanted-edge",
        "tri-apex",
        "tri-above-apex",
    ],
)
def test_point_in_polygon(poly, p, inside):
    assert point_in_polygon(p, poly) is inside


# -- angle_deg / unit ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "a, b, deg",
    [
        ((1, 0), (1, 0), 0.0),
        ((1, 0), (0, 1), 90.0),
        ((1, 0), (0, -1), 90.0),  # unsigned
        ((1, 0), (-1, 0), 180.0),
        ((0, -1), (1, 1), 135.0),
        ((3, 0), (0.5, 0.5), 45.0),  # lengths do not matter
        ((1, 0), (math.cos(math.radians(121)), math.sin(math.radians(121))), 121.0),
        ((1e-3, 0), (-2e-3, 0), 180.0),
        ((0, 0), (1, 0), 0.0),  # zero vector: defined as 0, never raises
        ((1, 0), (0, 0), 0.0),
    ],
    ids=["same", "perp", "perp-neg", "opposite", "135", "scale-free", "121", "tiny", "zero-a", "zero-b"],
)
def test_angle_deg(a, b, deg):
    assert angle_deg(a, b) == pytest.approx(deg, abs=1e-6)


def test_angle_deg_is_symmetric_and_clamped():
    # nearly parallel vectors whose cosine rounds above 1 must not raise a math domain error
    a, b = (0.1, 0.7), (0.1 * 3, 0.7 * 3)
    assert angle_deg(a, b) == pytest.approx(0.0, abs=1e-6)
    assert angle_deg((2, 5), (-3, 1)) == pytest.approx(angle_deg((-3, 1), (2, 5)))


@pytest.mark.parametrize("v, u", [((3, 4), (0.6, 0.8)), ((0, -2), (0.0, -1.0))], ids=["3-4-5", "axis"])
def test_unit(v, u):
    assert unit(v) == pytest.approx(u)


def test_unit_rejects_zero_vector():
    with pytest.raises(ValueError):
        unit((0.0, 0.0))
