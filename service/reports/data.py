"""What a campaign bulletin (创城简报) says, gathered from the database.

Every number comes from the functions behind `/api/stats/*` (`service.stats_repo`) with the same
`StatsFilter` the API builds for the same period and scope, so the bulletin and the dashboard can
never disagree: KPIs = `summary` (and `summary` of the previous period of the same length),
hotspots = `hotspots`, trend = `trend`, weekday × hour = `weekday_hour`, the worst crossings'
heatmaps = `spatial`. Only review throughput (decisions taken in the period) is counted here, from
the review records of the events in scope.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detector.evidence import read_scene_boxes

from .. import stats_repo, stats_time
from ..evidence_store import EvidenceError, open_verified, ref_of
from ..models import CrossingRow, EventRow, EvidenceFileRow, ReviewRow
from .public_cache import PublicCache
from .redact import Finder, Redacted, RedactError, redact_composite

HEATMAP_CROSSINGS = 3  # the worst crossings whose in-picture heatmap is drawn
HEATMAP_BINS = 16
MAX_CASES = 3


@dataclass(slots=True)
class Throughput:
    """Review decisions taken in the period on events in scope (whenever the event happened)."""

    decisions: int
    by_action: dict[str, int]  # confirm / dismiss / needs_info
    by_stage: dict[int, int]  # 1 first review, 2 second review
    by_reviewer: list[tuple[str, int]]  # most first


@dataclass(slots=True)
class Heatmap:
    crossing_id: str
    name: str
    grid: stats_repo.SpatialGrid
    background: bytes | None  # a JPEG frame of the crossing (evidence), None when none is readable


@dataclass(slots=True)
class Case:
    uid: str
    crossing_name: str
    type: str
    class_name: str
    occurred_at: datetime | None
    composite: bytes  # the composite JPEG, verified against its recorded SHA-256 (public: blurred, see redact)
    blurred: int | None = None  # public edition: bystanders' persons and plates blurred in it


@dataclass(slots=True)
class Bulletin:
    start: datetime
    end: datetime  # exclusive
    previous_start: datetime
    tz: str
    scope_label: str  # 全市 or the district
    status: str
    public: bool
    summary: stats_repo.Summary
    previous: stats_repo.Summary
    hotspots: list[stats_repo.Hotspot]
    trend: list[stats_repo.TrendSeries]
    trend_bucket: str
    weekday_hour: list[list[int]]
    throughput: Throughput
    heatmaps: list[Heatmap] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    cases_note: str = ""


def trend_bucket(start: datetime, end: datetime) -> stats_time.Bucket:
    """Days up to ~2 months, weeks beyond (a readable number of points)."""
    return "day" if end - start <= timedelta(days=62) else "week"


def throughput(s: Session, f: stats_repo.StatsFilter) -> Throughput:
    """Decisions (review records) taken in [f.start, f.end) on events of `f`'s crossings, types and
    classes, whenever the events themselves happened."""
    r, e = ReviewRow, EventRow
    ev = replace(f, start=None, end=None, status="all")
    conds = [c for c in stats_repo.event_conditions(ev) if c is not None]
    q = select(r.action, r.stage, r.username, func.count()).join(e, e.id == r.event_id).where(*conds)
    if f.start is not None:
        q = q.where(r.at >= f.start)
    if f.end is not None:
        q = q.where(r.at < f.end)
    q = q.group_by(r.action, r.stage, r.username)
    by_action: dict[str, int] = {a: 0 for a in ("confirm", "dismiss", "needs_info")}
    by_stage: dict[int, int] = {}
    by_user: dict[str, int] = {}
    total = 0
    for action, stage, user, n in s.execute(q):
        n = int(n)
        total += n
        by_action[action] = by_action.get(action, 0) + n
        by_stage[int(stage)] = by_stage.get(int(stage), 0) + n
        by_user[user] = by_user.get(user, 0) + n
    return Throughput(total, by_action, by_stage, sorted(by_user.items(), key=lambda kv: (-kv[1], kv[0])))


def _read_verified(evidence_root: Path, f: EvidenceFileRow, event_uid: str, crossing_id: str) -> bytes | None:
    try:
        with open_verified(evidence_root, ref_of(f, event_uid, crossing_id)) as fh:
            return fh.read()
    except EvidenceError:
        return None


def _background(s: Session, f: stats_repo.StatsFilter, crossing_id: str, evidence_root: Path) -> bytes | None:
    """A frame of the crossing's camera view: the first readable key frame of one of its events."""
    e, ef = EventRow, EvidenceFileRow
    rows = s.execute(
        select(ef, e.uid)
        .join(e, e.id == ef.event_id)
        .where(e.crossing_id == crossing_id, f.scope(e.crossing_id), ef.kind.like("frame_%"))
        .order_by(e.id.desc(), ef.id)
        .limit(5)
    ).all()
    for row, uid in rows:
        data = _read_verified(evidence_root, row, uid, crossing_id)
        if data is not None:
            return data
    return None


def heatmaps(
    s: Session, f: stats_repo.StatsFilter, hot: list[stats_repo.Hotspot], evidence_root: Path | None
) -> list[Heatmap]:
    out = []
    for h in [h for h in hot if h.violations > 0][:HEATMAP_CROSSINGS]:
        grid = stats_repo.spatial(s, f, h.crossing_id, HEATMAP_BINS)
        if grid is None or grid.total == 0:
            continue
        bg = _background(s, f, h.crossing_id, evidence_root) if evidence_root is not None else None
        out.append(Heatmap(h.crossing_id, h.name, grid, bg))
    return out


