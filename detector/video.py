"""Decode: a video file -> Frames with real presentation times (PyAV)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np

from .types import Frame


class VideoError(Exception):
    """A video that cannot be used. The message is one line meant for a person."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    codec: str
    duration_s: float | None  # from the container/stream, None when unknown
    nominal_fps: float | None
    frames_hint: int | None


def _av_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return msg.splitlines()[0].strip()


def probe(path: str | Path) -> VideoInfo:
    """Open the file, check it holds a decodable video stream, decode the first frame."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: not a readable video ({_av_reason(e)})") from None
    try:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream in the file")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.name:
            raise VideoError(f"{path}: unsupported video codec")
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        fps = float(stream.average_rate) if stream.average_rate else None
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, ValueError) as e:
            raise VideoError(f"{path}: cannot decode video ({ctx.name}): {_av_reason(e)}") from None
        if first is None:
            raise VideoError(f"{path}: video stream holds no decodable frame (corrupt or truncated)")
        return VideoInfo(path, first.width, first.height, ctx.name, duration, fps, stream.frames or None)
    finally:
        container.close()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_frames(
    path: str | Path, *, threads: int | None = None, size: tuple[int, int] | None = None
) -> Iterator[Frame]:
    """Every frame in presentation order, with t = (pts - stream start) * time_base seconds.

    `size` (width, height): pictures are made at that size by the decoder's scaler (a 4K frame is
    never converted at full size; a small one is enlarged), None = the stream's own size.

    Raises VideoError for a file that breaks during decoding, and for one that ends well
    before its declared duration (truncated).
    """
    path = Path(path)
    info = probe(path)
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: not a readable video ({_av_reason(e)})") from None
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if threads:
        stream.codec_context.thread_count = threads
    tb = float(stream.time_base) if stream.time_base else None
    start = stream.start_time if stream.start_time is not None else None
    step = 1.0 / info.nominal_fps if info.nominal_fps else 1.0 / 30
    index = 0
    last_t = None
    scale: dict[str, Any] = (
        {}
        if size is None or tuple(size) == (info.width, info.height)
        else {"width": int(size[0]), "height": int(size[1]), "interpolation": "BILINEAR"}
    )
    try:
        for f in container.decode(stream):
            if f.pts is not None and tb is not None:
                if start is None:
                    start = f.pts
                t = (f.pts - start) * tb
            elif f.time is not None:
                t = float(f.time)
            else:
                t = 0.0 if last_t is None else last_t + step
            if last_t is not None and t <= last_t:  # broken/duplicate timestamps: keep time monotonic
                t = last_t + 1e-3
            last_t = t
            yield Frame(index=index, t=round(t, 6), convert=partial(f.to_ndarray, format="bgr24", **scale))
            index += 1
    except (av.FFmpegError, ValueError) as e:
        raise VideoError(f"{path}: decoding failed after {index} frames: {_av_reason(e)}") from None
    finally:
        container.close()
    if index == 0:
        raise VideoError(f"{path}: video stream holds no decodable frame (corrupt or truncated)")
    if info.duration_s and last_t is not None and info.duration_s > 2.0:
        covered = last_t + step
        if covered < 0.9 * info.duration_s - 1.0:
            raise VideoError(f"{path}: truncated: decoded {covered:.1f} s of the declared {info.duration_s:.1f} s")


def is_duplicate(a: np.ndarray, b: np.ndarray, level: int = 25, max_changed: int = 1) -> bool:
    """True when two frames are the same picture (screen-recording stutter, frame-rate conversion).

    Looks at every 4th pixel in both directions: a repeat changes at most `max_changed` of them by more
    than `level` (codec noise stays below it), while even one small road user moving changes dozens;
    and the mean change stays small (a global brightness step is a new picture).
    On the shared clips repeats give 0-1 changed points and real motion 5 to thousands."""
    if a.shape != b.shape:
        return False
    a4, b4 = a[::4, ::4], b[::4, ::4]
    d = np.maximum(a4, b4)
    d -= np.minimum(a4, b4)  # |a - b| in uint8, without widening the pictures
    diff = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]) if d.ndim == 3 else d
    if int(np.count_nonzero(diff > level)) > max_changed:
        return False
    return float(diff.mean()) < 1.5


def reverse_video(src: str | Path, dst: str | Path) -> None:
    """Write `src` played backwards as H.264 (for wrong-way checks: traffic reversed in time drives
    the wrong way). Holds the decoded clip in memory: meant for short test clips."""
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate or 30
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(stream)]
    if not frames:
        raise VideoError(f"{src}: no frames to reverse")
    with av.open(str(dst), "w") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        for img in reversed(frames):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())


def scaled_copy(
    src: str | Path, dst: str | Path, size: tuple[int, int], preset: str = "ultrafast", every: int = 1
) -> Path:
    """Write `src` re-encoded at `size` (width, height) as H.264 with the same frame times (for
    resolution checks: the same scene at another camera resolution). Streams frame by frame.
    `every`: keep only every `every`-th frame, at its own time (another camera's frame rate)."""
    if every < 1:
        raise ValueError(f"every={every}: keep at least every frame")
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        vs = out.add_stream("libx264", rate=Fraction(stream.average_rate or 30) / every)
        vs.width, vs.height = int(size[0]), int(size[1])
        vs.pix_fmt = "yuv420p"
        if stream.time_base is None:
            raise VideoError(f"{src}: the video stream has no time base")
        vs.time_base = vs.codec_context.time_base = stream.time_base
        vs.codec_context.options = {"crf": "18", "preset": preset}
        start, last = None, -1
        for i, f in enumerate(inp.decode(stream)):
            if i % every:
                continue
            g = f.reformat(width=vs.width, height=vs.height, format="yuv420p", interpolation="BICUBIC")
            if start is None:
                start = f.pts or 0
            last = max(last + 1, (f.pts if f.pts is not None else last + 1) - start)
            g.pts, g.time_base = last, stream.time_base
            for pkt in vs.encode(g):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    return Path(dst)
