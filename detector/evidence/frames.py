"""Decoding for evidence: re-read a video file by presentation time (PyAV), or take the frames of a
live stream's ring (`FrameSource`); convert each decoded frame to RGB at most once; keep the frame
nearest a target time.

Times are presentation times in seconds, ``(pts - stream.start_time) * time_base``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
from PIL import Image

from .files import EvidenceError

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Where `EvidenceRecorder.record_frames` gets its pictures when there is no file to re-read.

    `frames(t0, t1)` yields (t, decoded frame) in time order from before t0 through the first frame
    after t1 (times in seconds on the same axis as the events'); `rate` is the clip's nominal frame
    rate, `time_base` that of the frames' times; `video` names the source in error messages."""

    video: object
    width: int
    height: int
    rate: Fraction
    time_base: Fraction

    def frames(self, t0: float, t1: float) -> Iterator[tuple[float, av.VideoFrame]]: ...

    def close(self) -> None: ...


class _Source:
    """One opened video; frames(t0, t1) yields (t, av.VideoFrame) by presentation time."""

    def __init__(self, video: Path):
        self.video = video
        self.container = self._open()
        try:
            vs = self.container.streams.video[0]
        except IndexError:
            self.close()
            raise EvidenceError(f"cannot re-read video {video}: it has no video stream") from None
        self.stream = vs
        vs.thread_type = "AUTO"
        self.time_base: Fraction = vs.time_base or Fraction(1, 90000)
        self.start_pts: int = vs.start_time or 0
        rate = vs.average_rate or vs.guessed_rate or Fraction(30)
        self.rate = Fraction(rate).limit_denominator(1001) if rate > 0 else Fraction(30)
        self.width, self.height = vs.codec_context.width, vs.codec_context.height
        self._used = False

    def _open(self):
        try:
            return av.open(str(self.video), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise EvidenceError(f"cannot re-read video {self.video}: {e}") from None

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # pragma: no cover - closing a broken container
            pass

    def frames(self, t0: float, t1: float) -> Iterator[tuple[float, av.VideoFrame]]:
        """Frames from (at most one GOP) before t0 up to and including the first frame after t1."""
        sought = False
        if self._used and t0 <= 1.0:
            self._reopen()
        self._used = True
        if t0 > 1.0:
            target = self.start_pts + int((t0 - 1.0) / self.time_base)
            try:
                self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
                sought = True
            except av.error.FFmpegError as e:
                log.warning("seek in %s failed (%s); decoding from the start", self.video, e)
                self._reopen()
        try:
            yield from self._decode(t0, t1, check_seek=sought)
        except _SeekOvershot:
            log.warning("seek in %s landed after t=%.3f; decoding from the start", self.video, t0)
            self._reopen()
            yield from self._decode(t0, t1, check_seek=False)

    def _reopen(self) -> None:
        self.close()
        self.container = self._open()
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"

    def _decode(self, t0: float, t1: float, check_seek: bool) -> Iterator[tuple[float, av.VideoFrame]]:
        first, prev_t, bad = True, None, 0
        step = float(1 / self.rate)
        demux = self.container.demux(self.stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except (av.error.FFmpegError, OSError) as e:
                raise EvidenceError(f"cannot re-read video {self.video}: {e}") from None
            try:
                frames = packet.decode()
            except (av.error.InvalidDataError, av.error.FFmpegError) as e:
                bad += 1
                if bad > 25:
                    raise EvidenceError(f"cannot re-read video {self.video}: too many broken packets ({e})") from None
                continue
            for frame in frames:
                if frame.pts is not None:
                    t = float((frame.pts - self.start_pts) * self.time_base)
                else:  # no timestamp: continue from the previous one
                    t = (prev_t + step) if prev_t is not None else 0.0
                if first and check_seek and t > t0 + 1e-6:
                    raise _SeekOvershot
                first, prev_t = False, t
                yield t, frame
                if t > t1:
                    return


class _SeekOvershot(Exception):
    pass


class _FrameCache:
    """Converts the current decoded frame to a full-size RGB picture, and to a yuv420p frame of the
    clip's size, each at most once (the events whose windows overlap share them)."""

    __slots__ = ("frame", "_img", "_clip")

    def __init__(self, frame: av.VideoFrame):
        self.frame = frame
        self._img: Image.Image | None = None
        self._clip: av.VideoFrame | None = None

    def image(self) -> Image.Image:
        """The frame at its full size as RGB (key pictures, plates): a fresh picture, never mutated."""
        if self._img is None:
            self._img = self.frame.to_image()
        return self._img

    def clip_frame(self, w: int, h: int) -> av.VideoFrame:
        """The frame as yuv420p at `w` x `h` (the clip's size): the decoded frame itself when it is
        already that, else one scaled copy made by the decoder's scaler (never through RGB at full size:
        for a 3240x1440 video that round trip costs several times the clip's encoding). Not mutated
        except for its pts, which each encoder reads as it is handed the frame."""
        f = self._clip
        if f is None or (f.width, f.height) != (w, h):
            src = self.frame
            same = (src.width, src.height, src.format.name) == (w, h, "yuv420p")
            f = self._clip = src if same else src.reformat(width=w, height=h, format="yuv420p")
        return f


class _Nearest:
    """Tracks the decoded frame nearest to `target` as frames arrive in time order.

    It keeps the (reference-counted) decoded frame and converts it to a picture only when asked.
    """

    __slots__ = ("target", "dist", "t", "_cache")

    def __init__(self, target: float):
        self.target, self.dist = target, math.inf
        self.t: float | None = None  # the kept frame's time
        self._cache: _FrameCache | None = None

    def offer(self, t: float, cache: _FrameCache) -> None:
        d = abs(t - self.target)
        if d < self.dist:
            self.dist, self.t, self._cache = d, t, cache

    @property
    def img(self) -> Image.Image | None:
        return None if self._cache is None else self._cache.image()
