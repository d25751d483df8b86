"""crosswatch's own scorer (detector/evaluation.py) against hand-made cases and the reference scorer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from detector import evaluation  # noqa: E402

RED_TRUTH = {
    "crossings": [
        {"id": "p1", "t": 2.0, "class": "motorcycle", "box": [100, 100, 160, 200], "verdict": "red_light_violation"},
        {"id": "p2", "t": 5.0, "class": "car", "box": [400, 100, 600, 250], "verdict": "red_light_violation"},
        {"id": "l1", "t": 9.0, "class": "motorcycle", "box": [100, 100, 160, 200], "verdict": "legal"},
        {"id": "u1", "t": 12.0, "class": "motorcycle", "box": [300, 100, 360, 200], "verdict": "uncertain"},
    ]
}
LANE_TRUTH = {
    "frames": 101,
    "fps": 10.0,
    "vehicles": [
        {
            "id": "v1",
            "class": "car",
            "t_first": 0.0,
            "t_last": 4.0,
            "box_first": [0, 0, 40, 40],
            "box_last": [400, 0, 440, 40],
            "verdict": "legal",
        },
        {
            "id": "v2",
            "class": "car",
            "t_first": 5.0,
            "t_last": 9.0,
            "box_first": [0, 100, 40, 140],
            "box_last": [400, 100, 440, 140],
            "verdict": "uncertain",
        },
    ],
}


def ev(t, box, cls="motorcycle", kind="red_light"):
    return {"type": kind, "t": t, "box": box, "class": cls, "track_id": 1}


CASES = {
    "all-found": ([ev(2.1, [102, 100, 162, 200]), ev(5.2, [405, 100, 605, 250], "car")], 2, 0, 0),
    "time-off-by-more-than-1s": ([ev(3.2, [102, 100, 162, 200])], 0, 1, 2),
    "wrong-family": ([ev(5.0, [400, 100, 600, 250], "motorcycle")], 0, 1, 2),
    "far-away-box": ([ev(2.0, [900, 600, 960, 700])], 0, 1, 2),
    "legal-flagged": ([ev(9.0, [100, 100, 160, 200])], 0, 1, 2),
    "uncertain-neither": ([ev(12.0, [300, 100, 360, 200])], 0, 0, 2),
    "two-events-one-label": ([ev(2.0, [100, 100, 160, 200]), ev(2.1, [104, 100, 164, 200])], 1, 1, 1),
    "nothing": ([], 0, 0, 2),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_red_light_matching(name):
    events, hit, false, missed = CASES[name]
    s = evaluation.score("red_light", events, RED_TRUTH)
    assert (s.hit, len(s.false), len(s.missed)) == (hit, false, missed)
    assert s.positives == 2


def test_lane_labels_interpolate_along_the_path():
    on_path = evaluation.score(
        "wrong_way", [ev(8.0, [200, 0, 240, 40], "car", "wrong_way")], evaluation.reverse_truth(LANE_TRUTH)
    )
    assert on_path.hit == 1 and on_path.capture == 1.0 and on_path.validity == 1.0
    off_path = evaluation.score(
        "wrong_way", [ev(8.0, [0, 300, 40, 340], "car", "wrong_way")], evaluation.reverse_truth(LANE_TRUTH)
    )
    assert off_path.hit == 0 and len(off_path.false) == 1


def test_reverse_truth_swaps_ends_and_turns_legal_into_wrong_way():
    rev = evaluation.reverse_truth(LANE_TRUTH)
    v1, v2 = rev["vehicles"]
    assert (v1["verdict"], v2["verdict"]) == ("wrong_way", "uncertain")
    # a wrong-way rider played backwards rides with its lane
    contra = {**LANE_TRUTH, "vehicles": [{**LANE_TRUTH["vehicles"][0], "verdict": "wrong_way"}]}
    assert evaluation.reverse_truth(contra)["vehicles"][0]["verdict"] == "legal"
    assert (v1["t_first"], v1["t_last"]) == (6.0, 10.0)  # frame f -> 100 - f
    assert v1["box_first"] == [400, 0, 440, 40] and v1["box_last"] == [0, 0, 40, 40]


def test_signal_agreement_and_red_onset_error():
    phases = [{"state": "GREEN", "t_start": 0.0, "t_end": 5.0}, {"state": "RED", "t_start": 5.0, "t_end": 10.0}]
    perfect = evaluation.signal_agreement([(0.0, "GREEN"), (5.0, "RED")], phases, 10.0)
    assert perfect["agreement"] == pytest.approx(1.0, abs=0.01)
    late = evaluation.signal_agreement([(0.0, "GREEN"), (6.0, "RED")], phases, 10.0)
    assert late["agreement"] == pytest.approx(0.9, abs=0.01)
    assert late["red_onsets"] == [{"labelled": 5.0, "found": 6.0, "error_s": 1.0}]


def test_count_error():
    assert evaluation.count_error({"s": {"car": 2, "motorcycle": 1}}, RED_TRUTH) == {
        "labelled": 4,
        "counted": 3,
        "error": -1,
        "relative": -0.25,
    }


REFERENCE = ROOT.parent / "shared" / "tools" / "score_events.py"


@pytest.mark.needs_assets
@pytest.mark.skipif(not REFERENCE.exists(), reason=f"reference scorer not at {REFERENCE}")
@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_agrees_with_the_reference_scorer(name):
    spec = importlib.util.spec_from_file_location("score_events_ref", REFERENCE)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    events = CASES[name][0]
    theirs = ref.score("red_light", events, ref.red_light_labels(RED_TRUTH))
    ours = evaluation.score("red_light", events, RED_TRUTH).as_dict()
    assert {k: ours[k] for k in theirs} == theirs


def test_every_event_type_has_a_truth_verdict():
    # a new violation type cannot be scored until the labels format names its verdict
    from detector.vocabulary import EventType

    assert set(evaluation.TRUTH_VERDICTS) == set(EventType)
