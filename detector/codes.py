"""Violation codes and legal basis from a YAML table (default `detector/violation_codes.yaml`).

The defaults come from public code lists, not from the GA 408.1 text itself; a deployment overrides
the whole table with its own file ($CROSSWATCH_VIOLATION_CODES, or `load_codes(path)`). The
table is validated: an unknown event type, road-user kind or class, a malformed code or a duplicate
row is refused with a one-line error naming the file and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .types import ViolationEvent, ViolationType
from .yamlio import safe_load

DEFAULT_CODES = Path(__file__).with_name("violation_codes.yaml")
CODES_ENV = "CROSSWATCH_VIOLATION_CODES"
RoadUser = Literal["motor", "non_motor", "pedestrian"]
ROAD_USER_LABELS = {
    "motor": "机动车 motor vehicle",
    "non_motor": "非机动车 non-motor vehicle",
    "pedestrian": "行人 pedestrian",
}


class CodesError(ValueError):
    """A codes table that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class ViolationCode:
    code: str  # 4 digits
    full_code: str | None  # 5 digits, where the list has one
    description: str
    law: str
    road_user: str  # motor | non_motor | pedestrian

    def label(self) -> str:
        return self.code + (f" ({self.full_code})" if self.full_code else "")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ViolationType
    road_user: RoadUser
    code: str = Field(pattern=r"^[0-9]{4}$", description="4-digit code")
    full_code: str | None = Field(default=None, pattern=r"^[0-9]{5}$", description="5-digit code")
    description: str = Field(min_length=1)
    law: str = Field(min_length=1)

    @model_validator(mode="after")
    def _full_extends_code(self) -> _Row:
        if self.full_code is not None and not self.full_code.startswith(self.code):
            raise ValueError(f"full_code {self.full_code} does not start with code {self.code}")
        return self


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(min_length=1)
    classes: dict[str, RoadUser]
    codes: list[_Row]

    @model_validator(mode="after")
    def _unique(self) -> _Table:
        seen = set()
        for i, r in enumerate(self.codes):
            if (r.type, r.road_user) in seen:
                raise ValueError(f"codes[{i}]: a second row for {r.type.value} / {r.road_user}")
            seen.add((r.type, r.road_user))
        return self


class CodeTable:
    """Looks up the code of an event from its type and its road user's class."""

    def __init__(self, table: _Table, path: Path):
        self.path, self.source = path, table.source
        self.classes = dict(table.classes)
        self.rows = {
            (r.type, r.road_user): ViolationCode(r.code, r.full_code, r.description, r.law, r.road_user)
            for r in table.codes
        }

    def road_user(self, class_name: str) -> RoadUser | None:
        return self.classes.get(class_name)

    def code_for(self, event: ViolationEvent) -> ViolationCode | None:
        kind = self.road_user(event.class_name)
        return self.rows.get((ViolationType(event.type), kind)) if kind else None


def load_codes(path: str | Path | None = None) -> CodeTable:
    """The codes table at `path`, else $CROSSWATCH_VIOLATION_CODES, else the defaults."""
    path = Path(path or os.environ.get(CODES_ENV) or DEFAULT_CODES)
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CodesError(f"{path}: cannot read the violation codes: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise CodesError(f"{path}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    try:
        return CodeTable(_Table.model_validate(data), path)
    except ValidationError as e:
        parts = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            if err["type"] == "enum" and loc.endswith(".type"):
                msg = f"unknown event type {err.get('input')!r} (known: {', '.join(t.value for t in ViolationType)})"
            elif err["type"] == "string_pattern_mismatch":
                msg = f"malformed code {err.get('input')!r} ({err['msg']})"
            parts.append(f"{loc}: {msg}")
        raise CodesError(f"{path}: invalid violation codes: " + "; ".join(parts)) from None
