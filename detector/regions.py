"""Plan where and at what scale to detect, from the crossing's geometry alone.

The rules only judge road users inside lanes and near stop lines, so the detector only needs to see
those places, and it needs to see them at a scale where a two-wheeler is large enough for the model
(about `MIN_MODEL_PX` pixels tall in the model's input). The size of a two-wheeler at a place is
estimated from the road: a rider and bike stand about `TWO_WHEELER_PER_ROAD` of the width of the
lane (or stop line) at that row of the picture.

The plan is made in the crossing file's own pixel space (`frame_size`, at most `MAX_WORK_SIDE` on its
long side), and frames are decoded straight to that size: a 3240x1440 or an 810x360 copy of a
1620x720 clip gives the model the same inputs as the original (resolution invariance), and a 4K
frame is never converted to a full-size picture. Inside that space the plan has
- `roi`: the region the whole-picture pass looks at: lanes and stop lines, plus the junction beyond
  each stop line (`JUNCTION_HEIGHTS` two-wheeler heights), and
- `tiles`: square crops detected at a larger scale (`letterbox` upscales them to the model input)
  where the whole-picture pass would see two-wheelers smaller than `MIN_MODEL_PX`.
`detection.roi` / `detection.tiles` in the crossing file override the automatic choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import Crossing

MODEL_SIDE = 640  # input side of the fixed-shape model
MIN_MODEL_PX = 40.0  # a two-wheeler should be this tall in the model input
TWO_WHEELER_PER_ROAD = 0.15  # rider + bike height / lane width at the same row (0.11-0.17 on the sample clips)
LANE_MARGIN = (
    0.08  # the region reaches this share of the picture's long side around the lanes (riders enter from outside)
)
JUNCTION_HEIGHTS = 2.5  # how far past a stop line the picture is looked at, in two-wheeler heights
MAX_TILE_SCALE = 3.0  # tiles never upscale more than this (beyond it the picture holds no detail)
MAX_TILES = 6  # at most this many upscaled tiles per frame (cost bound)
MAX_WORK_SIDE = 1920  # the working picture's long side at most (a 4K crossing is worked at 1920 px)
STACK_GAP = 16
STACK_KEEP = 0.95

Box = tuple[int, int, int, int]


class RegionError(ValueError):
    """A crossing whose detection regions leave nothing to detect."""


@dataclass(frozen=True)
class DetectionPlan:
    work_size: tuple[int, int]  # (w, h): frames are decoded to this size; the plan's boxes are in it
    roi: Box  # the whole-picture pass looks only here
    tiles: list[Box]
    roi_scale: float  # model pixels per working pixel in the whole-picture pass
    tile_scale: float  # the same in the tiles (0 when there are none)
    automatic: bool  # False when the crossing file set both roi and tiles


def work_size(frame_size: tuple[int, int], max_side: int = MAX_WORK_SIDE) -> tuple[int, int]:
    """The crossing's pixel space, shrunk to at most `max_side` on its long side (even sizes for the decoder)."""
    w, h = frame_size
    s = min(1.0, max_side / max(w, h))
    return max(2, round(w * s / 2) * 2), max(2, round(h * s / 2) * 2)


def _row_spans(poly: list[tuple[float, float]], y: float) -> list[tuple[float, float]]:
    """The x-intervals where the horizontal line at y is inside the polygon (even-odd)."""
    xs = []
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xs.append(x1 + (y - y1) * (x2 - x1) / (y2 - y1))
    xs.sort()
    return [(xs[i], xs[i + 1]) for i in range(0, len(xs) - 1, 2)]


def road_width(crossing: Crossing, y: float) -> float:
    """Width of the widest lane at row y (pixels), or of a stop line crossing that row; 0 where none."""
    best = 0.0
    for ln in crossing.lanes:
        for a, b in _row_spans(list(ln.polygon), y):
            best = max(best, b - a)
    for sl in crossing.stop_lines:
        (x1, y1), (x2, y2) = sl.points
        length = math.hypot(x2 - x1, y2 - y1)
        if min(y1, y2) - 0.05 * length <= y <= max(y1, y2) + 0.05 * length:
            best = max(best, abs(x2 - x1))
    return best


def two_wheeler_height(crossing: Crossing, y: float) -> float:
    """Expected height (pixels) of a rider on a two-wheeler whose wheels touch row y; 0 off the road."""
    return TWO_WHEELER_PER_ROAD * road_width(crossing, y)


