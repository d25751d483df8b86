"""Users and API keys (all their SQL)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import security
from .models import ROLES, ApiKeyRow, UserRow

MIN_PASSWORD_LEN = 8


class AccountError(ValueError):
    """A user or key request that cannot be honoured (duplicate name, bad role, short password)."""


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    *,
    districts: Iterable[str] = (),
    crossing_ids: Iterable[str] = (),
    evidence_access: bool = False,
) -> UserRow:
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("username must be 1..64 characters")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LEN:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LEN} characters")
    if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise AccountError(f"user {username!r} exists")
    row = UserRow(
        username=username, password_hash=security.hash_password(password), role=role,
        districts=sorted(set(districts)), crossing_ids=sorted(set(crossing_ids)), evidence_access=evidence_access,
    )
    s.add(row)
    s.flush()
    return row


def find_user(s: Session, username: str) -> UserRow | None:
    return s.scalar(select(UserRow).where(UserRow.username == username))


def authenticate(s: Session, username: str, password: str) -> UserRow | None:
    """The active user with this password, else None (same cost either way)."""
    row = find_user(s, username)
    ok = security.verify_password(row.password_hash if row is not None else None, password)
    return row if ok and row is not None and row.active else None


def create_api_key(s: Session, user: UserRow, name: str) -> tuple[ApiKeyRow, str]:
    key, prefix, digest = security.new_api_key()
    row = ApiKeyRow(user_id=user.id, name=name, prefix=prefix, key_hash=digest)
    s.add(row)
    s.flush()
    return row, key


def user_for_api_key(s: Session, key: str) -> tuple[UserRow, int] | None:
    """(active user, key id) for a valid, unrevoked key; reads only."""
    prefix = security.api_key_prefix(key)
    if prefix is None:
        return None
    row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
    if row is None or row.revoked_at is not None or not security.same_hash(row.key_hash, security.api_key_hash(key)):
        return None
    user = s.get(UserRow, row.user_id)
    if user is None or not user.active:
        return None
    return user, row.id


def touch_api_key(write_sessions, key_id: int, every_s: float = 60.0) -> None:
    """Record when a key was last used (at most once per `every_s`, in its own short write)."""
    now = datetime.now(timezone.utc)
    with write_sessions.begin() as w:
        w.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id,
                   (ApiKeyRow.last_used_at.is_(None)) | (ApiKeyRow.last_used_at < now - timedelta(seconds=every_s)))
            .values(last_used_at=now)
        )
