"""Request parameters shared by the routes: text patterns, bounded ids, and the check that turns
an aware datetime into UTC or a 422."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import HTTPException, Path, status

MAX_DB_INT = 2_147_483_647
# An integer id in a path: bounded, so a huge number is a 422, not a database overflow.
IntId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]

# One line of printable text, not blank: no control characters (NUL, escape sequences, ...).
PRINTABLE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as bad input, not a 500


def utc(name: str, value: datetime | None, years: tuple[int, int] | None = None) -> datetime | None:
    """`value` in UTC, or 422 naming the parameter `name` when the shift to UTC leaves the
    calendar (e.g. 0001-01-01T00:00+14:00) or, with `years` = (first, end), when its year is
    outside [first, end)."""
    if value is None:
        return None
    try:
        v = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"'{name}' is out of range") from None
    if years is not None and not years[0] <= v.year < years[1]:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"'{name}' must be between {years[0]} and {years[1]}")
    return v
