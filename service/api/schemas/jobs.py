"""Jobs (batches of videos to process) and their items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from . import StrictIn


class JobIn(StrictIn):
    crossing_id: str = Field(min_length=1, max_length=64)
    paths: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1,
        max_length=1000,
        description="video files or folders (searched recursively for .mp4 .mkv .avi .mov .ts .flv), relative to "
        "the server's ingest root or absolute inside it",
    )
    start_time: AwareDatetime | None = Field(
        default=None,
        description="wall clock of the first video's first frame (with a UTC offset); "
        "later videos of the job get no start time",
    )


class JobItemOut(BaseModel):
    id: int
    path: str
    status: str
    progress: float = Field(ge=0, le=1)
    error: str | None
    events: int | None
    run_id: int | None
    reused: bool | None = Field(
        description=(
            "done items: true when the video had already been processed with the same crossing version and "
            "settings, so that earlier run (run_id) was reused and nothing was added; null before an item is done"
        )
    )
    run_start_time: datetime | None = Field(
        description=(
            "the wall clock of the video's first frame as its run recorded it: a reused run keeps its own, "
            "whatever start time this job was given"
        )
    )
    started_at: datetime | None
    finished_at: datetime | None


class JobOut(BaseModel):
    uid: str
    crossing_id: str
    status: str
    progress: float = Field(ge=0, le=1, description="mean over the items (finished items count 1)")
    items_total: int
    items_by_status: dict[str, int]
    start_time: datetime | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool
    error: str | None


class JobDetail(JobOut):
    items: list[JobItemOut]
