"""Evidence files: find them by opaque id, refuse paths that leave the evidence root, and check
every byte against the recorded SHA-256 before anything is served or packaged.

Evidence is what a fine rests on, so the store trusts nothing, not even its own database:

- a public id (`EvidenceFileRow.uid`) must be 32 lowercase hex digits, anything else is simply
  "not found" (no parsing of user input into paths, ever);
- the recorded `relpath` must stay under the evidence root after resolving `..` and symlinks
  (defence in depth: a corrupted or tampered row must not turn into a file-read primitive);
- the file is opened once (`O_NOFOLLOW`, regular files only) and hashed whole on every read; a
  changed file (`EvidenceTampered`, 409) and a lost file (`EvidenceMissing`, 410) are distinct
  alarms, and both are written to the hash-chained audit log by `record_failure`.

SQL here is plain functions taking a `Session`, like `service/repository.py`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import audit
from .models import EventRow, EvidenceFileRow
from .principal import Principal

CHUNK = 1024 * 1024  # hash and copy in 1 MiB chunks: memory stays flat for any clip size
UID_RE = re.compile(r"[0-9a-f]{32}")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


# -- errors ------------------------------------------------------------------------------------
class EvidenceError(Exception):
    """A file that must not be served. `status_code` / `detail` are the HTTP answer; `action` and
    `payload` are what goes into the audit log (None: nothing to audit)."""

    status_code = 500
    action: str | None = None

    def __init__(self, uid: str, detail: str, payload: dict[str, Any] | None = None):
        super().__init__(detail)
        self.uid = uid
        self.detail = detail
        self.payload = payload or {}


class EvidenceNotFound(EvidenceError):
    """No such evidence, a malformed id, or out of the caller's scope (never say which)."""

    status_code = 404


class EvidenceMissing(EvidenceError):
    """The row exists but its file is gone: evidence must never be lost, so this is an alarm."""

    status_code = 410
    action = "evidence_missing"


class EvidenceTampered(EvidenceError):
    """The file's bytes (or size) no longer match what was recorded when it was written."""

    status_code = 409
    action = "evidence_integrity_failure"


class EvidencePathRefused(EvidenceError):
    """The recorded path leaves the evidence root or is not a regular file: the row itself is
    suspect, so the file is refused without being opened."""

    status_code = 409
    action = "evidence_path_refused"


# -- lookup ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """What the store needs to know about one evidence file (detached from the session)."""

    uid: str
    event_uid: str
    crossing_id: str
    kind: str
    relpath: str
    sha256: str
    size: int
    mime: str


def valid_uid(uid: str) -> bool:
    return UID_RE.fullmatch(uid) is not None


def find_evidence(s: Session, p: Principal, uid: str) -> EvidenceRef:
    """The evidence `uid` if it exists and its event's crossing is in `p`'s scope; otherwise
    `EvidenceNotFound` (malformed, unknown and out-of-scope look the same to the caller)."""
    if not valid_uid(uid):
        raise EvidenceNotFound(uid, "evidence not found")
    row = s.execute(
        select(EvidenceFileRow, EventRow.uid, EventRow.crossing_id)
        .join(EventRow, EventRow.id == EvidenceFileRow.event_id)
        .where(EvidenceFileRow.uid == uid, p.scope(EventRow.crossing_id))
    ).first()
    if row is None:
        raise EvidenceNotFound(uid, "evidence not found")
    f, event_uid, crossing_id = row
    return ref_of(f, event_uid, crossing_id)


def ref_of(f: EvidenceFileRow, event_uid: str, crossing_id: str) -> EvidenceRef:
    return EvidenceRef(
        uid=f.uid,
        event_uid=event_uid,
        crossing_id=crossing_id,
        kind=f.kind,
        relpath=f.relpath,
        sha256=f.sha256.lower(),
        size=f.size,
        mime=f.mime,
    )


