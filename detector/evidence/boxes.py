"""Where the road user is in each scene picture of a composite, carried by the composite itself.

The three scene pictures of a composite show three moments; the road user's box at each moment is
known when the composite is drawn (the same box is drawn on the picture). It is written into the
composite JPEG's comment (COM marker) as JSON, in composite pixels, so the file that is hashed and
sealed with the event also carries it: no other file, no database column, and a changed box breaks
the seal like a changed pixel. Composites recorded before this have no such comment
(`read_scene_boxes` returns None) and keep their bytes, hash and seal.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..pictures import open_picture

Box = tuple[float, float, float, float]
Cell = tuple[int, int, int, int]  # x, y, w, h
TAG = "crosswatch.scene_boxes"
VERSION = 1


@dataclass(frozen=True, slots=True)
class SceneBox:
    cell: Cell  # the scene picture's cell in the composite (x, y, w, h), composite pixels
    box: Box  # the road user's box there (x1, y1, x2, y2), composite pixels
    t: float  # video time of the picture, seconds


def scene_box(cell: Cell, frame_box: Box, frame_size: tuple[int, int], t: float) -> SceneBox:
    """The road user's box `frame_box` (pixels of a frame of `frame_size`) in the composite cell
    `cell`, where that frame is shown scaled to the cell."""
    x, y, w, h = cell
    kx, ky = w / frame_size[0], h / frame_size[1]
    b = frame_box
    return SceneBox(cell, (x + b[0] * kx, y + b[1] * ky, x + b[2] * kx, y + b[3] * ky), float(t))


def encode_scene_boxes(boxes: Sequence[SceneBox]) -> bytes:
    """The JPEG comment that carries `boxes` (compact JSON, boxes rounded to 0.01 px)."""
    payload = {
        "tag": TAG,
        "v": VERSION,
        "scenes": [{"cell": list(b.cell), "box": [round(v, 2) for v in b.box], "t": round(b.t, 6)} for b in boxes],
    }
    return json.dumps(payload, separators=(",", ":")).encode("ascii")


def decode_scene_boxes(comment: bytes | str | None) -> list[SceneBox] | None:
    """The boxes of a JPEG comment written by `encode_scene_boxes`; None for any other comment."""
    if comment is None:
        return None
    try:
        payload = json.loads(comment)
        if not isinstance(payload, dict) or payload.get("tag") != TAG or payload.get("v") != VERSION:
            return None
        out = []
        for s in payload["scenes"]:
            cell = tuple(int(v) for v in s["cell"])
            box = tuple(float(v) for v in s["box"])
            if len(cell) != 4 or len(box) != 4 or cell[2] <= 0 or cell[3] <= 0:
                return None
            out.append(SceneBox(cell, box, float(s["t"])))
        return out
    except (ValueError, TypeError, KeyError):
        return None


def read_scene_boxes(jpeg: bytes) -> list[SceneBox] | None:
    """The scene boxes a composite JPEG carries; None when it carries none (older evidence) or is
    not a picture. Reads the header only."""
    try:
        with open_picture(io.BytesIO(jpeg)) as im:
            comment = im.info.get("comment")
    except (OSError, ValueError, SyntaxError):
        return None
    return decode_scene_boxes(comment)
