"""Login (username + password -> JWT) and who-am-I."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from .. import accounts, security
from ..audit import append as audit
from ..deps import CurrentUser, SettingsDep, WriteSessionDep
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
def login(body: LoginIn, request: Request, s: WriteSessionDep, settings: SettingsDep) -> TokenOut:
    limiter: security.LoginLimiter = request.app.state.login_limiter
    client = request.client.host if request.client else "?"
    key = f"{body.username}\x00{client}"
    wait = limiter.retry_after(key)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed logins; try again later",
                            headers={"Retry-After": str(int(wait) + 1)})
    user = accounts.authenticate(s, body.username, body.password)
    if user is None:
        limiter.failed(key)
        audit(s, actor=body.username[:64], action="login_failed", object_type="user", object_id=body.username[:64],
              payload={"client": client})
        s.commit()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    limiter.succeeded(key)
    token, exp = security.issue_token(request.app.state.secret_key, user.username, user.role, settings.token_ttl_s)
    return TokenOut(access_token=token, expires_at=exp, role=user.role, username=user.username)


@router.get("/me", response_model=MeOut, responses={401: {}})
def me(p: CurrentUser) -> MeOut:
    return MeOut(username=p.username, role=p.role, districts=list(p.districts), crossing_ids=list(p.crossing_ids),
                 evidence_access=p.can_see_evidence)