# -- paths -------------------------------------------------------------------------------------
def resolve_path(root: Path, ref: EvidenceRef) -> Path:
    """The absolute, symlink-free path of `ref` under `root` (itself resolved), or
    `EvidencePathRefused`. Rejects lexically first (absolute, drive letters, backslashes, `..`,
    NUL) and then checks the resolved path, which catches symlinks pointing outside."""
    rel = ref.relpath
    refused = EvidencePathRefused(
        ref.uid,
        "the evidence record's path is outside the evidence root; the file was not served",
        {"relpath": rel},
    )
    if not rel or "\x00" in rel or "\\" in rel or PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        raise refused
    if any(part in ("..", "") for part in rel.split("/")[:-1]) or PurePosixPath(rel).name in ("", "..", "."):
        raise refused
    try:
        path = (root / rel).resolve(strict=False)
    except (OSError, RuntimeError):  # symlink loop
        raise refused from None
    if path == root or not path.is_relative_to(root):
        raise refused
    return path


def _missing(ref: EvidenceRef) -> EvidenceMissing:
    return EvidenceMissing(
        ref.uid,
        "the evidence file is missing from the evidence store (it was recorded but is gone); "
        "this has been logged as an alarm",
        {"relpath": ref.relpath, "sha256": ref.sha256},
    )


def _tampered(ref: EvidenceRef, actual_sha: str, actual_size: int) -> EvidenceTampered:
    return EvidenceTampered(
        ref.uid,
        "the evidence file no longer matches its recorded SHA-256 and was not served; "
        "this has been logged as an integrity failure",
        {
            "expected_sha256": ref.sha256,
            "actual_sha256": actual_sha,
            "expected_size": ref.size,
            "actual_size": actual_size,
            "relpath": ref.relpath,
        },
    )


def open_file(root: Path, ref: EvidenceRef) -> BinaryIO:
    """Open `ref`'s file read-only without following a final symlink; regular files only."""
    path = resolve_path(root, ref)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise _missing(ref) from None
    except OSError:  # ELOOP (swapped for a symlink), EACCES, ...: not servable as recorded
        raise EvidencePathRefused(
            ref.uid, "the evidence file cannot be opened as a regular file; it was not served", {"relpath": ref.relpath}
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise EvidencePathRefused(
                ref.uid, "the evidence path is not a regular file; it was not served", {"relpath": ref.relpath}
            )
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


# -- verification ------------------------------------------------------------------------------
def _stream(f: BinaryIO, sink: Callable[[bytes], object] | None) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
        if sink is not None:
            sink(chunk)
    return h.hexdigest(), n


def open_verified(root: Path, ref: EvidenceRef) -> BinaryIO:
    """The open file, positioned at 0, after its whole content matched the recorded SHA-256 and
    size. The caller serves from this same descriptor (no re-open between check and use)."""
    f = open_file(root, ref)
    try:
        sha, size = _stream(f, None)
        if size != ref.size or sha != ref.sha256:
            raise _tampered(ref, sha, size)
        f.seek(0)
        return f
    except BaseException:
        f.close()
        raise


def copy_verified(root: Path, ref: EvidenceRef, sink: Callable[[bytes], object]) -> None:
    """Copy the file into `sink` while hashing exactly the bytes copied; `EvidenceTampered` after
    the copy if they do not match (the caller discards what it wrote, e.g. a half-built zip)."""
    with open_file(root, ref) as f:
        sha, size = _stream(f, sink)
    if size != ref.size or sha != ref.sha256:
        raise _tampered(ref, sha, size)


# -- alarms ------------------------------------------------------------------------------------
def record_failure(write_sessions: sessionmaker[Session], actor: str, err: EvidenceError) -> None:
    """Append `err` to the audit log in its own write transaction (the request that hit it is
    answered with an error, so nothing else of it is committed)."""
    if err.action is None:
        return
    with write_sessions() as s:
        audit.append(
            s,
            actor=actor,
            action=err.action,
            object_type="evidence",
            object_id=err.uid,
            payload={"detail": err.detail, **err.payload},
        )
        s.commit()
