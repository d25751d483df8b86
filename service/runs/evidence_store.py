"""Where a run's evidence files are written, so that no run ever writes over another run's files.

A run key names one evidence folder (`RunKey.evidence_dir`). Two processes may work on the same
run key at once (two `crosswatch process` of one video, a batch beside a jobs worker), so:

- each attempt writes under its own folder, `.attempts/<host>-<pid>-<random>/` of the evidence
  root (the relative paths inside are the final ones), never into the run key's folder;
- the run key's folder is touched only under `commit_lock(root, rel)` (an exclusive `flock` on a
  file under `.locks/`): there the attempt asks the database whether the run is already done (then
  it discards its folder), clears what a killed attempt left in the run key's folder (no row names
  those files and nobody else is inside the lock), moves its folder into place with one rename
  and commits the run;
- the folder of an attempt whose process is gone (killed) is removed by the next attempt's
  `Attempt.open` on the same machine.

Folders starting with '.' at the top of the evidence root are not evidence (`check_evidence` skips them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.models import EvidenceFileRow

from .errors import UserError

ATTEMPTS = ".attempts"
LOCKS = ".locks"
LOCK_SHARDS = 256  # run keys share this many lock files (bounded; a commit holds its lock for milliseconds)


def check_root(root: Path) -> None:
    """The evidence root exists (or can be made) and a file can be written in it; else a UserError."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"evidence folder {root}: exists and is not a folder") from None
    except OSError as e:
        raise UserError(f"evidence folder {root}: cannot create it: {e.strerror or e}") from None
    if not root.is_dir():
        raise UserError(f"evidence folder {root}: not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=root)
    except OSError as e:
        raise UserError(f"evidence folder {root}: cannot write in it: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def commit_lock(root: Path, rel: str) -> Iterator[None]:
    """Hold the exclusive lock of run folder `rel` under `root` (blocks until it is free). Every
    process that writes into, clears or commits a run key's folder holds it meanwhile."""
    shard = int(hashlib.sha256(rel.encode()).hexdigest()[:8], 16) % LOCK_SHARDS
    folder = root / LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{shard:03d}.lock", os.O_RDWR | os.O_CREAT, 0o666)  # the umask decides
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_dead_attempts(root: Path) -> int:
    """Remove the folders of attempts on this machine whose process is gone; how many."""
    folder = root / ATTEMPTS
    if not folder.is_dir():
        return 0
    host, removed = socket.gethostname(), 0
    for d in folder.iterdir():
        parts = d.name.rsplit("-", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit() or _alive(int(parts[1])):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed


class Attempt:
    """One attempt's own evidence folder (`path`); `discard()` removes whatever is left in it."""

    def __init__(self, root: Path, path: Path):
        self.root, self.path = root, path

    @classmethod
    def open(cls, root: Path) -> Attempt:
        """A fresh attempt folder under `root` (after removing those of dead attempts)."""
        sweep_dead_attempts(root)
        path = root / ATTEMPTS / f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(6)}"
        path.mkdir(parents=True)
        return cls(root, path)

    def keep_only(self, relpaths: set[str]) -> int:
        """Delete the files of this attempt that are not in `relpaths` (e.g. half the pictures of an
        event whose evidence failed); how many."""
        removed = 0
        for dirpath, _dirs, files in os.walk(self.path):
            for name in files:
                p = Path(dirpath) / name
                if p.relative_to(self.path).as_posix() not in relpaths:
                    p.unlink()
                    removed += 1
        return removed

    def move_into_place(self, rel: str) -> Path | None:
        """Move this attempt's folder `rel` to `root/rel` with one rename (call under `commit_lock`,
        after the run key's folder was cleared); the new folder, or None when the attempt wrote
        nothing there. A folder that still holds files is never written over: a UserError."""
        src, dst = self.path / rel, self.root / rel
        if not src.is_dir():
            return None
        if dst.exists():
            raise UserError(f"evidence folder {dst} holds files that a stored run names; not overwritten")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        return dst

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def referenced(engine: Any, prefix: str | None = None) -> dict[str, tuple[str, int]]:
    """relpath -> (sha256, size) of every stored evidence file (under `prefix`/ when given)."""
    q = select(EvidenceFileRow.relpath, EvidenceFileRow.sha256, EvidenceFileRow.size)
    if prefix is not None:
        q = q.where(EvidenceFileRow.relpath.startswith(prefix.rstrip("/") + "/", autoescape=True))
    with engine.connect() as conn:
        return {r: (h, int(n)) for r, h, n in conn.execute(q)}


def files_under(root: Path, rel: str) -> Iterator[str]:
    """POSIX relpaths (to `root`) of every file below root/rel."""
    for dirpath, _dirs, files in os.walk(root / rel):
        for name in files:
            yield (Path(dirpath) / name).relative_to(root).as_posix()


def clear_unreferenced(engine: Any, root: Path, rel: str) -> int:
    """Delete every file under root/rel that no evidence row names, then empty folders; the count.
    Call under `commit_lock(root, rel)`: then nobody is between moving files there and committing
    their rows, so a file no row names was left by an attempt that never committed."""
    if not (root / rel).is_dir():
        return 0
    keep = referenced(engine, rel)
    removed = 0
    for relpath in list(files_under(root, rel)):
        if relpath not in keep:
            (root / relpath).unlink(missing_ok=True)
            removed += 1
    for dirpath, _dirs, _files in sorted(os.walk(root / rel), key=lambda x: -len(x[0])):
        with contextlib.suppress(OSError):  # not empty: kept
            Path(dirpath).rmdir()
    return removed
