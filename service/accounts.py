"""Users and API keys (all their SQL)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import security
from .models import ROLES, ApiKeyRow, UserRow

MIN_PASSWORD_LEN = 8
USERNAME_RULE = (
    "1..64 characters after NFKC normalisation: ASCII letters, digits and . _ @ - only, starting "
    "with a letter or digit (no look-alike letters from other scripts, e.g. a Cyrillic 'а')"
)
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class AccountError(ValueError):
    """A user or key request that cannot be honoured (duplicate name, bad role, short password)."""


def normalise_username(username: str) -> str:
    """The username in NFKC form (full-width `ａｄｍｉｎ` -> `admin`), or ValueError when it is not
    `USERNAME_RULE` (so `аdmin` with a Cyrillic а, or any mixed-script look-alike, is refused)."""
    name = unicodedata.normalize("NFKC", username).strip()
    if not _USERNAME.fullmatch(name):
        raise ValueError(f"username: {USERNAME_RULE}")
    return name


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
    try:
        username = normalise_username(username)
    except ValueError as e:
        raise AccountError(str(e)) from None
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LEN:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LEN} characters")
    if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise AccountError(f"user {username!r} exists")
    row = UserRow(
        username=username,
        password_hash=security.hash_password(password),
        role=role,
        districts=sorted(set(districts)),
        crossing_ids=sorted(set(crossing_ids)),
        evidence_access=evidence_access,
        # a random start: a user deleted and created again may get the same id (SQLite reuses the
        # highest rowid), and must still not accept the old user's tokens
        token_version=secrets.randbelow(2**31),
    )
    s.add(row)
    s.flush()
    return row


def find_user(s: Session, username: str) -> UserRow | None:
    return s.scalar(select(UserRow).where(UserRow.username == username))


@dataclass(frozen=True, slots=True)
class LoginView:
    """What login needs of a user, read in a short read session (no ORM object outlives it)."""

    id: int
    username: str
    role: str
    active: bool
    token_version: int
    password_hash: str


def login_view(s: Session, username: str) -> LoginView | None:
    row = find_user(s, username)
    if row is None:
        return None
    return LoginView(row.id, row.username, row.role, bool(row.active), int(row.token_version or 0), row.password_hash)


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
    now = datetime.now(UTC)
    with write_sessions.begin() as w:
        w.execute(
            update(ApiKeyRow)
            .where(
                ApiKeyRow.id == key_id,
                (ApiKeyRow.last_used_at.is_(None)) | (ApiKeyRow.last_used_at < now - timedelta(seconds=every_s)),
            )
            .values(last_used_at=now)
        )
