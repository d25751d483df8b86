"""Request dependencies: settings, one database session per request, the authenticated principal
and its scope. Handlers declare what they need with the `Annotated` aliases below."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from . import accounts, security
from .models import CrossingRow, UserRow
from .settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A read session per request (SQLite: deferred BEGIN, readers never wait for writers)."""
    with request.app.state.sessionmaker() as s:
        yield s


def get_write_session(request: Request) -> Iterator[Session]:
    """A session for handlers that write: on SQLite its transaction takes the write lock at BEGIN
    (writers queue on busy_timeout instead of failing); handlers call `commit()`."""
    with request.app.state.write_sessionmaker() as s:
        yield s


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]

_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key of an operator's script")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and which crossings they may see (`None` = all)."""

    user_id: int
    username: str
    role: str
    districts: tuple[str, ...]
    crossing_ids: tuple[str, ...]
    evidence_access: bool
    visible: frozenset[str] | None  # crossing ids in scope; None = unrestricted

    @property
    def can_see_evidence(self) -> bool:
        return self.role in ("admin", "reviewer") or self.evidence_access

    def sees(self, crossing_id: str) -> bool:
        return self.visible is None or crossing_id in self.visible

    def scope(self, crossing_column) -> ColumnElement[bool]:
        """A WHERE clause limiting `crossing_column` (a crossing id column) to this scope."""
        if self.visible is None:
            return true()
        return crossing_column.in_(sorted(self.visible))

    def require_crossing(self, crossing_id: str) -> None:
        """404 (not 403: do not reveal what exists) for a crossing out of scope."""
        if not self.sees(crossing_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "crossing not found")


def principal_for(s: Session, user: UserRow) -> Principal:
    visible: frozenset[str] | None = None
    if user.districts or user.crossing_ids:
        ids = set(user.crossing_ids)
        if user.districts:
            ids.update(s.scalars(select(CrossingRow.id).where(CrossingRow.district.in_(user.districts))))
        visible = frozenset(ids)
    return Principal(user.id, user.username, user.role, tuple(user.districts), tuple(user.crossing_ids),
                     bool(user.evidence_access), visible)


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def current_principal(
    request: Request,
    s: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    user: UserRow | None = None
    if bearer is not None:
        try:
            claims = security.read_token(request.app.state.secret_key, bearer.credentials)
        except security.TokenError as e:
            raise _unauthorised(str(e)) from None
        user = accounts.find_user(s, claims.username)
        if user is None or not user.active or user.role != claims.role:
            raise _unauthorised("invalid token")
    elif api_key:
        found = accounts.user_for_api_key(s, api_key)
        if found is None:
            raise _unauthorised("invalid API key")
        user, key_id = found
        accounts.touch_api_key(request.app.state.write_sessionmaker, key_id)
    else:
        raise _unauthorised("not authenticated")
    p = principal_for(s, user)
    request.state.principal = p
    return p


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting `roles` (admin is always admitted); 403 for anyone else."""
    allowed = frozenset(roles) | {"admin"}

    def check(p: CurrentUser) -> Principal:
        if p.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {p.role!r} may not do this")
        return p

    check.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return check


def require_evidence(p: CurrentUser) -> Principal:
    """Raw evidence: reviewers and admins, analysts only when granted."""
    if p.role not in ("admin", "reviewer", "analyst") or not p.can_see_evidence:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "no access to raw evidence")
    return p


Admin = Annotated[Principal, Depends(require_roles("admin"))]
Operator = Annotated[Principal, Depends(require_roles("operator"))]
Reviewer = Annotated[Principal, Depends(require_roles("reviewer"))]
Analyst = Annotated[Principal, Depends(require_roles("analyst"))]
EvidenceViewer = Annotated[Principal, Depends(require_evidence)]
