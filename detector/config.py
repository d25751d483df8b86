"""Crossing configuration: strict pydantic models (unknown keys fail) and a YAML loader.

Every coordinate is in the pixel space of `frame_size`; `scaled_to()` maps it onto a video of
another size. Errors name the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

# Bounds on what a crossing file may hold: real cameras are far inside them, and every value past
# them was an attack or an accident (a 6 MB name copied into every event, 1.2 M polygon points from
# YAML aliases, a 1e29-pixel frame that failed every later video).
MAX_FRAME_SIDE = 16384
MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 200
MAX_POINTS = 1000  # per polygon
MAX_ITEMS = 100  # signals, stop lines, lanes, tiles each
MAX_VECTOR = 1e6  # direction vectors: only their direction matters
MAX_YAML_DEPTH = 32
MAX_YAML_CHARS = 1_000_000
MAX_INT_DIGITS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class ConfigError(ValueError):
    """A crossing or plan file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.nan` / `.inf` anywhere is an error (NaN passed every bound check and
    # made the pipeline silently find nothing)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _clean_text(v: str) -> str:
    """Printable, not blank: no control, format (zero-width, bidi overrides), surrogate, private-use
    or unassigned characters, no line/paragraph separators (NUL included)."""
    if _CONTROL.search(v) or any(
        unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in v
    ):
        raise ValueError("must not contain control characters")
    if not v.strip():
        raise ValueError("must not be blank")
    return v


# Strict: text must be text (a YAML `!!binary` value is bytes, not a name)
Text = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_clean_text)]
Ident = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_clean_text)]
Coord = Annotated[float, Field(ge=-MAX_FRAME_SIDE, le=2 * MAX_FRAME_SIDE)]
Vec = Annotated[float, Field(ge=-MAX_VECTOR, le=MAX_VECTOR)]
Point = tuple[Coord, Coord]
Vector = tuple[Vec, Vec]
Box = tuple[Coord, Coord, Coord, Coord]  # x, y, w, h


def _nonzero(v: Point) -> Point:
    if math.hypot(v[0], v[1]) < 1e-9:
        raise ValueError("direction vector must not be zero")
    return v


class Location(_Strict):
    lat: float = Field(ge=-90, le=90, description="latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees")


class Lamps(_Strict):
    red: Box = Field(description="red lamp box [x, y, w, h]")
    green: Box | None = Field(default=None, description="green lamp box [x, y, w, h]")
    yellow: Box | None = Field(default=None, description="yellow/amber lamp box [x, y, w, h]")

    @field_validator("red", "green", "yellow")
    @classmethod
    def _positive(cls, b: Box | None) -> Box | None:
        if b is not None and (b[2] <= 0 or b[3] <= 0):
            raise ValueError("lamp box width and height must be > 0")
        return b

    def items(self) -> list[tuple[str, Box]]:
        return [(k, b) for k, b in (("red", self.red), ("yellow", self.yellow), ("green", self.green)) if b is not None]


class Signal(_Strict):
    id: Ident = Field(description="signal id, referenced by stop lines and lanes")
    name: Text | None = Field(default=None, description="shown to people, e.g. 北向直行灯 (else the id)")
    lamps: Lamps


class StopLine(_Strict):
    id: Ident
    name: Text | None = Field(default=None, description="shown to people on evidence (else the id)")
    points: tuple[Point, Point] = Field(description="two end points of the line")
    entering: Vector = Field(description="image-space direction that means 'into the junction'")
    signal: Ident | None = Field(default=None, description="governing signal id; null = not signalised")

    _check_dir = field_validator("entering")(classmethod(lambda cls, v: _nonzero(v)))

    @field_validator("points")
    @classmethod
    def _not_degenerate(cls, pts: tuple[Point, Point]) -> tuple[Point, Point]:
        (x1, y1), (x2, y2) = pts
        if math.hypot(x2 - x1, y2 - y1) < 2.0:
            raise ValueError("stop line is degenerate (its two points coincide)")
        return pts

    @model_validator(mode="after")
    def _entering_crosses_line(self) -> StopLine:
        (x1, y1), (x2, y2) = self.points
        dx, dy = x2 - x1, y2 - y1
        ex, ey = self.entering
        cos = abs(dx * ex + dy * ey) / (math.hypot(dx, dy) * math.hypot(ex, ey))
        if cos > 0.985:  # within ~10 degrees of the line itself
            raise ValueError("entering direction runs along the stop line; it must point across it")
        return self


class Lane(_Strict):
    id: Ident
    name: Text | None = Field(default=None, description="shown to people on evidence, e.g. 直行车道 straight lane")
    heading: Text | None = Field(default=None, description="direction of travel in words, e.g. 由南向北 northbound")
    polygon: list[Point] = Field(max_length=MAX_POINTS, description="lane area, at least 3 points")
    direction: Vector = Field(description="allowed direction of travel, image space")
    signal: Ident | None = Field(default=None, description="signal governing this lane at the stop line; null = none")

    _check_dir = field_validator("direction")(classmethod(lambda cls, v: _nonzero(v)))

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, pts: list[Point]) -> list[Point]:
        if len(pts) < 3:
            raise ValueError("polygon needs at least 3 points")
        area = 0.0
        for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1]):
            area += ax * by - bx * ay
        if abs(area) < 1.0:
            raise ValueError("polygon has zero area")
        return pts

    def governing_signal(self, stop_line_signal: str | None) -> str | None:
        """The lane's own `signal` when the file sets it (null = none, exempt); else the stop line's."""
        return self.signal if "signal" in self.model_fields_set else stop_line_signal


def _box_meets(box: tuple[float, float, float, float], pts) -> bool:
    """The bounding box of `pts` meets `box` (x1, y1, x2, y2)."""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(box[2], max(xs)) - max(box[0], min(xs)) >= 0 and min(box[3], max(ys)) - max(box[1], min(ys)) >= 0


class DetectionOptions(_Strict):
    """Optional per-crossing detection hints."""

    tiles: list[tuple[Coord, Coord, Coord, Coord]] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="extra regions [x1, y1, x2, y2] detected at full resolution (far field with small road users)",
    )
    roi: tuple[Coord, Coord, Coord, Coord] | None = Field(
        default=None,
        description="[x1, y1, x2, y2]: the whole-picture pass looks only here (lanes, stop-line band, junction "
        "and the way out); a short, wide region lets several frames share one model input",
    )


class Crossing(_Strict):
    id: Annotated[
        str,
        Strict(),
        Field(
            pattern=r"^[a-z0-9][a-z0-9-]*$",
            max_length=MAX_ID_CHARS,
            description="unique id: lowercase letters, digits, '-'",
        ),
    ]
    name: Text = Field(description="shown to people")
    district: Text | None = Field(default=None, description="null = none; never blank")
    location: Location | None = None
    frame_size: tuple[int, int] = Field(
        description=f"[width, height] of the pixel space used below, each 1..{MAX_FRAME_SIDE}"
    )
    signals: list[Signal] = Field(default_factory=list, max_length=MAX_ITEMS)
    stop_lines: list[StopLine] = Field(default_factory=list, max_length=MAX_ITEMS)
    lanes: list[Lane] = Field(default_factory=list, max_length=MAX_ITEMS)
    grace_s: float = Field(default=0.5, ge=0, le=10, description="seconds after red onset before crossing counts")
    detection: DetectionOptions = Field(default_factory=DetectionOptions)
    plate_regions: list[Literal["CN", "VN", "ID"]] | None = Field(
        default=None,
        description="plate formats the reader accepts here (CN, VN, ID); unset = all. A country's "
        "formats only: a Chinese plate read without its province character must not pass "
        "as an Indonesian one",
    )

    @field_validator("frame_size")
    @classmethod
    def _size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (0 < v[0] <= MAX_FRAME_SIDE and 0 < v[1] <= MAX_FRAME_SIDE):
            raise ValueError(f"frame_size must be positive, at most {MAX_FRAME_SIDE} pixels on each side")
        return v

    @model_validator(mode="after")
    def _references_and_bounds(self) -> Crossing:
        w, h = self.frame_size  # already validated (a field error stops before here)
        signal_ids = [s.id for s in self.signals]
        errors: list[str] = []

        def inside(field: str, pts) -> None:
            for x, y in pts:
                if not (0 <= x <= w and 0 <= y <= h):
                    errors.append(f"{field}: point ({x:g}, {y:g}) lies outside the frame {w}x{h}")
                    return

        for kind, ids in (
            ("signals", signal_ids),
            ("stop_lines", [s.id for s in self.stop_lines]),
            ("lanes", [lane.id for lane in self.lanes]),
        ):
            dup = {i for i in ids if ids.count(i) > 1}
            if dup:
                errors.append(f"{kind}: duplicate id {sorted(dup)}")
        for i, s in enumerate(self.signals):
            for lamp, (x, y, bw, bh) in s.lamps.items():
                inside(f"signals[{i}].lamps.{lamp}", [(x, y), (x + bw, y + bh)])
        for i, sl in enumerate(self.stop_lines):
            inside(f"stop_lines[{i}].points", sl.points)
            if sl.signal is not None and sl.signal not in signal_ids:
                errors.append(f"stop_lines[{i}].signal: unknown signal '{sl.signal}'")
        for i, ln in enumerate(self.lanes):
            inside(f"lanes[{i}].polygon", ln.polygon)
            if ln.signal is not None and ln.signal not in signal_ids:
                errors.append(f"lanes[{i}].signal: unknown signal '{ln.signal}'")
        for i, (x1, y1, x2, y2) in enumerate(self.detection.tiles):
            if not (x2 > x1 and y2 > y1):
                errors.append(f"detection.tiles[{i}]: needs x2 > x1 and y2 > y1")
            inside(f"detection.tiles[{i}]", [(x1, y1), (x2, y2)])
        if self.detection.roi is not None:
            x1, y1, x2, y2 = self.detection.roi
            if not (x2 > x1 and y2 > y1):
                errors.append("detection.roi: needs x2 > x1 and y2 > y1")
            inside("detection.roi", [(x1, y1), (x2, y2)])
            if (self.lanes or self.stop_lines) and not any(
                _box_meets(self.detection.roi, pts)
                for pts in [ln.polygon for ln in self.lanes] + [sl.points for sl in self.stop_lines]
            ):
                errors.append("detection.roi: covers no lane or stop line (nothing left to detect)")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    # -- derived -------------------------------------------------------------------------------
    def signal(self, signal_id: str) -> Signal:
        return next(s for s in self.signals if s.id == signal_id)

    def geometry_hash(self) -> str:
        """SHA-256 over the canonical JSON of the whole config: any change makes a new version."""
        data = self.model_dump(mode="json")
        if data.get("plate_regions", 0) is None:
            del data["plate_regions"]
        for part in data["lanes"] + data["stop_lines"] + data["signals"]:  # names are words, not geometry
            for k in ("name", "heading"):
                if part.get(k, 0) is None:
                    del part[k]
        for dumped, lane in zip(data["lanes"], self.lanes):
            if "signal" not in lane.model_fields_set:  # inherits the stop line's signal: not the same as null
                dumped["signal"] = {"inherit": True}
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def scaled_to(self, size: tuple[int, int]) -> Crossing:
        """The same crossing in the pixel space of a video of `size` (width, height)."""
        if tuple(size) == tuple(self.frame_size):
            return self
        sx, sy = size[0] / self.frame_size[0], size[1] / self.frame_size[1]
        W, H = size

        def pt(p):  # clamp: w * (W / w) can come out as W + 1e-13
            return (min(max(p[0] * sx, 0.0), W), min(max(p[1] * sy, 0.0), H))

        def box(b):  # x, y, w, h with its far corner clamped onto the frame
            if b is None:
                return None
            x, y = pt((b[0], b[1]))
            x2, y2 = pt((b[0] + b[2], b[1] + b[3]))
            return (x, y, x2 - x, y2 - y)

        vec = lambda v: (v[0] * sx, v[1] * sy)  # noqa: E731
        data = self.model_dump(exclude_unset=True)  # keeps "unset" apart from explicit nulls
        data["frame_size"] = tuple(size)
        for s in data.get("signals", []):
            s["lamps"] = {k: box(v) for k, v in s["lamps"].items()}
        for sl in data.get("stop_lines", []):
            sl["points"] = [pt(p) for p in sl["points"]]
            sl["entering"] = vec(sl["entering"])
        for ln in data.get("lanes", []):
            ln["polygon"] = [pt(p) for p in ln["polygon"]]
            ln["direction"] = vec(ln["direction"])
        if "detection" in data:
            tiles = data["detection"].get("tiles", [])
            data["detection"]["tiles"] = [(*pt((a, b)), *pt((c, d))) for a, b, c, d in tiles]
            if data["detection"].get("roi") is not None:
                a, b, c, d = data["detection"]["roi"]
                data["detection"]["roi"] = (*pt((a, b)), *pt((c, d)))
        try:
            return Crossing.model_validate(data)
        except ValidationError as e:  # e.g. a 1x1 video: the scaled stop line collapses to a point
            msg = _format_errors(Path(self.id), e).replace("invalid crossing file", f"does not fit a {W}x{H} video")
            raise ConfigError(msg) from None


class PlanStep(_Strict):
    t: float = Field(ge=0, le=10 * 365 * 86400, description="seconds from video start when this state begins")
    state: Literal["RED", "YELLOW", "GREEN"]


class SignalPlan(_Strict):
    """A phase plan: `[{t, state}, ...]` for every signal, or `{signals: {id: [{t, state}, ...]}}`."""

    signals: dict[str, list[PlanStep]]

    @model_validator(mode="after")
    def _sorted(self) -> SignalPlan:
        for sid, steps in self.signals.items():
            if not steps:
                raise ValueError(f"signals.{sid}: needs at least one step")
            ts = [s.t for s in steps]
            if ts != sorted(ts):
                raise ValueError(f"signals.{sid}: steps must be in increasing t")
        return self


MAX_REPORTED_ERRORS = 10


def _loc_part(x: object) -> str:
    """A location step as one short, printable token (a key of the file may hold anything)."""
    text = str(x)
    if _CONTROL.search(text) or len(text) > 40:
        text = repr(text[:40])[1:-1] + ("..." if len(text) > 40 else "")
    return text


def _format_errors(path: Path, err: ValidationError) -> str:
    """One line: `<file>: invalid crossing file: <field>: <problem>; ...` (at most
    MAX_REPORTED_ERRORS problems, keys escaped: the line goes into logs and job errors)."""
    parts = []
    errors = err.errors()
    for e in errors[:MAX_REPORTED_ERRORS]:
        loc = ".".join(_loc_part(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "finite_number":
            msg = "must be a finite number (not NaN or infinity)"
        parts.append(f"{loc}: {msg}")
    if len(errors) > MAX_REPORTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_REPORTED_ERRORS} more")
    return f"{path}: invalid crossing file: " + "; ".join(parts)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases (`*name`: one anchor repeated can expand 58 KiB
    into a million points), nesting deeper than MAX_YAML_DEPTH (the composer recurses: 2,000
    levels crashed it) and integers longer than MAX_INT_DIGITS digits."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in crossing files", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node):
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"integer with {digits} digits is too large", node.start_mark
            )
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def load_yaml_text(text: str, source: str) -> object:
    """`text` parsed with the bounded safe loader; ConfigError (one line, naming `source` and the
    place) for anything it refuses or cannot parse."""
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"{source}: file too large ({len(text)} characters; at most {MAX_YAML_CHARS})")
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    except (ValueError, RecursionError) as e:  # e.g. a number past Python's int-conversion limit
        raise ConfigError(f"{source}: not valid YAML: {str(e).splitlines()[0][:200]}") from None


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return load_yaml_text(text, str(path))


def parse_crossing(data: object, source: str = "<crossing>") -> Crossing:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: invalid crossing file: expected a mapping at the top level")
    try:
        return Crossing.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(Path(source), e)) from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid crossing file: nested too deeply") from None


def load_crossing(path: str | Path) -> Crossing:
    path = Path(path)
    return parse_crossing(_read_yaml(path), str(path))


def load_signal_plan(path: str | Path, signal_ids: list[str]) -> SignalPlan:
    path = Path(path)
    data = _read_yaml(path)
    if isinstance(data, list):
        data = {"signals": {sid: data for sid in signal_ids}}
    try:
        plan = SignalPlan.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(path, e).replace("invalid crossing file", "invalid signal plan")) from None
    unknown = set(plan.signals) - set(signal_ids)
    if unknown:
        raise ConfigError(f"{path}: invalid signal plan: signals: unknown signal(s) {sorted(unknown)}")
    return plan
