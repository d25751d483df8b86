"""Evidence on disk against the database: clear what a killed attempt left in a run's folder
(`remove_unreferenced`) and check a whole evidence folder (`check_evidence`, `crosswatch batch --verify`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.evidence import sha256_file
from service.db import make_engine
from service.repository import Repository

from .evidence_store import clear_unreferenced, commit_lock, files_under, referenced


def count_events(db_url: str, run_id: int) -> int:
    """The number of events stored for a run."""
    engine = make_engine(db_url)
    try:
        return Repository(engine).count_events(run_id=run_id)
    finally:
        engine.dispose()


def remove_unreferenced(db_url: str, root: Path, rel: str) -> int:
    """Delete every file under root/rel that no evidence row names, then empty folders; the count.

    Runs under the run folder's `commit_lock`, so files another process has just moved there and is
    committing are never taken: what is left unreferenced was written by an attempt that never committed."""
    if not (root / rel).is_dir():
        return 0
    engine = make_engine(db_url)
    try:
        with commit_lock(root, rel):
            return clear_unreferenced(engine, root, rel)
    finally:
        engine.dispose()


@dataclass
class EvidenceCheck:
    """Evidence folder against the database: files nobody references, rows without their file,
    files whose size or SHA-256 differs from the row."""

    rows: int = 0
    files: int = 0
    orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.orphans or self.missing or self.damaged)

    def lines(self) -> list[str]:
        head = (
            f"evidence check: {self.rows} evidence rows, {self.files} files: {len(self.orphans)} orphaned, "
            f"{len(self.missing)} missing, {len(self.damaged)} damaged"
        )
        return (
            [head]
            + [f"  orphaned (no row): {p}" for p in self.orphans]
            + [f"  missing (row without file): {p}" for p in self.missing]
            + [f"  damaged: {p}" for p in self.damaged]
        )


def check_evidence(engine: Any, root: Path, *, hashes: bool = True) -> EvidenceCheck:
    """Every file below `root` must belong to a stored evidence row and every row must have its
    file, same size (and same SHA-256 when `hashes`). Top-level folders starting with '_' or '.'
    (e.g. the service's `_snapshots` cache) are not evidence and are skipped."""
    rows = referenced(engine)
    on_disk: set[str] = set()
    if root.is_dir():
        for top in sorted(root.iterdir()):
            if top.name.startswith(("_", ".")):
                continue
            if top.is_file():
                on_disk.add(top.name)
            else:
                on_disk.update(files_under(root, top.name))
    check = EvidenceCheck(rows=len(rows), files=len(on_disk))
    check.orphans = sorted(on_disk - rows.keys())
    check.missing = sorted(rows.keys() - on_disk)
    for rel in sorted(on_disk & rows.keys()):
        digest, size = rows[rel]
        found = (root / rel).stat().st_size
        if found != size:
            check.damaged.append(f"{rel} (size {found}, recorded {size})")
        elif hashes and sha256_file(root / rel) != digest:
            check.damaged.append(f"{rel} (SHA-256 differs from the record)")
    return check
