"""Service settings: strict (`extra=forbid`), read from `CROSSWATCH_*` environment variables or
passed in by tests / `crosswatch serve`.

Production needs a secret: `create_app()` refuses to start without `secret_key` unless
`demo=True` (the README's main command), which generates a throwaway one per process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .db import default_db_url

ENV_PREFIX = "CROSSWATCH_"
MIN_SECRET_LEN = 32


class SettingsError(ValueError):
    """Settings that cannot start the service (missing secret, bad value)."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = Field(default_factory=default_db_url, description="SQLAlchemy URL")
    evidence_dir: Path | None = Field(
        default=None, description="evidence root (default: `evidence` beside the SQLite file, else ./data/evidence)"
    )
    secret_key: str | None = Field(default=None, description=f"JWT signing key, >= {MIN_SECRET_LEN} characters")
    demo: bool = Field(default=False, description="demo mode: throwaway secret, demo accounts")
    token_ttl_s: int = Field(default=8 * 3600, gt=0, le=7 * 24 * 3600)
    login_attempts: int = Field(default=5, gt=0, description="failed logins allowed per username+client per window")
    login_window_s: int = Field(default=300, gt=0)
    login_client_attempts: int = Field(
        default=20,
        ge=0,
        description="failed logins allowed per client address "
        "(any username) per window: a spray of usernames is cut off before hashing; "
        "0 = no per-client limit (e.g. behind a proxy that hides client addresses)",
    )
    ingest_root: Path | None = Field(default=None, description="jobs may read videos only under this folder")
    upload_dir: Path | None = Field(
        default=None, description="where uploaded videos are stored (default: data/uploads)"
    )
    upload_max_bytes: int = Field(default=4 * 1024**3, gt=0)
    second_review: bool = Field(
        default=False,
        description="a confirmed event needs a second reviewer; recorded in "
        "the database: once any instance ran with it, instances without it refuse to start",
    )
    audit_key: str | None = Field(
        default=None,
        description="HMAC key of the audit chain (>= 32 characters); default: "
        "derived from secret_key. Kept outside the database, so a DBA cannot re-sign it",
    )
    max_body_bytes: int = Field(
        default=2 * 1024**2,
        gt=0,
        description="largest JSON/form request body (413 above); video uploads have their own limit, upload_max_bytes",
    )
    login_hash_concurrency: int | None = Field(
        default=None,
        gt=0,
        description="password checks (argon2, CPU and "
        "64 MiB each) run at once; default: half the CPU cores, at least 1",
    )
    metrics_token: str | None = Field(
        default=None,
        description="when set, GET /metrics needs "
        "`Authorization: Bearer <metrics_token>` (or an admin); unset: admins only",
    )
    worker: bool = Field(default=True, description="run the jobs worker inside the service process")
    map_geojson: Path | None = Field(
        default=None,
        description="a GeoJSON FeatureCollection of districts / roads drawn under the dashboard's "
        "crossing map (served at /api/map/basemap; checked at start); unset: the lon/lat sketch",
    )
    stats_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="reuse identical statistics answers while the "
        "data is unchanged, for at most this many seconds (0 = off)",
    )

    @field_validator("secret_key", "audit_key")
    @classmethod
    def _secret_long_enough(cls, v: str | None) -> str | None:
        if v is not None and len(v) < MIN_SECRET_LEN:
            raise ValueError(f"secret_key and audit_key must be at least {MIN_SECRET_LEN} characters")
        return v

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """`CROSSWATCH_<FIELD>` variables (e.g. CROSSWATCH_SECRET_KEY), then `overrides`."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None and env != "":
                values[name] = env
        if "db_url" not in values and os.environ.get("CROSSWATCH_DB_URL"):
            values["db_url"] = os.environ["CROSSWATCH_DB_URL"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as e:
            raise SettingsError(str(e)) from e

    def resolved_evidence_dir(self) -> Path:
        if self.evidence_dir is not None:
            return Path(self.evidence_dir)
        env = os.environ.get("CROSSWATCH_EVIDENCE_DIR")
        if env:
            return Path(env)
        from sqlalchemy.engine import make_url

        u = make_url(self.db_url)
        if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
            return Path(u.database).expanduser().resolve().parent / "evidence"
        return Path.cwd() / "data" / "evidence"

    def resolved_upload_dir(self) -> Path:
        return Path(self.upload_dir) if self.upload_dir is not None else self.resolved_evidence_dir().parent / "uploads"
