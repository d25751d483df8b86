"""Drawing helpers: boxes (RGB and straight on yuv420p planes), captions, fitting, JPEG encoding."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image, ImageDraw

from .fonts import Fonts, draw_text, text_width

if TYPE_CHECKING:
    from .scene import SceneGeometry

JPEG_QUALITY = 90
CLOSEUP_GROW = 0.40  # box grown by 40 % (20 % on each side)
CLOSEUP_MIN_H = 240
SIGNAL_GROW = 0.5
SIGNAL_MIN_MARGIN = 6
SIGNAL_MIN_H = 160
MAX_CLIP_W = 1920
BOX_COLOUR = (255, 32, 32)
SIGNAL_COLOUR = (255, 220, 0)
STOP_LINE_COLOUR = (255, 255, 255)
LANE_COLOUR = (0, 200, 255)
ARROW_COLOUR = (0, 255, 120)


def _region(box: Sequence[float], grow: float, min_margin: float, w: int, h: int) -> tuple[int, int, int, int] | None:
    """Grow `box` by `grow` (fraction of its size, split over both sides) and at least
    `min_margin` px per side, clip it to the picture; None if it misses the picture."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 < x1:
        x1, x2 = x2, x1
    if y2 < y1:
        y1, y2 = y2, y1
    mx = max((x2 - x1) * grow / 2.0, min_margin)
    my = max((y2 - y1) * grow / 2.0, min_margin)
    a, b, c, d = math.floor(x1 - mx), math.floor(y1 - my), math.ceil(x2 + mx), math.ceil(y2 + my)
    a, b, c, d = max(a, 0), max(b, 0), min(c, w), min(d, h)
    if c - a < 2 or d - b < 2:
        return None
    return a, b, c, d


def _thickness(img: Image.Image) -> int:
    return max(2, round(min(img.size) / 240))


def _draw_box(img: Image.Image, box: Sequence[float], colour=BOX_COLOUR, width: int | None = None) -> None:
    w, h = img.size
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    # clip to the picture so a box partly outside still shows its visible edges
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w - 1), min(y2, h - 1)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return
    ImageDraw.Draw(img).rectangle((x1, y1, x2, y2), outline=colour, width=width or _thickness(img))


def _yuv(rgb: Sequence[int]) -> tuple[int, int, int]:
    """BT.601 limited-range Y, Cb, Cr of an RGB colour (what swscale uses for SD/HD by default)."""
    r, g, b = (c / 255 for c in rgb)
    return (
        round(16 + 65.481 * r + 128.553 * g + 24.966 * b),
        round(128 - 37.797 * r - 74.203 * g + 112.0 * b),
        round(128 + 112.0 * r - 93.786 * g - 18.214 * b),
    )


def _plane_views(frame: av.VideoFrame) -> list[np.ndarray]:
    """(rows, width) uint8 views straight on a frame's planes, without their line padding."""
    views = []
    for p in frame.planes:
        rows = np.frombuffer(memoryview(p), np.uint8, count=p.line_size * p.height).reshape(p.height, p.line_size)
        views.append(rows[:, : p.width])
    return views


