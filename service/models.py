"""ORM models (SQLAlchemy 2.0 typed declarative). The schema is created only by Alembic
(`service/migrations/`); `tests/service/test_repository.py` checks migration == models.

Times are stored timezone-aware (`UTCDateTime`): naive datetimes are refused on write, and every
value read back is an aware datetime in UTC, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .vocabulary import EventType, ReviewAction, ReviewStatus, Role, SignalState, values

# Constraint names are part of the schema Alembic manages: keep them deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("running", "done", "failed")
# the CHECK constraints below are made from the enums of `service.vocabulary`
EVENT_TYPES = values(EventType)
REVIEW_STATUSES = values(ReviewStatus)
REVIEW_ACTIONS = values(ReviewAction)
ROLES = values(Role)
JOB_STATUSES = ("queued", "running", "done", "failed", "partial", "cancelled")
JOB_ITEM_STATUSES = ("queued", "running", "done", "failed", "cancelled")
SIGNAL_STATES = values(SignalState)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE`; aware datetimes in, aware UTC datetimes out (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: crosswatch stores timezone-aware times only")
        value = value.astimezone(UTC)
        # SQLite has no zone type: store UTC wall time; PostgreSQL keeps the aware value.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class CrossingRow(Base):
    """A signalised crossing, keyed by the config's string id; `current_version_id` is the
    version of the config most recently registered."""

    __tablename__ = "crossings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # crossings <-> crossing_versions is a cycle: this side is added after both tables exist.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("crossing_versions.id", use_alter=True, ondelete="SET NULL")
    )

    versions: Mapped[list[CrossingVersionRow]] = relationship(
        back_populates="crossing", foreign_keys="CrossingVersionRow.crossing_id", order_by="CrossingVersionRow.version"
    )


class CrossingVersionRow(Base):
    """One distinct configuration of a crossing (identity: `Crossing.geometry_hash()`)."""

    __tablename__ = "crossing_versions"
    __table_args__ = (
        UniqueConstraint("crossing_id", "geometry_hash"),
        UniqueConstraint("crossing_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crossing_id: Mapped[str] = mapped_column(ForeignKey("crossings.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    geometry_hash: Mapped[str] = mapped_column(String(64))
    config_yaml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    crossing: Mapped[CrossingRow] = relationship(back_populates="versions", foreign_keys=[crossing_id])


class VideoRunRow(Base):
    """One processing of one video with one crossing version and one settings set."""

    __tablename__ = "video_runs"
    __table_args__ = (
        UniqueConstraint("video_sha256", "crossing_version_id", "settings_hash"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_path: Mapped[str] = mapped_column(Text)
    video_sha256: Mapped[str] = mapped_column(String(64))
    crossing_version_id: Mapped[int] = mapped_column(ForeignKey("crossing_versions.id"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column()
    settings_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_s: Mapped[float | None] = mapped_column(Float)  # video length
    frames: Mapped[int | None] = mapped_column(Integer)
    elapsed_s: Mapped[float | None] = mapped_column(Float)  # processing wall time
    timings: Mapped[dict[str, Any] | None] = mapped_column()  # per-stage seconds
    start_time: Mapped[datetime | None] = mapped_column()  # wall clock of the video's t = 0


class EventRow(Base):
    """A violation found in a run. `uid` is the public id (API, evidence folders)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("run_id", "event_key"),
        CheckConstraint(_in("type", EVENT_TYPES), name="type"),
        CheckConstraint(_in("review_status", REVIEW_STATUSES), name="review_status"),
        CheckConstraint(_in("signal_state", SIGNAL_STATES), name="signal_state"),
        Index(None, "crossing_id", "occurred_at"),
        Index(None, "type"),
        Index(None, "review_status"),
        Index(None, "class_name"),
        Index(None, "review_status", "occurred_at"),
        Index(None, "occurred_at"),
        Index(None, "reviewed_at"),  # statistics cache: "did a review happen?" (0003)
        Index(None, "plate_text"),  # events list `plate=` (0006)
        Index(None, "plate_corrected"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("video_runs.id", ondelete="CASCADE"))
    crossing_id: Mapped[str] = mapped_column(ForeignKey("crossings.id"))
    crossing_version_id: Mapped[int] = mapped_column(ForeignKey("crossing_versions.id"))
    event_key: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    track_id: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(32))
    t: Mapped[float] = mapped_column(Float)  # seconds from video start
    frame: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    lane: Mapped[str | None] = mapped_column(String(64))
    stop_line: Mapped[str | None] = mapped_column(String(64))
    signal_id: Mapped[str | None] = mapped_column(String(64))
    signal_state: Mapped[str | None] = mapped_column(String(8))
    signal_source: Mapped[str | None] = mapped_column(String(16))
    since_red_s: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime | None] = mapped_column()  # wall clock, when the video's start is known
    review_status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    # Review summary (the full history is in `reviews` and the hash-chained `audit_log`).
    review_stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 0 none, 1 first, 2 second
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Plate (0006): the machine reading stays as it was read; a reviewer's correction sits beside it.
    plate_status: Mapped[str | None] = mapped_column(String(16))  # read | not_read | None (not attempted)
    plate_text: Mapped[str | None] = mapped_column(String(16))  # canonical machine reading, None = not read
    plate_display: Mapped[str | None] = mapped_column(String(32))
    plate_region: Mapped[str | None] = mapped_column(String(4))  # CN | VN | ID
    plate_colour: Mapped[str | None] = mapped_column(String(16))
    plate_confidence: Mapped[float | None] = mapped_column(Float)
    plate_reason: Mapped[str | None] = mapped_column(Text)
    plate_corrected: Mapped[str | None] = mapped_column(String(16))  # the reviewer's plate, canonical
    plate_corrected_by: Mapped[str | None] = mapped_column(String(64))
    plate_corrected_at: Mapped[datetime | None] = mapped_column()
    # Violation code + legal basis (from the deployment's codes table), anti-forgery code and seal
    violation_code: Mapped[str | None] = mapped_column(String(8))
    violation_full_code: Mapped[str | None] = mapped_column(String(8))
    violation_description: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    anti_forgery_code: Mapped[str | None] = mapped_column(String(16))
    evidence_seal: Mapped[str | None] = mapped_column(String(64))

    @property
    def plate(self) -> str | None:
        """The plate to act on: the reviewer's correction, else the machine reading."""
        return self.plate_corrected or self.plate_text

    evidence: Mapped[list[EvidenceFileRow]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True, order_by="EvidenceFileRow.id"
    )


