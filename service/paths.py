"""Opening a job's video at the moment it is used, confined to the allowed roots.

A path is checked when a job is submitted (`api/routes/jobs.resolve_paths`), but the folder can be
swapped for a symlink afterwards. So the jobs worker's child opens the file itself, right before it
processes it (`service.runs.tasks.Confined`), and reads that open descriptor (through a symlink to
`/dev/fd/N` named like the video): what it reads is the file that was checked, whatever happens to
the path later.

`open_video` refuses (PathRefused, one line naming the path):
- a path that now resolves somewhere else than it did at submission (a component became a
  symlink), or outside every allowed root;
- a final component that is a symlink (`O_NOFOLLOW`), or anything but a regular file;
- a descriptor whose real path (read back from the kernel, `/proc/self/fd/N`) is outside the roots.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

MAX_COMPONENT = 255  # NAME_MAX on Linux filesystems


class PathRefused(ValueError):
    """A video path that may not be opened now; the message names it."""


def allowed_roots(*roots: Path | str | None) -> tuple[Path, ...]:
    """The given roots that are set, resolved (None entries skipped)."""
    return tuple(Path(r).resolve() for r in roots if r is not None)


def _inside(path: str, roots: Iterable[Path]) -> bool:
    p = Path(path)
    return any(p == r or p.is_relative_to(r) for r in roots)


def open_video(path: str, roots: Sequence[Path]) -> int:
    """A read-only descriptor (close-on-exec off is up to the caller) of `path`, checked now."""
    if not roots:
        raise PathRefused(f"{path!r}: no ingest root or upload folder is configured")
    if "\x00" in path or any(len(part) > MAX_COMPONENT for part in Path(path).parts):
        raise PathRefused(f"{path!r}: not a valid path")
    try:
        real = os.path.realpath(path, strict=True)
    except (OSError, RuntimeError) as e:
        raise PathRefused(f"{path!r}: cannot be opened: {getattr(e, 'strerror', None) or e}") from None
    if real != os.path.normpath(path):
        raise PathRefused(
            f"{path!r}: now resolves to another place than when it was submitted (a symlink was put "
            "in its way); refused"
        )
    if not _inside(real, roots):
        raise PathRefused(f"{path!r}: outside the ingest root")
    try:
        # O_NONBLOCK: a FIFO put in its place must not hang the worker (regular files ignore it)
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise PathRefused(f"{path!r}: cannot be opened: {e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PathRefused(f"{path!r}: not a regular file")
        opened = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else real
        if not _inside(opened, roots):  # swapped between realpath and open
            raise PathRefused(f"{path!r}: outside the ingest root")
    except BaseException:
        os.close(fd)
        raise
    return fd


def fd_path(fd: int) -> str:
    """The path a child process opens to read the inherited descriptor `fd`."""
    return f"/dev/fd/{fd}"


def fd_link(fd: int, folder: Path, name: str) -> Path:
    """`folder/name`, a symlink to `/dev/fd/<fd>`: a child that inherited `fd` opens exactly that
    file through it (and `Path.resolve()` in the child gives the file's real path), while its
    messages still name the video by its own name."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / (name[:MAX_COMPONENT] or "video")
    link.symlink_to(fd_path(fd))
    return link
