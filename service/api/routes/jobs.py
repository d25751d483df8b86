"""Processing jobs (operators): submit videos by server-side path under the ingest root or by
upload, follow progress, cancel. The work runs in the jobs worker (`service/worker.py`), never in
the request; `setup()` starts the worker with the service when `settings.worker` is true.

Paths are resolved (symlinks included) and must stay inside `settings.ingest_root`; one bad path
refuses the whole submission (422 naming it), so nothing half-queued is left behind. Uploads are
capped at `settings.upload_max_bytes` (the whole request body): an announced `Content-Length` over
the cap is refused before a byte of the body is read, and a body without one is counted while it
streams to disk and dropped (partial file deleted) the moment it passes the cap.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import select
from sqlalchemy.orm import object_session

from ... import jobs_repo as repo
from ...audit import append as audit
from ...models import JOB_STATUSES, JobItemRow, JobRow, VideoRunRow
from ...settings import Settings
from ..deps import Operator, Principal, SessionDep, WriteSessionDep
from ..errors import Responses
from ..schemas import Message, Page
from ..schemas.jobs import JobDetail, JobIn, JobItemOut, JobOut

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".flv"})
MAX_ITEMS = 10_000  # after folders are expanded
MAX_FIELD_BYTES = 1024  # a non-file form field (crossing_id)
AUDIT_PATHS = 20  # paths named in the submit audit entry (the rest are counted)
_NOT_FOUND: Responses = {404: {"model": Message, "description": "no such job or crossing (or out of your scope)"}}


# -- models ------------------------------------------------------------------------------------
def _job_out(job: JobRow) -> JobOut:
    return JobOut(
        uid=job.uid,
        crossing_id=job.crossing_id,
        status=job.status,
        progress=repo.progress(job),
        items_total=len(job.items),
        items_by_status=repo.item_counts(job),
        start_time=job.start_time,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        cancel_requested=job.cancel_requested,
        error=job.error,
    )


def _assume_utc(value: datetime) -> datetime:
    """A stored time that lost its zone (SQLite) read as UTC, as it was written."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _reused(item: JobItemRow, run: VideoRunRow | None) -> bool | None:
    """A done item whose run began before the item did: the child found the video already
    processed and reused that run (a new run is created by the child, after the item starts)."""
    if item.status != "done" or run is None or item.started_at is None:
        return None
    return _assume_utc(run.started_at) < _assume_utc(item.started_at)


def _job_detail(job: JobRow) -> JobDetail:
    ids = sorted({i.run_id for i in job.items if i.run_id is not None})
    s = object_session(job)
    runs = {r.id: r for r in s.scalars(select(VideoRunRow).where(VideoRunRow.id.in_(ids)))} if ids and s else {}
    items = []
    for i in job.items:
        run = runs.get(i.run_id) if i.run_id is not None else None
        items.append(
            JobItemOut(
                id=i.id,
                path=i.path,
                status=i.status,
                progress=i.progress,
                error=i.error,
                events=i.events,
                run_id=i.run_id,
                reused=_reused(i, run),
                run_start_time=_assume_utc(run.start_time) if run and run.start_time else None,
                started_at=i.started_at,
                finished_at=i.finished_at,
            )
        )
    return JobDetail(**_job_out(job).model_dump(), items=items)


# -- paths -------------------------------------------------------------------------------------
class PathRefused(ValueError):
    """A submitted path that cannot be queued; the message names it."""


def resolve_paths(root: Path | None, paths: list[str]) -> list[str]:
    """The video files (absolute, symlinks resolved, each once) named by `paths`. Outside-ness is
    decided before existence, so nothing is revealed about files outside the root."""
    if root is None:
        raise PathRefused(
            "no ingest root is configured on the server (CROSSWATCH_INGEST_ROOT): submit by upload instead"
        )
    base = Path(root).resolve()
    out: dict[str, None] = {}
    for i, raw in enumerate(paths):
        name = f"paths[{i}] {raw!r}"
        if "\x00" in raw:
            raise PathRefused(f"{name}: contains a NUL character")
        given = Path(raw)
        try:
            real = (given if given.is_absolute() else base / given).resolve()
        except (OSError, RuntimeError):  # symlink loop, unreadable component
            raise PathRefused(f"{name}: cannot be resolved (symlink loop?)") from None
        if not real.is_relative_to(base):
            raise PathRefused(f"{name}: outside the ingest root")
        try:
            if not real.exists():
                raise PathRefused(f"{name}: no such file or folder under the ingest root")
            if real.is_dir():
                for f in _videos_under(real, base, name):
                    out[f] = None
            elif real.is_file():
                out[str(real)] = None
            else:
                raise PathRefused(f"{name}: not a regular file")
        except OSError as e:  # e.g. a component over 255 characters (ENAMETOOLONG)
            raise PathRefused(f"{name}: cannot be read: {e.strerror or e}") from None
        if len(out) > MAX_ITEMS:
            raise PathRefused(f"more than {MAX_ITEMS} videos in one job: split it")
    return list(out)


