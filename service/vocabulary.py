"""The service's codes, each with its name for people (zh-CN, en): review status, review action,
role and review reason code; with the vision library's (event type, signal state, evidence kind,
from `detector.vocabulary`) these are every list the database constraints (`service.models`), the
API (`service.api`), the exports and the UI (`GET /api/meta`) use. Add a code here, with its labels."""

from __future__ import annotations

import enum

from detector.vocabulary import (
    EVENT_TYPE_LABELS,
    EVIDENCE_KIND_LABELS,
    SIGNAL_STATE_LABELS,
    EventType,
    EvidenceKind,
    Labels,
    SignalState,
    values,
)

__all__ = [
    "EVENT_TYPE_LABELS",
    "EVIDENCE_KIND_LABELS",
    "SIGNAL_STATE_LABELS",
    "EventType",
    "EvidenceKind",
    "Labels",
    "SignalState",
    "values",
    "ReviewStatus",
    "ReviewAction",
    "Role",
    "ReasonCode",
    "REVIEW_STATUS_LABELS",
    "REVIEW_ACTION_LABELS",
    "ROLE_LABELS",
    "REASON_LABELS",
    "COMMENT_REQUIRED",
    "STATUS_AFTER",
    "reason_label",
    "label_dict",
]


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    NEEDS_INFO = "needs_info"


class ReviewAction(enum.StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    NEEDS_INFO = "needs_info"


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    ANALYST = "analyst"


class ReasonCode(enum.StrEnum):
    """Why a reviewer dismissed an event or asked for more (reports per reason show the campaign
    office the detector's weaknesses)."""

    SIGNAL_NOT_RED = "signal_not_red"
    NOT_SAME_ROAD_USER = "not_same_road_user"
    EXEMPT_LANE = "exempt_lane"
    EMERGENCY_VEHICLE = "emergency_vehicle"
    DUPLICATE = "duplicate"
    NOT_A_VIOLATION = "not_a_violation"
    EVIDENCE_UNCLEAR = "evidence_unclear"
    WRONG_CLASS = "wrong_class"
    OTHER = "other"


# the status an action leads to (when it takes effect; see `service.review_policy`)
STATUS_AFTER: dict[ReviewAction, ReviewStatus] = {
    ReviewAction.CONFIRM: ReviewStatus.CONFIRMED,
    ReviewAction.DISMISS: ReviewStatus.DISMISSED,
    ReviewAction.NEEDS_INFO: ReviewStatus.NEEDS_INFO,
}
REVIEW_STATUS_LABELS: Labels = {
    ReviewStatus.PENDING: ("待审核", "Pending"),
    ReviewStatus.CONFIRMED: ("已确认", "Confirmed"),
    ReviewStatus.DISMISSED: ("已驳回", "Dismissed"),
    ReviewStatus.NEEDS_INFO: ("待补充信息", "Needs information"),
}
REVIEW_ACTION_LABELS: Labels = {
    ReviewAction.CONFIRM: ("确认", "Confirm"),
    ReviewAction.DISMISS: ("驳回", "Dismiss"),
    ReviewAction.NEEDS_INFO: ("需补充信息", "Needs information"),
}
ROLE_LABELS: Labels = {
    Role.ADMIN: ("管理员", "Administrator"),
    Role.OPERATOR: ("操作员", "Operator"),
    Role.REVIEWER: ("审核员", "Reviewer"),
    Role.ANALYST: ("分析员", "Analyst"),
}
REASON_LABELS: Labels = {
    ReasonCode.SIGNAL_NOT_RED: ("信号灯非红灯", "Signal was not red"),
    ReasonCode.NOT_SAME_ROAD_USER: ("非同一交通参与者", "Not the same road user"),
    ReasonCode.EXEMPT_LANE: ("豁免车道（如右转车道）", "Exempt lane (e.g. right-turn lane)"),
    ReasonCode.EMERGENCY_VEHICLE: ("执行任务的特种车辆", "Emergency vehicle on duty"),
    ReasonCode.DUPLICATE: ("重复事件", "Duplicate event"),
    ReasonCode.NOT_A_VIOLATION: ("不构成违法", "Not a violation"),
    ReasonCode.EVIDENCE_UNCLEAR: ("证据不清晰", "Evidence unclear"),
    ReasonCode.WRONG_CLASS: ("车辆类别识别错误", "Wrong vehicle class"),
    ReasonCode.OTHER: ("其他（需填写说明）", "Other (comment required)"),
}
COMMENT_REQUIRED = frozenset({ReasonCode.OTHER})  # the code alone says nothing


def reason_label(code: str | None) -> tuple[str, str] | None:
    """(zh, en) of a reason code; None for no code or one no longer known."""
    return REASON_LABELS.get(code) if code is not None else None


def label_dict(labels: Labels, code: str) -> dict[str, str]:
    """{"zh": ..., "en": ...} of `code` in `labels` (the JSON shape of a label); a code not in `labels`
    is its own label in both languages (a new code is shown, never dropped)."""
    zh, en = labels.get(code, (code, code))
    return {"zh": zh, "en": en}
