"""The pictures of one event (GA/T 832-2014 style): full-scene pictures with the rule's geometry and a
caption, the close-up, the signal head, the plate crop, and the captioned composite that carries the
anti-forgery code (防伪码) and, in its JPEG comment, the road user's box in each of its scene pictures
(`boxes`).

Scene pictures are at least 1280x720 (a panorama-shaped source only up to 4096 wide) and 24-bit RGB
JPEG; a smaller source is upscaled and the picture says so.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from ..types import ViolationType, as_box
from .boxes import Box, Cell, encode_scene_boxes, scene_box
from .drawing import (
    CLOSEUP_GROW,
    CLOSEUP_MIN_H,
    SIGNAL_GROW,
    SIGNAL_MIN_H,
    SIGNAL_MIN_MARGIN,
    _draw_box,
    _draw_caption,
    _fit,
    _region,
    draw_scene,
)
from .files import EvidenceFile
from .fonts import draw_text, text_width
from .scene import (
    KEY_LABELS,
    TYPE_LABELS,
    SceneGeometry,
    caption_lines,
    code_text,
    format_time,
    plate_text,
    scene_for,
    since_red_text,
)
from .seal import anti_forgery_code, evidence_seal, sealed_fields

if TYPE_CHECKING:
    from .job import _Job

log = logging.getLogger(__name__)

MIN_SCENE_W, MIN_SCENE_H = 1280, 720
MAX_SCENE_W = 4096  # a very wide source is upscaled only this far
PLATE_MIN_H = 96


def _scaled(scene: SceneGeometry, s: float) -> SceneGeometry:
    if s == 1.0:
        return scene

    def pt(p: tuple[float, float]) -> tuple[float, float]:
        return p[0] * s, p[1] * s

    return SceneGeometry(
        stop_line=(pt(scene.stop_line[0]), pt(scene.stop_line[1])) if scene.stop_line else None,
        lane_polygon=tuple(pt(p) for p in scene.lane_polygon) if scene.lane_polygon else None,
        lane_direction=scene.lane_direction,
        signal_box=as_box(v * s for v in scene.signal_box) if scene.signal_box else None,
        lane_name=scene.lane_name,
        heading=scene.heading,
        stop_line_name=scene.stop_line_name,
    )


def scene_picture(
    job: _Job, img: Image.Image, t: float, index: int, kind: str, scene: SceneGeometry
) -> tuple[Image.Image, str | None]:
    """A full-scene picture: upscaled to >= 1280x720 when smaller, the lane + arrow, stop line, signal box
    and the road user's box drawn, and a four-line caption (which picture and when; crossing and direction;
    lane, violation and time since red; plate and code). Returns (picture, upscale note or None)."""
    W, H = img.size
    s = max(1.0, min(max(MIN_SCENE_W / W, MIN_SCENE_H / H), MAX_SCENE_W / W))
    note = None
    if s > 1.0:
        img = img.resize((math.ceil(W * s), math.ceil(H * s)), Image.Resampling.BICUBIC)
        note = f"已放大 upscaled ×{s:.2f} from {W}×{H}"
    else:
        img = img.copy()
    draw_scene(img, _scaled(scene, s))
    _draw_box(img, tuple(v * s for v in job.box_at(t)))
    rec, ev = job.rec, job.event
    fonts = rec.fonts
    size = max(16, round(img.height / 40))
    line1 = f"{index}/3 {KEY_LABELS[kind]} | {format_time(rec.start_time, t)} | {rec.clock_label()}"
    line2 = f"{rec.crossing_name} | 方向 {scene.heading or '—'}"
    line3 = (
        f"车道 {scene.lane_name or '—'} | {TYPE_LABELS[ViolationType(ev.type)]} | "
        f"红灯已亮 since red {since_red_text(ev)}"
    )
    line4 = f"{plate_text(ev)} | {code_text(ev).split('  依据')[0]}" + (f" | {note}" if note else "")
    y = 0
    probe = ImageDraw.Draw(img)
    for line in (line1, line2, line3, line4):
        fs = size
        while fs > 10 and text_width(probe, line, fonts, fs) > img.width - fs:
            fs -= 1
        _draw_caption(img, line, fonts, fs, (0, y))
        y += round(fs * 1.3) + 2 * max(2, fs // 4)
    return (img if img.mode == "RGB" else img.convert("RGB")), note  # img is already this call's own picture


def write_pictures(job: _Job, clip: EvidenceFile) -> list[EvidenceFile]:
    """Save every picture of the event and the composite; with the recorder's evidence key, also its
    anti-forgery code and seal. Returns the files in order: scene pictures, close-up, signal and plate
    (when there are), composite, clip."""
    rec, ev = job.rec, job.event
    if rec.codes is not None:
        ev.code = rec.codes.code_for(ev)
    base, at_t = job.at_event.img, job.at_event.t
    assert base is not None and at_t is not None, "finish() records only an event with a picture"
    W, H = base.size
    scene = scene_for(rec.crossing, ev, (W, H), job.signal_box)
    files: list[EvidenceFile] = []
    frames: list[Image.Image] = []
    moments: list[tuple[Box, tuple[int, int], float]] = []  # the road user's box in each scene picture's frame
    for i, (kind, n) in enumerate(zip(job.kinds, job.nearest), start=1):
        img, t = n.img, n.t
        assert img is not None and t is not None, "every key picture saw the frames the event's did"
        pic, _ = scene_picture(job, img, t, i, kind, scene)
        frames.append(pic)
        moments.append((job.box_at(t), img.size, t))
        files.append(job._save_jpeg(kind, pic))

    box = job.box_at(at_t)  # the event's own box when there is no path
    region = _region(box, CLOSEUP_GROW, 4, W, H)
    if region is None:  # the box misses the picture: show the nearest edge of it
        log.warning("event %s: box %s lies outside the %dx%d picture", ev.key, box, W, H)
        cx = min(max((box[0] + box[2]) / 2, 0), W - 1)
        cy = min(max((box[1] + box[3]) / 2, 0), H - 1)
        region = _region((cx - 16, cy - 16, cx + 16, cy + 16), 0.0, 0, W, H)
    closeup = base.crop(region)
    if closeup.height < CLOSEUP_MIN_H:
        s = CLOSEUP_MIN_H / closeup.height
        closeup = closeup.resize((max(1, round(closeup.width * s)), CLOSEUP_MIN_H), Image.Resampling.LANCZOS)
    files.append(job._save_jpeg("closeup", closeup))

    signal = None
    if job.signal_box is not None:
        sreg = _region(job.signal_box, SIGNAL_GROW, SIGNAL_MIN_MARGIN, W, H)
        if sreg is None:
            log.warning(
                "event %s: signal box %s lies outside the %dx%d picture; no signal crop", ev.key, job.signal_box, W, H
            )
        else:
            signal = base.crop(sreg)
            if signal.height < SIGNAL_MIN_H:
                k = math.ceil(SIGNAL_MIN_H / signal.height)  # whole factor: crisp lamps
                signal = signal.resize((signal.width * k, signal.height * k), Image.Resampling.NEAREST)
            files.append(job._save_jpeg("signal", signal))

    plate = None
    if ev.plate is not None and ev.plate.crop is not None:
        crop = Image.fromarray(ev.plate.crop[:, :, ::-1].copy())
        if crop.height < PLATE_MIN_H:
            s = PLATE_MIN_H / crop.height
            crop = crop.resize((max(1, round(crop.width * s)), PLATE_MIN_H), Image.Resampling.BICUBIC)
        plate = crop
        files.append(job._save_jpeg("plate", plate))

    fields = event_seal_fields(ev)
    if rec.evidence_key is not None:
        hashes = {f.kind: f.sha256 for f in files + [clip]}
        ev.anti_forgery = anti_forgery_code(rec.evidence_key, fields, hashes)
    picture, cells = _composite(job, frames, closeup, signal, plate, scene)
    boxes = [scene_box(cell, box, size, t) for cell, (box, size, t) in zip(cells, moments, strict=True)]
    composite = job._save_jpeg("composite", picture, encode_scene_boxes(boxes))
    files += [composite, clip]
    if rec.evidence_key is not None and ev.anti_forgery is not None:
        ev.evidence_seal = evidence_seal(rec.evidence_key, fields, {f.kind: f.sha256 for f in files}, ev.anti_forgery)
    return files


def event_seal_fields(ev) -> dict:
    return sealed_fields(
        event_key=ev.key,
        type=ev.type,
        track_id=ev.track_id,
        class_name=ev.class_name,
        t=ev.t,
        frame=ev.frame,
        lane=ev.lane,
        stop_line=ev.stop_line,
        signal_state=ev.signal,
        since_red_s=ev.since_red_s,
        plate_text=ev.plate.text if ev.plate is not None else None,
        violation_code=ev.code.code if ev.code is not None else None,
    )


def _composite(
    job: _Job,
    frames: list[Image.Image],
    closeup: Image.Image,
    signal: Image.Image | None,
    plate: Image.Image | None,
    scene: SceneGeometry,
) -> tuple[Image.Image, list[Cell]]:
    """The composite picture and its scene pictures' cells (x, y, w, h), in the order of `frames`."""
    rec, ev = job.rec, job.event
    fonts = rec.fonts
    W, H = frames[0].size
    cw = min(W, 960)
    ch = max(2, round(H * cw / W))
    width = 2 * cw
    fs = max(16, round(width / 70))
    lines = caption_lines(ev, rec.crossing_name, rec.start_time, scene, rec.clock_source)
    line_h = round(fs * 1.45)
    band_h = line_h * len(lines) + fs
    canvas = Image.new("RGB", (width, band_h + 2 * ch), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    y = fs // 2
    for line in lines:
        size = fs
        while size > 10 and text_width(draw, line, fonts, size) > width - fs:
            size -= 1
        draw_text(draw, (fs // 2, y), line, fonts, size)
        y += line_h
    cells: list[Cell] = [(0, band_h, cw, ch), (cw, band_h, cw, ch), (0, band_h + ch, cw, ch)]
    for img, (x, yy, _, _) in zip(frames, cells):
        canvas.paste(img.resize((cw, ch), Image.Resampling.LANCZOS), (x, yy))
    # fourth cell: close-up, signal head, plate
    x0, y0 = cw, band_h + ch
    cfs = max(12, fs * 3 // 4)
    cap_h = round(cfs * 1.6)
    parts = [(closeup, "特写 close-up")]
    if signal is not None:
        parts.append((signal, "信号灯 signal"))
    if plate is not None:
        parts.append((plate, "号牌 plate" + ("" if ev.plate and ev.plate.text else " (未识别 not read)")))
    if signal is None:
        parts[0] = (closeup, "特写 close-up (无信号灯截图 no signal crop)")
    w_each = cw // len(parts)
    for i, (img, label) in enumerate(parts):
        x = x0 + i * w_each
        fitted = _fit(img, max(4, w_each - 8), max(4, ch - cap_h - 8))
        canvas.paste(fitted, (x + (w_each - fitted.width) // 2, y0 + cap_h + (ch - cap_h - fitted.height) // 2))
        _draw_caption(canvas, label, fonts, cfs, (x, y0))
    draw.rectangle((0, band_h, width - 1, band_h + 2 * ch - 1), outline=(90, 90, 90))
    draw.line((cw, band_h, cw, band_h + 2 * ch), fill=(90, 90, 90), width=2)
    draw.line((0, band_h + ch, width, band_h + ch), fill=(90, 90, 90), width=2)
    return canvas, cells[: len(frames)]