def _video_size(evidence_root: Path, clip: EvidenceFileRow | None, uid: str, crossing_id: str) -> tuple[int, int]:
    """The (width, height) of the event's evidence clip: the pixel space of its track box."""
    import av

    if clip is None:
        raise RedactError("no evidence clip")
    try:
        with open_verified(evidence_root, ref_of(clip, uid, crossing_id)) as fh, av.open(fh, mode="r") as c:
            st = c.streams.video[0]
            return int(st.width), int(st.height)
    except (EvidenceError, av.FFmpegError, IndexError, OSError) as e:
        raise RedactError(f"clip not readable: {e}") from None


def _public_picture(s: Session, ev: EventRow, composite: bytes, evidence_root: Path, find: Finder) -> Redacted | None:
    """`composite` with the bystanders blurred (None when it cannot be: the case is left out): from
    the cache when this composite was redacted before, else made now and kept there. The violator's
    boxes are those the composite carries; an older one's track box needs the clip's size."""
    cache = PublicCache(evidence_root)
    sha = hashlib.sha256(composite).hexdigest()
    hit = cache.get(sha)
    if hit is not None:
        return hit
    try:
        if read_scene_boxes(composite):
            made = redact_composite(composite, None, None, find)
        else:
            clip = s.scalars(
                select(EvidenceFileRow).where(EvidenceFileRow.event_id == ev.id, EvidenceFileRow.kind == "clip")
            ).first()
            size = _video_size(evidence_root, clip, ev.uid, ev.crossing_id)
            made = redact_composite(composite, (ev.x1, ev.y1, ev.x2, ev.y2), size, find)
    except RedactError:
        return None
    cache.put(sha, made)
    return made


def cases(
    s: Session, f: stats_repo.StatsFilter, evidence_root: Path, limit: int = MAX_CASES, find: Finder | None = None
) -> list[Case]:
    """Up to `limit` confirmed events of the period (latest first, one per crossing where possible)
    with their verified composite picture; with `find` (the public edition) the picture has every
    person and plate `find` reports blurred except the violator's (`redact.redact_composite`)."""
    e, ef = EventRow, EvidenceFileRow
    conds = stats_repo.event_conditions(f.with_status("confirmed"))
    rows = s.execute(
        select(e, ef, CrossingRow.name)
        .join(ef, ef.event_id == e.id)
        .join(CrossingRow, CrossingRow.id == e.crossing_id)
        .where(*conds, ef.kind == "composite")
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(50)
    ).all()
    picked: list[Case] = []
    seen: set[str] = set()
    for prefer_new in (True, False):
        for ev, fr, name in rows:
            if len(picked) >= limit:
                return picked
            if any(c.uid == ev.uid for c in picked) or (prefer_new and ev.crossing_id in seen):
                continue
            data = _read_verified(evidence_root, fr, ev.uid, ev.crossing_id)
            if data is None:
                continue
            case = Case(ev.uid, name, ev.type, ev.class_name, ev.occurred_at, data)
            if find is not None:
                public = _public_picture(s, ev, data, evidence_root, find)
                if public is None:
                    continue
                case.composite, case.blurred = public.jpeg, public.blurred
            seen.add(ev.crossing_id)
            picked.append(case)
    return picked


def public_finder() -> tuple[Finder | None, str | None]:
    """The default bystander finder, its model files checked (they load when a picture is not in the
    cache), or (None, why not) when they are missing."""
    from detector import ModelError
    from detector.plates import PlateModelError

    from .redact import BystanderFinder

    finder = BystanderFinder.default()
    try:
        finder.check()
    except (ModelError, PlateModelError) as e:
        return None, f"公开版未附案例图片：旁人模糊处理所需的模型不可用（{e}）。"
    return finder, None


def collect(
    s: Session,
    f: stats_repo.StatsFilter,
    *,
    evidence_root: Path | None,
    public: bool = False,
    min_road_users: int = 0,
    scope_label: str | None = None,
    no_cases_reason: str | None = None,
    find: Finder | None = None,
) -> Bulletin:
    """The bulletin of `f` (which must have start and end). A public bulletin's case pictures have
    every bystander's person and plate blurred (`find`, default: `public_finder()`; a case whose
    picture cannot be redacted is left out). `evidence_root` None (or a `no_cases_reason`) leaves
    the pictures out, saying why."""
    if f.start is None or f.end is None:
        raise ValueError("a bulletin needs a period: both start and end")
    length = f.end - f.start
    prev = f.with_range(f.start - length, f.start)
    hot = stats_repo.hotspots(s, f, min_road_users)
    bucket = trend_bucket(f.start, f.end)
    b = Bulletin(
        start=f.start,
        end=f.end,
        previous_start=prev.start or f.start,
        tz=f.tz.key,
        scope_label=scope_label or f.district or "全市",
        status=f.status,
        public=public,
        summary=stats_repo.summary(s, f),
        previous=stats_repo.summary(s, prev),
        hotspots=hot,
        trend=stats_repo.trend(s, f, bucket),
        trend_bucket=bucket,
        weekday_hour=stats_repo.weekday_hour(s, f),
        throughput=throughput(s, f),
    )
    b.heatmaps = heatmaps(s, f, hot, evidence_root)
    if no_cases_reason is not None or evidence_root is None:
        b.cases_note = no_cases_reason or "未配置证据目录，未附案例图片。"
        return b
    if public and find is None:
        find, why = public_finder()
        if find is None:
            b.cases_note = why or ""
            return b
    b.cases = cases(s, f, evidence_root, find=find if public else None)
    if not b.cases:
        b.cases_note = "本期无已确认且图片完好的案例。"
    return b


def jpeg_size(data: bytes) -> tuple[int, int]:
    from detector.pictures import open_picture

    with open_picture(io.BytesIO(data)) as im:
        return im.size
