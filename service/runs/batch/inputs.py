"""What a batch is made of: its input videos (files, folders, list files), the crossing of each
(`--crossing` or a `--crossings-map`) and each video's wall-clock start (`--start-time`, or a
time in the file name read with `--time-pattern` in `--timezone`)."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import yaml

from detector.config import Crossing, load_crossing

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".flv"})  # as the jobs API
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
DEFAULT_TIME_PATTERN = "%Y%m%d_%H%M%S"


class BatchError(Exception):
    """The batch cannot start (bad arguments, unreadable list or map); one line for a person."""


# -- inputs ----------------------------------------------------------------------------------------
def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Every video named by `inputs`, absolute, each once, in the order given (folders sorted).

    A named file is taken whatever its name (a bad one is reported when processed); folders
    contribute files with a video suffix only; a list file contributes its lines. A path that does
    not exist is kept: it becomes a failed item ("no such file") rather than stopping the batch."""
    out: dict[Path, None] = {}
    for raw in inputs:
        _expand_one(Path(raw).expanduser(), out, lists_seen=set())
    return list(out)


def _expand_one(path: Path, out: dict[Path, None], lists_seen: set[Path]) -> None:
    path = Path(os.path.abspath(path))  # symlinks kept: their names may carry the recording time
    try:
        path.stat()
    except OSError:  # missing, a name too long, a loop of links: a failed item with the reason
        out[path] = None
        return
    if path.is_dir():
        for video in _videos_under(path):
            out[video] = None
    elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
        if path in lists_seen:
            raise BatchError(f"{path}: list file names itself (directly or through another list)")
        for entry in _read_list(path):
            _expand_one(entry, out, lists_seen | {path})
    else:
        out[path] = None


def _videos_under(folder: Path) -> Iterator[Path]:
    """Files with a video suffix below `folder`, sorted, not following symlinked folders."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                yield Path(dirpath) / name


def _read_list(path: Path) -> list[Path]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BatchError(f"{path}: cannot read the list file: {e}") from None
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            p = Path(line).expanduser()
            entries.append(p if p.is_absolute() else path.parent / p)
    return entries


# -- crossings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossingMap:
    """`--crossings-map MAP.yaml`: shell-wildcard patterns -> crossing files, first match wins.

        CAM01_*: crossings/cam01.crossing.yaml     # matched against the file name
        "*/north-gate/*": north.crossing.yaml       # a pattern with '/' matches the full path

    Crossing file paths are relative to the map file."""

    source: Path
    rules: tuple[tuple[str, Path], ...]

    @classmethod
    def load(cls, path: str | Path) -> CrossingMap:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise BatchError(f"{path}: cannot read the crossings map: {e}") from None
        except yaml.YAMLError as e:
            raise BatchError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict) or not data:
            raise BatchError(f"{path}: expected a mapping of file-name patterns to crossing files")
        rules = []
        for pattern, target in data.items():
            if not isinstance(pattern, str) or not isinstance(target, str) or not pattern or not target:
                raise BatchError(f"{path}: entry {pattern!r}: pattern and crossing file must both be text")
            file = Path(target).expanduser()
            rules.append((pattern, (file if file.is_absolute() else path.parent / file).resolve()))
        return cls(path.resolve(), tuple(rules))

    def crossing_for(self, video: Path) -> Path | None:
        for pattern, crossing in self.rules:
            subject = str(video) if "/" in pattern else video.name
            if fnmatch.fnmatchcase(subject, pattern):
                return crossing
        return None


def load_crossings(files: set[Path]) -> dict[Path, Crossing]:
    """Each crossing file once; two files that define the same crossing id differently are refused
    (a batch processes one version of each crossing)."""
    loaded = {f: load_crossing(f) for f in sorted(files)}
    by_id: dict[str, tuple[Path, str]] = {}
    for f, c in loaded.items():
        seen = by_id.setdefault(c.id, (f, c.geometry_hash()))
        if seen[1] != c.geometry_hash():
            raise BatchError(
                f"{seen[0]} and {f} are two different versions of crossing {c.id!r}: process one version per batch"
            )
    return loaded


# -- wall-clock times --------------------------------------------------------------------------------
_TIME_FIELDS = {
    "Y": r"(?P<Y>\d{4})",
    "m": r"(?P<m>\d{2})",
    "d": r"(?P<d>\d{2})",
    "H": r"(?P<H>\d{2})",
    "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})",
}


def parse_timezone(text: str | None) -> tzinfo:
    """'+08:00' / '-0500' / 'UTC' / an IANA name ('Asia/Shanghai'); None = this machine's zone."""
    if text is None:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    if text.upper() in ("UTC", "Z"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise BatchError(f"--timezone: unknown time zone {text!r} (use +08:00 or a name like Asia/Shanghai)") from None


class TimePattern:
    """A file-name time in strftime notation (%Y %m %d %H %M, optional %S; `*` matches anything)
    searched anywhere in the file name, read in `tz`."""

    def __init__(self, fmt: str, tz: tzinfo):
        self.fmt, self.tz = fmt, tz
        parts, i = [], 0
        while i < len(fmt):
            ch = fmt[i]
            if ch == "%" and i + 1 < len(fmt) and (fmt[i + 1] in _TIME_FIELDS or fmt[i + 1] == "%"):
                parts.append("%" if fmt[i + 1] == "%" else _TIME_FIELDS[fmt[i + 1]])
                i += 2
            elif ch == "%":
                raise BatchError(f"--time-pattern {fmt!r}: only %Y %m %d %H %M %S and %% are understood")
            else:
                parts.append(".*?" if ch == "*" else re.escape(ch))
                i += 1
        regex = "".join(parts)
        missing = [f"%{k}" for k in "YmdHM" if f"(?P<{k}>" not in regex]
        if missing:
            raise BatchError(f"--time-pattern {fmt!r}: needs {' '.join(missing)}")
        if len(re.findall(r"\(\?P<", regex)) != len(set(re.findall(r"\(\?P<(\w)>", regex))):
            raise BatchError(f"--time-pattern {fmt!r}: a field appears twice")
        self.regex = re.compile(regex)

    def start_of(self, video: Path) -> datetime | None:
        """The wall-clock time in the file's name, or None (no match, or no such date)."""
        m = self.regex.search(video.name)
        if m is None:
            return None
        g = {k: int(v) for k, v in m.groupdict().items()}
        try:
            return datetime(g["Y"], g["m"], g["d"], g["H"], g["M"], g.get("S", 0), tzinfo=self.tz)
        except ValueError:
            return None
