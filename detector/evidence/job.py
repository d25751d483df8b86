"""One event's recording: the key pictures, the road user's pictures for its plate, the H.264 clip.

Nothing holds more than a handful of decoded pictures per event: clip frames stream straight into
the encoder.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image

from ..types import ViolationEvent, ViolationType, as_box
from .composite import write_pictures
from .drawing import _draw_box, _even_size, _jpeg, boxed_yuv420
from .files import EvidenceError, EvidenceFile, _commit, _temp_path, _write_bytes_atomic
from .frames import FrameSource, _FrameCache, _Nearest, _Source
from .scene import KEY_FRAME_KINDS

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.stream import VideoStream

    from .recorder import EvidenceRecorder

Box = tuple[float, float, float, float]
DRAW_TOLERANCE_S = 0.25  # clip frames this close to the road user's path get its box
PLATE_FRAMES = 3  # pictures of the road user the plate reader votes over
PLATE_MIN_GAP_S = 0.15


def key_times(event: ViolationEvent) -> tuple[float, ...]:
    t = float(event.t)
    keys = tuple(float(k) for k in event.key_times)
    if all(k == 0.0 for k in keys) and t > 0.0:
        # key times were not filled in: one second before, at, and after the event
        keys = (max(0.0, t - 1.0), t, t + 1.0)
    return keys


@dataclass(slots=True)
class _Clip:
    """An evidence clip open for writing: its container, video stream, first frame's time and time base."""

    out: OutputContainer
    stream: VideoStream
    t0: float
    time_base: Fraction


