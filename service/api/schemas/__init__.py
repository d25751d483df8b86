"""Shared API models."""
from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A list answer: `data` (this page) and `count` (all rows matching the filters)."""

    data: list[T]
    count: int


class Message(BaseModel):
    detail: str


class StrictIn(BaseModel):
    """Request bodies: unknown fields are an error (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


MAX_DB_INT = 2_147_483_647
# An integer id in a path: bounded, so a huge number is a 422, not a database overflow.
IntId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]

# One line of printable text, not blank: no control characters (NUL, escape sequences, ...).
PRINTABLE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
