"""Crossing registration, one rule for every run: the crossing file's text is stored as the version
of its geometry (`Repository.upsert_crossing`), so a run always names the exact config it used."""

from __future__ import annotations

from pathlib import Path

from detector.config import Crossing
from service.repository import Repository
from service.run_records import CrossingVersionInfo


def register_crossing(repo: Repository, crossing: Crossing, crossing_file: str | Path) -> CrossingVersionInfo:
    """Register `crossing` (loaded from `crossing_file`) with the file's text; its version."""
    return repo.upsert_crossing(crossing, Path(crossing_file).read_text(encoding="utf-8"))
