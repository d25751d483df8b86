"""Statistics as the API shows them: counts, hotspots, the weekday x hour matrix, spatial layers, trends, the summary."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from . import Label


class CountOut(BaseModel):
    crossing_id: str
    type: str
    class_name: str
    bucket_start: datetime = Field(description="local start of the bucket, with the zone's offset")
    count: int


class HotspotOut(BaseModel):
    rank: int
    crossing_id: str
    name: str
    district: str | None
    violations: int
    by_type: dict[str, int]
    road_users: int | None = Field(description="road users crossing in the range; null = no traffic counts")
    rate_per_1000: float | None = Field(description="violations per 1,000 road users; null = unknown exposure")


class WeekdayHourOut(BaseModel):
    tz: str
    weekdays: list[Label] = Field(description="row labels, Monday first")
    matrix: list[list[int]] = Field(description="7 rows (Monday first) × 24 local hours")
    total: int


class SpatialVersionOut(BaseModel):
    version: int
    frame_size: tuple[int, int]
    events: int


class SpatialOut(BaseModel):
    crossing_id: str
    bins: int
    frame_size: tuple[int, int] = Field(description="[width, height] of the current version: draw the grid over it")
    grid: list[list[int]] = Field(description="bins rows (top first) × bins columns (left first)")
    total: int
    versions: list[SpatialVersionOut]


class TrendPoint(BaseModel):
    bucket_start: datetime
    count: int


class TrendSeriesOut(BaseModel):
    type: str
    label: Label
    current: list[TrendPoint]
    previous: list[TrendPoint]
    total: int
    previous_total: int
    change_pct: float | None = Field(description="(total - previous_total) / previous_total × 100; null if 0 before")


class TrendOut(BaseModel):
    bucket: str
    tz: str
    start: datetime
    end: datetime
    previous_start: datetime
    series: list[TrendSeriesOut]


class SummaryOut(BaseModel):
    violations: int
    by_type: dict[str, int]
    by_status: dict[str, int] = Field(description="every review status, whatever `status` chose")
    road_users: int | None
    rate_per_1000: float | None
    confirmed_share: float | None = Field(description="confirmed / (confirmed + dismissed); null before any decision")
    pending: int
