"""The statistics answer cache and the data stamp it trusts: `StatsCache` reuses the answer of
an identical request (statistics, event counts) while `data_version()` is unchanged; the stamp is
a counter that triggers (migration 0004_data_version) bump in the same transaction as any write
to the tables those answers read. Without the triggers there is no stamp and nothing is cached.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from .models import DataVersionRow

log = logging.getLogger(__name__)

# Tables whose every write bumps `data_version` (triggers of migration 0004_data_version).
STAMPED_TABLES = ("events", "traffic_counts", "crossings", "crossing_versions")
_STAMP_OPS = ("insert", "update", "delete")
_STAMP_SQL = f"SELECT version FROM {DataVersionRow.__tablename__} WHERE id = 1"
# engine -> whether its stamp triggers are present (checked once per engine and process)
_triggers_checked: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def stamp_trigger_names(dialect: str) -> tuple[str, ...]:
    """The triggers that keep `data_version` exact: row triggers per table and operation on
    SQLite, one statement trigger per table on PostgreSQL."""
    if dialect == "sqlite":
        return tuple(f"trg_{t}_{op}_data_version" for t in STAMPED_TABLES for op in _STAMP_OPS)
    return tuple(f"trg_{t}_data_version" for t in STAMPED_TABLES)


def stamp_triggers_present(s: Session) -> bool:
    """Whether every stamp trigger exists (SQLite drops a table's triggers when a batch migration
    recreates it; without them a cached answer could outlive the data it was computed from)."""
    dialect = s.get_bind().dialect.name
    names = stamp_trigger_names(dialect)
    if dialect == "sqlite":
        q = text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names").bindparams(
            bindparam("names", expanding=True)
        )
    else:
        q = text(
            "SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgname IN :names AND tgrelid IN "
            "(SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) AS t)"
        ).bindparams(bindparam("names", expanding=True))
    params: dict[str, Any] = {"names": list(names)}
    if dialect != "sqlite":
        params["tables"] = list(STAMPED_TABLES)
    return s.scalar(q, params) == len(names)


def data_version(s: Session) -> tuple[Any, ...] | None:
    """The data stamp: `data_version.version`, which triggers increment in the same transaction
    as any write to the tables statistics and event counts read (see migration 0004), so an
    unchanged stamp means unchanged data, exactly, whichever process wrote. One primary-key
    lookup. None (= do not cache) when the row or the triggers are missing."""
    bind = s.get_bind()
    engine = getattr(bind, "engine", bind)
    ok = _triggers_checked.get(engine)
    if ok is None:
        ok = _triggers_checked[engine] = stamp_triggers_present(s)
        if not ok:
            log.error(
                "data_version triggers are missing (run `crosswatch db upgrade`; a batch migration on "
                "SQLite drops them): answers are computed afresh on every request"
            )
    if not ok:
        return None
    # the driver's SQL on the session's connection: this runs on every cached answer, and the
    # ORM's statement handling costs more than the primary-key lookup itself
    version = s.connection().exec_driver_sql(_STAMP_SQL).scalar()
    return None if version is None else (version,)


@dataclass(slots=True)
class _Entry:
    at: float  # clock() when computed
    stamp: tuple[Any, ...]
    value: Any


class StatsCache:
    """Answers of identical requests (statistics, event counts), reused while the data stamp
    (`data_version`) is unchanged, and recomputed after `ttl_s` (a bound on anything the stamp
    cannot see, e.g. a changed time-zone database).

    Dashboards ask the same questions over and over; each answer costs a GROUP BY over up to
    millions of events. Concurrent identical requests compute once (per-key lock): without it,
    50 clients asking at once would run the same heavy query 50 times. When an answer only
    aged past `ttl_s` (same stamp, so it is still exact), one request recomputes it while the
    others keep getting it, instead of all of them waiting seconds for the recomputation. When
    the stamp changed, nobody gets the old answer. `ttl_s <= 0` disables the cache."""

    def __init__(self, ttl_s: float, max_entries: int = 512, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _current(self, key: Hashable, stamp: tuple[Any, ...]) -> _Entry | None:
        """The entry for `key` computed at `stamp` (fresh or not), counted as a hit if fresh."""
        with self._guard:
            entry = self._entries.get(key)
            if entry is None or entry.stamp != stamp:
                return None
            self._entries.move_to_end(key)
            return entry

    def _fresh(self, entry: _Entry | None) -> bool:
        return entry is not None and self.clock() - entry.at < self.ttl_s

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _store(self, key: Hashable, stamp: tuple[Any, ...], value: Any) -> None:
        with self._guard:
            self.misses += 1
            self._entries[key] = _Entry(self.clock(), stamp, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                old, _ = self._entries.popitem(last=False)
                self._locks.pop(old, None)

    def _hit(self, entry: _Entry) -> Any:
        with self._guard:
            self.hits += 1
        return entry.value

    def get(self, s: Session, key: Hashable, compute: Callable[[], Any]) -> Any:
        if self.ttl_s <= 0:
            return compute()
        stamp = data_version(s)
        if stamp is None:
            return compute()
        entry = self._current(key, stamp)
        if self._fresh(entry):
            return self._hit(entry)  # type: ignore[arg-type]
        lock = self._lock(key)
        if entry is not None and not lock.acquire(blocking=False):
            return self._hit(entry)  # aged but exact: someone is already refreshing it
        if entry is None:
            lock.acquire()
        try:
            entry = self._current(key, stamp)
            if self._fresh(entry):
                return self._hit(entry)  # type: ignore[arg-type]
            value = compute()
            self._store(key, stamp, value)
            return value
        finally:
            lock.release()
