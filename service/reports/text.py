"""The bulletin's words and formatted numbers, shared by the PDF and the DOCX (one wording)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..vocabulary import EVENT_TYPE_LABELS
from .data import Bulletin

TYPE_NAMES = {str(t): zh for t, (zh, _) in EVENT_TYPE_LABELS.items()}
CLASS_NAMES = {
    "car": "小汽车",
    "motorcycle": "摩托车",
    "bicycle": "自行车",
    "bus": "公交车",
    "truck": "货车",
    "person": "行人",
    "e_bike": "电动自行车",
}
STATUS_SCOPE = {"not_dismissed": "未驳回事件（待审核、已确认、需补充）", "confirmed": "已确认事件", "all": "全部事件"}
ACTION_NAMES = {"confirm": "确认", "dismiss": "驳回", "needs_info": "需补充"}
MIN_SAMPLE = 100  # fewer road users than this: the rate is flagged 样本不足


def fmt_int(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """95 % Wilson score interval of k in n as proportions (k above n clamped); None for n = 0.
    The dashboard computes the same (service/web/pages/dashboard/rates.js)."""
    if not n or n <= 0:
        return None
    p = min(max(k, 0), n) / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _permille(x: float) -> str:
    return f"{x * 1000:,.1f}" if x * 1000 < 10 else f"{x * 1000:,.0f}"


def fmt_rate(r: float | None, road_users: int | None = None, violations: int | None = None) -> str:
    """ "428.57‰（95% 区间 214–674‰，样本不足）": the interval when the violations are given, the
    flag below MIN_SAMPLE road users."""
    if r is None:
        return "—（无通行量）"
    notes = []
    ci = wilson(violations, road_users) if violations is not None and road_users else None
    if ci is not None:
        notes.append(f"95% 区间 {_permille(ci[0])}–{_permille(ci[1])}‰")
    if road_users is not None and road_users < MIN_SAMPLE:
        notes.append("样本不足")
    return f"{r:.2f}‰" + (f"（{'，'.join(notes)}）" if notes else "")


def fmt_share(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def fmt_change(cur: float | None, prev: float | None) -> str:
    """环比 as "+12.5%", "持平", "上期为 0" or "—"."""
    if cur is None or prev is None:
        return "—"
    if prev == 0:
        return "持平" if cur == 0 else "上期为 0"
    pct = round((cur - prev) * 100.0 / prev, 1)
    return "持平" if pct == 0 else f"{pct:+.1f}%"


def local_day_range(start: datetime, end: datetime, tz: str) -> str:
    """ "2026年11月2日—11月8日" (the last day shown is the day before the exclusive end)."""
    z = ZoneInfo(tz)
    a, b = start.astimezone(z), (end - timedelta(microseconds=1)).astimezone(z)
    left = f"{a.year}年{a.month}月{a.day}日"
    right = f"{b.month}月{b.day}日" if b.year == a.year else f"{b.year}年{b.month}月{b.day}日"
    return left if a.date() == b.date() else f"{left}—{right}"


def fmt_time(at: datetime | None, tz: str) -> str:
    return "时间未知" if at is None else at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


@dataclass(slots=True)
class Kpi:
    name: str
    current: str
    previous: str
    change: str


def kpis(b: Bulletin) -> list[Kpi]:
    cur, prev = b.summary, b.previous
    rows = [
        Kpi(
            "违法总数（起）",
            fmt_int(cur.violations),
            fmt_int(prev.violations),
            fmt_change(cur.violations, prev.violations),
        )
    ]
    for t, name in TYPE_NAMES.items():
        rows.append(
            Kpi(
                f"其中{name}（起）",
                fmt_int(cur.by_type.get(t, 0)),
                fmt_int(prev.by_type.get(t, 0)),
                fmt_change(cur.by_type.get(t, 0), prev.by_type.get(t, 0)),
            )
        )
    rows += [
        Kpi(
            "通行量（人次/车次）",
            fmt_int(cur.road_users),
            fmt_int(prev.road_users),
            fmt_change(cur.road_users, prev.road_users),
        ),
        Kpi(
            "每千通行违法率",
            fmt_rate(cur.rate_per_1000, cur.road_users, cur.violations),
            fmt_rate(prev.rate_per_1000, prev.road_users, prev.violations),
            fmt_change(cur.rate_per_1000, prev.rate_per_1000),
        ),
        Kpi(
            "确认率（确认/已决定）",
            fmt_share(cur.confirmed_share),
            fmt_share(prev.confirmed_share),
            fmt_change(cur.confirmed_share, prev.confirmed_share),
        ),
        Kpi("待审核（起）", fmt_int(cur.pending), fmt_int(prev.pending), fmt_change(cur.pending, prev.pending)),
    ]
    return rows


def headline(b: Bulletin) -> str:
    """One sentence summing up the period."""
    s, p = b.summary, b.previous
    parts = [f"本期{b.scope_label}共记录交通违法 {s.violations:,} 起"]
    types = "、".join(f"{name} {s.by_type.get(t, 0):,} 起" for t, name in TYPE_NAMES.items())
    parts.append(f"（{types}）")
    if p.violations == 0:
        parts.append("，上期无记录")
    else:
        parts.append(f"，上期 {p.violations:,} 起，环比 {fmt_change(s.violations, p.violations)}")
    if s.rate_per_1000 is not None:
        parts.append(f"；每千通行违法率 {fmt_rate(s.rate_per_1000, s.road_users, s.violations)}")
    top = next((h for h in b.hotspots if h.violations > 0), None)
    if top is not None:
        parts.append(f"；违法率最高的路口为{top.name}（{top.violations:,} 起）")
    return "".join(parts) + "。"


def hotspot_rows(b: Bulletin, limit: int = 10) -> list[list[str]]:
    rows = []
    for i, h in enumerate(b.hotspots[:limit], start=1):
        rows.append(
            [
                str(i),
                h.name,
                h.district or "—",
                fmt_int(h.violations),
                *(fmt_int(h.by_type.get(t, 0)) for t in TYPE_NAMES),  # one column per violation type
                fmt_int(h.road_users),
                fmt_rate(h.rate_per_1000, h.road_users, h.violations),
            ]
        )
    return rows


HOTSPOT_HEADER = ["排名", "路口", "辖区", "违法数", *TYPE_NAMES.values(), "通行量", "每千通行违法率"]


def throughput_lines(b: Bulletin) -> list[str]:
    t = b.throughput
    acts = "，".join(f"{ACTION_NAMES[a]} {t.by_action.get(a, 0):,} 件" for a in ACTION_NAMES)
    lines = [f"本期共作出审核决定 {t.decisions:,} 件（{acts}）。"]
    if t.by_stage.get(2):
        lines.append(f"其中初审 {t.by_stage.get(1, 0):,} 件，复审 {t.by_stage.get(2, 0):,} 件。")
    lines.append(
        f"确认率（已确认 ÷ 已确认与已驳回之和，按事件发生时间统计）：{fmt_share(b.summary.confirmed_share)}；"
        f"期末待审核 {b.summary.pending:,} 件。"
    )
    return lines


def scope_note(b: Bulletin) -> str:
    return (
        f"统计口径：{STATUS_SCOPE.get(b.status, b.status)}，按事件发生时间（{b.tz}）计入；上期为本期之前等长时段"
        f"（{local_day_range(b.previous_start, b.start, b.tz)}）。违法率附 95% Wilson 置信区间，通行量少于 {MIN_SAMPLE} 的标注“样本不足”。"
    )


def case_caption(c, tz: str) -> str:
    return (
        f"{c.crossing_name} · {TYPE_NAMES.get(c.type, c.type)} · {CLASS_NAMES.get(c.class_name, c.class_name)}"
        f" · {fmt_time(c.occurred_at, tz)} · 事件 {c.uid[:8]}"
    )


def cases_footer(b: Bulletin) -> str:
    """The line under the case pictures: what may be done with them."""
    if b.public:
        return "公开版：除违法者本人外，画面中的其他人员与车牌均已自动模糊处理（自动检测可能遗漏，发布前请人工复核）。"
    return "内部资料，含原始证据图片，不得公开发布。"


def title(b: Bulletin) -> str:
    return f"{b.scope_label}文明交通创城简报"
