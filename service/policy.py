"""Policy every service process on one database must share, kept in the database
(`service_policy`).

`second_review`: once any instance has started with it, the database remembers it, and an
instance started without it refuses to start (a second instance must not let a stage-1
reviewer finish alone). Turning it off again is a deliberate act: `DELETE FROM service_policy
WHERE key = 'second_review'` while no instance runs. Reviews also read the recorded value, so an
instance that started before the first one with the setting follows it at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .models import ServicePolicyRow
from .settings import Settings, SettingsError

SECOND_REVIEW = "second_review"


def enforce(write_sessions: sessionmaker[Session], settings: Settings) -> None:
    """Record this instance's policy, or SettingsError when it is weaker than the recorded one."""
    with write_sessions.begin() as w:
        row = w.get(ServicePolicyRow, SECOND_REVIEW)
        recorded = row is not None and row.value == "1"
        if recorded and not settings.second_review:
            raise SettingsError(
                "this database requires second review (another instance runs with it): set "
                "CROSSWATCH_SECOND_REVIEW=1, or turn it off for all instances first (see service.policy)"
            )
        if settings.second_review and not recorded:
            if row is None:
                w.add(ServicePolicyRow(key=SECOND_REVIEW, value="1"))
            else:
                row.value = "1"


def second_review(s: Session, settings: Settings) -> bool:
    """Second review is on when this instance's settings say so or the database records it."""
    if settings.second_review:
        return True
    return s.scalar(select(ServicePolicyRow.value).where(ServicePolicyRow.key == SECOND_REVIEW)) == "1"
