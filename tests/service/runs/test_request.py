"""`ProcessRequest`: the run key and evidence-folder rule in one place, the defaults it fills in,
and the start-time option's one-line errors."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from detector.config import load_crossing  # noqa: E402
from service.runs.errors import UserError  # noqa: E402
from service.runs.request import ProcessRequest, evidence_root, parse_start  # noqa: E402
from service.runs.tasks import RunConfig, run_dir, settings_hash  # noqa: E402

CROSSING = ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"


def _request(tmp_path: Path, **changes) -> ProcessRequest:
    return ProcessRequest.build(
        tmp_path / "clip.mp4",
        CROSSING,
        db_url=f"sqlite:///{tmp_path / 'x.db'}",
        model="yolo11n-openvino-int8",
        device="cpu",
        **changes,
    )


def test_run_key_names_the_evidence_folder(tmp_path):
    req = _request(tmp_path)
    key = req.run_key("ab" * 32)
    crossing = load_crossing(CROSSING)
    assert key.evidence_dir == f"{crossing.id}/{'ab' * 8}-{crossing.geometry_hash()[:8]}-{req.settings_hash()[:8]}"
    # the batch's and the worker's view of the same run agree with the request's
    cfg = RunConfig(db_url=req.db_url, evidence_root=str(req.evidence_root), model=req.model, device="cpu")
    assert settings_hash(cfg) == req.settings_hash()
    assert run_dir(CROSSING, "ab" * 32, settings_hash(cfg)) == key.evidence_dir


def test_every_setting_and_the_signal_plan_change_the_key(tmp_path):
    base = _request(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text("- {t: 0, state: red}\n", encoding="utf-8")
    others = [
        base.with_(detect_fps=0.0),
        base.with_(imgsz=960),
        base.with_(model="yolo11s"),
        base.with_(signal_plan=plan),
    ]
    hashes = {r.settings_hash() for r in [base, *others]}
    assert len(hashes) == 5
    assert base.with_(db_url="sqlite:///elsewhere.db").settings_hash() == base.settings_hash()  # not a setting


def test_defaults_are_filled_in(tmp_path, monkeypatch):
    monkeypatch.delenv("CROSSWATCH_EVIDENCE_DIR", raising=False)
    req = _request(tmp_path)
    assert req.evidence_root == (tmp_path / "evidence").resolve()  # beside the SQLite file
    assert ProcessRequest.build("v.mp4", CROSSING, db_url="sqlite:///x.db", device="cpu").model  # the device's default
    monkeypatch.setenv("CROSSWATCH_EVIDENCE_DIR", str(tmp_path / "ev"))
    assert evidence_root(None, "postgresql://h/db") == (tmp_path / "ev").resolve()
    assert evidence_root(tmp_path / "opt", "sqlite:///x.db") == (tmp_path / "opt").resolve()


@pytest.mark.parametrize(
    "text,message",
    [
        ("yesterday", "not an ISO 8601 date-time"),
        ("2026-03-01T08:00:00", "needs a UTC offset"),
    ],
)
def test_start_time_errors_are_one_line(text, message):
    with pytest.raises(UserError, match=message):
        parse_start(text)


def test_start_time_keeps_its_offset():
    assert parse_start("2026-03-01T08:00:00+08:00").utcoffset() == timedelta(hours=8)
    assert parse_start(None) is None
