"""Violation codes table: defaults, motor vs non-motor from the class, validation naming file and field."""

from __future__ import annotations

import pytest
import yaml

from detector.codes import DEFAULT_CODES, CodesError, load_codes
from detector.types import ViolationEvent, ViolationType


def _event(type_: ViolationType, cls: str) -> ViolationEvent:
    return ViolationEvent(type_, 1, cls, 1.0, 10, (0, 0, 1, 1), None, None, None, None, None)


@pytest.mark.parametrize(
    "type_,cls,code,full",
    [
        (ViolationType.RED_LIGHT, "car", "1625", "16250"),
        (ViolationType.RED_LIGHT, "motorcycle", "1625", "16250"),
        (ViolationType.WRONG_WAY, "truck", "1301", "13010"),
        (ViolationType.RED_LIGHT, "bicycle", "2007", None),
        (ViolationType.WRONG_WAY, "bicycle", "2004", None),
        (ViolationType.RED_LIGHT, "person", "3001", None),
    ],
)
def test_default_codes(type_, cls, code, full):
    c = load_codes(DEFAULT_CODES).code_for(_event(type_, cls))
    assert (c.code, c.full_code) == (code, full) and "道路交通安全法" in c.law


def test_no_row_no_code():
    assert load_codes(DEFAULT_CODES).code_for(_event(ViolationType.WRONG_WAY, "person")) is None


def _write(tmp_path, mutate):
    data = yaml.safe_load(DEFAULT_CODES.read_text(encoding="utf-8"))
    mutate(data)
    p = tmp_path / "codes.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda d: d["codes"][0].update(type="speeding"), r"codes\.0\.type: unknown event type 'speeding'"),
        (lambda d: d["codes"][1].update(code="13A"), r"codes\.1\.code: malformed code '13A'"),
        (lambda d: d["codes"][0].update(full_code="99990"), r"full_code 99990 does not start with code 1625"),
        (lambda d: d["classes"].update(car="lorry"), r"classes\.car: "),
        (lambda d: d["codes"].append(dict(d["codes"][0])), r"a second row for red_light / motor"),
    ],
)
def test_bad_table_is_refused_naming_file_and_field(tmp_path, mutate, expected):
    p = _write(tmp_path, mutate)
    with pytest.raises(CodesError, match=expected) as e:
        load_codes(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_override_by_env(tmp_path, monkeypatch):
    p = _write(tmp_path, lambda d: d["codes"][0].update(code="9999", full_code=None))
    monkeypatch.setenv("CROSSWATCH_VIOLATION_CODES", str(p))
    assert load_codes().code_for(_event(ViolationType.RED_LIGHT, "car")).code == "9999"
