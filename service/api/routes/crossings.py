"""Crossings: list, detail, versions, register / update (a changed config = a new version),
YAML export, a snapshot image of the camera view (optionally with the geometry drawn) and a
per-crossing summary.

A crossing registered from the UI names the background frame it was drawn on (`frame`, from
`crossing_frames`): that frame is its snapshot until a video of it has been processed.

Reading is open to every logged-in user within their scope; writing needs an operator. A
crossing out of the caller's scope answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from detector.config import ConfigError, Crossing, load_yaml_text, parse_crossing

from ... import crossings_repo as repo
from ...audit import append as audit
from ...files import write_atomic
from ...models import EVENT_TYPES, REVIEW_STATUSES, CrossingRow, CrossingVersionRow
from ..deps import CurrentUser, Operator, Principal, SessionDep, WriteSessionDep
from ..errors import Responses
from ..schemas import Message, Page
from ..schemas.crossings import (
    CrossingCreate,
    CrossingDetail,
    CrossingIn,
    CrossingOut,
    Registration,
    Summary,
    VersionInfo,
    VersionOut,
)
from .crossing_frames import frame_file, frames_dir, grab_frame

router = APIRouter(prefix="/api/crossings", tags=["crossings"])

CrossingId = Annotated[str, Field(min_length=1, max_length=64)]
_NOT_FOUND: Responses = {404: {"model": Message, "description": "no such crossing (or out of your scope)"}}
_WRITE_ERRORS: Responses = {403: {"model": Message}, 422: {"model": Message, "description": "invalid crossing config"}}


# -- models ------------------------------------------------------------------------------------
# -- helpers -----------------------------------------------------------------------------------
MAX_JSON_DEPTH = 32
RESERVED_IDS = frozenset({"new"})  # the UI's page for a new crossing is #/crossings/new


def _depth(obj: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of `obj` (lists/dicts), counted without recursion, stopping past `limit`."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict | list):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def _parse_body(body: CrossingIn) -> tuple[Crossing, str]:
    """The validated `Crossing` and the YAML text to store; 422 naming the field otherwise. YAML
    goes through the bounded loader (no aliases, bounded depth and integers), JSON is bounded
    in depth; the text is dumped only after the config validated."""
    try:
        if body.yaml is not None:
            text = body.yaml
            data = load_yaml_text(text, "yaml")
        else:
            data = body.config
            if _depth(data) > MAX_JSON_DEPTH:
                raise HTTPException(422, f"config: nested deeper than {MAX_JSON_DEPTH} levels")
            text = ""
        crossing = parse_crossing(data, "crossing")
    except ConfigError as e:
        raise HTTPException(422, str(e)) from None
    if body.yaml is None:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return crossing, text


def _may_write(p: Principal, crossing: Crossing, existing_district: str | None | object = None) -> None:
    """A scoped operator may only register crossings inside their scope (403: they know the id).
    An operator scoped by crossing (not by district) may change that crossing's geometry but not
    move it to another district (`existing_district`: its district now, when it exists)."""
    if p.visible is None or crossing.district in p.districts:
        return
    if crossing.id in p.crossing_ids:
        if existing_district is _NEW or crossing.district == existing_district:
            return
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"you may not move crossing {crossing.id!r} to district {crossing.district!r}"
        )
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        f"district {crossing.district!r} is outside your scope; you may not register crossings there",
    )


_NEW = object()


def _version_out(v: CrossingVersionRow, current_id: int | None) -> VersionOut:
    crossing = parse_crossing(yaml.safe_load(v.config_yaml), f"{v.crossing_id} v{v.version}")
    return VersionOut(
        crossing_id=v.crossing_id,
        version=v.version,
        created_at=v.created_at,
        geometry_hash=v.geometry_hash,
        current=v.id == current_id,
        config=crossing.model_dump(mode="json"),
        yaml=v.config_yaml,
    )


def _visible(s, p: Principal, crossing_id: str):
    p.require_crossing(crossing_id)
    row = repo.get_crossing(s, crossing_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "crossing not found")
    return row


# -- reading -----------------------------------------------------------------------------------
@router.get("", response_model=Page[CrossingOut])
def list_crossings(
    s: SessionDep,
    p: CurrentUser,
    district: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[CrossingOut]:
    rows, total = repo.list_crossings(s, p.scope(CrossingRow.id), district=district, limit=limit, offset=offset)
    return Page(data=[CrossingOut(**asdict(r)) for r in rows], count=total)


@router.get("/{crossing_id}", response_model=CrossingDetail, responses=_NOT_FOUND)
def get_crossing(crossing_id: str, s: SessionDep, p: CurrentUser) -> CrossingDetail:
    row = _visible(s, p, crossing_id)
    listed, _ = repo.list_crossings(s, CrossingRow.id == crossing_id, district=None, limit=1, offset=0)
    vs = repo.versions(s, crossing_id)
    current = next((v for v in vs if v.id == row.current_version_id), None)
    out = _version_out(current, row.current_version_id) if current else None
    r = listed[0]
    return CrossingDetail(
        id=r.id,
        name=r.name,
        district=r.district,
        lat=r.lat,
        lon=r.lon,
        version=r.version,
        events=r.events,
        last_processed_at=r.last_processed_at,
        config=out.config if out else None,
        yaml=out.yaml if out else None,
        versions=[
            VersionInfo(
                version=v.version,
                created_at=v.created_at,
                geometry_hash=v.geometry_hash,
                current=v.id == row.current_version_id,
            )
            for v in vs
        ],
    )


@router.get("/{crossing_id}/versions/{number}", response_model=VersionOut, responses=_NOT_FOUND)
def get_version(
    crossing_id: str, number: Annotated[int, PathParam(ge=1, le=2**31 - 1)], s: SessionDep, p: CurrentUser
) -> VersionOut:
    row = _visible(s, p, crossing_id)
    v = repo.version(s, crossing_id, number)
    if v is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"crossing {crossing_id} has no version {number}")
    return _version_out(v, row.current_version_id)


@router.get(
    "/{crossing_id}/config.yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}, "description": "the crossing YAML"}, **_NOT_FOUND},
)
def export_yaml(
    crossing_id: str,
    s: SessionDep,
    p: CurrentUser,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="a stored version (default: current)")] = None,
) -> Response:
    _visible(s, p, crossing_id)
    v = repo.version(s, crossing_id, version)
    if v is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"crossing {crossing_id} has no version {version}")
    return Response(
        v.config_yaml.encode(),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{crossing_id}.v{v.version}.crossing.yaml"'},
    )


@router.get("/{crossing_id}/summary", response_model=Summary, responses=_NOT_FOUND)
def get_summary(crossing_id: str, s: SessionDep, p: CurrentUser) -> Summary:
    _visible(s, p, crossing_id)
    sm = repo.summary(s, crossing_id, EVENT_TYPES, REVIEW_STATUSES)
    return Summary(
        crossing_id=crossing_id,
        events=sm.events,
        road_users=sm.road_users,
        runs=sm.runs,
        first_event_at=sm.first_event_at,
        last_event_at=sm.last_event_at,
    )


# -- writing -----------------------------------------------------------------------------------
@router.post(
    "",
    response_model=Registration,
    status_code=status.HTTP_201_CREATED,
    responses={**_WRITE_ERRORS, 409: {"model": Message, "description": "the id is taken"}},
)
def create_crossing(body: CrossingCreate, request: Request, s: WriteSessionDep, p: Operator) -> Registration:
    crossing, text = _parse_body(body)
    if crossing.id in RESERVED_IDS:
        raise HTTPException(422, f"id: {crossing.id!r} is reserved; choose another id")
    frame = None
    if body.frame is not None:
        frame = frame_file(frames_dir(request), body.frame)
        if frame is None:
            raise HTTPException(422, "frame: no such frame on the server (grab or upload it again)")
    _may_write(p, crossing, _NEW)
    if repo.get_crossing(s, crossing.id) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"crossing {crossing.id!r} already exists; PUT /api/crossings/{crossing.id}/geometry changes it",
        )
    try:
        reg = repo.register(s, crossing, text)
    except IntegrityError:  # registered by a concurrent request in the meantime
        s.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"crossing {crossing.id!r} already exists") from None
    audit(
        s,
        actor=p.username,
        action="crossing_create",
        object_type="crossing",
        object_id=crossing.id,
        payload={
            "version": reg.version.version,
            "geometry_hash": reg.version.geometry_hash,
            "district": crossing.district,
            "frame": body.frame,
        },
    )
    s.commit()
    if frame is not None:
        write_atomic(_registered_snapshot(request, crossing.id), frame.read_bytes())
    return Registration(**_version_out(reg.version, reg.version.id).model_dump(), created=True, previous_version=None)


@router.put(
    "/{crossing_id}/geometry",
    response_model=Registration,
    responses={**_NOT_FOUND, **_WRITE_ERRORS, 201: {"model": Registration, "description": "a new version was made"}},
)
def update_geometry(
    crossing_id: str, body: CrossingIn, response: Response, s: WriteSessionDep, p: Operator
) -> Registration:
    """A changed config becomes version max+1; an identical one returns its stored version (200)."""
    row = _visible(s, p, crossing_id)
    crossing, text = _parse_body(body)
    if crossing.id != crossing_id:
        raise HTTPException(422, f"id: the config's id {crossing.id!r} does not match the path's {crossing_id!r}")
    _may_write(p, crossing, row.district)
    reg = repo.register(s, crossing, text)
    if reg.created or reg.previous_version != reg.version.version:
        audit(
            s,
            actor=p.username,
            action="crossing_update",
            object_type="crossing",
            object_id=crossing_id,
            payload={
                "from_version": reg.previous_version,
                "to_version": reg.version.version,
                "new_version": reg.created,
                "geometry_hash": reg.version.geometry_hash,
            },
        )
    s.commit()
    if reg.created:
        response.status_code = status.HTTP_201_CREATED
    return Registration(
        **_version_out(reg.version, reg.version.id).model_dump(),
        created=reg.created,
        previous_version=reg.previous_version,
    )


# -- snapshot ----------------------------------------------------------------------------------
@router.get(
    "/{crossing_id}/snapshot",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "a frame of the crossing's most recent video"},
        **{404: {"model": Message, "description": "no such crossing, or no video of it is available"}},
    },
)
def snapshot(
    crossing_id: str,
    request: Request,
    s: SessionDep,
    p: CurrentUser,
    overlay: Annotated[bool, Query(description="draw stop lines, lanes and lamp boxes")] = False,
) -> Response:
    row = _visible(s, p, crossing_id)
    current = repo.version(s, crossing_id)
    videos = repo.recent_videos(s, crossing_id)
    cache_dir = Path(request.app.state.evidence_dir) / "_snapshots"
    crossing = parse_crossing(yaml.safe_load(current.config_yaml), crossing_id) if current else None
    for path, sha in videos:
        if not Path(path).is_file():
            continue
        name = f"{row.id}-{sha}"
        if overlay and crossing is not None and current is not None:
            name += f"-overlay-{current.geometry_hash[:16]}"
        cached = cache_dir / f"{name}.jpg"
        if not cached.is_file():
            image = grab_frame(Path(path))
            if image is None:
                continue  # not decodable (any more): try an older video
            if overlay and crossing is not None:
                image = _draw(image, crossing)
            _save_jpeg(image, cached)
        return Response(cached.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})
    registered = _registered_snapshot(request, row.id)
    if registered.is_file():  # drawn on in the UI, no video processed yet
        if overlay and crossing is not None and current is not None:
            cached = cache_dir / f"{row.id}-registered-overlay-{current.geometry_hash[:16]}.jpg"
            if not cached.is_file():
                from detector.pictures import open_picture

                with open_picture(registered) as im:
                    _save_jpeg(_draw(im, crossing), cached)
            registered = cached
        return Response(
            registered.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"}
        )
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"no video of crossing {crossing_id} is available for a snapshot (process one first)"
    )


def _registered_snapshot(request: Request, crossing_id: str) -> Path:
    """The frame a crossing was drawn on when it was registered from the UI."""
    return Path(request.app.state.evidence_dir) / "_snapshots" / f"{crossing_id}-registered.jpg"


def _draw(image, crossing: Crossing):
    """The geometry scaled to the frame: lane polygons (green), stop lines (red) with an arrow for
    the entering direction, lamp boxes (yellow). Scaled here, point by point, rather than with
    `Crossing.scaled_to` (which re-validates, and a tiny video could fail a size rule)."""
    from PIL import ImageDraw

    img = image.convert("RGB")
    sx, sy = img.size[0] / crossing.frame_size[0], img.size[1] / crossing.frame_size[1]

    def pt(p) -> tuple[float, float]:
        return (p[0] * sx, p[1] * sy)

    d = ImageDraw.Draw(img, "RGBA")
    width = max(2, round(min(img.size) / 240))
    for lane in crossing.lanes:
        d.polygon([pt(p) for p in lane.polygon], fill=(0, 200, 80, 50), outline=(0, 220, 90, 255))
    for sl in crossing.stop_lines:
        (x1, y1), (x2, y2) = pt(sl.points[0]), pt(sl.points[1])
        d.line([(x1, y1), (x2, y2)], fill=(255, 40, 40, 255), width=width * 2)
        _arrow(d, ((x1 + x2) / 2, (y1 + y2) / 2), pt(sl.entering), min(img.size) / 8, width)
    for sig in crossing.signals:
        for _name, (x, y, w, h) in sig.lamps.items():
            d.rectangle([*pt((x, y)), *pt((x + w, y + h))], outline=(255, 220, 0, 255), width=width)
    return img


def _arrow(d, origin: tuple[float, float], direction: tuple[float, float], length: float, width: int) -> None:
    import math

    ox, oy = origin
    n = math.hypot(*direction) or 1.0
    ux, uy = direction[0] / n, direction[1] / n
    tx, ty = ox + ux * length, oy + uy * length
    d.line([(ox, oy), (tx, ty)], fill=(255, 40, 40, 255), width=width)
    head = length / 3
    for angle in (0.5, -0.5):
        ca, sa = math.cos(angle), math.sin(angle)
        hx, hy = -(ux * ca - uy * sa), -(ux * sa + uy * ca)
        d.line([(tx, ty), (tx + hx * head, ty + hy * head)], fill=(255, 40, 40, 255), width=width)


def _save_jpeg(image, target: Path) -> None:
    """Write atomically (temp file + rename): concurrent requests never read half a JPEG."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=85)
    write_atomic(target, buf.getvalue())
