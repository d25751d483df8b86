"""The names people gave a crossing's lanes, stop lines and signals in its configuration (`name:`
in the crossing file), for the event detail: a config id such as `approach` or `main` means
nothing to a police officer, "进口车道 approach lanes" does.

An event keeps the crossing version it was found with, so the names are those of that version.
A part without a name is shown by its id (the crossing file's own rule); a version whose stored
file cannot be read any more gives ids only. Versions never change (their identity is the
geometry hash, names included), so the names are cached per version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from detector.config import ConfigError, load_yaml_text, parse_crossing

CACHE_ENTRIES = 512  # crossing versions; each is a few short strings


@dataclass(frozen=True, slots=True)
class SceneNames:
    """id -> name for one crossing version."""

    lanes: dict[str, str] = field(default_factory=dict)
    stop_lines: dict[str, str] = field(default_factory=dict)
    signals: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _name(table: dict[str, str], part_id: str | None) -> str | None:
        return None if part_id is None else table.get(part_id, part_id)

    def lane(self, part_id: str | None) -> str | None:
        return self._name(self.lanes, part_id)

    def stop_line(self, part_id: str | None) -> str | None:
        return self._name(self.stop_lines, part_id)

    def signal(self, part_id: str | None) -> str | None:
        return self._name(self.signals, part_id)


@lru_cache(maxsize=CACHE_ENTRIES)
def names_of(geometry_hash: str, config_yaml: str) -> SceneNames:
    """The names in one stored crossing version (`geometry_hash` keys the cache; ids only if unreadable)."""
    try:
        c = parse_crossing(load_yaml_text(config_yaml, f"crossing version {geometry_hash[:12]}"))
    except ConfigError:
        return SceneNames()
    return SceneNames(
        lanes={x.id: x.name for x in c.lanes if x.name},
        stop_lines={x.id: x.name for x in c.stop_lines if x.name},
        signals={x.id: x.name for x in c.signals if x.name},
    )
