"""Login (username + password -> JWT) and who-am-I."""
from __future__ import annotations

import unicodedata
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from .. import accounts, security
from ..audit import append as audit
from ..deps import CurrentUser, SettingsDep
from ..schemas import StrictIn

router = APIRouter(prefix="/api/auth", tags=["auth"])


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


@router.post("/login", response_model=TokenOut, responses={401: {}, 429: {}})
def login(body: LoginIn, request: Request, settings: SettingsDep) -> TokenOut:
    """Never holds a write transaction while hashing: (1) a short write records the attempt in the
    shared limiter (refused past the limit, before any hashing); (2) a short read fetches the
    user; (3) argon2 runs outside any transaction; (4) a short write clears the limiter on
    success, or audits a failure (only the first of a streak and the one reaching the limit, so
    a flood of wrong passwords adds at most two audit rows per account and client per window)."""
    app = request.app
    limiter: security.LoginLimiter = app.state.login_limiter
    client = request.client.host if request.client else "?"
    username = unicodedata.normalize("NFKC", body.username)  # full-width variants share one limit
    key = f"{username}\x00{client}"[:200]
    attempt, wait = limiter.admit(app.state.write_sessionmaker, key)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed logins; try again later",
                            headers={"Retry-After": str(int(wait) + 1)})
    with app.state.sessionmaker() as s:
        found = accounts.login_view(s, username)
    user = found if found is not None and security.verify_password(found.password_hash, body.password) else None
    if found is None:
        security.verify_password(None, body.password)  # same cost as a wrong password
    if user is None or not user.active:
        if attempt in (1, limiter.attempts):
            with app.state.write_sessionmaker.begin() as w:
                audit(w, actor=body.username[:64], action="login_failed", object_type="user",
                      object_id=body.username[:64],
                      payload={"client": client, "attempt": attempt, "limit": limiter.attempts})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    limiter.succeeded(app.state.write_sessionmaker, key)
    token, exp = security.issue_token(app.state.secret_key, user.username, user.role, settings.token_ttl_s,
                                      user_id=user.id, token_version=user.token_version)
    return TokenOut(access_token=token, expires_at=exp, role=user.role, username=user.username)


@router.get("/me", response_model=MeOut, responses={401: {}})
def me(p: CurrentUser) -> MeOut:
    return MeOut(username=p.username, role=p.role, districts=list(p.districts), crossing_ids=list(p.crossing_ids),
                 evidence_access=p.can_see_evidence)
