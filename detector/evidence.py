"""Evidence for a violation: key frames, close-ups, a captioned composite and an H.264 clip.

Evidence may become a fine, so every file is complete, timestamped, hashed and written
atomically (temp file in the same folder, fsync, ``os.replace``, fsync of the folder). File names
depend only on the kind of file, so recording the same event again to the same folder replaces
the files in place (idempotent).

Pixels come from re-decoding the source video around each event with PyAV (seek before the
window, decode by presentation time). Nothing holds more than a handful of decoded pictures per
event: clip frames stream straight into the encoder. ``record_many`` decodes each stretch of
video once for all the events whose windows overlap (up to ``max_group`` events at a time).
A live stream cannot be re-read: ``record_frames`` takes its pixels from a ``FrameSource``
instead (``detector.ring.RingFrames``: the stream's recent packets, kept in memory).

Times are presentation times in seconds, ``(pts - stream.start_time) * time_base``; boxes and
the signal head box are ``x1, y1, x2, y2`` in source video pixels.

The Chinese caption needs a CJK font: ``find_cjk_font()`` looks at ``$CROSSWATCH_CJK_FONT``, then
``fc-list :lang=zh``, then well-known paths (Debian: ``apt-get install fonts-wqy-zenhei``).
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import math
import os
import shutil
import subprocess
import tempfile
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Iterator, Protocol, Sequence

import av
import av.error
from PIL import Image, ImageDraw, ImageFont

from detector.types import SignalState, ViolationEvent, ViolationType

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in video pixels

__all__ = [
    "EvidenceBatchError",
    "EvidenceError",
    "EvidenceFile",
    "EvidenceRecorder",
    "FontNotFoundError",
    "FrameSource",
    "KEY_FRAME_KINDS",
    "find_cjk_font",
    "sha256_file",
    "verify",
]

# --------------------------------------------------------------------------------------------
# public values


class EvidenceError(RuntimeError):
    """The evidence could not be made (unreadable video, no frames near the event, ...)."""


class FontNotFoundError(EvidenceError):
    """No font that can draw Chinese text was found."""


class EvidenceBatchError(EvidenceError):
    """Some events of a `record_many` call failed; the others were recorded."""

    def __init__(self, message: str, results: dict[str, list["EvidenceFile"]], failures: dict[str, str]):
        super().__init__(message)
        self.results = results  # event key -> files written
        self.failures = failures  # event key -> reason


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    kind: str  # frame_* | closeup | signal | composite | clip
    relpath: str  # POSIX path relative to the evidence root
    sha256: str  # hex digest of the file's bytes
    size: int  # bytes
    mime: str  # image/jpeg | video/mp4


KEY_FRAME_KINDS: dict[ViolationType, tuple[str, str, str]] = {
    ViolationType.RED_LIGHT: ("frame_before", "frame_past", "frame_junction"),
    ViolationType.WRONG_WAY: ("frame_start", "frame_middle", "frame_end"),
}

# Chinese first, then English
_KEY_LABELS: dict[str, str] = {
    "frame_before": "停止线前 before the line",
    "frame_past": "越过停止线 past the line",
    "frame_junction": "进入路口 in the junction",
    "frame_start": "逆行开始 start of contraflow",
    "frame_middle": "逆行中 middle of contraflow",
    "frame_end": "逆行结束 end of contraflow",
}
_TYPE_LABELS = {ViolationType.RED_LIGHT: "闯红灯 red-light", ViolationType.WRONG_WAY: "逆行 wrong-way"}
_SIGNAL_LABELS = {
    SignalState.RED: "红灯 RED",
    SignalState.YELLOW: "黄灯 YELLOW",
    SignalState.GREEN: "绿灯 GREEN",
    SignalState.UNKNOWN: "未知 UNKNOWN",
}
_CLASS_LABELS = {
    "motorcycle": "摩托车 motorcycle",
    "car": "汽车 car",
    "bicycle": "自行车 bicycle",
    "bus": "公交车 bus",
    "truck": "货车 truck",
    "person": "行人 person",
}

JPEG_QUALITY = 90
CLOSEUP_GROW = 0.40  # box grown by 40 % (20 % on each side)
CLOSEUP_MIN_H = 240
SIGNAL_GROW = 0.5
SIGNAL_MIN_MARGIN = 6
SIGNAL_MIN_H = 160
MAX_CLIP_W = 1920
MAX_EXTRA_SPAN_S = 30.0  # the clip never reaches further than this from the event
KEY_MARGIN_S = 0.5  # the clip extends this far past the first/last key time
DRAW_TOLERANCE_S = 0.25  # clip frames this close to the road user's path get its box
BOX_COLOUR = (255, 32, 32)
SIGNAL_COLOUR = (255, 220, 0)

_FONT_ENV = "CROSSWATCH_CJK_FONT"
_FONT_HINT = (
    "install a CJK font, e.g. `apt-get install -y fonts-wqy-zenhei` (or fonts-noto-cjk) on "
    f"Debian/Ubuntu, or set {_FONT_ENV}=/path/to/font.ttc"
)
_KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
_FONT_PREFERENCE = ("wqy-zenhei", "notosanscjk", "sourcehansans", "wqy-microhei", "droidsansfallback")


# --------------------------------------------------------------------------------------------
# hashing, atomic writes, verification


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(root: Path | str, files: Sequence[EvidenceFile]) -> list[str]:
    """Re-hash every file; return one line per problem (missing, size or hash changed)."""
    root = Path(root)
    problems: list[str] = []
    for ef in files:
        path = root / ef.relpath
        if not path.is_file():
            problems.append(f"missing: {ef.relpath}")
            continue
        size = path.stat().st_size
        if size != ef.size:
            problems.append(f"size changed: {ef.relpath} (recorded {ef.size} bytes, found {size})")
            continue
        digest = sha256_file(path)
        if digest != ef.sha256:
            problems.append(f"hash mismatch: {ef.relpath} (recorded {ef.sha256}, found {digest})")
    return problems


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_path(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, final: Path) -> tuple[str, int]:
    """fsync `tmp`, hash it, atomically move it to `final`; return (sha256, size)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    digest, size = sha256_file(tmp), tmp.stat().st_size
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return digest, size


