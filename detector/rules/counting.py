"""Count road users crossing each stop line, per class and minute: the exposure behind fair rates."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..types import LineCrossing


@dataclass(frozen=True, slots=True)
class CountRow:
    stop_line: str
    class_name: str
    minute: int  # minute index from the video start
    count: int


class TrafficCounter:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()

    def add(self, crossings: list[LineCrossing]) -> None:
        for c in crossings:
            self._counts[(c.stop_line, c.class_name, int(c.t // 60))] += 1

    def rows(self) -> list[CountRow]:
        return [CountRow(sl, cls, m, n) for (sl, cls, m), n in sorted(self._counts.items())]

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (sl, cls, _), n in self._counts.items():
            out.setdefault(sl, {}).setdefault(cls, 0)
            out[sl][cls] += n
        return out
