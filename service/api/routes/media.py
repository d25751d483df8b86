"""Evidence media by opaque id (`GET|HEAD /api/media/{uid}`, with HTTP Range so `<video>` can
seek) and case packages (`POST /api/exports/case-package`).

Both verify every evidence file against its recorded SHA-256 before a byte leaves the server (see
`service/evidence_store.py`); a changed file answers 409, a lost one 410, and both are audited.
"""

from __future__ import annotations

import mimetypes
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, BinaryIO

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ... import case_package, evidence_store
from ...audit import append as audit
from ..deps import EvidenceViewer, Principal, SessionDep
from ..schemas import Message
from ..schemas.media import CasePackageIn, Refused

router = APIRouter(tags=["evidence"])

_MIME_RE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+", re.ASCII)
_KIND_RE = re.compile(r"[^A-Za-z0-9_-]+", re.ASCII)
_RANGE_RE = re.compile(r"\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.ASCII)
_MAX_DIGITS = 18  # a longer number is past the end of any file (and int() of huge strings is slow)
_EXT = {"image/jpeg": "jpg", "video/mp4": "mp4", "image/png": "png", "application/json": "json"}


# -- HTTP Range (RFC 9110 section 14) ----------------------------------------------------------
class Unsatisfiable(Exception):
    """A well-formed range that selects nothing of the file: 416."""


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte, inclusive, selected by a single-range `Range` header, or None to
    send the whole file: no header, a malformed one (which RFC 9110 says to ignore), another
    unit, or several ranges (we may answer those with the whole file). Raises `Unsatisfiable`."""
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    m = _RANGE_RE.fullmatch(spec)
    if m is None or (not m[1] and not m[2]):
        return None
    if not m[1]:  # suffix: the last n bytes
        n = _number(m[2])
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    first = _number(m[1])
    if m[2] and _number(m[2]) < first:
        return None  # an invalid range-spec, not an unsatisfiable one: ignore the header
    if first >= size:
        raise Unsatisfiable
    return first, min(_number(m[2]), size - 1) if m[2] else size - 1


def _etag_matches(header: str | None, etag: str) -> bool:
    """Strong comparison against a list of entity tags (If-Range, If-None-Match)."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or any(t.removeprefix("W/") == etag for t in tags)


# -- responses ---------------------------------------------------------------------------------
class FileSliceResponse(Response):
    """Sends `length` bytes of an already-verified open file from `start` (reads in a worker
    thread, 1 MiB at a time) and closes it; a HEAD request gets the headers only."""

    def __init__(
        self, f: BinaryIO, start: int, length: int, status_code: int, headers: dict[str, str], send_body: bool
    ):
        self.f, self.start, self.length, self.send_body = f, start, length, send_body
        super().__init__(status_code=status_code, headers={**headers, "content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            remaining = self.length if self.send_body else 0
            if remaining:
                await anyio.to_thread.run_sync(self.f.seek, self.start)
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(self.f.read, min(evidence_store.CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.f.close()


def _media_type(mime: str) -> str:
    return mime if _MIME_RE.fullmatch(mime) else "application/octet-stream"


def _filename(ref: evidence_store.EvidenceRef) -> str:
    """`<kind>.<ext>`: only safe characters, so the header cannot be used for injection."""
    kind = _KIND_RE.sub("_", ref.kind).strip("_") or "evidence"
    ext = _EXT.get(ref.mime) or (mimetypes.guess_extension(_media_type(ref.mime)) or ".bin").lstrip(".")
    return f"{kind}.{ext}"


def _base_headers(ref: evidence_store.EvidenceRef) -> dict[str, str]:
    return {
        "content-type": _media_type(ref.mime),
        "etag": f'"{ref.sha256}"',
        "cache-control": "private, no-cache",
        "content-disposition": f'inline; filename="{_filename(ref)}"',
        "x-content-type-options": "nosniff",
        "accept-ranges": "bytes",
    }


def _fail(request: Request, p: Principal, err: evidence_store.EvidenceError) -> HTTPException:
    """Audit the alarm (missing / changed / refused path) and turn it into the HTTP error."""
    evidence_store.record_failure(request.app.state.write_sessionmaker, p.username, err)
    return HTTPException(err.status_code, err.detail)


_MEDIA_RESPONSES: dict[int | str, dict] = {
    200: {"description": "the whole file", "content": {"image/jpeg": {}, "video/mp4": {}}},
    206: {"description": "the requested byte range (Content-Range)", "content": {"video/mp4": {}, "image/jpeg": {}}},
    304: {"description": "If-None-Match matched the ETag (the file's SHA-256)"},
    401: {"model": Message, "description": "not logged in"},
    403: {"model": Message, "description": "no access to raw evidence"},
    404: {"model": Message, "description": "no such evidence in your scope"},
    409: {"model": Message, "description": "the file no longer matches its recorded SHA-256 (not served)"},
    410: {"model": Message, "description": "the file is missing from the evidence store"},
    416: {"model": Message, "description": "range not satisfiable (Content-Range: bytes */size)"},
}


RangeH = Annotated[str | None, Header(alias="Range", description="one byte range, e.g. `bytes=0-1023`")]
IfRangeH = Annotated[str | None, Header(alias="If-Range", description="the ETag the range applies to")]
IfNoneMatchH = Annotated[str | None, Header(alias="If-None-Match")]


@dataclass(frozen=True, slots=True)
class _Conditions:
    """The request's Range, If-Range and If-None-Match headers (GET and HEAD read the same)."""

    range: str | None
    if_range: str | None
    if_none_match: str | None


def _conditions(range_h: RangeH = None, if_range: IfRangeH = None, if_none_match: IfNoneMatchH = None) -> _Conditions:
    return _Conditions(range_h, if_range, if_none_match)


Conditions = Annotated[_Conditions, Depends(_conditions)]


def _serve(request: Request, s: SessionDep, p: Principal, uid: str, c: _Conditions, send_body: bool) -> Response:
    try:
        ref = evidence_store.find_evidence(s, p, uid)
    except evidence_store.EvidenceNotFound as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, e.detail) from None
    s.close()  # release the read transaction before the (possibly long) hash
    try:
        f = evidence_store.open_verified(request.app.state.evidence_dir, ref)
    except evidence_store.EvidenceError as e:
        raise _fail(request, p, e) from None
    headers = _base_headers(ref)
    etag = headers["etag"]
    range_h = c.range
    try:
        if _etag_matches(c.if_none_match, etag):
            f.close()
            return Response(
                status_code=status.HTTP_304_NOT_MODIFIED,
                headers={k: v for k, v in headers.items() if k in ("etag", "cache-control")},
            )
        if c.if_range is not None and not _etag_matches(c.if_range, etag):
            range_h = None  # the client's copy is stale (or dated): send the whole file
        byte_range = parse_range(range_h, ref.size)
    except Unsatisfiable:
        f.close()
        return Response(
            status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE,
            media_type="application/json",
            content=b'{"detail":"range not satisfiable"}',
            headers={"content-range": f"bytes */{ref.size}", "etag": etag, "accept-ranges": "bytes"},
        )
    if byte_range is None:
        return FileSliceResponse(f, 0, ref.size, status.HTTP_200_OK, headers, send_body)
    first, last = byte_range
    headers["content-range"] = f"bytes {first}-{last}/{ref.size}"
    return FileSliceResponse(f, first, last - first + 1, status.HTTP_206_PARTIAL_CONTENT, headers, send_body)


@router.get(
    "/api/media/{uid}",
    response_class=Response,
    responses=_MEDIA_RESPONSES,
    summary="An evidence file (SHA-256 verified on every read; Range supported)",
)
def get_media(uid: str, request: Request, s: SessionDep, p: EvidenceViewer, c: Conditions) -> Response:
    """The file of evidence `uid` (opaque, from an event's evidence list). The whole file is hashed
    before anything is sent, for ranges too: a changed file is never served, even partly."""
    return _serve(request, s, p, uid, c, send_body=True)


@router.head(
    "/api/media/{uid}",
    response_class=Response,
    responses=_MEDIA_RESPONSES,
    summary="Headers of an evidence file (verified like GET)",
)
def head_media(uid: str, request: Request, s: SessionDep, p: EvidenceViewer, c: Conditions) -> Response:
    return _serve(request, s, p, uid, c, send_body=False)


# -- case packages -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Cleanup:
    path: str

    def __call__(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@router.post(
    "/api/exports/case-package",
    response_class=FileResponse,
    tags=["exports"],
    summary="A zip of confirmed events: evidence files, event JSON, SHA-256 manifest",
    responses={
        200: {
            "description": "the zip (header X-Manifest-SHA256: the manifest's own SHA-256, as audited)",
            "content": {"application/zip": {}},
        },
        400: {"model": Message, "description": "the body is not JSON"},
        401: {"model": Message, "description": "not logged in"},
        403: {"model": Message, "description": "no access to raw evidence"},
        404: {"model": Message, "description": "some events do not exist in your scope (listed)"},
        409: {"model": Message, "description": "an evidence file no longer matches its SHA-256: no package"},
        410: {"model": Message, "description": "an evidence file is missing: no package"},
        422: {"model": Refused, "description": "bad input, or events not confirmed (listed, reason in zh and en)"},
    },
)
def export_case_package(body: CasePackageIn, request: Request, s: SessionDep, p: EvidenceViewer) -> FileResponse:
    """Only complete packages are produced: every evidence file is re-verified while it is copied,
    and one changed or missing file aborts the whole package (and is audited)."""
    uids = list(dict.fromkeys(body.event_uids))
    try:
        events = case_package.load_events(s, p, uids)
    except case_package.EventsNotFound as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event(s) not found: {', '.join(e.uids)}") from None
    except case_package.EventsNotConfirmed as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, e.errors) from None
    s.close()
    try:
        built = case_package.build(request.app.state.evidence_dir, events)
    except evidence_store.EvidenceError as e:
        raise _fail(request, p, e) from None
    try:
        with request.app.state.write_sessionmaker() as w:
            audit(
                w,
                actor=p.username,
                action="case_package_export",
                object_type="case_package",
                object_id=built.manifest_sha256,
                payload={"event_uids": uids, "manifest_sha256": built.manifest_sha256, "files": built.files},
            )
            w.commit()
    except BaseException:
        os.unlink(built.path)
        raise
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return FileResponse(
        built.path,
        media_type="application/zip",
        filename=f"case-package-{stamp}.zip",
        headers={
            "x-manifest-sha256": built.manifest_sha256,
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
        background=BackgroundTask(_Cleanup(built.path)),
    )
