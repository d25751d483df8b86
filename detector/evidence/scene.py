"""What the pictures say: the rule's geometry for one event (stop line, lane and its allowed direction,
signal head) and the caption text (crossing, direction, lane, time with zone and clock source,
signal and seconds since red, plate, violation code, anti-forgery code). Chinese first, then English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import Crossing
from ..types import SignalState, ViolationEvent, ViolationType

Point = tuple[float, float]
Box = tuple[float, float, float, float]

KEY_FRAME_KINDS: dict[ViolationType, tuple[str, str, str]] = {
    ViolationType.RED_LIGHT: ("frame_before", "frame_past", "frame_junction"),
    ViolationType.WRONG_WAY: ("frame_start", "frame_middle", "frame_end"),
}
KEY_LABELS: dict[str, str] = {
    "frame_before": "停止线前 before the line",
    "frame_past": "越过停止线 past the line",
    "frame_junction": "进入路口 in the junction",
    "frame_start": "逆行开始 start of contraflow",
    "frame_middle": "逆行中 middle of contraflow",
    "frame_end": "逆行结束 end of contraflow",
}
TYPE_LABELS = {ViolationType.RED_LIGHT: "闯红灯 red-light", ViolationType.WRONG_WAY: "逆行 wrong-way"}
SIGNAL_LABELS = {
    SignalState.RED: "红灯 RED",
    SignalState.YELLOW: "黄灯 YELLOW",
    SignalState.GREEN: "绿灯 GREEN",
    SignalState.UNKNOWN: "未知 UNKNOWN",
}
CLASS_LABELS = {
    "motorcycle": "摩托车 motorcycle",
    "car": "汽车 car",
    "bicycle": "自行车 bicycle",
    "bus": "公交车 bus",
    "truck": "货车 truck",
    "person": "行人 person",
}
COLOUR_LABELS = {"blue": "蓝 blue", "green": "绿 green", "yellow": "黄 yellow"}
RED_BEFORE_VIDEO_S = 0.25  # red that began this close to the video's start may have begun before it
NO_WALL_CLOCK = "视频时间 video time, 无实际时钟 no wall clock"
DEFAULT_CLOCK = "录像起始时间+帧时间戳 recording start + frame PTS"


@dataclass(frozen=True, slots=True)
class SceneGeometry:
    """The geometry drawn on a scene picture, in that picture's source pixels, with human names."""

    stop_line: tuple[Point, Point] | None = None
    lane_polygon: tuple[Point, ...] | None = None
    lane_direction: Point | None = None
    signal_box: Box | None = None
    lane_name: str | None = None  # the lane's `name` (else its id)
    heading: str | None = None  # the lane's `heading` (e.g. 由南向北 northbound), if the crossing gives one
    stop_line_name: str | None = None


def scene_for(
    crossing: Crossing | None, event: ViolationEvent, size: tuple[int, int], signal_box: Box | None
) -> SceneGeometry:
    """The event's lane, stop line and signal in the pixels of a `size` (width, height) picture."""
    if crossing is None:
        return SceneGeometry(signal_box=signal_box, lane_name=event.lane, stop_line_name=event.stop_line)
    c = crossing.scaled_to(size)
    lane = next((ln for ln in c.lanes if ln.id == event.lane), None)
    if lane is None and len(c.lanes) == 1:
        lane = c.lanes[0]
    line_id = event.stop_line or (next((s.id for s in c.stop_lines if lane and s.signal == lane.signal), None))
    line = next((s for s in c.stop_lines if s.id == line_id), None)
    if line is None and len(c.stop_lines) == 1:
        line = c.stop_lines[0]
    return SceneGeometry(
        stop_line=line.points if line else None,
        lane_polygon=tuple(lane.polygon) if lane else None,
        lane_direction=lane.direction if lane else None,
        signal_box=signal_box,
        lane_name=(lane.name or lane.id) if lane else event.lane,
        heading=lane.heading if lane else None,
        stop_line_name=(line.name or line.id) if line else event.stop_line,
    )


def format_time(start_time: datetime | None, t: float) -> str:
    """Video time, or the wall-clock time to the millisecond with its UTC offset."""
    if start_time is None:
        return f"视频 video t={t:.3f} s"
    wall = start_time + timedelta(seconds=t) + timedelta(microseconds=500)
    text = wall.strftime("%Y-%m-%d %H:%M:%S.") + f"{wall.microsecond // 1000:03d}"
    if wall.tzinfo is not None:
        off = wall.strftime("%z")
        text += f" UTC{off[:3]}:{off[3:]}" if off else ""
    return text


def since_red_text(ev: ViolationEvent) -> str:
    """Seconds since red; "≥ N s" when red was already on at the start of the video (a lower bound)."""
    if ev.since_red_s is None:
        return "—"
    onset = float(ev.t) - float(ev.since_red_s)
    if onset <= RED_BEFORE_VIDEO_S:
        return f"≥ {ev.since_red_s:.2f} s (红灯早于视频开始 red before the video began)"
    return f"{ev.since_red_s:.2f} s"


def plate_text(ev: ViolationEvent) -> str:
    p = ev.plate
    if p is None:
        return "号牌 Plate: 未读取 not attempted"
    if p.text is None:
        return "号牌 Plate: 未识别 not read"
    colour = COLOUR_LABELS.get(p.colour or "", p.colour or "")
    return f"号牌 Plate: {p.display or p.text} ({colour}{', ' if colour else ''}置信度 conf {p.confidence:.2f})"


def code_text(ev: ViolationEvent) -> str:
    c = ev.code
    if c is None:
        return "违法代码 Code: —"
    return f"违法代码 Code: {c.label()} {c.description}  依据 Basis: {c.law}"


def caption_lines(
    ev: ViolationEvent,
    crossing_name: str,
    start_time: datetime | None,
    scene: SceneGeometry,
    clock_source: str | None = None,
) -> list[str]:
    """The caption of the composite: who, where, when, what the signal showed, plate, code."""
    cls = CLASS_LABELS.get(ev.class_name, ev.class_name)
    sig = SIGNAL_LABELS.get(SignalState(ev.signal), str(ev.signal)) if ev.signal is not None else "无 none"
    if ev.signal_source:
        sig += f" ({ev.signal_source})"
    clock = clock_source or (DEFAULT_CLOCK if start_time is not None else NO_WALL_CLOCK)
    where = [f"方向 Direction: {scene.heading or '—'}", f"车道 Lane: {scene.lane_name or '—'}"]
    if scene.stop_line_name:
        where.append(f"停止线 Stop line: {scene.stop_line_name}")
    return [
        f"路口 Crossing: {crossing_name}",
        "    ".join(where),
        f"时间 Time: {format_time(start_time, float(ev.t))}    时钟 Clock: {clock}",
        f"违法行为 Violation: {TYPE_LABELS[ViolationType(ev.type)]}    信号状态 Signal: {sig}    "
        f"红灯已亮 since red: {since_red_text(ev)}",
        code_text(ev),
        f"{plate_text(ev)}    目标 Track #{ev.track_id}    类型 Class: {cls}",
        f"事件 Event: {ev.key}    防伪码 Anti-forgery code: {ev.anti_forgery or '—'}",
    ]
