"""GET /api/meta: every code list of the vocabulary, in declaration order, each code with its
zh-CN and en label; the same lists the database constraints and the API's parameters check."""

from __future__ import annotations

import pytest

from service import models
from service.vocabulary import EventType, EvidenceKind, ReasonCode, ReviewAction, ReviewStatus, Role, SignalState


@pytest.mark.parametrize("role", ["admin", "operator", "reviewer", "analyst"])
def test_meta_lists_every_code_with_both_labels(api, role):
    r = api.client.get("/api/meta", headers=api.headers(role))
    assert r.status_code == 200, r.text
    meta = r.json()
    want = {
        "event_types": EventType,
        "signal_states": SignalState,
        "evidence_kinds": EvidenceKind,
        "review_statuses": ReviewStatus,
        "review_actions": ReviewAction,
        "roles": Role,
        "reason_codes": ReasonCode,
    }
    assert set(meta) == set(want)
    for key, codes in want.items():
        assert [c["code"] for c in meta[key]] == [c.value for c in codes], key
        assert all(c["zh"] and c["en"] and c["zh"] != c["en"] for c in meta[key]), key
    assert [c["code"] for c in meta["reason_codes"] if c["comment_required"]] == ["other"]
    assert {"code": "red_light", "zh": "闯红灯", "en": "Red-light running"} in meta["event_types"]


def test_meta_needs_a_login(api):
    assert api.client.get("/api/meta").status_code == 401


def test_constraints_and_parameters_come_from_the_vocabulary(api):
    """The CHECK lists and the API's parameter enums are the vocabulary's, so a new code reaches both."""
    assert models.EVENT_TYPES == tuple(t.value for t in EventType)
    assert models.REVIEW_STATUSES == tuple(s.value for s in ReviewStatus)
    assert models.ROLES == tuple(r.value for r in Role)
    assert models.SIGNAL_STATES == tuple(s.value for s in SignalState)
    schema = api.client.get("/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/events"]["get"]["parameters"]}
    ref = params["type"]["schema"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][ref]["enum"] == list(models.EVENT_TYPES)
    r = api.client.get("/api/events", params={"type": "speeding"}, headers=api.headers("reviewer"))
    assert r.status_code == 422
