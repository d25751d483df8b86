"""Live sources: what `watch` can read (RTSP, HTTP(S), a growing local file), the reconnect
backoff and the stall watchdog."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class SourceError(ValueError):
    """A source that `watch` cannot use (one line for a person)."""


# -- the source ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiveSource:
    kind: str  # "rtsp" | "http" | "file"
    target: str  # URL, or the file's absolute path
    display: str  # for logs and the database: the URL without its password

    @property
    def is_network(self) -> bool:
        return self.kind != "file"


def _redact(url: str) -> str:
    """The URL without its password (camera URLs often carry credentials)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def parse_source(text: str, follow: bool) -> LiveSource:
    """rtsp(s)://, http(s):// or, with `follow`, a local file (path or file:// URL)."""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("rtsp", "rtsps", "http", "https"):
        if follow:
            raise SourceError(f"{_redact(text)}: --follow is for a local file that grows, not for a URL")
        if not parts.hostname:
            raise SourceError(f"{_redact(text)}: no host in the URL")
        return LiveSource("rtsp" if scheme.startswith("rtsp") else "http", text, _redact(text))
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:3] in (":\\", ":/")):  # a path (C:\ too)
        path = Path(parts.path if scheme == "file" else text).expanduser().resolve()
        if not follow:
            raise SourceError(
                f"{text}: a local file is watched only with --follow (read as it grows, like "
                "`tail -f`); a finished recording is for `crosswatch process`"
            )
        if path.is_dir():
            raise SourceError(f"{path}: is a folder, not a video file")
        if not path.parent.is_dir():
            raise SourceError(f"{path}: its folder does not exist")
        return LiveSource("file", str(path), str(path))
    raise SourceError(
        f"{_redact(text)}: unsupported source; use rtsp://, rtsps://, http(s):// or a local file with --follow"
    )


class FollowFile(io.RawIOBase):
    """A growing file read like `tail -f`: at its end, reading waits for more bytes instead of
    ending, until `abort` is set (the watchdog's doing when nothing arrives for `stall_s`)."""

    def __init__(self, path: str, offset: int, abort: threading.Event, poll_s: float = 0.05):
        super().__init__()
        self._f = open(path, "rb")
        self._f.seek(offset)
        self.offset = offset
        self.inode = os.fstat(self._f.fileno()).st_ino
        self.abort = abort
        self.poll_s = poll_s

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        while True:
            n = self._f.readinto(buffer)
            if n:
                return n
            if self.abort.is_set():
                return 0
            time.sleep(self.poll_s)

    def close(self) -> None:
        self._f.close()
        super().close()


# -- reconnect policy and watchdog ------------------------------------------------------------------
class Backoff:
    """Delays before reconnect attempts: `first`, doubling, at most `cap` (1, 2, 4 ... 30 s)."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, factor: float = 2.0):
        if first <= 0 or cap < first or factor < 1:
            raise ValueError("backoff: need 0 < first <= cap and factor >= 1")
        self.first, self.cap, self.factor = first, cap, factor
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * self.factor)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Watchdog(threading.Thread):
    """Calls `on_stall(silent_s)` once per connection when no `beat()` came for `stall_s` while armed.

    The reader arms it when a connection opens, beats on every video packet and disarms it when the
    connection closes. It checks every `stall_s / 10` (at most 0.5 s), so it fires within
    1.1 x `stall_s` of the last packet."""

    def __init__(self, stall_s: float, on_stall: Callable[[float], None], clock: Callable[[], float] = time.monotonic):
        super().__init__(name="crosswatch-watchdog", daemon=True)
        if stall_s <= 0:
            raise ValueError("stall_s must be > 0")
        self.stall_s = stall_s
        self.on_stall = on_stall
        self.clock = clock
        self._lock = threading.Lock()
        self._armed = False
        self._last = 0.0
        self._done = threading.Event()

    def arm(self) -> None:
        with self._lock:
            self._armed, self._last = True, self.clock()

    def beat(self) -> None:
        self._last = self.clock()

    def disarm(self) -> None:
        with self._lock:
            self._armed = False

    def check(self) -> bool:
        """Fire if stalled; True when it fired (one check; `run` calls it in a loop)."""
        with self._lock:
            silent = self.clock() - self._last
            if not self._armed or silent < self.stall_s:
                return False
            self._armed = False  # once per connection
        self.on_stall(silent)
        return True

    def run(self) -> None:
        while not self._done.wait(min(0.5, self.stall_s / 10)):
            self.check()

    def stop(self) -> None:
        self._done.set()
