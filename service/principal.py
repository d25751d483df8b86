"""Who is calling: a user's role and the crossings they may see, made from their user row."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, status
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from .models import CrossingRow, UserRow


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
    return Principal(
        user.id,
        user.username,
        user.role,
        tuple(user.districts),
        tuple(user.crossing_ids),
        bool(user.evidence_access),
        visible,
    )
