"""Passwords (argon2id), access tokens (JWT, HS256 pinned, with expiry), API keys (random, stored
as SHA-256), and the login rate limiter."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

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


def issue_token(secret: str, username: str, role: str, ttl_s: int, now: datetime | None = None) -> tuple[str, datetime]:
    now = now or datetime.now(timezone.utc)
    exp = now + timedelta(seconds=ttl_s)
    payload = {"sub": username, "role": role, "iss": JWT_ISSUER, "iat": int(now.timestamp()), "exp": int(exp.timestamp())}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), exp


def read_token(secret: str, token: str) -> TokenClaims:
    try:
        p = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], issuer=JWT_ISSUER,
                       options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.PyJWTError as e:
        raise TokenError("invalid token") from e
    if not isinstance(p.get("sub"), str) or not isinstance(p.get("role"), str):
        raise TokenError("invalid token")
    return TokenClaims(p["sub"], p["role"], datetime.fromtimestamp(p["exp"], timezone.utc))


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
    prefix, sep, _ = key[len(API_KEY_PREFIX):].partition("_")
    return prefix if sep and len(prefix) == 12 else None


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class LoginLimiter:
    """At most `attempts` failed logins per key (username + client address) in a sliding
    `window_s`; a success clears the key. In-process: one limiter per app."""

    def __init__(self, attempts: int, window_s: float, clock=time.monotonic):
        self.attempts, self.window_s, self._clock = attempts, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= self.window_s:
            q.popleft()
        return q

    def retry_after(self, key: str) -> float:
        """0 when a login may be tried now, else seconds until it may."""
        with self._lock:
            now = self._clock()
            q = self._recent(key, now)
            if len(q) < self.attempts:
                if not q:
                    self._failures.pop(key, None)
                return 0.0
            return max(0.0, self.window_s - (now - q[0]))

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key, self._clock()).append(self._clock())
            if len(self._failures) > 100_000:  # bound memory under a spray of usernames
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
