"""Login and the caller's own account."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from . import StrictIn


class LoginIn(StrictIn):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: str
    username: str


class MeOut(BaseModel):
    username: str
    role: str
    districts: list[str]
    crossing_ids: list[str]
    evidence_access: bool
