"""The vision library's codes, each with its name for people (zh-CN, en): event (violation) type,
signal state and evidence kind. Every list of these codes elsewhere (the database's CHECK
constraints, the API's parameter types, the UI's lists via `GET /api/meta`, export labels) is
derived from the enums here: adding a violation type starts with one member and its labels."""

from __future__ import annotations

import enum
from collections.abc import Mapping

Labels = Mapping[str, tuple[str, str]]  # code -> (zh-CN, en)


class EventType(enum.StrEnum):
    RED_LIGHT = "red_light"
    WRONG_WAY = "wrong_way"


class SignalState(enum.StrEnum):
    RED = "RED"
    YELLOW = "YELLOW"
    GREEN = "GREEN"
    UNKNOWN = "UNKNOWN"


class EvidenceKind(enum.StrEnum):
    """What one evidence file of an event shows (its `kind` in the store)."""

    FRAME_BEFORE = "frame_before"
    FRAME_PAST = "frame_past"
    FRAME_JUNCTION = "frame_junction"
    FRAME_START = "frame_start"
    FRAME_MIDDLE = "frame_middle"
    FRAME_END = "frame_end"
    CLOSEUP = "closeup"
    SIGNAL = "signal"
    PLATE = "plate"
    COMPOSITE = "composite"
    CLIP = "clip"


EVENT_TYPE_LABELS: Labels = {
    EventType.RED_LIGHT: ("闯红灯", "Red-light running"),
    EventType.WRONG_WAY: ("逆行", "Wrong-way riding"),
}
SIGNAL_STATE_LABELS: Labels = {
    SignalState.RED: ("红灯", "Red"),
    SignalState.YELLOW: ("黄灯", "Amber"),
    SignalState.GREEN: ("绿灯", "Green"),
    SignalState.UNKNOWN: ("未知", "Unknown"),
}
EVIDENCE_KIND_LABELS: Labels = {
    EvidenceKind.FRAME_BEFORE: ("停止线前", "Before the line"),
    EvidenceKind.FRAME_PAST: ("越过停止线", "Past the line"),
    EvidenceKind.FRAME_JUNCTION: ("进入路口", "In the junction"),
    EvidenceKind.FRAME_START: ("逆行开始", "Start of contraflow"),
    EvidenceKind.FRAME_MIDDLE: ("逆行中", "Middle of contraflow"),
    EvidenceKind.FRAME_END: ("逆行结束", "End of contraflow"),
    EvidenceKind.CLOSEUP: ("特写", "Close-up"),
    EvidenceKind.SIGNAL: ("信号灯", "Signal"),
    EvidenceKind.PLATE: ("号牌", "Plate"),
    EvidenceKind.COMPOSITE: ("合成图", "Composite"),
    EvidenceKind.CLIP: ("视频片段", "Video clip"),
}


def values(codes: type[enum.StrEnum]) -> tuple[str, ...]:
    """The plain string values of `codes`, in declaration order."""
    return tuple(c.value for c in codes)
