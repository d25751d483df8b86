"""Property tests (Hypothesis) of the crossing schema (causes 4, 5, 11, 12, 13): whatever a
crossing file holds, loading it either gives a crossing whose every number is finite and inside
the frame and whose text is bounded and printable, or one ConfigError line naming the source,
never another exception and never a pydantic web link. Each test records how many cases ran
(`record_property("cases", n)`), which scripts/security_battery.py adds to the table."""

from __future__ import annotations

import math
import string
import unicodedata

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.config import (
    MAX_FRAME_SIDE,
    MAX_TEXT_CHARS,
    ConfigError,
    Crossing,
    load_yaml_text,
    parse_crossing,
)

from .conftest import sample_config

CASES = 40
SETTINGS = settings(
    max_examples=CASES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
BAD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 1e20, 2.0**63])
NUMERIC_PATHS = [
    "stop_lines.0.entering.0",
    "stop_lines.0.entering.1",
    "stop_lines.0.points.0.0",
    "stop_lines.0.points.1.1",
    "lanes.0.direction.0",
    "lanes.0.direction.1",
    "lanes.0.polygon.0.0",
    "lanes.0.polygon.2.1",
    "signals.0.lamps.red.0",
    "signals.0.lamps.red.2",
    "grace_s",
    "frame_size.0",
    "frame_size.1",
]


def _set(data: dict, path: str, value) -> dict:
    node = data
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if isinstance(node, tuple):
        raise TypeError("sample config holds tuples")
    node[int(last) if last.isdigit() else last] = value
    return data


def _check_valid(c: Crossing) -> None:
    """What every accepted crossing satisfies."""
    w, h = c.frame_size
    assert 0 < w <= MAX_FRAME_SIDE and 0 < h <= MAX_FRAME_SIDE
    for sl in c.stop_lines:
        assert all(math.isfinite(v) for p in sl.points for v in p) and all(math.isfinite(v) for v in sl.entering)
    for ln in c.lanes:
        assert all(0 <= x <= w and 0 <= y <= h for x, y in ln.polygon)
        assert all(math.isfinite(v) for v in ln.direction)
    for text in (c.name, c.district or "x"):
        assert 0 < len(text) <= MAX_TEXT_CHARS and text.strip() and _printable(text)


def _printable(text: str) -> bool:
    """No control/format/surrogate/private/unassigned character and no line separator."""
    return not any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") for ch in text)


def _load(data, source="hyp.crossing.yaml"):
    try:
        c = parse_crossing(data, source)
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith(source) and "\n" not in msg and "pydantic.dev" not in msg, msg
        return None
    _check_valid(c)
    return c


class _Counter:
    def __init__(self, record_property):
        self.n, self.record = 0, record_property

    def __call__(self):
        self.n += 1

    def done(self):
        self.record("cases", self.n)


@pytest.fixture
def cases(record_property):
    """Count a property test's generated cases; the test calls `done()` to record them (during
    the call, so the report carries them)."""
    return _Counter(record_property)


def test_non_finite_or_absurd_number_anywhere_is_refused(cases):
    @SETTINGS
    @given(path=st.sampled_from(NUMERIC_PATHS), value=BAD_FLOATS)
    def run(path, value):
        cases()
        data = _set(sample_config(), path, value)
        assert _load(data) is None, f"{path} = {value} was accepted"

    run()
    cases.done()


def test_random_numbers_give_a_valid_crossing_or_one_error(cases):
    @SETTINGS
    @given(
        path=st.sampled_from(NUMERIC_PATHS),
        value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70)),
    )
    def run(path, value):
        cases()
        _load(_set(sample_config(), path, value))

    run()
    cases.done()


def test_frame_size_is_accepted_only_in_bounds(cases):
    @SETTINGS
    @given(w=st.integers(-(2**70), 2**70), h=st.integers(-(2**70), 2**70))
    def run(w, h):
        cases()
        data = sample_config(frame_size=[w, h], signals=[], stop_lines=[], lanes=[], detection={})
        data.pop("location", None)
        ok = _load(data) is not None
        assert ok == (0 < w <= MAX_FRAME_SIDE and 0 < h <= MAX_FRAME_SIDE)

    run()
    cases.done()


