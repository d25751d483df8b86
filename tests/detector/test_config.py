"""config: load_crossing (strict YAML contract, errors that name the file and the field), scaled_to,
geometry_hash, load_signal_plan."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be pip-installed in the test environment
    sys.path.insert(0, str(ROOT))

from detector.config import ConfigError, load_crossing, load_signal_plan, parse_crossing  # noqa: E402

CONTRACT = """\
id: vn-rear-stopline
name: 示例路口 北进口
district: 东昌府区
location: {lat: 36.45, lon: 115.98}
frame_size: [1620, 720]
signals:
  - id: main
    lamps: {red: [1547, 23, 26, 26], green: [1547, 71, 26, 26]}
stop_lines:
  - id: stop-1
    points: [[100, 360], [1450, 360]]
    entering: [0, -1]
    signal: main
lanes:
  - id: through-1
    polygon: [[450, 200], [1050, 200], [1450, 520], [100, 520]]
    direction: [0, -1]
    signal: main
"""


def _base() -> dict:
    return yaml.safe_load(CONTRACT)


def _write(tmp_path: Path, text: str, name: str = "crossing.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _write_data(tmp_path: Path, data, name: str = "crossing.yaml") -> Path:
    return _write(tmp_path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False), name)


# -- the contract example ------------------------------------------------------------------------
def test_contract_example_loads(tmp_path):
    c = load_crossing(_write(tmp_path, CONTRACT))
    assert c.id == "vn-rear-stopline"
    assert c.name == "示例路口 北进口" and c.district == "东昌府区"
    assert (c.location.lat, c.location.lon) == (36.45, 115.98)
    assert c.frame_size == (1620, 720)
    assert [s.id for s in c.signals] == ["main"]
    lamps = c.signal("main").lamps
    assert lamps.red == (1547, 23, 26, 26) and lamps.green == (1547, 71, 26, 26) and lamps.yellow is None
    assert [k for k, _ in lamps.items()] == ["red", "green"]
    (sl,) = c.stop_lines
    assert sl.points == ((100, 360), (1450, 360)) and sl.entering == (0, -1) and sl.signal == "main"
    (ln,) = c.lanes
    assert ln.polygon == [(450, 200), (1050, 200), (1450, 520), (100, 520)]
    assert ln.direction == (0, -1)
    assert ln.governing_signal(None) == "main"
    assert c.grace_s == 0.5  # default
    assert c.detection.tiles == []


def test_config_is_frozen(tmp_path):
    c = load_crossing(_write(tmp_path, CONTRACT))
    with pytest.raises(ValidationError, match="frozen"):
        c.grace_s = 3.0  # type: ignore[misc]


# -- bad files: ConfigError naming the file and the field ----------------------------------------
def _set(path: str, value):
    """Mutation that sets data[path] (dots; digits index lists)."""

    def apply(d):
        *head, last = path.split(".")
        cur = d
        for k in head:
            cur = cur[int(k)] if k.isdigit() else cur[k]
        if last.isdigit():
            cur[int(last)] = value
        else:
            cur[last] = value

    return apply


def _delete(path: str):
    def apply(d):
        *head, last = path.split(".")
        cur = d
        for k in head:
            cur = cur[int(k)] if k.isdigit() else cur[k]
        del cur[last]

    return apply


def _append(path: str, item):
    def apply(d):
        cur = d
        for k in path.split("."):
            cur = cur[int(k)] if k.isdigit() else cur[k]
        cur.append(copy.deepcopy(item))

    return apply


BAD = [
    ("unknown-top-level-key", _set("colour", "red"), ["colour", "unknown key"]),
    ("unknown-key-in-stop-line", _set("stop_lines.0.colour", "white"), ["stop_lines.0.colour", "unknown key"]),
    ("unknown-key-in-lamps", _set("signals.0.lamps.blue", [1, 1, 5, 5]), ["signals.0.lamps.blue", "unknown key"]),
    ("unknown-key-in-location", _set("location.alt", 30), ["location.alt", "unknown key"]),
    ("typo-stop-lines", lambda d: d.update(stoplines=d.pop("stop_lines")), ["stoplines", "unknown key"]),
    (
        "degenerate-stop-line",
        _set("stop_lines.0.points", [[100, 360], [101, 360]]),
        ["stop_lines.0.points", "degenerate"],
    ),
    (
        "stop-line-three-points",
        _set("stop_lines.0.points", [[100, 360], [200, 360], [300, 360]]),
        ["stop_lines.0.points"],
    ),
    ("polygon-two-points", _set("lanes.0.polygon", [[450, 200], [1050, 200]]), ["lanes.0.polygon", "at least 3"]),
    (
        "polygon-collinear",
        _set("lanes.0.polygon", [[100, 200], [200, 200], [300, 200]]),
        ["lanes.0.polygon", "zero area"],
    ),
    ("zero-entering", _set("stop_lines.0.entering", [0, 0]), ["stop_lines.0.entering", "zero"]),
    ("zero-direction", _set("lanes.0.direction", [0, 0]), ["lanes.0.direction", "zero"]),
    ("entering-along-line", _set("stop_lines.0.entering", [1, 0.05]), ["stop_lines.0", "entering"]),
    (
        "stop-line-outside-frame",
        _set("stop_lines.0.points", [[100, 360], [1700, 360]]),
        ["stop_lines[0].points", "outside the frame 1620x720"],
    ),
    (
        "lane-outside-frame",
        _set("lanes.0.polygon", [[450, 200], [1050, 200], [1450, 721], [100, 520]]),
        ["lanes[0].polygon", "outside the frame"],
    ),
    (
        "lamp-outside-frame",
        _set("signals.0.lamps.red", [1600, 23, 26, 26]),
        ["signals[0].lamps.red", "outside the frame"],
    ),
    (
        "negative-coordinate",
        _set("lanes.0.polygon", [[-1, 200], [1050, 200], [1450, 520], [100, 520]]),
        ["lanes[0].polygon", "outside the frame"],
    ),
    ("lamp-zero-width", _set("signals.0.lamps.green", [1547, 71, 0, 26]), ["signals.0.lamps.green", "> 0"]),
    ("lamps-without-red", _delete("signals.0.lamps.red"), ["signals.0.lamps.red", "required"]),
    (
        "unknown-signal-on-stop-line",
        _set("stop_lines.0.signal", "side"),
        ["stop_lines[0].signal", "unknown signal 'side'"],
    ),
    ("unknown-signal-on-lane", _set("lanes.0.signal", "arrow"), ["lanes[0].signal", "unknown signal 'arrow'"]),
    (
        "duplicate-signal-id",
        _append("signals", {"id": "main", "lamps": {"red": [10, 10, 5, 5]}}),
        ["signals", "duplicate id", "main"],
    ),
    (
        "duplicate-stop-line-id",
        _append("stop_lines", {"id": "stop-1", "points": [[100, 600], [1450, 600]], "entering": [0, -1]}),
        ["stop_lines", "duplicate id", "stop-1"],
    ),
    (
        "duplicate-lane-id",
        _append("lanes", {"id": "through-1", "polygon": [[0, 0], [10, 0], [10, 10]], "direction": [1, 0]}),
        ["lanes", "duplicate id", "through-1"],
    ),
    ("id-uppercase", _set("id", "VN-Rear"), ["id", "pattern"]),
    ("id-with-space", _set("id", "vn rear"), ["id", "pattern"]),
    ("id-leading-dash", _set("id", "-vn"), ["id", "pattern"]),
    ("missing-name", _delete("name"), ["name", "required"]),
    ("empty-name", _set("name", ""), ["name"]),
    ("frame-size-zero", _set("frame_size", [0, 720]), ["frame_size", "positive"]),
    ("frame-size-one-number", _set("frame_size", [1620]), ["frame_size"]),
    ("latitude-out-of-range", _set("location.lat", 91), ["location.lat"]),
    ("grace-negative", _set("grace_s", -0.1), ["grace_s"]),
    ("grace-too-long", _set("grace_s", 11), ["grace_s"]),
    ("tile-inverted", _set("detection", {"tiles": [[500, 100, 400, 200]]}), ["detection.tiles[0]", "x2 > x1"]),
    ("roi-inverted", _set("detection", {"roi": [0, 300, 1620, 120]}), ["detection.roi", "y2 > y1"]),
    ("roi-off-frame", _set("detection", {"roi": [0, 100, 1700, 720]}), ["detection.roi"]),
    ("roi-three-numbers", _set("detection", {"roi": [0, 100, 1620]}), ["detection.roi"]),
    ("points-as-text", _set("stop_lines.0.points", "100,360 1450,360"), ["stop_lines.0.points"]),
]


@pytest.mark.parametrize("mutate, fragments", [(m, f) for _, m, f in BAD], ids=[i for i, _, _ in BAD])
def test_bad_crossing_file_names_file_and_field(tmp_path, mutate, fragments):
    data = _base()
    mutate(data)
    path = _write_data(tmp_path, data, "bad-crossing.yaml")
    with pytest.raises(ConfigError) as ei:
        load_crossing(path)
    msg = str(ei.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("id: x\nname: y\ndistrict: a: b\n", ["not valid YAML", "line 3"]),
        ("id: x\nname: y\nsignals:\n  - id: main\n    lamps: {red: [1, 2, 3, 4]\n", ["not valid YAML", "line 6"]),
        ("id: x\n\tname: y\n", ["not valid YAML", "line 2"]),
        ("", ["expected a mapping at the top level"]),
        ("# only a comment\n", ["expected a mapping at the top level"]),
        ("- id: x\n- id: y\n", ["expected a mapping at the top level"]),
        ("just a string\n", ["expected a mapping at the top level"]),
    ],
    ids=[
        "mapping-in-value",
        "unclosed-flow",
        "tab-indent",
        "empty-file",
        "only-comment",
        "top-level-list",
        "top-level-scalar",
    ],
)
def test_unusable_yaml_names_file_and_place(tmp_path, text, fragments):
    path = _write(tmp_path, text, "broken.yaml")
    with pytest.raises(ConfigError) as ei:
        load_crossing(path)
    msg = str(ei.value)
    assert msg.startswith(str(path))
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_missing_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read") as ei:
        load_crossing(path)
    assert str(path) in str(ei.value)


def test_several_errors_are_reported_together(tmp_path):
    data = _base()
    data["stop_lines"][0]["signal"] = "side"
    data["lanes"][0]["signal"] = "arrow"
    with pytest.raises(ConfigError) as ei:
        load_crossing(_write_data(tmp_path, data))
    assert "stop_lines[0].signal" in str(ei.value) and "lanes[0].signal" in str(ei.value)


# -- scaled_to -----------------------------------------------------------------------------------
def _with_lanes(tmp_path) -> Path:
    """Contract plus: a yellow lamp, a tile, an explicit null lane and a lane that inherits."""
    data = _base()
    data["signals"][0]["lamps"]["yellow"] = [1547, 47, 26, 22]
    data["detection"] = {"tiles": [[800, 0, 1620, 360]], "roi": [0, 180, 1620, 720]}
    data["grace_s"] = 1.25
    data["stop_lines"][0]["entering"] = [1, -2]
    data["lanes"].append(
        {"id": "right-free", "polygon": [[1200, 380], [1600, 380], [1600, 700]], "direction": [1, -1], "signal": None}
    )
    data["lanes"].append({"id": "inherits", "polygon": [[0, 380], [90, 380], [90, 700]], "direction": [0, -1]})
    return _write_data(tmp_path, data)


def test_scaled_to_maps_points_boxes_and_vectors(tmp_path):
    c = load_crossing(_with_lanes(tmp_path))
    s = c.scaled_to((810, 1440))  # x / 2, y * 2
    assert s.frame_size == (810, 1440)
    lamps = s.signal("main").lamps
    assert lamps.red == pytest.approx((773.5, 46, 13, 52))
    assert lamps.yellow == pytest.approx((773.5, 94, 13, 44))
    assert lamps.green == pytest.approx((773.5, 142, 13, 52))
    assert s.stop_lines[0].points == (pytest.approx((50, 720)), pytest.approx((725, 720)))
    assert s.stop_lines[0].entering == pytest.approx((0.5, -4))  # a direction maps like a displacement
    assert [tuple(p) for p in s.lanes[0].polygon] == [
        pytest.approx(p) for p in [(225, 400), (525, 400), (725, 1040), (50, 1040)]
    ]
    assert s.lanes[1].direction == pytest.approx((0.5, -2))
    assert s.detection.tiles == [pytest.approx((400, 0, 810, 720))]
    assert s.detection.roi == pytest.approx((0, 360, 810, 1440))
    assert s.grace_s == 1.25 and s.id == c.id and s.name == c.name and s.location == c.location
    # the original is untouched
    assert c.frame_size == (1620, 720) and c.stop_lines[0].points == ((100, 360), (1450, 360))


def test_scaled_to_keeps_explicit_null_signal_apart_from_unset(tmp_path):
    c = load_crossing(_with_lanes(tmp_path))
    for cross in (c, c.scaled_to((640, 480)), c.scaled_to((640, 480)).scaled_to((1620, 720))):
        through, free, inherits = cross.lanes
        assert through.governing_signal(None) == "main"  # its own
        assert free.signal is None and free.governing_signal("main") is None  # explicit null: exempt
        assert inherits.governing_signal("main") == "main"  # unset: the stop line's signal
        assert inherits.governing_signal(None) is None


def test_scaled_to_same_size_is_identity(tmp_path):
    c = load_crossing(_with_lanes(tmp_path))
    assert c.scaled_to((1620, 720)) is c
    assert c.scaled_to([1620, 720]) is c


@pytest.mark.parametrize(
    "src, dst",
    [((1620, 720), (104, 80)), ((704, 576), (800, 600)), ((704, 576), (1600, 1200))],
    ids=["1620-to-104", "D1-to-800", "D1-to-1600"],
)
def test_scaled_to_keeps_points_on_the_frame_edge_inside(src, dst):
    w, h = src
    c = parse_crossing(
        {
            "id": "edge",
            "name": "edge",
            "frame_size": [w, h],
            "stop_lines": [{"id": "s", "points": [[0, h / 2], [w, h / 2]], "entering": [0, -1]}],
        }
    )
    s = c.scaled_to(dst)
    assert s.stop_lines[0].points[1][0] == pytest.approx(dst[0])


@pytest.mark.parametrize(
    "src, dst, lamp",
    [((704, 576), (800, 600), (692, 552, 12, 24)), ((1620, 720), (104, 80), (1594, 23, 26, 26))],
    ids=["D1-to-800-corner", "1620-to-104"],
)
def test_scaled_to_keeps_lamp_boxes_on_the_frame_edge_inside(src, dst, lamp):
    w, h = src
    c = parse_crossing(
        {"id": "edge", "name": "edge", "frame_size": [w, h], "signals": [{"id": "main", "lamps": {"red": list(lamp)}}]}
    )
    assert lamp[0] + lamp[2] == w  # the lamp box ends on the right edge
    s = c.scaled_to(dst)
    x, _, bw, _ = s.signal("main").lamps.red
    assert x + bw == pytest.approx(dst[0])


def test_scaled_to_a_tiny_video_keeps_a_valid_roi():
    data = _base()
    data["detection"] = {"roi": [0, 191, 1620, 720]}
    c = parse_crossing(data)
    assert c.scaled_to((64, 48)).detection.roi == pytest.approx((0, 191 * 48 / 720, 64, 48))


def test_scaled_to_keeps_tiles_on_the_frame_edge_inside():
    c = parse_crossing(
        {"id": "edge", "name": "edge", "frame_size": [704, 576], "detection": {"tiles": [[604, 476, 704, 576]]}}
    )
    assert c.scaled_to((800, 600)).detection.tiles[0][2:] == pytest.approx((800, 600))


# -- geometry_hash -------------------------------------------------------------------------------
CHANGES = [
    ("name", _set("name", "另一个名字")),
    ("grace", _set("grace_s", 0.6)),
    ("stop-line-1px", _set("stop_lines.0.points", [[100, 361], [1450, 360]])),
    ("entering", _set("stop_lines.0.entering", [0.1, -1])),
    ("stop-line-unsignalised", _set("stop_lines.0.signal", None)),
    ("lamp-box", _set("signals.0.lamps.red", [1547, 23, 26, 27])),
    ("add-yellow", _set("signals.0.lamps.yellow", [1547, 47, 26, 22])),
    ("lane-direction", _set("lanes.0.direction", [0, -2])),
    ("lane-polygon", _set("lanes.0.polygon", [[450, 201], [1050, 200], [1450, 520], [100, 520]])),
    ("frame-size", _set("frame_size", [1620, 721])),
    ("location", _set("location.lat", 36.4501)),
    ("tile", _set("detection", {"tiles": [[0, 0, 100, 100]]})),
    ("roi", _set("detection", {"roi": [0, 100, 1620, 720]})),
]


@pytest.mark.parametrize("mutate", [m for _, m in CHANGES], ids=[i for i, _ in CHANGES])
def test_geometry_hash_changes_with_any_change(tmp_path, mutate):
    ref = load_crossing(_write(tmp_path, CONTRACT, "a.yaml")).geometry_hash()
    data = _base()
    mutate(data)
    assert load_crossing(_write_data(tmp_path, data, "b.yaml")).geometry_hash() != ref


def test_geometry_hash_is_stable(tmp_path):
    a = load_crossing(_write(tmp_path, CONTRACT, "a.yaml"))
    reordered = dict(reversed(list(_base().items())))  # same content, keys in another order
    b = load_crossing(_write_data(tmp_path, reordered, "b.yaml"))
    assert len(a.geometry_hash()) == 64
    assert a.geometry_hash() == b.geometry_hash() == a.scaled_to((1620, 720)).geometry_hash()
    assert a.scaled_to((810, 360)).geometry_hash() != a.geometry_hash()


def test_geometry_hash_tells_explicit_null_lane_signal_from_unset(tmp_path):
    data = _base()
    del data["lanes"][0]["signal"]
    inherits = load_crossing(_write_data(tmp_path, data, "a.yaml"))
    data["lanes"][0]["signal"] = None
    exempt = load_crossing(_write_data(tmp_path, data, "b.yaml"))
    assert inherits.lanes[0].governing_signal("main") != exempt.lanes[0].governing_signal(
        "main"
    )  # they behave differently
    assert inherits.geometry_hash() != exempt.geometry_hash()


def test_signal_name_is_optional_words_for_people(tmp_path):
    """A signal may carry a `name` (shown in the review UI instead of its id); without one the
    config and its geometry hash are what they were before the field existed."""
    plain = load_crossing(_write(tmp_path, CONTRACT, "a.yaml"))
    assert plain.signals[0].name is None
    # the hash of the contract before `Signal.name` existed (a missing name must not make a new version)
    data = plain.model_dump(mode="json")
    for part in data["signals"]:
        del part["name"]
    for part in data["lanes"] + data["stop_lines"]:
        for k in ("name", "heading"):
            if part.get(k, 0) is None:
                del part[k]
    data["lanes"][0]["signal"] = "main"
    del data["plate_regions"]
    old = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    assert plain.geometry_hash() == old
    named = _base()
    named["signals"][0]["name"] = "北向直行灯 northbound through"
    c = load_crossing(_write_data(tmp_path, named, "b.yaml"))
    assert c.signals[0].name == "北向直行灯 northbound through"
    assert c.scaled_to((810, 360)).signals[0].name == c.signals[0].name
    for bad in ("", "   ", "a\x00b", 12):
        named["signals"][0]["name"] = bad
        with pytest.raises(ConfigError, match="name"):
            load_crossing(_write_data(tmp_path, named, "c.yaml"))


# -- load_signal_plan ----------------------------------------------------------------------------
def test_signal_plan_list_form_applies_to_every_signal(tmp_path):
    path = _write(tmp_path, "- {t: 0, state: GREEN}\n- {t: 12.5, state: YELLOW}\n- {t: 15, state: RED}\n", "plan.yaml")
    plan = load_signal_plan(path, ["main", "arrow"])
    assert set(plan.signals) == {"main", "arrow"}
    for steps in plan.signals.values():
        assert [(s.t, s.state) for s in steps] == [(0, "GREEN"), (12.5, "YELLOW"), (15, "RED")]


def test_signal_plan_dict_form(tmp_path):
    text = (
        "signals:\n  main:\n    - {t: 0, state: RED}\n    - {t: 30, state: GREEN}\n"
        "  arrow:\n    - {t: 5, state: GREEN}\n"
    )
    plan = load_signal_plan(_write(tmp_path, text, "plan.yaml"), ["main", "arrow", "unused"])
    assert [(s.t, s.state) for s in plan.signals["main"]] == [(0, "RED"), (30, "GREEN")]
    assert [(s.t, s.state) for s in plan.signals["arrow"]] == [(5, "GREEN")]


@pytest.mark.parametrize(
    "text, ids, fragments",
    [
        ("- {t: 10, state: RED}\n- {t: 5, state: GREEN}\n", ["main"], ["signals.main", "increasing t"]),
        (
            "signals:\n  main:\n    - {t: 3, state: RED}\n    - {t: 1, state: GREEN}\n",
            ["main"],
            ["signals.main", "increasing t"],
        ),
        ("signals:\n  side:\n    - {t: 0, state: RED}\n", ["main"], ["unknown signal", "side"]),
        ("signals:\n  main:\n    - {t: 0, state: BLUE}\n", ["main"], ["signals.main.0.state"]),
        ("signals:\n  main:\n    - {t: -1, state: RED}\n", ["main"], ["signals.main.0.t"]),
        (
            "signals:\n  main:\n    - {t: 0, state: RED, colour: x}\n",
            ["main"],
            ["signals.main.0.colour", "unknown key"],
        ),
        ("signals:\n  main: []\n", ["main"], ["signals.main", "at least one step"]),
        ("signals: {main: [{t: 0, state: RED}]}\nextra: 1\n", ["main"], ["extra", "unknown key"]),
        ("- {t: 0, state: RED\n", ["main"], ["not valid YAML", "line"]),
    ],
    ids=[
        "list-unsorted",
        "dict-unsorted",
        "unknown-signal",
        "bad-state",
        "negative-t",
        "unknown-step-key",
        "no-steps",
        "unknown-top-key",
        "bad-yaml",
    ],
)
def test_bad_signal_plan(tmp_path, text, ids, fragments):
    path = _write(tmp_path, text, "plan.yaml")
    with pytest.raises(ConfigError) as ei:
        load_signal_plan(path, ids)
    msg = str(ei.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
