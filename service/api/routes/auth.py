"""Login (username + password -> JWT) and who-am-I."""

from __future__ import annotations

import os
import unicodedata

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import APIRouter, HTTPException, Request, status

from ... import accounts, security
from ...audit import append as audit
from ..deps import CurrentUser, SettingsDep
from ..schemas.auth import LoginIn, MeOut, TokenOut

router = APIRouter(prefix="/api/auth", tags=["auth"])
HASH_WAIT_S = 10.0
REFUSED_DELAY_S = 2.0
_GATES: dict[int, RunVar[anyio.Semaphore]] = {}


def hash_gate(app) -> anyio.Semaphore:
    """The app's gate on argon2 checks, one per event loop (anyio primitives belong to a loop)."""
    var = _GATES.setdefault(id(app), RunVar(f"crosswatch_login_gate_{id(app)}"))
    try:
        return var.get()
    except LookupError:
        n = app.state.settings.login_hash_concurrency or max(1, (os.cpu_count() or 2) // 2)
        gate = anyio.Semaphore(n)
        var.set(gate)
        return gate


def _too_many(wait: float, what: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many {what}; try again later",
        headers={"Retry-After": str(int(wait) + 1)},
    )


@router.post("/login", response_model=TokenOut, responses={401: {}, 429: {}, 503: {}})
async def login(body: LoginIn, request: Request, settings: SettingsDep) -> TokenOut:
    """Never holds a write transaction, a database connection or a request thread while hashing:

    1. a short write records the attempt in the shared limiter (refused past the limit per
       username+client, or past `login_client_attempts` per client, before any hashing);
    2. a short read fetches the user;
    3. the request waits (holding nothing) for the hash gate, at most `login_hash_concurrency`
       argon2 checks at once (503 after HASH_WAIT_S), then hashes on a thread, outside any
       transaction;
    4. a short write clears the limiter on success, or audits a failure (only the first of a
       streak and the one reaching the limit: at most two audit rows per account and client per
       window).
    Async, and exempt from the app's admission limit: a flood of logins queues here, not in front
    of every other request."""
    app = request.app
    limiter: security.LoginLimiter = app.state.login_limiter
    client = request.client.host if request.client else "?"
    username = unicodedata.normalize("NFKC", body.username)  # full-width variants share one limit
    # keys hold no NUL (PostgreSQL text cannot); \x1f (unit separator) cannot be in a client address
    key = f"{username}\x1f{client}"[:200]
    client_key = (f"\x1fclient\x1f{client}"[:200], settings.login_client_attempts)
    run = anyio.to_thread.run_sync
    attempt, wait = await run(
        lambda: limiter.admit(app.state.write_sessionmaker, key, also=client_key, read_sessions=app.state.sessionmaker)
    )
    if wait > 0:
        # tarpit: a refused guess is answered after a pause (holding no thread or connection), so
        # a flooding client's connections each send at most one guess per REFUSED_DELAY_S
        await anyio.sleep(min(wait, REFUSED_DELAY_S))
        raise _too_many(wait, "failed logins")

    def read_user() -> accounts.LoginView | None:
        with app.state.sessionmaker() as s:
            return accounts.login_view(s, username)

    found = await run(read_user)
    gate = hash_gate(app)
    with anyio.move_on_after(HASH_WAIT_S) as waited:
        await gate.acquire()
    if waited.cancelled_caught:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "too many logins at once; retry shortly", headers={"Retry-After": "2"}
        )
    try:
        with anyio.CancelScope(shield=True):  # the gate is released only once the hash is done
            ok = await run(security.verify_password, found.password_hash if found is not None else None, body.password)
    finally:
        gate.release()
    user = found if found is not None and ok else None
    if user is None or not user.active:
        if attempt in (1, limiter.attempts):

            def audit_failure() -> None:
                with app.state.write_sessionmaker.begin() as w:
                    audit(
                        w,
                        actor=body.username[:64],
                        action="login_failed",
                        object_type="user",
                        object_id=body.username[:64],
                        payload={"client": client, "attempt": attempt, "limit": limiter.attempts},
                    )

            await run(audit_failure)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    await run(lambda: limiter.succeeded(app.state.write_sessionmaker, key, also=client_key[0]))
    token, exp = security.issue_token(
        app.state.secret_key,
        user.username,
        user.role,
        settings.token_ttl_s,
        user_id=user.id,
        token_version=user.token_version,
    )
    return TokenOut(access_token=token, expires_at=exp, role=user.role, username=user.username)


@router.get("/me", response_model=MeOut, responses={401: {}})
def me(p: CurrentUser) -> MeOut:
    return MeOut(
        username=p.username,
        role=p.role,
        districts=list(p.districts),
        crossing_ids=list(p.crossing_ids),
        evidence_access=p.can_see_evidence,
    )