def stack_count(shape: tuple[int, int]) -> int:
    """As `detection.stack_count`: pictures of (h, w) that share one square model input at full scale."""
    h, w = shape
    room = max(h, w) / STACK_KEEP
    return max(1, int((room + STACK_GAP) // (h + STACK_GAP)))


def pass_scale(box: Box) -> float:
    """Model pixels per picture pixel when `box` is detected as one picture (stacked with its peers)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    n = stack_count((h, w))
    return MODEL_SIDE / max(w, n * h + STACK_GAP * (n - 1))


def auto_roi(crossing: Crossing) -> Box:
    """Bounding box of the lanes (with a margin: road users come in from the kerbs) and stop lines, plus
    the junction beyond each stop line."""
    W, H = crossing.frame_size
    pts: list[tuple[float, float]] = []
    m = LANE_MARGIN * max(W, H)
    for ln in crossing.lanes:
        xs, ys = [p[0] for p in ln.polygon], [p[1] for p in ln.polygon]
        pts.extend([(min(xs) - m, min(ys) - m), (max(xs) + m, max(ys) + m)])
    for sl in crossing.stop_lines:
        (x1, y1), (x2, y2) = sl.points
        pts.extend(sl.points)
        reach = JUNCTION_HEIGHTS * TWO_WHEELER_PER_ROAD * math.hypot(x2 - x1, y2 - y1)
        ex, ey = sl.entering
        n = math.hypot(ex, ey)
        dx, dy = ex / n * reach, ey / n * reach
        pts.extend([(x1 + dx, y1 + dy), (x2 + dx, y2 + dy)])
    if not pts:
        return (0, 0, W, H)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    box = (
        max(0, math.floor(min(xs))),
        max(0, math.floor(min(ys))),
        min(W, math.ceil(max(xs))),
        min(H, math.ceil(max(ys))),
    )
    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
        raise RegionError("lanes/stop_lines: the detection region they span is empty (under 8 px)")
    return box


def auto_tiles(crossing: Crossing, roi: Box, roi_scale: float) -> tuple[list[Box], float]:
    """Square tiles over the rows where the whole-picture pass sees two-wheelers under `MIN_MODEL_PX`,
    at the scale that brings them there (capped at `MAX_TILE_SCALE`, at most `MAX_TILES`)."""
    W, H = crossing.frame_size
    x0, y0, x1, y1 = roi
    rows = []
    for y in range(y0, y1, 2):
        h2w = two_wheeler_height(crossing, y)
        if h2w <= 0:
            continue
        need = MIN_MODEL_PX / h2w
        # worth a second look: the pass is clearly too coarse, and an upscale within reach helps
        if need > 1.25 * roi_scale and need <= 1.5 * MAX_TILE_SCALE:
            rows.append((y, need))
    if not rows:
        return [], 0.0
    ya, yb = rows[0][0], rows[-1][0]
    scale = min(MAX_TILE_SCALE, sorted(n for _, n in rows)[len(rows) // 2])
    spans = [s for y, _ in rows for ln in crossing.lanes for s in _row_spans(list(ln.polygon), y)]
    xa = max(x0, math.floor(min(a for a, _ in spans))) if spans else x0
    xb = min(x1, math.ceil(max(b for _, b in spans))) if spans else x1
    # the band grows by one two-wheeler height on every side: wheels on its last row, heads above its
    # first, riders along the kerbs (a box touching a tile's edge is left to the whole-picture pass)
    pad = int(MIN_MODEL_PX / scale)
    ya, yb = max(y0, ya - pad), min(y1, yb + pad)
    xa, xb = max(x0, xa - pad), min(x1, xb + pad)
    while True:
        side = int(MODEL_SIDE / scale)
        overlap = max(int(0.2 * side), pad)
        # a band a little wider (taller) than a tile gets one wider tile, not two nearly equal ones
        nx = 1 if xb - xa <= 1.25 * side else 1 + math.ceil((xb - xa - side) / (side - overlap))
        ny = 1 if yb - ya <= 1.25 * side else 1 + math.ceil((yb - ya - side) / (side - overlap))
        if nx * ny <= MAX_TILES or scale <= roi_scale * 1.25:
            break
        scale /= 1.2
    if scale <= roi_scale * 1.25:
        return [], 0.0
    tw = max(side, xb - xa) if nx == 1 else side
    th = max(side, yb - ya) if ny == 1 else side
    tiles = []
    for j in range(ny):
        # a single tile is centred on its band, inside the frame
        ty = (
            ya + round(j * (yb - ya - side) / (ny - 1))
            if ny > 1
            else int(min(max(0, (ya + yb - th) / 2), max(0, H - th)))
        )
        for i in range(nx):
            tx = (
                xa + round(i * (xb - xa - side) / (nx - 1))
                if nx > 1
                else int(min(max(0, (xa + xb - tw) / 2), max(0, W - tw)))
            )
            tiles.append((tx, ty, min(W, tx + tw), min(H, ty + th)))
    scale = min(scale, MODEL_SIDE / max(tw, th))
    return tiles, round(scale, 3)


def _rounded(box: tuple[float, float, float, float]) -> Box:
    x1, y1, x2, y2 = box
    return round(x1), round(y1), round(x2), round(y2)


def plan_detection(crossing: Crossing) -> DetectionPlan:
    """The detection plan of a crossing, in its working pixel space (see the module docstring)."""
    size = work_size(crossing.frame_size)
    c = crossing.scaled_to(size)
    opts = c.detection
    roi = _rounded(opts.roi) if opts.roi is not None else auto_roi(c)
    r_scale = pass_scale(roi)
    if opts.tiles or "tiles" in opts.model_fields_set:
        tiles = [_rounded(t) for t in opts.tiles]
        t_scale = max((MODEL_SIDE / max(t[2] - t[0], t[3] - t[1]) for t in tiles), default=0.0)
    else:
        tiles, t_scale = auto_tiles(c, roi, r_scale)
    automatic = opts.roi is None or "tiles" not in opts.model_fields_set
    return DetectionPlan(size, roi, tiles, round(r_scale, 3), t_scale, automatic)


def scale_box(box, sx: float, sy: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
