"""Check that an event's path is one road user: no jump a road user cannot make between two looks.

A track that takes over another road user's box (a waiting rider's track jumping to a rider already
in the junction) leaves a step in its path that is too far for the time between the two looks, or
a box that changes size abruptly. `path_break` finds the first such step; an event whose evidence
times straddle one shows two road users and must not be stored as it is (`check_events` drops it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .types import ViolationEvent

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class IdentityLimits:
    max_speed: float = 30.0  # box heights per second between two looks (~160 km/h for a 1.5 m tall road user)
    slack: float = 0.6  # box heights any step may add (box jitter, the rider/bike merge changing)
    max_accel: float = 20.0  # change of speed (heights per second) per second, beyond the slack
    max_height_ratio: float = 2.5  # box height change between two looks (the rider merging or not: ~1.6)


def _anchor(b: Box) -> tuple[float, float]:
    """Bottom-centre: where the road user touches the road. It stays put when the rider's box is merged
    into the bike's or not (the top and the centre jump with that)."""
    return ((b[0] + b[2]) / 2, b[3])


def _centre(b: Box) -> tuple[float, float]:
    return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)


def _height(a: Box, b: Box) -> float:
    return max(1.0, a[3] - a[1], b[3] - b[1])


def cut_by_edge(b: Box, frame: tuple[int, int] | None, px: float = 2.0) -> bool:
    """The box touches the frame's edge: part of the road user is outside, its box grows or shrinks as it moves."""
    return frame is not None and (b[0] <= px or b[1] <= px or b[2] >= frame[0] - px or b[3] >= frame[1] - px)


def path_break(
    path: Sequence[tuple[float, Box]], limits: IdentityLimits = IdentityLimits(), frame: tuple[int, int] | None = None
) -> float | None:
    """Time of the first step of `path` ((t, box) in time order) that one road user cannot make, else None.

    A step breaks when it moves further than `max_speed` box heights per second (plus `slack`), when its
    speed changes from the previous step's by more than `max_accel` per second allows (plus `slack`:
    a standing rider does not leap) for the bottom-centre and the box's centre alike (a weak box that
    loses only the wheels jolts the bottom, not the centre), or when the box height changes by more than
    `max_height_ratio` (another road user of another size: a track lost near the line and re-found on a
    far one). Speeds are of the bottom-centre; distances are in the larger box height of the step.
    Steps with a box cut by the edge of the `frame` (width, height) are not judged (the box is partial)."""
    prev_v: tuple[float, float] | None = None
    prev_c: tuple[float, float] | None = None
    for (t0, a), (t1, b) in itertools.pairwise(path):
        dt = t1 - t0
        if dt <= 1e-6:
            continue
        if cut_by_edge(a, frame) or cut_by_edge(b, frame):
            prev_v = prev_c = None
            continue
        h = _height(a, b)
        ha, hb = max(1.0, a[3] - a[1]), max(1.0, b[3] - b[1])
        if max(ha / hb, hb / ha) > limits.max_height_ratio:
            return t1
        (ax, ay), (bx, by) = _anchor(a), _anchor(b)
        dx, dy = (bx - ax) / h, (by - ay) / h  # in box heights
        if math.hypot(dx, dy) > limits.max_speed * dt + limits.slack:
            return t1
        v = (dx / dt, dy / dt)
        (acx, acy), (bcx, bcy) = _centre(a), _centre(b)
        vc = ((bcx - acx) / h / dt, (bcy - acy) / h / dt)
        if prev_v is not None and prev_c is not None:
            # heights of unexplained displacement, of the bottom-centre and of the centre: a weak box that loses
            # the bottom of its road user (a wheel in shadow) jolts the bottom alone, another road user moves both
            dv = math.hypot(v[0] - prev_v[0], v[1] - prev_v[1]) * dt
            dvc = math.hypot(vc[0] - prev_c[0], vc[1] - prev_c[1]) * dt
            if min(dv, dvc) > limits.max_accel * dt * dt + limits.slack:
                return t1
        prev_v, prev_c = v, vc
    return None


def same_road_user(
    event: ViolationEvent, limits: IdentityLimits = IdentityLimits(), frame: tuple[int, int] | None = None
) -> bool:
    """The event's path, over the span of its evidence times, has no break."""
    lo, hi = min(event.key_times), max(event.key_times)
    span = [(t, b) for t, b in event.path if lo - 1e-6 <= t <= hi + 1e-6]
    return path_break(span, limits, frame) is None


def check_events(
    events: list[ViolationEvent], frame: tuple[int, int] | None = None, limits: IdentityLimits = IdentityLimits()
) -> tuple[list[ViolationEvent], list[ViolationEvent]]:
    """(kept, dropped): events whose evidence shows one road user, and those whose path jumps."""
    kept: list[ViolationEvent] = []
    dropped: list[ViolationEvent] = []
    for e in events:
        (kept if same_road_user(e, limits, frame) else dropped).append(e)
    return kept, dropped
