"""Users and API keys: what an admin sends and gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from ... import accounts
from ...models import ROLES
from ..params import PRINTABLE_LINE
from . import StrictIn

ROLE_PATTERN = "^(" + "|".join(ROLES) + ")$"  # the roles of `service.vocabulary.Role`
# Scope names: bounded, printable (no control characters), not blank.
ScopeName = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE_LINE)]


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    districts: list[str]
    crossing_ids: list[str]
    evidence_access: bool
    active: bool
    created_at: datetime


class UserIn(StrictIn):
    username: str = Field(min_length=1, max_length=64, description=accounts.USERNAME_RULE)
    password: str = Field(min_length=accounts.MIN_PASSWORD_LEN, max_length=1024)
    role: str = Field(pattern=ROLE_PATTERN)
    districts: list[ScopeName] = Field(default_factory=list, max_length=200)
    crossing_ids: list[ScopeName] = Field(default_factory=list, max_length=1000)

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        return accounts.normalise_username(v)

    evidence_access: bool = False


class UserPatch(StrictIn):
    """A partial update: only the fields sent change (e.g. `{"active": false}` alone)."""

    role: str | None = Field(default=None, pattern=ROLE_PATTERN)
    districts: list[ScopeName] | None = Field(default=None, max_length=200)
    crossing_ids: list[ScopeName] | None = Field(default=None, max_length=1000)
    evidence_access: bool | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=accounts.MIN_PASSWORD_LEN, max_length=1024)


class ApiKeyIn(StrictIn):
    name: str = Field(min_length=1, max_length=100, pattern=PRINTABLE_LINE)


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself: shown once, store it now")
