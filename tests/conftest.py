"""Test selection shared by the whole suite.

`make check` runs the tests that need nothing beyond `make setup`: no model, no sample clip, no shared
mirror, no PostgreSQL server, no browser (`-m "not needs_assets and not postgres"`); `make test` runs
everything. A test needs the assets when it is marked `needs_assets`, `e2e` or `ui`, lives under
tests/e2e or tests/ui, or uses one of the ASSET_FIXTURES below: this hook marks those automatically,
so a new test in those places cannot slip into the fast check.
"""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ASSET_DIRS = (HERE / "e2e", HERE / "ui")
# fixtures that read the sample clips, the shared mirror or downloaded models
ASSET_FIXTURES = frozenset({"vn_frames", "hanoi_frames", "offline_reader"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).resolve()
        if (any(path.is_relative_to(d) for d in ASSET_DIRS)
                or item.get_closest_marker("e2e") or item.get_closest_marker("ui")
                or ASSET_FIXTURES.intersection(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.needs_assets)
