"""`crosswatch watch` as a use case: one live run (`watch_session`), its `Watcher` (reader,
processor, writer) and the `EventWriter` that stores each event as it is decided."""

from __future__ import annotations

from .session import LiveRun, WatchRequest, watch_session
from .watcher import Watcher, WatchOptions
from .writer import EventWriter

__all__ = ["EventWriter", "LiveRun", "WatchOptions", "WatchRequest", "Watcher", "watch_session"]