class _Job:
    """One event being recorded: fed every decoded frame of its window, it keeps the key pictures
    (and the road user's best pictures for the plate reader) and streams the clip."""

    def __init__(
        self,
        rec: EvidenceRecorder,
        event: ViolationEvent,
        rel_dir: str,
        signal_box: Box | None,
        src: _Source | FrameSource,
    ):
        self.rec, self.event, self.signal_box = rec, event, signal_box
        self.rel_dir = _clean_rel_dir(rel_dir)
        self.folder = rec.root.joinpath(*self.rel_dir.parts)
        self.kinds = KEY_FRAME_KINDS[ViolationType(event.type)]
        self.key_times = key_times(event)
        self.path = sorted(((float(pt), as_box(b)) for pt, b in event.path), key=lambda p: p[0])
        self._path_t = [p[0] for p in self.path]
        self.lo, self.hi = rec.window(event)
        self.nearest = [_Nearest(k) for k in self.key_times]
        self.at_event = _Nearest(float(event.t))
        self.plate_frames = [_Nearest(pt) for pt in self._plate_times()] if rec.plate_reader is not None else []
        self.src = src
        self.out_size = _even_size(src.width, src.height)
        self._clip: _Clip | None = None  # the evidence clip being encoded
        self._clip_tmp: Path | None = None
        self._last_pts = -1
        self._n_clip = 0

    def _plate_times(self) -> list[float]:
        """Times of the road user's largest boxes inside the window (at most PLATE_FRAMES, spread
        PLATE_MIN_GAP_S apart): the pictures where a plate is most legible."""
        areas = [(t, (b[2] - b[0]) * (b[3] - b[1])) for t, b in self.path if self.lo <= t <= self.hi]
        samples = areas or [(float(self.event.t), 0.0)]
        samples.sort(key=lambda s: -s[1])
        chosen: list[float] = []
        for t, _ in samples:
            if all(abs(t - c) >= PLATE_MIN_GAP_S for c in chosen):
                chosen.append(t)
            if len(chosen) == PLATE_FRAMES:
                break
        return sorted(chosen)

    # ---- path of the road user
    def box_at(self, t: float) -> Box:
        if not self.path:
            return as_box(self.event.box)
        i = bisect_left(self._path_t, t)
        if i <= 0:
            return self.path[0][1]
        if i >= len(self.path):
            return self.path[-1][1]
        (ta, ba), (tb, bb) = self.path[i - 1], self.path[i]
        a = 0.0 if tb <= ta else (t - ta) / (tb - ta)
        return as_box(p + (q - p) * a for p, q in zip(ba, bb))

    def near_path(self, t: float) -> bool:
        if self.path:
            return self._path_t[0] - DRAW_TOLERANCE_S <= t <= self._path_t[-1] + DRAW_TOLERANCE_S
        return abs(t - float(self.event.t)) <= 1.0

    # ---- streaming
    def feed(self, t: float, cache: _FrameCache) -> None:
        if t >= self.lo - 1.0:
            for n in self.nearest:
                n.offer(t, cache)
            for n in self.plate_frames:
                n.offer(t, cache)
            self.at_event.offer(t, cache)
        if self.lo - 1e-6 <= t <= self.hi + 1e-6:
            self._encode(t, cache)

    def _encode(self, t: float, cache: _FrameCache) -> None:
        clip = self._clip or self._open_clip(t)
        w, h = self.out_size
        base = cache.clip_frame(w, h)  # the clip's size (a wide video is scaled down, never up)
        if self.near_path(t):
            src = cache.frame
            box = self.box_at(t)  # video pixels -> the clip's pixels
            box = (box[0] * w / src.width, box[1] * h / src.height, box[2] * w / src.width, box[3] * h / src.height)
            vf = boxed_yuv420(base, box)
            if vf is None:  # a layout the planes cannot take: draw at the clip's size in RGB
                img = base.to_image()
                _draw_box(img, box)
                vf = av.VideoFrame.from_image(img)
        else:
            vf = base
        if (vf.width, vf.height, vf.format.name) != (w, h, "yuv420p"):
            vf = vf.reformat(width=w, height=h, format="yuv420p")
        pts = int(round((t - clip.t0) / clip.time_base))
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        vf.pts, vf.time_base = pts, clip.time_base
        for packet in clip.stream.encode(vf):
            clip.out.mux(packet)
        self._n_clip += 1

    def _open_clip(self, t_first: float) -> _Clip:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clip_tmp = _temp_path(self.folder, "clip.mp4")
        out = av.open(str(self._clip_tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        out.metadata["comment"] = f"crosswatch evidence {self.event.key}; clip t=0 is video t={t_first:.6f} s"
        # one encoder thread: the clip is written beside the pipeline (frame threads cost ~25 % more CPU on a
        # 1620x720 clip), and the bytes then do not depend on the machine's core count
        st = out.add_stream("libx264", rate=self.src.rate, options={"crf": "23", "preset": "superfast", "threads": "1"})
        st.width, st.height = self.out_size
        st.pix_fmt = "yuv420p"
        tb = self.src.time_base
        self._clip = _Clip(out, st, t_first, tb if tb <= Fraction(1, 1000) else Fraction(1, 90000))
        st.codec_context.time_base = self._clip.time_base
        return self._clip

    # ---- results
    def finish(self) -> list[EvidenceFile]:
        clip, tmp = self._clip, self._clip_tmp
        if clip is None or tmp is None or self._n_clip == 0 or self.at_event.img is None:
            self.abort()
            raise EvidenceError(
                f"no decoded frames near t={self.event.t:.3f} s for event {self.event.key} in {self.src.video} "
                f"(window {self.lo:.3f}..{self.hi:.3f} s)"
            )
        for packet in clip.stream.encode():
            clip.out.mux(packet)
        clip.out.close()
        self._clip = None
        try:
            digest, size = _commit(tmp, self.folder / "clip.mp4")
            self._clip_tmp = None
            clip_file = self._ef("clip", "clip.mp4", digest, size, "video/mp4")
            self.read_plate()
            return write_pictures(self, clip_file)
        finally:
            self.abort()

    def read_plate(self) -> None:
        """Fill `event.plate` from the road user's best pictures (when the recorder has a reader)."""
        reader = self.rec.plate_reader
        if reader is None:
            return
        pictures = []
        for n in self.plate_frames:
            if n.img is not None and n.t is not None:
                bgr = np.asarray(n.img)[:, :, ::-1]
                pictures.append((bgr, self.box_at(n.t)))
        self.event.plate = reader.read_track(pictures)

    def abort(self) -> None:
        if self._clip is not None:
            try:
                self._clip.out.close()
            except Exception:
                pass
            self._clip = None
        if self._clip_tmp is not None:
            self._clip_tmp.unlink(missing_ok=True)
            self._clip_tmp = None
        self.nearest, self.at_event, self.plate_frames = [], _Nearest(0.0), []  # drop pictures

    def _ef(self, kind: str, name: str, digest: str, size: int, mime: str) -> EvidenceFile:
        return EvidenceFile(kind, str(PurePosixPath(*self.rel_dir.parts, name)), digest, size, mime)

    def _save_jpeg(self, kind: str, img: Image.Image, comment: bytes | None = None) -> EvidenceFile:
        name = f"{kind}.jpg"
        digest, size = _write_bytes_atomic(self.folder / name, _jpeg(img, comment))
        return self._ef(kind, name, digest, size, "image/jpeg")


def _clean_rel_dir(rel_dir: str) -> PurePosixPath:
    p = PurePosixPath(str(rel_dir).replace("\\", "/"))
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or p.is_absolute() or ".." in parts or ":" in parts[0]:
        raise ValueError(f"evidence folder must be a relative path inside the root, got {rel_dir!r}")
    return PurePosixPath(*parts)