class EvidenceFileRow(Base):
    """One evidence file of an event; `relpath` is relative to the evidence root."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("event_id", "relpath"), CheckConstraint("size >= 0", name="size"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)  # public, opaque
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    relpath: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(100))

    event: Mapped[EventRow] = relationship(back_populates="evidence")


class TrafficCountRow(Base):
    """Road users crossing a stop line (entering direction, any signal) per minute: exposure."""

    __tablename__ = "traffic_counts"
    __table_args__ = (
        UniqueConstraint("run_id", "stop_line", "class_name", "minute_start"),
        CheckConstraint("count >= 0", name="count"),
        Index(None, "crossing_id", "minute_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crossing_id: Mapped[str] = mapped_column(ForeignKey("crossings.id"))
    crossing_version_id: Mapped[int] = mapped_column(ForeignKey("crossing_versions.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("video_runs.id", ondelete="CASCADE"))
    stop_line: Mapped[str] = mapped_column(String(64))
    class_name: Mapped[str] = mapped_column(String(32))
    minute_start: Mapped[int] = mapped_column(Integer)  # minute index from video start
    minute_at: Mapped[datetime | None] = mapped_column()  # wall clock of that minute, when known
    count: Mapped[int] = mapped_column(Integer)


class UserRow(Base):
    """A person or script account. `districts` / `crossing_ids` limit what the user sees (empty =
    everything); `evidence_access` lets an analyst see raw evidence (other roles per their role)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    crossing_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence_access: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by a password reset, deactivation, role or scope change: tokens carry the user's id
    # and this version, so every token issued before the change stops working at once (0005).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiKeyRow(Base):
    """An API key of a user, for scripts. Only `prefix` (to find it) and the SHA-256 of the whole
    key are stored; the key itself is shown once, when created."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class ReviewRow(Base):
    """One review decision on an event (stage 1 = first review, 2 = second review)."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_in("action", REVIEW_ACTIONS), name="action"),
        CheckConstraint("stage IN (1, 2)", name="stage"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    stage: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    """Append-only audit log; `hash` = HMAC-SHA-256 (under the audit key, kept outside the
    database; plain SHA-256 for entries from before 0005) over the entry's canonical JSON and
    `prev_hash` (the previous entry's `hash`), so any edit or deletion breaks the chain; the
    keyed `audit_head` row anchors its end (see `service.audit`)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRow(Base):
    """The audit chain's anchor (one row, id 1): the last entry's id and hash and the entry count,
    with an HMAC over them under the audit key (kept outside the database). Deleting the last
    entries, or rewriting the chain, no longer matches the head, and the head cannot be rewritten
    to match without the key (0005)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    mac: Mapped[str] = mapped_column(String(64))


class LoginAttemptRow(Base):
    """One login attempt still inside the limiter's window, recorded BEFORE the password is
    checked (so parallel guesses count at once) and shared by every service process (0005)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index(None, "key", "at"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column()


class ServicePolicyRow(Base):
    """Policy every service process on this database must share (e.g. `second_review`): the
    strictest setting any instance started with is recorded here, and an instance started with a
    weaker one refuses to start (0005)."""

    __tablename__ = "service_policy"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class JobRow(Base):
    """A processing job submitted by an operator: one or more videos for one crossing."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_in("status", JOB_STATUSES), name="status"), Index(None, "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    crossing_id: Mapped[str] = mapped_column(ForeignKey("crossings.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start_time: Mapped[datetime | None] = mapped_column()  # wall clock of the (first) video's t = 0
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    error: Mapped[str | None] = mapped_column(Text)

    items: Mapped[list[JobItemRow]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True, order_by="JobItemRow.id"
    )


class JobItemRow(Base):
    """One video of a job; `progress` is 0..1 of the video processed."""

    __tablename__ = "job_items"
    __table_args__ = (CheckConstraint(_in("status", JOB_ITEM_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("video_runs.id", ondelete="SET NULL"))
    events: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    job: Mapped[JobRow] = relationship(back_populates="items")


class DataVersionRow(Base):
    """One row (id 1) whose `version` is incremented by database triggers (migration 0004) in the
    same transaction as every write to events, traffic counts, crossings and crossing versions:
    the exact, one-lookup "has anything counted changed?" stamp of the API's answer caches."""

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