def _videos_under(folder: Path, base: Path, name: str) -> list[str]:
    """Video files in `folder`, recursively, without following symlinked folders; a symlinked
    file must resolve inside the root too."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for fn in sorted(filenames):
            if Path(fn).suffix.lower() not in VIDEO_SUFFIXES:
                continue
            real = (Path(dirpath) / fn).resolve()
            if not real.is_relative_to(base):
                raise PathRefused(f"{name}: {Path(dirpath, fn).relative_to(folder)} links outside the ingest root")
            if real.is_file():
                found.append(str(real))
    if not found:
        raise PathRefused(f"{name}: folder holds no video files ({' '.join(sorted(VIDEO_SUFFIXES))})")
    return found


# -- handlers ----------------------------------------------------------------------------------
def _wake_worker(request: Request) -> None:
    worker = getattr(request.app.state, "jobs_worker", None)
    if worker is not None:
        worker.wake()


def _crossing_in_scope(s, p: Principal, crossing_id: str) -> None:
    p.require_crossing(crossing_id)
    if not repo.crossing_exists(s, crossing_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "crossing not found")


def _submit(s, p: Principal, crossing_id: str, files: list[str], start_time: datetime | None, source: str) -> JobRow:
    job = repo.create_job(
        s,
        crossing_id=crossing_id,
        paths=files,
        created_by=p.username,
        start_time=start_time,
        settings={"source": source},
    )
    audit(
        s,
        actor=p.username,
        action="job_submit",
        object_type="job",
        object_id=job.uid,
        payload={"crossing_id": crossing_id, "source": source, "items": len(files), "paths": files[:AUDIT_PATHS]},
    )
    s.commit()
    return job


@router.post(
    "",
    response_model=JobDetail,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_NOT_FOUND,
        403: {"model": Message},
        422: {"description": "a path outside the ingest root, missing, or not a video file"},
    },
)
def submit_job(body: JobIn, request: Request, s: WriteSessionDep, p: Operator) -> JobDetail:
    _crossing_in_scope(s, p, body.crossing_id)
    try:
        files = resolve_paths(request.app.state.settings.ingest_root, body.paths)
    except PathRefused as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(e)) from None
    job = _submit(s, p, body.crossing_id, files, body.start_time, "paths")
    _wake_worker(request)
    return _job_detail(job)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["crossing_id", "file"],
                    "properties": {
                        "crossing_id": {"type": "string", "maxLength": 64},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "one video (.mp4 .mkv .avi .mov .ts .flv)",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/upload",
    response_model=JobDetail,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
    responses={
        **_NOT_FOUND,
        403: {"model": Message},
        413: {"model": Message, "description": "over settings.upload_max_bytes"},
        422: {"model": Message, "description": "not a multipart form with crossing_id and file"},
    },
)
async def upload_job(request: Request, p: Operator) -> JobDetail:
    """Upload one video and queue it. The cap is checked on `Content-Length` before the body is
    read, and on the running byte count while it streams to disk."""
    settings: Settings = request.app.state.settings
    cap = settings.upload_max_bytes
    boundary = _boundary(request)
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Content-Length is not a number")
        if int(length) > cap:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, _too_large(cap))
    receiver = _UploadReceiver(settings.resolved_upload_dir(), boundary)
    try:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > cap:
                raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, _too_large(cap))
            receiver.write(chunk)
        stored = receiver.finish()
        job = await run_in_threadpool(_queue_upload, request, p, receiver.fields.get("crossing_id"), stored)
    except BaseException:
        receiver.discard()
        raise
    _wake_worker(request)
    return _job_detail(job)


def _too_large(cap: int) -> str:
    return f"upload larger than the limit of {cap} bytes (settings.upload_max_bytes)"


def _boundary(request: Request) -> bytes:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, "expected multipart/form-data with fields crossing_id and file"
        )
    return params[b"boundary"]


def _queue_upload(request: Request, p: Principal, crossing_id: str | None, stored: Path) -> JobRow:
    if not crossing_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "crossing_id: field required")
    with request.app.state.write_sessionmaker() as s:
        _crossing_in_scope(s, p, crossing_id)
        return _submit(s, p, crossing_id, [str(stored)], None, "upload")


class _UploadReceiver:
    """Parses a multipart body as it arrives: small fields into `fields`, the part named `file`
    straight into `<upload dir>/<random>.<ext>`; anything else is a 422."""

    def __init__(self, folder: Path, boundary: bytes):
        self.folder = folder
        self.fields: dict[str, str] = {}
        self.path: Path | None = None
        self._file: Any = None
        self._headers: dict[str, bytes] = {}
        self._field = b""
        self._value = bytearray()
        self._name: str | None = None
        self._done_file = False
        self._error: HTTPException | None = None
        self._header_field = b""
        self._header_value = b""
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._h_field,
                "on_header_value": self._h_value,
                "on_header_end": self._h_end,
                "on_headers_finished": self._headers_done,
            },
        )

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "malformed multipart body") from None
        if self._error is not None:
            raise self._error

    def finish(self) -> Path:
        try:
            self._parser.finalize()
        except FormParserError:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "malformed multipart body") from None
        if self._error is not None:
            raise self._error
        if self._file is not None:  # body ended inside the file part
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "multipart body ends inside the file")
        if self.path is None or not self._done_file:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "file: field required (one video)")
        return self.path

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    # parser callbacks: errors are kept and raised from write(), not thrown through the parser
    def _fail(self, detail: str) -> None:
        if self._error is None:
            self._error = HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail)

    def _part_begin(self) -> None:
        self._headers, self._value, self._name = {}, bytearray(), None

    def _h_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _h_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _h_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_done(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._name = name
        if name != "file":
            if b"filename" in options:
                self._fail(f"unexpected file field {name!r}: send one video as `file`")
            return
        if self.path is not None:
            self._fail("send one video per upload")
            return
        suffix = Path(options.get(b"filename", b"").decode("utf-8", "replace")).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            self._fail(f"file: not a video file name (expected one of {' '.join(sorted(VIDEO_SUFFIXES))})")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{uuid.uuid4().hex}{suffix}"
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed in _part_end / discard

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._error is not None:
            return
        if self._file is not None:
            self._file.write(data[start:end])
        elif self._name is not None:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                self._fail(f"{self._name}: field too long")

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._done_file = True
        elif self._name and self._error is None:
            self.fields[self._name] = self._value.decode("utf-8", "replace")


@router.get("", response_model=Page[JobOut])
def list_jobs(
    s: SessionDep,
    p: Operator,
    status_: Annotated[str | None, Query(alias="status", pattern="^(" + "|".join(JOB_STATUSES) + ")$")] = None,
    crossing_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[JobOut]:
    rows, total = repo.list_jobs(
        s, p.scope(JobRow.crossing_id), status=status_, crossing_id=crossing_id, limit=limit, offset=offset
    )
    return Page(data=[_job_out(j) for j in rows], count=total)


def _job_or_404(s, p: Principal, uid: str, *, for_update: bool = False) -> JobRow:
    job = repo.get_job(s, uid, for_update=for_update) if len(uid) <= 32 else None
    if job is None or not p.sees(job.crossing_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "job not found")
    return job


@router.get("/{uid}", response_model=JobDetail, responses=_NOT_FOUND)
def get_job(uid: str, s: SessionDep, p: Operator) -> JobDetail:
    return _job_detail(_job_or_404(s, p, uid))


@router.post(
    "/{uid}/cancel",
    response_model=JobDetail,
    responses={**_NOT_FOUND, 409: {"model": Message, "description": "the job has already finished"}},
)
def cancel_job(uid: str, s: WriteSessionDep, p: Operator) -> JobDetail:
    """Queued videos are cancelled now; the running one is stopped by the worker within a second."""
    job = _job_or_404(s, p, uid, for_update=True)
    if job.status in repo.FINAL_JOB_STATUSES:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {uid} is already {job.status}")
    before = job.status
    repo.request_cancel(s, job)
    audit(
        s,
        actor=p.username,
        action="job_cancel",
        object_type="job",
        object_id=job.uid,
        payload={"crossing_id": job.crossing_id, "status_before": before, "status": job.status},
    )
    s.commit()
    return _job_detail(job)


def setup(app: FastAPI) -> None:
    """Run the jobs worker inside the service process when `settings.worker` is true."""
    if not app.state.settings.worker:
        return
    from ...worker import Worker

    worker = Worker(app)
    app.state.jobs_worker = worker
    app.state.startup_hooks.append(lambda _app: worker.start())
    app.state.shutdown_hooks.append(lambda _app: worker.stop())
