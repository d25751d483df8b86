"""Background frames for registering a new crossing in the UI (operators): the videos under the
ingest root to pick from, one frame grabbed from such a video, or an uploaded picture (PNG/JPEG).

A frame is stored once, as a JPEG named by its SHA-256 (`<evidence>/_frames/<sha>.jpg`), and the
editor draws over it; `POST /api/crossings` with `frame: <sha>` keeps it as the new crossing's
snapshot until a video of the crossing has been processed.

Server-side videos are confined exactly like a job's: `jobs.resolve_paths` (inside the ingest
root, symlinks resolved, existence checked only inside) and then `paths.open_video` (the file
opened by descriptor, refused if anything moved in between). Uploads are capped at
`FRAME_MAX_BYTES` (announced length first, then counted while they arrive) and must decode as a
PNG or JPEG of at most `FRAME_MAX_SIDE` pixels a side; anything else is a one-line 422.

`grab_frame` (the frame about 1 s into a video) is also what `crossings` shows as a snapshot.

Frames do not pile up: each time a frame is stored, the frames older than `FRAME_KEEP_S` (a day,
by the file's time; storing the same frame again renews it) that no crossing names are deleted
(`sweep`). A crossing names the frame it was registered from in its `crossing_create` audit
entry; that frame is kept, so the entry's SHA-256 can always be checked against the picture (the
crossing's snapshot is a copy of it in `_snapshots`). An editor left open for longer than a day
gets "no such frame" on saving and grabs the frame again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import time
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...files import write_atomic
from ...models import AuditRow
from ...paths import PathRefused as OpenRefused
from ...paths import allowed_roots, open_video
from ..deps import Operator, SessionDep
from ..schemas import Message, StrictIn
from .jobs import VIDEO_SUFFIXES, PathRefused, resolve_paths

router = APIRouter(prefix="/api/crossing-frames", tags=["crossings"])

UPLOAD_PATH = "/api/crossing-frames/upload"  # exempt from the JSON body limit: it has its own
FRAME_MAX_BYTES = 16 * 1024**2
FRAME_MAX_SIDE = 8192
FRAME_MAX_PIXELS = 40_000_000
MAX_LISTED = 1000
SNAPSHOT_AT_S = 1.0  # the frame shown: about 1 s in (the first frames of a camera file are often grey)
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
FRAME_ID = r"^[0-9a-f]{64}$"
FRAME_KEEP_S = 24 * 3600  # an unused frame older than this is deleted when another one is stored
_FRAME_RE = re.compile(FRAME_ID)


class Frame(BaseModel):
    frame: str = Field(description="the frame's id (SHA-256 of the stored JPEG), for POST /api/crossings")
    width: int
    height: int
    source: str = Field(description="'video' (grabbed from a server-side video) or 'upload'")
    name: str = Field(description="the video's path under the ingest root, or the uploaded file's type")


class VideoFile(BaseModel):
    path: str = Field(description="relative to the ingest root")
    size: int


class VideoList(BaseModel):
    ingest_root: bool = Field(description="false: no ingest root is configured (upload a frame instead)")
    videos: list[VideoFile]
    truncated: bool


class FromVideo(StrictIn):
    path: str = Field(min_length=1, max_length=4096, description="a video file under the ingest root")


# -- the frame store ---------------------------------------------------------------------------
def frames_dir(request: Request) -> Path:
    return Path(request.app.state.evidence_dir) / "_frames"


def frame_file(folder: Path, frame: str) -> Path | None:
    """The stored frame `frame` (an id as `Frame.frame`), None when unknown or not an id."""
    if not _FRAME_RE.fullmatch(frame):
        return None
    path = folder / f"{frame}.jpg"
    return path if path.is_file() else None


def store(folder: Path, image) -> tuple[str, int, int]:
    """Save `image` (PIL) as a JPEG named by its SHA-256 (atomically); (id, width, height)."""
    buf = io.BytesIO()
    rgb = image.convert("RGB")
    rgb.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    target = folder / f"{sha}.jpg"
    if target.is_file():
        with contextlib.suppress(OSError):  # in use again: not swept for another FRAME_KEEP_S
            os.utime(target)
    else:
        write_atomic(target, data)
    return sha, rgb.size[0], rgb.size[1]


def referenced_frames(s: Session) -> set[str]:
    """The frames crossings were registered from (named by their `crossing_create` audit entries)."""
    rows = s.scalars(select(AuditRow.payload).where(AuditRow.action == "crossing_create"))
    return {p["frame"] for p in rows if isinstance(p, dict) and isinstance(p.get("frame"), str)}


def sweep(folder: Path, keep: set[str], max_age_s: float = FRAME_KEEP_S, now: float | None = None) -> int:
    """Delete the frames (and half-written `.part` files) in `folder` older than `max_age_s` whose
    id is not in `keep`; how many. A file that vanishes or cannot be deleted meanwhile is skipped."""
    if not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    for path in folder.iterdir():
        stored = path.suffix == ".jpg" and _FRAME_RE.fullmatch(path.stem) is not None
        if not (stored or path.suffix == ".part") or (stored and path.stem in keep):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def store_and_sweep(folder: Path, image, s: Session) -> tuple[str, int, int]:
    """`store` the frame, then `sweep` the folder (keeping the frames crossings name)."""
    stored = store(folder, image)
    sweep(folder, referenced_frames(s) | {stored[0]})
    return stored


def grab_frame(source: Path | BinaryIO):
    """The frame shown about SNAPSHOT_AT_S into the video (the last one for shorter videos), as a
    PIL image; None when it cannot be decoded. `source`: a path or an open binary file."""
    import av

    try:
        with av.open(str(source) if isinstance(source, Path) else source, mode="r") as container:
            stream = container.streams.video[0]
            chosen = None
            for frame in container.decode(stream):
                chosen = frame
                if frame.time is not None and frame.time >= SNAPSHOT_AT_S:
                    break
            return chosen.to_image() if chosen is not None else None
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return None


def decode_image(data: bytes, kind: str):
    """The uploaded bytes as a PIL image of format `kind` (PNG or JPEG); 422 in one line otherwise."""
    from PIL import Image

    from detector.pictures import open_picture

    bad = HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"file: not a valid {kind} image")
    try:
        with open_picture(io.BytesIO(data), formats=[kind]) as im:
            w, h = im.size
            if w > FRAME_MAX_SIDE or h > FRAME_MAX_SIDE or w * h > FRAME_MAX_PIXELS:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_ENTITY,
                    f"file: {w}x{h} pixels is too large (at most {FRAME_MAX_SIDE} a side, {FRAME_MAX_PIXELS} in all)",
                )
            im.load()
            return im.copy()
    except HTTPException:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):  # PIL's ways of saying "not an image"
        raise bad from None


# -- handlers ----------------------------------------------------------------------------------
@router.get("/videos", response_model=VideoList)
def list_videos(request: Request, p: Operator) -> VideoList:
    """Video files under the ingest root (paths relative to it, sorted; symlinked folders are not
    followed, a symlinked file is listed only when it resolves inside the root)."""
    root = request.app.state.settings.ingest_root
    if root is None:
        return VideoList(ingest_root=False, videos=[], truncated=False)
    base = Path(root).resolve()
    found: list[VideoFile] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        for fn in sorted(filenames):
            if Path(fn).suffix.lower() not in VIDEO_SUFFIXES:
                continue
            real = (Path(dirpath) / fn).resolve()
            if not real.is_relative_to(base) or not real.is_file():
                continue
            if len(found) == MAX_LISTED:
                return VideoList(ingest_root=True, videos=found, truncated=True)
            found.append(VideoFile(path=str(Path(dirpath, fn).relative_to(base)), size=real.stat().st_size))
    return VideoList(ingest_root=True, videos=found, truncated=False)


@router.post(
    "/video",
    response_model=Frame,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": Message, "description": "outside the ingest root, missing, or not a decodable video"}},
)
def frame_from_video(body: FromVideo, request: Request, s: SessionDep, p: Operator) -> Frame:
    """The frame about 1 s into a video under the ingest root (as the crossing snapshot uses)."""
    root = request.app.state.settings.ingest_root
    try:
        files = resolve_paths(root, [body.path])
        base = Path(root).resolve()  # root is set: resolve_paths refused otherwise
        given = Path(body.path)
        if (given if given.is_absolute() else base / given).resolve().is_dir():
            raise PathRefused(f"path {body.path!r}: a folder; pick one video")
        fd = open_video(files[0], allowed_roots(root))
    except (PathRefused, OpenRefused) as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(e)) from None
    with os.fdopen(fd, "rb") as f:
        image = grab_frame(f)
    if image is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"path {body.path!r}: not a decodable video")
    frame, w, h = store_and_sweep(frames_dir(request), image, s)
    name = str(Path(files[0]).relative_to(Path(root).resolve()))
    return Frame(frame=frame, width=w, height=h, source="video", name=name)


@router.post(
    "/upload",
    response_model=Frame,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES},
        }
    },
    responses={
        413: {"model": Message, "description": f"larger than {FRAME_MAX_BYTES} bytes"},
        415: {"model": Message, "description": "not image/png or image/jpeg"},
        422: {"model": Message, "description": "not a valid image of that type, or too many pixels"},
    },
)
async def upload_frame(request: Request, s: SessionDep, p: Operator) -> Frame:
    """One picture of the camera view as the request body (Content-Type image/png or image/jpeg)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = IMAGE_TYPES.get(ctype)
    if kind is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send one PNG or JPEG picture (Content-Type image/png or image/jpeg)",
        )
    too_large = HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"picture larger than {FRAME_MAX_BYTES} bytes")
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Content-Length is not a number")
    if length is not None and int(length) > FRAME_MAX_BYTES:
        raise too_large
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > FRAME_MAX_BYTES:
            raise too_large
    if not data:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "file: empty body (send one PNG or JPEG picture)")
    image = await run_in_threadpool(decode_image, bytes(data), kind)
    frame, w, h = await run_in_threadpool(store_and_sweep, frames_dir(request), image, s)
    return Frame(frame=frame, width=w, height=h, source="upload", name=ctype)


@router.get(
    "/{frame}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": Message, "description": "no such frame"}},
)
def get_frame(frame: Annotated[str, PathParam(pattern=FRAME_ID)], request: Request, p: Operator) -> Response:
    path = frame_file(frames_dir(request), frame)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such frame (grab or upload it again)")
    return Response(path.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
