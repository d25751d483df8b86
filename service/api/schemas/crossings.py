"""Crossings and their config versions: lists, detail, registration, per-crossing summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from . import StrictIn

MAX_YAML_CHARS = 1_000_000


class CrossingOut(BaseModel):
    id: str
    name: str
    district: str | None
    lat: float | None
    lon: float | None
    version: int | None = Field(description="current version number")
    events: int = Field(description="events found at this crossing")
    last_processed_at: datetime | None = Field(description="when a video of this crossing last finished processing")


class VersionInfo(BaseModel):
    version: int
    created_at: datetime
    geometry_hash: str
    current: bool


class VersionOut(BaseModel):
    crossing_id: str
    version: int
    created_at: datetime
    geometry_hash: str
    current: bool
    config: dict[str, Any] = Field(description="the parsed config (frame_size, signals, stop_lines, lanes, ...)")
    yaml: str = Field(description="the config as registered")


class CrossingDetail(CrossingOut):
    config: dict[str, Any] | None
    yaml: str | None
    versions: list[VersionInfo]


class CrossingIn(StrictIn):
    """A crossing config: either its YAML text or the same structure as JSON (exactly one)."""

    yaml: str | None = Field(default=None, max_length=MAX_YAML_CHARS, description="the crossing YAML file's text")
    config: dict[str, Any] | None = Field(default=None, description="the crossing config as a JSON object")

    @model_validator(mode="after")
    def _exactly_one(self) -> CrossingIn:
        if (self.yaml is None) == (self.config is None):
            raise ValueError("send exactly one of `yaml` (text) or `config` (object)")
        return self


class CrossingCreate(CrossingIn):
    """A new crossing's config, and optionally the background frame it was drawn on."""

    frame: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="a frame id from /api/crossing-frames: kept as the crossing's snapshot until a video is processed",
    )


class Registration(VersionOut):
    created: bool = Field(description="false: the config was identical to a stored version, nothing new was made")
    previous_version: int | None


class Summary(BaseModel):
    crossing_id: str
    events: dict[str, dict[str, int]] = Field(description="event type -> review status -> count")
    road_users: int = Field(description="road users counted crossing the stop lines (exposure)")
    runs: int
    first_event_at: datetime | None
    last_event_at: datetime | None
