"""Passwords (argon2id), access tokens (JWT, HS256 pinned, with expiry), API keys (random, stored
as SHA-256), and the login rate limiter."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

JWT_ALGORITHM = "HS256"  # pinned: tokens naming any other algorithm (incl. "none") are refused
JWT_ISSUER = "crosswatch"
API_KEY_PREFIX = "cw_"

_hasher = PasswordHasher()  # argon2id with the library's current defaults
# A fixed hash, so an unknown username costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("crosswatch-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class TokenError(Exception):
    """A token that is missing, malformed, expired, or not signed by this service."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    username: str
    role: str
    expires_at: datetime
    user_id: int
    token_version: int


def issue_token(
    secret: str, username: str, role: str, ttl_s: int, now: datetime | None = None, *, user_id: int, token_version: int
) -> tuple[str, datetime]:
    """A signed token naming the user by id AND name, with the user's `token_version`: a password
    reset, deactivation, role change or deletion (a re-created user has a new id) revokes it."""
    now = now or datetime.now(UTC)
    exp = now + timedelta(seconds=ttl_s)
    payload = {
        "sub": username,
        "uid": user_id,
        "tv": token_version,
        "role": role,
        "iss": JWT_ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), exp


def read_token(secret: str, token: str) -> TokenClaims:
    try:
        p = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.PyJWTError as e:
        raise TokenError("invalid token") from e
    if not isinstance(p.get("sub"), str) or not isinstance(p.get("role"), str):
        raise TokenError("invalid token")
    uid, tv = p.get("uid"), p.get("tv")
    if type(uid) is not int or type(tv) is not int:  # tokens from before revocation existed: refused
        raise TokenError("invalid token")
    return TokenClaims(p["sub"], p["role"], datetime.fromtimestamp(p["exp"], UTC), uid, tv)


def new_api_key() -> tuple[str, str, str]:
    """(key shown once, prefix stored to find it, SHA-256 stored to check it)."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, api_key_hash(key)


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, _ = key[len(API_KEY_PREFIX) :].partition("_")
    return prefix if sep and len(prefix) == 12 else None


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class LoginLimiter:
    """At most `attempts` login attempts per key (username + client address) in a sliding
    `window_s`, counted in the database (`login_attempts`), so every service process shares one
    limiter. `admit()` records the attempt BEFORE the password is checked, in one short write
    transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock on the key), so N parallel
    guesses get at most `attempts` password checks; a success clears the key."""

    def __init__(self, attempts: int, window_s: float, clock=None):
        self.attempts, self.window_s = attempts, window_s
        self._clock = clock or (lambda: datetime.now(UTC))

    def _refused(self, read_sessions, checks: list[tuple[str, int]], now: datetime) -> float:
        """Seconds to wait when a key is already at its limit (read only: a flood of refused
        attempts takes no write lock), else 0."""
        from sqlalchemy import func, select

        from .models import LoginAttemptRow

        since = now - timedelta(seconds=self.window_s)
        with read_sessions() as r:
            for k, limit in checks:
                n, first = r.execute(
                    select(func.count(), func.min(LoginAttemptRow.at)).where(
                        LoginAttemptRow.key == k, LoginAttemptRow.at >= since
                    )
                ).one()
                if n >= limit:
                    return max(0.001, self.window_s - (now - first).total_seconds())
        return 0.0

    def admit(
        self, write_sessions, key: str, also: tuple[str, int] | None = None, read_sessions=None
    ) -> tuple[int, float]:
        """(this attempt's number in the window, 0) when a check may run now, else (0, seconds to
        wait). `also`: a second (key, limit) checked and recorded in the same transaction (the
        per-client limit; a limit of 0 turns it off). With `read_sessions`, a key already at its
        limit is refused after a read, without a write transaction. Old attempts of every key are pruned in
        the same write (bounded table)."""
        from sqlalchemy import delete, func, select, text

        from .models import LoginAttemptRow

        now = self._clock()
        since = now - timedelta(seconds=self.window_s)
        checks = [(key, self.attempts)] + ([also] if also is not None and also[1] > 0 else [])
        if read_sessions is not None:
            wait = self._refused(read_sessions, checks, now)
            if wait > 0:
                return 0, wait
        with write_sessions.begin() as w:
            if w.get_bind().dialect.name == "postgresql":
                for k, _ in checks:
                    w.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": k})
            w.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < since))
            numbers = []
            for k, limit in checks:
                n, first = w.execute(
                    select(func.count(), func.min(LoginAttemptRow.at)).where(LoginAttemptRow.key == k)
                ).one()
                if n >= limit:
                    return 0, max(0.0, self.window_s - (now - first).total_seconds())
                numbers.append(n + 1)
            for k, _ in checks:
                w.add(LoginAttemptRow(key=k, at=now))
        return numbers[0], 0.0

    def succeeded(self, write_sessions, key: str, also: str | None = None) -> None:
        """Clear `key` (a success ends the streak) and one in-flight attempt of `also`."""
        from sqlalchemy import delete, select

        from .models import LoginAttemptRow

        with write_sessions.begin() as w:
            w.execute(delete(LoginAttemptRow).where(LoginAttemptRow.key == key))
            if also is not None:
                newest = w.scalar(
                    select(LoginAttemptRow.id)
                    .where(LoginAttemptRow.key == also)
                    .order_by(LoginAttemptRow.id.desc())
                    .limit(1)
                )
                if newest is not None:
                    w.execute(delete(LoginAttemptRow).where(LoginAttemptRow.id == newest))