def _write_bytes_atomic(final: Path, data: bytes) -> tuple[str, int]:
    tmp = _temp_path(final.parent, final.name)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)
    return hashlib.sha256(data).hexdigest(), len(data)


# --------------------------------------------------------------------------------------------
# font


def find_cjk_font() -> Path:
    """Path of a font that can draw Chinese; raises FontNotFoundError with the fix if none."""
    env = os.environ.get(_FONT_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise FontNotFoundError(f"{_FONT_ENV}={env} is not a font file; {_FONT_HINT}")
        return p
    candidates: list[Path] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            path = line.split(":", 1)[0].strip()
            if path.lower().endswith((".ttf", ".ttc", ".otf", ".otc")) and Path(path).is_file():
                candidates.append(Path(path))
    candidates += [Path(p) for p in _KNOWN_FONTS if Path(p).is_file()]

    def rank(p: Path) -> tuple[int, str]:
        name = p.name.lower().replace("-", "").replace("_", "")
        for i, pref in enumerate(_FONT_PREFERENCE):
            if pref.replace("-", "") in name:
                return i, str(p)
        return len(_FONT_PREFERENCE), str(p)

    for p in sorted(dict.fromkeys(candidates), key=rank):
        try:
            ImageFont.truetype(str(p), 16)
        except OSError:
            continue
        return p
    raise FontNotFoundError(f"no font with Chinese glyphs found (fc-list :lang=zh is empty); {_FONT_HINT}")


@functools.lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# --------------------------------------------------------------------------------------------
# geometry and drawing helpers


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
    return (round(16 + 65.481 * r + 128.553 * g + 24.966 * b), round(128 - 37.797 * r - 74.203 * g + 112.0 * b),
            round(128 + 112.0 * r - 93.786 * g - 18.214 * b))


def boxed_yuv420(frame: av.VideoFrame, box: Sequence[float], colour=BOX_COLOUR) -> av.VideoFrame | None:
    """A copy of a yuv420p frame with `box` drawn on its planes: no RGB round trip, which for a
    1620x720 clip frame costs more than encoding it. None when the layout does not allow it (the
    caller then draws through RGB)."""
    w, h = frame.width, frame.height
    if frame.format.name != "yuv420p" or h % 4 or w % 2:
        return None
    arr = frame.to_ndarray()  # (h * 3 / 2, w): Y, then U and V (each h/2 x w/2, flattened)
    y = arr[:h]
    u = arr[h:h + h // 4].reshape(h // 2, w // 2)
    v = arr[h + h // 4:].reshape(h // 2, w // 2)
    x1, y1, x2, y2 = (float(c) for c in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    x1, y1, x2, y2 = int(max(x1, 0)) & ~1, int(max(y1, 0)) & ~1, int(min(x2, w - 1)), int(min(y2, h - 1))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return av.VideoFrame.from_ndarray(arr, format="yuv420p")
    t = max(2, round(min(w, h) / 240))
    t += t % 2  # whole chroma samples
    cy, cu, cv = _yuv(colour)
    for plane, value, s in ((y, cy, 1), (u, cu, 2), (v, cv, 2)):
        a, b, c, d, k = x1 // s, y1 // s, max(x1 // s + 1, x2 // s), max(y1 // s + 1, y2 // s), max(1, t // s)
        plane[b:b + k, a:c + 1] = value
        plane[max(b, d - k + 1):d + 1, a:c + 1] = value
        plane[b:d + 1, a:a + k] = value
        plane[b:d + 1, max(a, c - k + 1):c + 1] = value
    return av.VideoFrame.from_ndarray(arr, format="yuv420p")


def _draw_caption(img: Image.Image, text: str, font_path: str, size: int, xy=(0, 0)) -> None:
    """Text on a dark box at `xy` (top-left)."""
    font = _font(font_path, size)
    draw = ImageDraw.Draw(img)
    pad = max(2, size // 4)
    l, t, r, b = draw.textbbox((xy[0] + pad, xy[1] + pad), text, font=font)
    draw.rectangle((xy[0], xy[1], r + pad, b + pad), fill=(0, 0, 0))
    draw.text((xy[0] + pad, xy[1] + pad), text, font=font, fill=(255, 255, 255))


def _fit(img: Image.Image, w: int, h: int) -> Image.Image:
    """Scale to fit inside w x h keeping the aspect ratio."""
    s = min(w / img.width, h / img.height)
    size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
    return img.resize(size, Image.Resampling.LANCZOS if s < 1 else Image.Resampling.BICUBIC)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _even_size(w: int, h: int) -> tuple[int, int]:
    if w > MAX_CLIP_W:
        h = h * MAX_CLIP_W / w
        w = MAX_CLIP_W
    w, h = int(w) - int(w) % 2, int(round(h))
    h -= h % 2
    return max(w, 2), max(h, 2)


# --------------------------------------------------------------------------------------------
# decoding


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
    """Converts the current decoded frame to an RGB picture at most once."""

    __slots__ = ("frame", "_img")

    def __init__(self, frame: av.VideoFrame):
        self.frame, self._img = frame, None

    def image(self) -> Image.Image:
        if self._img is None:
            self._img = self.frame.to_image()  # RGB; a fresh picture, never mutated
        return self._img


# --------------------------------------------------------------------------------------------
# one event


class _Nearest:
    """Tracks the decoded frame nearest to `target` as frames arrive in time order.

    It keeps the (reference-counted) decoded frame and converts it to a picture only when asked.
    """

    __slots__ = ("target", "dist", "t", "_cache")

    def __init__(self, target: float):
        self.target, self.dist, self.t, self._cache = target, math.inf, None, None

    def offer(self, t: float, cache: _FrameCache) -> None:
        d = abs(t - self.target)
        if d < self.dist:
            self.dist, self.t, self._cache = d, t, cache

    @property
    def img(self) -> Image.Image | None:
        return None if self._cache is None else self._cache.image()


def _key_times(event: ViolationEvent) -> tuple[float, ...]:
    t = float(event.t)
    keys = tuple(float(k) for k in event.key_times)
    if all(k == 0.0 for k in keys) and t > 0.0:
        # key times were not filled in: one second before, at, and after the event
        keys = (max(0.0, t - 1.0), t, t + 1.0)
    return keys


class _Job:
    def __init__(self, rec: "EvidenceRecorder", event: ViolationEvent, rel_dir: str, signal_box: Box | None,
                 src: "_Source | FrameSource"):
        self.rec, self.event, self.signal_box = rec, event, signal_box
        self.rel_dir = _clean_rel_dir(rel_dir)
        self.folder = rec.root.joinpath(*self.rel_dir.parts)
        self.kinds = KEY_FRAME_KINDS[ViolationType(event.type)]
        self.key_times = _key_times(event)
        self.path = sorted(((float(pt), tuple(float(v) for v in b)) for pt, b in event.path), key=lambda p: p[0])
        self._path_t = [p[0] for p in self.path]
        self.lo, self.hi = rec.window(event)
        self.nearest = [_Nearest(k) for k in self.key_times]
        self.at_event = _Nearest(float(event.t))
        self.src = src
        self.out_size = _even_size(src.width, src.height)
        self._out = self._ostream = None
        self._clip_tmp: Path | None = None
        self._clip_t0: float | None = None
        self._last_pts = -1
        self._n_clip = 0

    # ---- path of the road user
    def box_at(self, t: float) -> Box:
        if not self.path:
            return tuple(float(v) for v in self.event.box)  # type: ignore[return-value]
        i = bisect_left(self._path_t, t)
        if i <= 0:
            return self.path[0][1]
        if i >= len(self.path):
            return self.path[-1][1]
        (ta, ba), (tb, bb) = self.path[i - 1], self.path[i]
        a = 0.0 if tb <= ta else (t - ta) / (tb - ta)
        return tuple(p + (q - p) * a for p, q in zip(ba, bb))  # type: ignore[return-value]

    def near_path(self, t: float) -> bool:
        if self.path:
            return self._path_t[0] - DRAW_TOLERANCE_S <= t <= self._path_t[-1] + DRAW_TOLERANCE_S
        return abs(t - float(self.event.t)) <= 1.0

    # ---- streaming
    def feed(self, t: float, cache: _FrameCache) -> None:
        if t >= self.lo - 1.0:
            for n in self.nearest:
                n.offer(t, cache)
            self.at_event.offer(t, cache)
        if self.lo - 1e-6 <= t <= self.hi + 1e-6:
            self._encode(t, cache)

    def _encode(self, t: float, cache: _FrameCache) -> None:
        if self._out is None:
            self._open_clip(t)
            self._clip_t0 = t
        w, h = self.out_size
        if self.near_path(t):
            src = cache.frame
            vf = boxed_yuv420(src, self.box_at(t)) if (src.width, src.height) == (w, h) else None
            if vf is None:
                img = cache.image().copy()
                _draw_box(img, self.box_at(t))
                vf = av.VideoFrame.from_image(img)
        else:
            vf = cache.frame
        if (vf.width, vf.height, vf.format.name) != (w, h, "yuv420p"):
            vf = vf.reformat(width=w, height=h, format="yuv420p")
        pts = int(round((t - self._clip_t0) / self._tb))
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        vf.pts, vf.time_base = pts, self._tb
        for packet in self._ostream.encode(vf):
            self._out.mux(packet)
        self._n_clip += 1

    def _open_clip(self, t_first: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._clip_tmp = _temp_path(self.folder, "clip.mp4")
        out = av.open(str(self._clip_tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        out.metadata["comment"] = (
            f"crosswatch evidence {self.event.key}; clip t=0 is video t={t_first:.6f} s"
        )
        st = out.add_stream("libx264", rate=self.src.rate, options={"crf": "23", "preset": "superfast"})
        st.width, st.height = self.out_size
        st.pix_fmt = "yuv420p"
        tb = self.src.time_base
        self._tb = tb if tb <= Fraction(1, 1000) else Fraction(1, 90000)
        st.codec_context.time_base = self._tb
        self._out, self._ostream = out, st

    # ---- results
    def finish(self) -> list[EvidenceFile]:
        if self._out is None or self._n_clip == 0 or self.at_event.img is None:
            self.abort()
            raise EvidenceError(
                f"no decoded frames near t={self.event.t:.3f} s for event {self.event.key} in {self.src.video} "
                f"(window {self.lo:.3f}..{self.hi:.3f} s)"
            )
        for packet in self._ostream.encode():
            self._out.mux(packet)
        self._out.close()
        self._out = self._ostream = None
        files: list[EvidenceFile] = []
        try:
            files += self._pictures()
            digest, size = _commit(self._clip_tmp, self.folder / "clip.mp4")
            self._clip_tmp = None
            files.append(self._ef("clip", "clip.mp4", digest, size, "video/mp4"))
        finally:
            self.abort()
        return files

    def abort(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
            except Exception:
                pass
            self._out = self._ostream = None
        if self._clip_tmp is not None:
            self._clip_tmp.unlink(missing_ok=True)
            self._clip_tmp = None
        self.nearest, self.at_event = [], _Nearest(0.0)  # drop pictures

    def _ef(self, kind: str, name: str, digest: str, size: int, mime: str) -> EvidenceFile:
        return EvidenceFile(kind, str(PurePosixPath(*self.rel_dir.parts, name)), digest, size, mime)

    def _save_jpeg(self, kind: str, img: Image.Image) -> EvidenceFile:
        name = f"{kind}.jpg"
        digest, size = _write_bytes_atomic(self.folder / name, _jpeg(img))
        return self._ef(kind, name, digest, size, "image/jpeg")

    def _pictures(self) -> list[EvidenceFile]:
        rec, ev = self.rec, self.event
        font = str(rec.font_path)
        files: list[EvidenceFile] = []
        frames: list[tuple[str, Image.Image]] = []  # (caption, picture with boxes)
        for i, (kind, n) in enumerate(zip(self.kinds, self.nearest), start=1):
            img = n.img.copy()
            if self.signal_box is not None:
                _draw_box(img, self.signal_box, SIGNAL_COLOUR, max(1, _thickness(img) - 1))
            _draw_box(img, self.box_at(n.t))
            caption = f"{i}/3 {_KEY_LABELS[kind]} | {rec.format_time(n.t)}"
            frames.append((caption, img))
            captioned = img.copy()
            _draw_caption(captioned, caption, font, max(14, round(img.height / 32)))
            files.append(self._save_jpeg(kind, captioned))

        base = self.at_event.img
        W, H = base.size
        box = self.box_at(self.at_event.t) if self.path else tuple(float(v) for v in ev.box)
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
        files.append(self._save_jpeg("closeup", closeup))

        signal = None
        if self.signal_box is not None:
            sreg = _region(self.signal_box, SIGNAL_GROW, SIGNAL_MIN_MARGIN, W, H)
            if sreg is None:
                log.warning("event %s: signal box %s lies outside the %dx%d picture; no signal crop",
                            ev.key, self.signal_box, W, H)
            else:
                signal = base.crop(sreg)
                if signal.height < SIGNAL_MIN_H:
                    k = math.ceil(SIGNAL_MIN_H / signal.height)  # whole factor: crisp lamps
                    signal = signal.resize((signal.width * k, signal.height * k), Image.Resampling.NEAREST)
                files.append(self._save_jpeg("signal", signal))

        files.append(self._save_jpeg("composite", self._composite(frames, closeup, signal)))
        return files

    def _composite(self, frames: list[tuple[str, Image.Image]], closeup: Image.Image, signal: Image.Image | None) -> Image.Image:
        rec, ev = self.rec, self.event
        font = str(rec.font_path)
        W, H = frames[0][1].size
        cw = min(W, 960)
        ch = max(2, round(H * cw / W))
        width = 2 * cw
        fs = max(16, round(width / 64))
        lines = rec.caption_lines(ev)
        line_h = round(fs * 1.45)
        band_h = line_h * len(lines) + fs
        canvas = Image.new("RGB", (width, band_h + 2 * ch), (24, 24, 24))
        draw = ImageDraw.Draw(canvas)
        y = fs // 2
        for line in lines:
            size = fs
            while size > 10 and draw.textlength(line, font=_font(font, size)) > width - fs:
                size -= 1
            draw.text((fs // 2, y), line, font=_font(font, size), fill=(255, 255, 255))
            y += line_h
        cfs = max(12, fs * 3 // 4)
        cells = [(0, band_h), (cw, band_h), (0, band_h + ch)]
        for (caption, img), (x, yy) in zip(frames, cells):
            canvas.paste(img.resize((cw, ch), Image.Resampling.LANCZOS), (x, yy))
            _draw_caption(canvas, caption, font, cfs, (x, yy))
        # fourth cell: close-up and signal head
        x0, y0 = cw, band_h + ch
        cap_h = round(cfs * 1.6)
        if signal is not None:
            halves = [(closeup, "特写 close-up", x0, cw // 2), (signal, "信号灯 signal", x0 + cw // 2, cw - cw // 2)]
        else:
            halves = [(closeup, "特写 close-up (无信号灯截图 no signal crop)", x0, cw)]
        for img, label, x, w in halves:
            fitted = _fit(img, max(4, w - 8), max(4, ch - cap_h - 8))
            canvas.paste(fitted, (x + (w - fitted.width) // 2, y0 + cap_h + (ch - cap_h - fitted.height) // 2))
            _draw_caption(canvas, label, font, cfs, (x, y0))
        draw.rectangle((0, band_h, width - 1, band_h + 2 * ch - 1), outline=(90, 90, 90))
        draw.line((cw, band_h, cw, band_h + 2 * ch), fill=(90, 90, 90), width=2)
        draw.line((0, band_h + ch, width, band_h + ch), fill=(90, 90, 90), width=2)
        return canvas


def _clean_rel_dir(rel_dir: str) -> PurePosixPath:
    p = PurePosixPath(str(rel_dir).replace("\\", "/"))
    parts = [x for x in p.parts if x not in ("", ".")]
    if not parts or p.is_absolute() or ".." in parts or ":" in parts[0]:
        raise ValueError(f"evidence folder must be a relative path inside the root, got {rel_dir!r}")
    return PurePosixPath(*parts)


# --------------------------------------------------------------------------------------------
# the recorder


class EvidenceRecorder:
    """Writes the evidence files of violation events under `root`.

    `start_time` is the wall-clock time of the video's t=0 (captions then show date-times;
    otherwise video times). `max_group` caps how many events share one decode pass (each holds
    an open H.264 encoder while its window is being decoded).
    """

    def __init__(
        self,
        root: Path,
        crossing_name: str,
        *,
        clip_pre_s: float = 3.5,
        clip_post_s: float = 3.5,
        start_time: datetime | None = None,
        max_group: int = 4,
    ):
        if clip_pre_s < 0 or clip_post_s < 0:
            raise ValueError("clip_pre_s and clip_post_s must be >= 0")
        self.root = Path(root)
        self.crossing_name = crossing_name
        self.clip_pre_s, self.clip_post_s = float(clip_pre_s), float(clip_post_s)
        self.start_time = start_time
        self.max_group = max(1, int(max_group))
        self.font_path = find_cjk_font()  # fail before any work if captions cannot be drawn
        try:
            av.codec.Codec("libx264", "w")
        except Exception:  # pragma: no cover - depends on the PyAV build
            raise EvidenceError("this PyAV build has no libx264 encoder; evidence clips need H.264") from None

    def window(self, event: ViolationEvent) -> tuple[float, float]:
        """(first, last) video time the event's clip covers: `clip_pre_s` before to `clip_post_s` after
        the event, widened to the key pictures, never more than MAX_EXTRA_SPAN_S from the event.
        A live stream keeps its packets until the stream has passed the end of this window."""
        t = float(event.t)
        keys = _key_times(event)
        lo = min(t - self.clip_pre_s, min(keys) - KEY_MARGIN_S)
        hi = max(t + self.clip_post_s, max(keys) + KEY_MARGIN_S)
        lo = max(0.0, lo, t - MAX_EXTRA_SPAN_S)
        return lo, max(lo, min(hi, t + MAX_EXTRA_SPAN_S))

    # ---- captions
    def format_time(self, t: float) -> str:
        if self.start_time is None:
            return f"视频 video t={t:.3f} s"
        wall = self.start_time + timedelta(seconds=t) + timedelta(microseconds=500)
        text = wall.strftime("%Y-%m-%d %H:%M:%S.") + f"{wall.microsecond // 1000:03d}"
        if wall.tzinfo is not None:
            off = wall.strftime("%z")
            text += f" UTC{off[:3]}:{off[3:]}" if off else ""
        return text

    def caption_lines(self, ev: ViolationEvent) -> list[str]:
        cls = _CLASS_LABELS.get(ev.class_name, ev.class_name)
        sig = _SIGNAL_LABELS.get(SignalState(ev.signal), str(ev.signal)) if ev.signal is not None else "无 none"
        if ev.signal_source:
            sig += f" ({ev.signal_source})"
        since = f"{ev.since_red_s:.2f} s" if ev.since_red_s is not None else "—"
        where = []
        if ev.lane:
            where.append(f"车道 lane {ev.lane}")
        if ev.stop_line:
            where.append(f"停止线 stop line {ev.stop_line}")
        if ev.signal_id:
            where.append(f"信号灯 signal {ev.signal_id}")
        return [
            f"路口 Crossing: {self.crossing_name}    时间 Time: {self.format_time(float(ev.t))}",
            f"违法行为 Violation: {_TYPE_LABELS[ViolationType(ev.type)]}    信号状态 Signal: {sig}    "
            f"红灯已亮 since red: {since}",
            f"目标 Track #{ev.track_id}    类型 Class: {cls}" + ("    " + "  ".join(where) if where else ""),
            f"事件 Event: {ev.key}",
        ]

    # ---- recording
    def record(self, video: Path, event: ViolationEvent, rel_dir: str, signal_box: Box | None) -> list[EvidenceFile]:
        try:
            return self.record_many(video, [(event, rel_dir, signal_box)])[event.key]
        except EvidenceBatchError as e:
            raise EvidenceError(e.failures[event.key]) from None

    def record_many(self, video: Path, jobs: list[tuple[ViolationEvent, str, Box | None]]) -> dict[str, list[EvidenceFile]]:
        """Record several events of one video, keyed by `event.key`; each stretch of video is
        decoded once for the events whose windows overlap it.

        An unreadable video raises EvidenceError before anything is written. When only some
        events fail (no frames near them, a broken stretch of video, a write error), the others
        are still recorded and EvidenceBatchError is raised at the end with `.results` (what
        was written) and `.failures` (event key -> reason)."""
        video = Path(video)
        if not jobs:
            return {}
        keys = [ev.key for ev, _, _ in jobs]
        if len(set(keys)) != len(keys):
            raise ValueError("record_many: two jobs have the same event key")
        dirs = [_clean_rel_dir(d) for _, d, _ in jobs]
        if len(set(dirs)) != len(dirs):
            raise ValueError("record_many: two events would write to the same folder")
        if not video.is_file():
            raise EvidenceError(f"cannot re-read video {video}: no such file")
        return self._record_from(_Source(video), jobs, keys)

    def record_frames(self, source: "FrameSource", jobs: list[tuple[ViolationEvent, str, Box | None]]
                      ) -> dict[str, list[EvidenceFile]]:
        """Like `record_many`, but the pixels come from `source` instead of re-reading a file: a live
        stream cannot be re-read, so its recent packets are kept and decoded again from memory
        (`detector.ring`). Same files, captions, hashing and atomic writes; `source` is closed."""
        if not jobs:
            source.close()
            return {}
        keys = [ev.key for ev, _, _ in jobs]
        if len(set(keys)) != len(keys):
            source.close()
            raise ValueError("record_frames: two jobs have the same event key")
        dirs = [_clean_rel_dir(d) for _, d, _ in jobs]
        if len(set(dirs)) != len(dirs):
            source.close()
            raise ValueError("record_frames: two events would write to the same folder")
        return self._record_from(source, jobs, keys)

    def _record_from(self, src: "_Source | FrameSource", jobs: list[tuple[ViolationEvent, str, Box | None]],
                     keys: list[str]) -> dict[str, list[EvidenceFile]]:
        results: dict[str, list[EvidenceFile]] = {}
        failures: dict[str, str] = {}
        try:
            planned = sorted((_Job(self, ev, d, sb, src) for ev, d, sb in jobs), key=lambda j: j.lo)
            for group in self._groups(planned):
                self._run_group(src, group, results, failures)
        finally:
            src.close()
        if failures:
            lines = "; ".join(f"{k}: {v}" for k, v in failures.items())
            raise EvidenceBatchError(
                f"evidence failed for {len(failures)} of {len(keys)} events in {src.video}: {lines}",
                {k: results[k] for k in keys if k in results},
                failures,
            )
        return {k: results[k] for k in keys}

    def _groups(self, jobs: list[_Job]) -> Iterator[list[_Job]]:
        group: list[_Job] = []
        hi = -math.inf
        for job in jobs:
            if group and (job.lo > hi + 1.0 or len(group) >= self.max_group):
                yield group
                group, hi = [], -math.inf
            group.append(job)
            hi = max(hi, job.hi)
        if group:
            yield group

    def _run_group(
        self, src: "_Source | FrameSource", group: list[_Job], results: dict[str, list[EvidenceFile]], failures: dict[str, str]
    ) -> None:
        lo, hi = min(j.lo for j in group), max(j.hi for j in group)
        active = list(group)

        def fail(job: _Job, e: BaseException) -> None:
            job.abort()
            if job in active:
                active.remove(job)
            failures[job.event.key] = str(e) if isinstance(e, EvidenceError) else f"{type(e).__name__}: {e}"
            log.error("evidence for event %s failed: %s", job.event.key, failures[job.event.key])

        def finish(job: _Job) -> None:
            active.remove(job)
            try:
                results[job.event.key] = job.finish()
            except (EvidenceError, OSError, av.error.FFmpegError) as e:
                fail(job, e)

        try:
            for t, frame in src.frames(lo, hi):
                cache = _FrameCache(frame)
                for job in list(active):
                    try:
                        job.feed(t, cache)
                    except (OSError, av.error.FFmpegError) as e:  # the clip encoder or the disk
                        fail(job, e)
                for job in [j for j in active if t > j.hi]:
                    finish(job)
                if not active:
                    break
            for job in list(active):  # the video ended inside their windows
                finish(job)
        except EvidenceError as e:  # the video broke while decoding this stretch
            for job in list(active):
                fail(job, e)
        finally:
            for job in active:
                job.abort()
