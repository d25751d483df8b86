"""Request dependencies: settings, one database session per request, the authenticated principal
and its scope. Handlers declare what they need with the `Annotated` aliases below.

Cheap dependencies are `async def`: FastAPI runs a plain `def` dependency on the thread pool, a
hop that costs more than these functions themselves. A bearer token's principal is cached for
`PRINCIPAL_TTL_S` (see `PrincipalCache`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from .. import accounts, events_repo, security
from ..models import EventRow, UserRow
from ..principal import Principal, principal_for
from ..settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_evidence_root(request: Request) -> Path:
    """The evidence store's root folder (resolved when the app was made)."""
    return request.app.state.evidence_dir


async def _close(s: Session) -> None:
    """Close `s`: on a thread when it holds a connection (its ROLLBACK and return to the pool may
    block), else at once (a session that never queried closes without I/O).

    The thread is NOT one of the request thread pool's: with every pool thread busy in a handler
    waiting for a database connection, and those connections held by sessions waiting for a
    pool thread to close them, nothing would move again (FastAPI's own generator dependencies
    exit the same way). Shielded: a client hanging up must not leak the connection."""
    if not s.in_transaction():
        s.close()
        return
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(s.close, limiter=anyio.CapacityLimiter(1))


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A read session per request (SQLite: deferred BEGIN, readers never wait for writers).
    Async: making a session does no I/O, so it costs no thread-pool hop (a sync generator
    dependency costs two: one to enter, one to exit)."""
    s = request.app.state.sessionmaker()
    try:
        yield s
    finally:
        await _close(s)


async def get_write_session(request: Request) -> AsyncIterator[Session]:
    """A session for handlers that write: on SQLite its transaction takes the write lock at BEGIN
    (writers queue on busy_timeout instead of failing); handlers call `commit()`."""
    s = request.app.state.write_sessionmaker()
    try:
        yield s
    finally:
        await _close(s)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EvidenceRootDep = Annotated[Path, Depends(get_evidence_root)]
# scope="function": the session is closed (its connection back in the pool) once the handler's
# response is built, before it is sent: a slow client or a long file download holds no
# connection. (Requests waiting for a pool thread while holding a connection are prevented by
# the admission limit in `service.api.app`.) Handlers must not hand out ORM objects that still need
# their session to be read.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key of an operator's script")


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


PRINCIPAL_TTL_S = 5.0
PRINCIPAL_CACHE_ENTRIES = 10_000


class PrincipalCache:
    """Principals of bearer tokens seen in the last `ttl_s` seconds (and never past the token's
    own expiry), so a burst of requests with one token decodes it and reads the user once.

    Why: checking a token costs a JWT decode, a user query and the scope query, ~1 ms of a
    request that otherwise serves a cached answer. The price: a change to a user's role, scope
    or `active` flag reaches tokens already in use up to `ttl_s` later (a token whose role no
    longer matches is then refused, as before). Not cached: principals limited by district
    (their crossings are read from the crossings table, and a crossing registered in the
    district must be visible at once), and API keys (revoking one takes effect at once; scripts
    are not where the load is). Memory is bounded (LRU)."""

    def __init__(
        self,
        ttl_s: float = PRINCIPAL_TTL_S,
        max_entries: int = PRINCIPAL_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.ttl_s, self.max_entries, self.clock, self.wall = ttl_s, max_entries, clock, wall
        self._entries: OrderedDict[str, tuple[float, float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            until, expires_at, p = entry
            if self.clock() >= until or self.wall() >= expires_at:
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return p

    def put(self, token: str, p: Principal, expires_at: float) -> None:
        """Remember `p` for `token` until `ttl_s` from now or `expires_at` (epoch seconds);
        district-scoped principals are not remembered (see the class doc)."""
        if self.ttl_s <= 0 or p.districts:
            return
        with self._lock:
            self._entries[token] = (self.clock() + self.ttl_s, expires_at, p)
            self._entries.move_to_end(token)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        """Drop every cached principal of `user_id` (their tokens were just revoked)."""
        with self._lock:
            for token in [t for t, (_, _, p) in self._entries.items() if p.user_id == user_id]:
                del self._entries[token]


def principal_cache(app: Any) -> PrincipalCache:
    cache = getattr(app.state, "principal_cache", None)
    if cache is None:
        cache = app.state.principal_cache = PrincipalCache()
    return cache


def _from_token(app: Any, token: str) -> tuple[Principal, float]:
    """(principal, token expiry as epoch seconds) of a bearer token; 401 if it is not valid."""
    try:
        claims = security.read_token(app.state.secret_key, token)
    except security.TokenError as e:
        raise _unauthorised(str(e)) from None
    with app.state.sessionmaker() as s:
        user = s.get(UserRow, claims.user_id)
        # the same account (id AND name: a re-created user has a new id), active, same role, and no
        # password reset / deactivation / role or scope change since the token was issued
        if (
            user is None
            or user.username != claims.username
            or not user.active
            or user.role != claims.role
            or int(user.token_version or 0) != claims.token_version
        ):
            raise _unauthorised("invalid token")
        return principal_for(s, user), claims.expires_at.timestamp()


def _from_api_key(app: Any, key: str) -> Principal:
    with app.state.sessionmaker() as s:
        found = accounts.user_for_api_key(s, key)
        if found is None:
            raise _unauthorised("invalid API key")
        user, key_id = found
        p = principal_for(s, user)
    accounts.touch_api_key(app.state.write_sessionmaker, key_id)
    return p


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller: a bearer token (cached, see `PrincipalCache`) or an API key. Async, so a
    cached token costs no thread-pool hop; a lookup runs on the pool with its own session."""
    app = request.app
    if bearer is not None:
        cache = principal_cache(app)
        cached = cache.get(bearer.credentials)
        if cached is None:
            p, expires_at = await run_in_threadpool(_from_token, app, bearer.credentials)
            cache.put(bearer.credentials, p, expires_at)
        else:
            p = cached
    elif api_key:
        p = await run_in_threadpool(_from_api_key, app, api_key)
    else:
        raise _unauthorised("not authenticated")
    request.state.principal = p
    return p


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting `roles` (admin is always admitted); 403 for anyone else."""
    allowed = frozenset(roles) | {"admin"}

    async def check(p: CurrentUser) -> Principal:
        if p.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {p.role!r} may not do this")
        return p

    check.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return check


async def require_evidence(p: CurrentUser) -> Principal:
    """Raw evidence: reviewers and admins, analysts only when granted."""
    if p.role not in ("admin", "reviewer", "analyst") or not p.can_see_evidence:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no access to raw evidence")
    return p


Admin = Annotated[Principal, Depends(require_roles("admin"))]
Operator = Annotated[Principal, Depends(require_roles("operator"))]
Reviewer = Annotated[Principal, Depends(require_roles("reviewer"))]
Analyst = Annotated[Principal, Depends(require_roles("analyst"))]
EvidenceViewer = Annotated[Principal, Depends(require_evidence)]


def event_or_404(s: Session, p: Principal, uid: str, *, for_update: bool = False) -> events_repo.EventView:
    """The event `uid` in `p`'s scope, or 404 (one out of scope is answered like one that does not exist)."""
    v = events_repo.get_event(s, p.scope(EventRow.crossing_id), uid, for_update=for_update)
    if v is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "event not found")
    return v
