"""API models (pydantic) shared by every resource; a resource's own models are in its module here
(`schemas.events`, `schemas.reviews`, ...)."""

from __future__ import annotations

from typing import Generic, TypeVar

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


class Label(BaseModel):
    """A code's name for people, in both languages of the UI."""

    zh: str
    en: str