def test_names_are_bounded_printable_text(cases):
    @SETTINGS
    @given(
        name=st.one_of(
            st.text(max_size=300),
            st.text(alphabet=string.printable, max_size=250),
            st.integers(),
            st.binary(max_size=10),
        ),
        district=st.one_of(st.none(), st.text(max_size=250)),
    )
    def run(name, district):
        cases()
        c = _load(sample_config(name=name, district=district))
        if c is not None:
            assert isinstance(name, str) and c.name == name

    run()
    cases.done()


def test_ids_never_hold_control_characters(cases):
    @SETTINGS
    @given(lane_id=st.text(max_size=80), signal_id=st.text(max_size=80))
    def run(lane_id, signal_id):
        cases()
        data = sample_config()
        data["lanes"][0]["id"] = lane_id
        c = _load(data)
        if c is not None:
            assert _printable(c.lanes[0].id) and c.lanes[0].id.strip() and len(c.lanes[0].id) <= 64

    run()
    cases.done()


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
JSONISH = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=30,
)


def test_arbitrary_structures_never_raise_anything_but_config_error(cases):
    @SETTINGS
    @given(
        key=st.sampled_from(
            [
                "id",
                "name",
                "district",
                "frame_size",
                "signals",
                "stop_lines",
                "lanes",
                "location",
                "detection",
                "grace_s",
                "extra",
            ]
        ),
        value=JSONISH,
    )
    def run(key, value):
        cases()
        data = sample_config()
        data[key] = value
        _load(data)

    run()
    cases.done()


def _alias_yaml(depth: int, width: int) -> str:
    lines = ["id: cx-a", "name: x", "frame_size: [100, 100]", "l0: &l0 [1, 1]"]
    for d in range(1, depth + 1):
        lines.append(f"l{d}: &l{d} [" + ", ".join([f"*l{d - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_any_yaml_alias_is_refused_quickly(cases):
    @SETTINGS
    @given(depth=st.integers(1, 8), width=st.integers(1, 12))
    def run(depth, width):
        cases()
        with pytest.raises(ConfigError, match="aliases"):
            load_yaml_text(_alias_yaml(depth, width), "hyp.yaml")

    run()
    cases.done()


def test_deep_yaml_is_refused_not_crashing(cases):
    @SETTINGS
    @given(depth=st.integers(33, 2000), flow=st.booleans())
    def run(depth, flow):
        cases()
        body = ("[" * depth + "]" * depth) if flow else ("{a: " * depth + "1" + "}" * depth)
        with pytest.raises(ConfigError):
            load_yaml_text("x: " + body, "hyp.yaml")

    run()
    cases.done()


def test_long_integers_in_yaml_are_refused(cases):
    @SETTINGS
    @given(digits=st.integers(21, 5000))
    def run(digits):
        cases()
        with pytest.raises(ConfigError):
            load_yaml_text("frame_size: [" + "7" * digits + ", 10]", "hyp.yaml")

    run()
    cases.done()


def test_yaml_round_trip_of_accepted_crossings(cases):
    """What is accepted can be dumped and loaded again to the same crossing (what the service stores)."""

    @SETTINGS
    @given(grace=st.floats(0, 10), name=st.text(alphabet=string.ascii_letters + "路口 ", min_size=1, max_size=50))
    def run(grace, name):
        cases()
        c = _load(sample_config(grace_s=grace, name=name))
        if c is not None:
            text = yaml.safe_dump(c.model_dump(mode="json"), allow_unicode=True)
            assert parse_crossing(load_yaml_text(text, "rt"), "rt").geometry_hash() == c.geometry_hash()

    run()
    cases.done()


def test_scaled_to_tiny_video_is_one_config_error_without_link():
    """A crossing that cannot fit a 1x1 video: one ConfigError line (the job's error), no pydantic link."""
    c = parse_crossing(sample_config(), "c")
    with pytest.raises(ConfigError) as e:
        c.scaled_to((1, 1))
    assert "pydantic.dev" not in str(e.value) and "\n" not in str(e.value)
