"""Evidence files: the error types, the file record, SHA-256 hashing, atomic writes and re-verification.

Every file is written atomically (temp file in the same folder, fsync, ``os.replace``, fsync of the
folder), so a reader never sees half a picture.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class EvidenceError(RuntimeError):
    """The evidence could not be made (unreadable video, no frames near the event, ...)."""


class FontNotFoundError(EvidenceError):
    """No font that can draw Chinese text was found."""


class EvidenceBatchError(EvidenceError):
    """Some events of a `record_many` call failed; the others were recorded."""

    def __init__(self, message: str, results: dict[str, list[EvidenceFile]], failures: dict[str, str]):
        super().__init__(message)
        self.results = results  # event key -> files written
        self.failures = failures  # event key -> reason


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    kind: str  # frame_* | scene_* | closeup | signal | plate | composite | clip
    relpath: str  # POSIX path relative to the evidence root
    sha256: str  # hex digest of the file's bytes
    size: int  # bytes
    mime: str  # image/jpeg | video/mp4


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(root: Path | str, files: Sequence[EvidenceFile]) -> list[str]:
    """Re-hash every file; return one line per problem (missing, size or hash changed)."""
    root = Path(root)
    problems: list[str] = []
    for ef in files:
        path = root / ef.relpath
        if not path.is_file():
            problems.append(f"missing: {ef.relpath}")
            continue
        size = path.stat().st_size
        if size != ef.size:
            problems.append(f"size changed: {ef.relpath} (recorded {ef.size} bytes, found {size})")
            continue
        digest = sha256_file(path)
        if digest != ef.sha256:
            problems.append(f"hash mismatch: {ef.relpath} (recorded {ef.sha256}, found {digest})")
    return problems


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_path(folder: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, final: Path) -> tuple[str, int]:
    """fsync `tmp`, hash it, atomically move it to `final`; return (sha256, size)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    digest, size = sha256_file(tmp), tmp.stat().st_size
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return digest, size


def _write_bytes_atomic(final: Path, data: bytes) -> tuple[str, int]:
    tmp = _temp_path(final.parent, final.name)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)
    return hashlib.sha256(data).hexdigest(), len(data)
