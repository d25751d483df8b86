"""Accounts (admin only) and API keys (admin, or the key's own user)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import func, select

from ... import accounts
from ...audit import append as audit
from ...models import ApiKeyRow, UserRow
from ..deps import Admin, CurrentUser, Principal, SessionDep, WriteSessionDep, principal_cache
from ..params import IntId
from ..schemas import Page
from ..schemas.users import ApiKeyCreated, ApiKeyIn, ApiKeyOut, UserIn, UserOut, UserPatch

router = APIRouter(prefix="/api/users", tags=["users"])


def _user_out(u: UserRow) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        role=u.role,
        districts=list(u.districts or []),
        crossing_ids=list(u.crossing_ids or []),
        evidence_access=u.evidence_access,
        active=u.active,
        created_at=u.created_at,
    )


def _key_out(k: ApiKeyRow) -> ApiKeyOut:
    return ApiKeyOut(
        id=k.id,
        name=k.name,
        prefix=k.prefix,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
        revoked_at=k.revoked_at,
    )


def _user_or_404(s, user_id: int) -> UserRow:
    u = s.get(UserRow, user_id)
    if u is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    return u


@router.get("", response_model=Page[UserOut])
def list_users(s: SessionDep, _: Admin) -> Page[UserOut]:
    rows = s.scalars(select(UserRow).order_by(UserRow.username)).all()
    return Page(data=[_user_out(u) for u in rows], count=s.scalar(select(func.count()).select_from(UserRow)) or 0)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses={409: {}})
def create_user(body: UserIn, s: WriteSessionDep, p: Admin) -> UserOut:
    try:
        u = accounts.create_user(
            s,
            body.username,
            body.password,
            body.role,
            districts=body.districts,
            crossing_ids=body.crossing_ids,
            evidence_access=body.evidence_access,
        )
    except accounts.AccountError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
    audit(
        s,
        actor=p.username,
        action="user_create",
        object_type="user",
        object_id=u.username,
        payload={"role": u.role, "districts": u.districts, "crossing_ids": u.crossing_ids},
    )
    s.commit()
    return _user_out(u)


@router.patch("/{user_id}", response_model=UserOut, responses={404: {}})
def update_user(user_id: IntId, body: UserPatch, request: Request, s: WriteSessionDep, p: Admin) -> UserOut:
    u = _user_or_404(s, user_id)
    changes = body.model_dump(exclude_none=True)
    if "password" in changes:
        from ...security import hash_password

        u.password_hash = hash_password(changes.pop("password"))
        changes["password"] = "changed"
    for k, v in changes.items():
        if k != "password":
            setattr(u, k, sorted(set(v)) if isinstance(v, list) else v)
    if changes:  # any change to who they are or what they may do revokes their tokens
        u.token_version = int(u.token_version or 0) + 1
    audit(s, actor=p.username, action="user_update", object_type="user", object_id=u.username, payload=changes)
    s.commit()
    principal_cache(request.app).forget_user(u.id)
    return _user_out(u)


def _key_owner(user_id: IntId, p: CurrentUser) -> Principal:
    """A dependency (so it refuses before the body is even validated): the user themself or an admin."""
    if p.role != "admin" and p.user_id != user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admins manage other users' keys")
    return p


KeyOwner = Annotated[Principal, Depends(_key_owner)]


@router.get("/{user_id}/api-keys", response_model=Page[ApiKeyOut], responses={403: {}, 404: {}})
def list_keys(user_id: IntId, s: SessionDep, p: KeyOwner) -> Page[ApiKeyOut]:
    _user_or_404(s, user_id)
    rows = s.scalars(select(ApiKeyRow).where(ApiKeyRow.user_id == user_id).order_by(ApiKeyRow.id)).all()
    return Page(data=[_key_out(k) for k in rows], count=len(rows))


@router.post(
    "/{user_id}/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses={403: {}, 404: {}},
)
def create_key(user_id: IntId, body: ApiKeyIn, s: WriteSessionDep, p: KeyOwner) -> ApiKeyCreated:
    u = _user_or_404(s, user_id)
    row, key = accounts.create_api_key(s, u, body.name)
    audit(
        s,
        actor=p.username,
        action="api_key_create",
        object_type="user",
        object_id=u.username,
        payload={"key_prefix": row.prefix, "name": row.name},
    )
    s.commit()
    return ApiKeyCreated(**_key_out(row).model_dump(), key=key)


@router.delete("/{user_id}/api-keys/{key_id}", response_model=ApiKeyOut, responses={403: {}, 404: {}})
def revoke_key(user_id: IntId, key_id: IntId, s: WriteSessionDep, p: KeyOwner) -> ApiKeyOut:
    k = s.get(ApiKeyRow, key_id)
    if k is None or k.user_id != user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "API key not found")
    if k.revoked_at is None:
        k.revoked_at = datetime.now(UTC)
        audit(
            s,
            actor=p.username,
            action="api_key_revoke",
            object_type="user",
            object_id=str(user_id),
            payload={"key_prefix": k.prefix},
        )
        s.commit()
    return _key_out(k)
