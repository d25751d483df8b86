"""Plane geometry in image pixels: stop lines, lanes, directions. Pure functions, no pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Pt = tuple[float, float]


def unit(v: Sequence[float]) -> Pt:
    n = math.hypot(v[0], v[1])
    if n < 1e-12:
        raise ValueError("zero vector")
    return (v[0] / n, v[1] / n)


def angle_deg(a: Sequence[float], b: Sequence[float]) -> float:
    """Unsigned angle between two vectors, 0..180 degrees."""
    na, nb = math.hypot(*a), math.hypot(*b)
    if na < 1e-12 or nb < 1e-12:
        return 0.0
    c = (a[0] * b[0] + a[1] * b[1]) / (na * nb)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def point_in_polygon(p: Pt, poly: Sequence[Pt]) -> bool:
    """Even-odd rule; points on an edge count as inside."""
    x, y = p
    inside = False
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        if min(y1, y2) <= y <= max(y1, y2) and min(x1, x2) <= x <= max(x1, x2):
            cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
            if abs(cross) <= 1e-9 * max(1.0, math.hypot(x2 - x1, y2 - y1)):
                return True
        if (y1 > y) != (y2 > y):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xi:
                inside = not inside
    return inside


@dataclass(frozen=True)
class DirectedLine:
    """A stop line with the side that means 'into the junction'.

    `depth(p)` is the signed distance of p beyond the line along the entering side (negative =
    still before the line). `span(p)` is where p projects along the line, 0..1 between the ends.
    """

    a: Pt
    b: Pt
    entering: Pt

    @property
    def normal(self) -> Pt:
        dx, dy = self.b[0] - self.a[0], self.b[1] - self.a[1]
        n = unit((-dy, dx))
        if n[0] * self.entering[0] + n[1] * self.entering[1] < 0:
            n = (-n[0], -n[1])
        return n

    @property
    def length(self) -> float:
        return math.hypot(self.b[0] - self.a[0], self.b[1] - self.a[1])

    def depth(self, p: Pt) -> float:
        n = self.normal
        return (p[0] - self.a[0]) * n[0] + (p[1] - self.a[1]) * n[1]

    def span(self, p: Pt) -> float:
        dx, dy = self.b[0] - self.a[0], self.b[1] - self.a[1]
        return ((p[0] - self.a[0]) * dx + (p[1] - self.a[1]) * dy) / (dx * dx + dy * dy)

    def crossing(self, p: Pt, q: Pt, slack: float = 0.0) -> float | None:
        """Fraction s in (0, 1] along p->q where the path passes the line into the junction.

        None when the segment does not pass from before the line (depth < 0) to on/after it
        (depth >= 0), or passes outside the line's ends (`slack` extends both ends, in pixels,
        so lines that end at the frame edge still catch road users at the edge).
        """
        dp, dq = self.depth(p), self.depth(q)
        if not (dp < 0 <= dq):
            return None
        s = dp / (dp - dq)
        x = (p[0] + s * (q[0] - p[0]), p[1] + s * (q[1] - p[1]))
        u = self.span(x)
        pad = slack / max(self.length, 1e-9)
        if -pad <= u <= 1 + pad:
            return s
        return None


def signal_box(crossing, signal_id: str | None) -> tuple[float, float, float, float] | None:
    """The union box (x1, y1, x2, y2) of a signal's lamps (x, y, w, h each): the evidence's signal crop."""
    if signal_id is None:
        return None
    boxes = [b for _, b in crossing.signal(signal_id).lamps.items()]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[0] + b[2] for b in boxes),
        max(b[1] + b[3] for b in boxes),
    )