def boxed_yuv420(frame: av.VideoFrame, box: Sequence[float], colour=BOX_COLOUR) -> av.VideoFrame | None:
    """A copy of a yuv420p frame with `box` drawn on its planes: no RGB round trip, which for a
    1620x720 clip frame costs more than encoding it, and no packed array either (the planes are
    copied view to view). None when the layout does not allow it (the caller then draws through RGB)."""
    w, h = frame.width, frame.height
    if frame.format.name != "yuv420p" or h % 4 or w % 2:
        return None
    out = av.VideoFrame(w, h, "yuv420p")
    y, u, v = _plane_views(out)
    for dst, src in zip((y, u, v), _plane_views(frame)):
        dst[...] = src
    x1, y1, x2, y2 = (float(c) for c in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    x1, y1, x2, y2 = int(max(x1, 0)) & ~1, int(max(y1, 0)) & ~1, int(min(x2, w - 1)), int(min(y2, h - 1))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return out
    t = max(2, round(min(w, h) / 240))
    t += t % 2  # whole chroma samples
    cy, cu, cv = _yuv(colour)
    for plane, value, s in ((y, cy, 1), (u, cu, 2), (v, cv, 2)):
        a, b, c, d, k = x1 // s, y1 // s, max(x1 // s + 1, x2 // s), max(y1 // s + 1, y2 // s), max(1, t // s)
        plane[b : b + k, a : c + 1] = value
        plane[max(b, d - k + 1) : d + 1, a : c + 1] = value
        plane[b : d + 1, a : a + k] = value
        plane[b : d + 1, max(a, c - k + 1) : c + 1] = value
    return out


def _draw_caption(img: Image.Image, text: str, fonts: Fonts, size: int, xy=(0, 0)) -> None:
    """Text on a dark box at `xy` (top-left), CJK and Latin/Vietnamese runs each in their own font."""
    draw = ImageDraw.Draw(img)
    pad = max(2, size // 4)
    w = text_width(draw, text, fonts, size)
    draw.rectangle((xy[0], xy[1], xy[0] + w + 2 * pad, xy[1] + round(size * 1.3) + 2 * pad), fill=(0, 0, 0))
    draw_text(draw, (xy[0] + pad, xy[1] + pad), text, fonts, size)


def draw_scene(img: Image.Image, scene: SceneGeometry) -> None:
    """The rule's geometry on a full-scene picture: lane outline, its allowed-direction arrow, the stop
    line, the signal head's box (all in the picture's pixels)."""
    draw = ImageDraw.Draw(img)
    t = _thickness(img)
    if scene.lane_polygon:
        pts = [tuple(p) for p in scene.lane_polygon]
        draw.line(pts + pts[:1], fill=LANE_COLOUR, width=max(1, t - 1))
        if scene.lane_direction is not None:
            _draw_arrow(draw, scene.lane_polygon, scene.lane_direction, t)
    if scene.stop_line is not None:
        draw.line([tuple(p) for p in scene.stop_line], fill=STOP_LINE_COLOUR, width=t + 1)
    if scene.signal_box is not None:
        _draw_box(img, scene.signal_box, SIGNAL_COLOUR, max(1, t - 1))


def _draw_arrow(
    draw: ImageDraw.ImageDraw, polygon: Sequence[Sequence[float]], direction: Sequence[float], t: int
) -> None:
    """An arrow in the allowed direction, centred on the lane polygon's centroid."""
    cx = sum(p[0] for p in polygon) / len(polygon)
    cy = sum(p[1] for p in polygon) / len(polygon)
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    length = max(20.0, 0.35 * min(max(xs) - min(xs), max(ys) - min(ys)))
    dx, dy = direction
    n = math.hypot(dx, dy) or 1.0
    dx, dy = dx / n, dy / n
    x0, y0 = cx - dx * length / 2, cy - dy * length / 2
    x1, y1 = cx + dx * length / 2, cy + dy * length / 2
    draw.line((x0, y0, x1, y1), fill=ARROW_COLOUR, width=t * 2)
    head = max(8.0, length * 0.3)
    for side in (1, -1):
        a = math.atan2(dy, dx) + math.pi - side * math.radians(28)
        draw.line((x1, y1, x1 + head * math.cos(a), y1 + head * math.sin(a)), fill=ARROW_COLOUR, width=t * 2)


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    """Scale to fit inside w x h keeping the aspect ratio."""
    s = min(w / img.width, h / img.height)
    size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
    return img.resize(size, Image.Resampling.LANCZOS if s < 1 else Image.Resampling.BICUBIC)


def _jpeg(img: Image.Image, comment: bytes | None = None) -> bytes:
    """`img` as a JPEG of JPEG_QUALITY; `comment` (when given) in its COM marker."""
    buf = io.BytesIO()
    extra = {"comment": comment} if comment is not None else {}
    (img if img.mode == "RGB" else img.convert("RGB")).save(buf, "JPEG", quality=JPEG_QUALITY, **extra)  # no copy
    return buf.getvalue()


def _even_size(w: int, h: int) -> tuple[int, int]:
    if w > MAX_CLIP_W:
        w, h = MAX_CLIP_W, round(h * MAX_CLIP_W / w)
    w -= w % 2
    h -= h % 2
    return max(w, 2), max(h, 2)
