"""Statistics time arithmetic: local-time buckets (hour, day, Monday-first week) of UTC
instants, in Python and as SQL.

SQLite has no time zones, so the zone's UTC offset is applied in SQL as *piecewise constant*:
`offset_segments()` finds the zone's offset changes (DST) inside the queried range, and the SQL
adds the right offset with a CASE over those instants (a plain constant for zones without DST,
the common case). Local seconds since the epoch are then integer-divided into hours / days /
Monday-first weeks, the same expression on SQLite and PostgreSQL, so both give identical buckets.
`local_seconds_py` / `bucket_key` / `bucket_start` are the same arithmetic in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, literal

Bucket = Literal["hour", "day", "week"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_HOUR, _DAY = 3600, 86400
# 1970-01-01 was a Thursday: Monday-first weekday of local day d is (d + 3) % 7.
_THURSDAY = 3


def _offset_s(tz: ZoneInfo, at: datetime) -> int:
    off = at.astimezone(tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@lru_cache(maxsize=256)
def _segments_cached(tz: ZoneInfo, lo_day: int, hi_day: int) -> tuple[tuple[datetime | None, int], ...]:
    lo = EPOCH + timedelta(days=lo_day)
    hi = EPOCH + timedelta(days=hi_day + 1)
    segments: list[tuple[datetime | None, int]] = [(None, _offset_s(tz, lo))]
    prev_t, prev_off = lo, segments[0][1]
    t = lo
    while t < hi:
        t = min(t + timedelta(hours=6), hi)
        off = _offset_s(tz, t)
        if off != prev_off:  # a change in (prev_t, t]: bisect to the (whole) second
            a, b = int((prev_t - EPOCH).total_seconds()), int((t - EPOCH).total_seconds())
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_s(tz, EPOCH + timedelta(seconds=mid)) == prev_off:
                    a = mid
                else:
                    b = mid
            segments.append((EPOCH + timedelta(seconds=b), off))
            prev_off = off
        prev_t = t
    return tuple(segments)


def offset_segments(tz: ZoneInfo, start: datetime, end: datetime) -> tuple[tuple[datetime | None, int], ...]:
    """The zone's UTC offsets over [start, end]: ((None, off0), (t1, off1), ...) meaning off0
    before t1, off1 from t1 on, ... Whole days around the range, cached per zone and day span."""
    lo = (start - EPOCH).days - 1
    hi = (end - EPOCH).days + 1
    return _segments_cached(tz, lo, hi)


def local_seconds_py(at: datetime, tz: ZoneInfo) -> int:
    """Local wall-clock seconds since 1970-01-01 00:00 local: the value the SQL computes."""
    return int((at - EPOCH).total_seconds() // 1) + _offset_s(tz, at)


def bucket_key(local_s: int, bucket: Bucket) -> int:
    if bucket == "hour":
        return local_s // _HOUR
    if bucket == "day":
        return local_s // _DAY
    return (local_s // _DAY + _THURSDAY) // 7


def bucket_start(key: int, bucket: Bucket, tz: ZoneInfo) -> datetime:
    """The local start of bucket `key` as an aware datetime in `tz`."""
    if bucket == "hour":
        naive = datetime(1970, 1, 1) + timedelta(hours=key)
    elif bucket == "day":
        naive = datetime(1970, 1, 1) + timedelta(days=key)
    else:
        naive = datetime(1970, 1, 1) + timedelta(days=7 * key - _THURSDAY)
    return naive.replace(tzinfo=tz)


def _epoch_sql(col: Any, dialect: str) -> ColumnElement[int]:
    if dialect == "sqlite":
        # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC; strftime('%s') ROUNDS fractions
        # (23:59:59.9999 would land in the next day), so cut them off first.
        return cast(func.strftime("%s", func.substr(col, 1, 19)), BigInteger)
    return cast(func.floor(func.extract("epoch", col)), BigInteger)


def local_seconds_sql(col: Any, dialect: str, segments: Sequence[tuple[datetime | None, int]]) -> ColumnElement[int]:
    """SQL: local wall-clock seconds since the local epoch for the UTC column `col`."""
    if len(segments) == 1:
        offset: ColumnElement[int] = literal(segments[0][1], BigInteger)
    else:
        whens = [(col < segments[i + 1][0], literal(segments[i][1], BigInteger)) for i in range(len(segments) - 1)]
        offset = case(*whens, else_=literal(segments[-1][1], BigInteger))
    return _epoch_sql(col, dialect) + offset


def bucket_sql(local_s: ColumnElement[int], bucket: Bucket) -> ColumnElement[int]:
    if bucket == "hour":
        return local_s // _HOUR
    if bucket == "day":
        return local_s // _DAY
    return (local_s // _DAY + _THURSDAY) // 7
