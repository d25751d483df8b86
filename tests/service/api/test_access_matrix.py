"""Role x endpoint matrix over EVERY operation of the OpenAPI schema.

- without credentials every /api operation except login answers 401;
- each role gets 403 exactly where the policy below says it may not go, and never 401/403 where
  it may (the request may still be a 404/422: a dummy id or an empty body);
- a user limited to one district gets 404 for every object of the other district.
A new operation missing from POLICY fails the first test: access is decided, never defaulted.
"""

from __future__ import annotations

import re

import pytest

from service.models import EventRow, EvidenceFileRow, UserRow

ANY = frozenset({"admin", "operator", "reviewer", "analyst"})
ADMIN = frozenset({"admin"})
OPS = frozenset({"admin", "operator"})
REV = frozenset({"admin", "reviewer"})
ANA = frozenset({"admin", "analyst"})
REV_ANA = frozenset({"admin", "reviewer", "analyst"})
EVIDENCE = frozenset({"admin", "reviewer", "analyst+evidence"})
PUBLIC = None

POLICY: dict[tuple[str, str], frozenset[str] | None] = {
    ("POST", "/api/auth/login"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): ADMIN,  # or the metrics token (test_auth); decision in README "Exposure"
    ("GET", "/api/auth/me"): ANY,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{user_id}"): ADMIN,
    # another user's keys: admin only (one's own keys: any role, tested in test_auth)
    ("GET", "/api/users/{user_id}/api-keys"): ADMIN,
    ("POST", "/api/users/{user_id}/api-keys"): ADMIN,
    ("DELETE", "/api/users/{user_id}/api-keys/{key_id}"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    ("GET", "/api/audit/verify"): ADMIN,
    ("GET", "/api/crossings"): ANY,
    ("POST", "/api/crossings"): OPS,
    ("GET", "/api/crossings/{crossing_id}"): ANY,
    ("GET", "/api/crossings/{crossing_id}/versions/{number}"): ANY,
    ("GET", "/api/crossings/{crossing_id}/config.yaml"): ANY,
    ("GET", "/api/crossings/{crossing_id}/summary"): ANY,
    ("GET", "/api/crossings/{crossing_id}/snapshot"): ANY,
    ("PUT", "/api/crossings/{crossing_id}/geometry"): OPS,
    ("GET", "/api/crossing-frames/videos"): OPS,  # background frames for drawing a new crossing
    ("POST", "/api/crossing-frames/video"): OPS,
    ("POST", "/api/crossing-frames/upload"): OPS,
    ("GET", "/api/crossing-frames/{frame}"): OPS,
    ("GET", "/api/map/basemap"): ANY,  # the dashboard map's GeoJSON (404: none configured)
    ("GET", "/api/events"): REV_ANA,
    ("GET", "/api/events/next"): REV,
    ("GET", "/api/events/{uid}"): REV_ANA,
    ("POST", "/api/events/{uid}/reopen"): ADMIN,  # 退回重审: the supervisor
    ("POST", "/api/events/{uid}/review"): REV,
    ("PUT", "/api/events/{uid}/plate"): REV,
    ("GET", "/api/events/{uid}/verify"): REV,
    ("POST", "/api/events/{uid}/review/undo"): REV,  # one's own decision, within seconds
    ("POST", "/api/events/review-batch"): REV,  # dismiss several pending events with one reason
    ("GET", "/api/reviews/workload"): REV_ANA,
    ("GET", "/api/reviews/reasons"): ANY,
    ("GET", "/api/meta"): ANY,
    ("GET", "/api/exports/events.csv"): REV_ANA,
    ("GET", "/api/exports/events.xlsx"): REV_ANA,
    ("GET", "/api/media/{uid}"): EVIDENCE,
    ("HEAD", "/api/media/{uid}"): EVIDENCE,
    ("POST", "/api/exports/case-package"): EVIDENCE,
    ("GET", "/api/stats/counts"): ANA,
    ("GET", "/api/stats/hotspots"): ANA,
    ("GET", "/api/stats/weekday-hour"): ANA,
    ("GET", "/api/stats/spatial"): ANA,
    ("GET", "/api/stats/trend"): ANA,
    ("GET", "/api/stats/summary"): ANA,
    ("GET", "/api/exports/stats.csv"): ANA,
    ("GET", "/api/exports/stats.xlsx"): ANA,
    ("GET", "/api/reports/bulletin"): ANA,  # 创城简报 (scoped users: their crossings)
    ("GET", "/api/jobs"): OPS,
    ("POST", "/api/jobs"): OPS,
    ("POST", "/api/jobs/upload"): OPS,
    ("GET", "/api/jobs/{uid}"): OPS,
    ("POST", "/api/jobs/{uid}/cancel"): OPS,
}
PERSONAS = {  # name -> (role, evidence_access)
    "admin": ("admin", False),
    "operator": ("operator", False),
    "reviewer": ("reviewer", False),
    "analyst": ("analyst", False),
    "analyst+evidence": ("analyst", True),
}


def admits(allowed: frozenset[str], persona: str) -> bool:
    return persona in allowed or (persona == "analyst+evidence" and "analyst" in allowed)


def _operations(app) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}


@pytest.fixture
def world(api):
    """Seeded data and the ids that fill path templates: objects of crossing cx-b (district 西城区)."""
    api.seed(events_per_crossing=2)
    with api.app.state.sessionmaker() as s:
        ev = s.query(EventRow).filter(EventRow.crossing_id == "cx-b").order_by(EventRow.id).first()
        media = s.query(EvidenceFileRow).filter(EvidenceFileRow.event_id == ev.id).first()
    target = api.user("analyst", username="target-user")
    with api.app.state.sessionmaker() as s:
        target_id = s.query(UserRow.id).filter(UserRow.username == target).scalar()
    return {
        "crossing_id": "cx-b",
        "number": "1",
        "user_id": str(target_id),
        "key_id": "1",
        "event_uid": ev.uid,
        "media_uid": media.uid,
        "job_uid": "0" * 32,
        "frame": "0" * 64,
        "event_db_id": ev.id,
    }


def _url(path: str, world) -> str:
    def fill(m):
        name = m.group(1)
        if name == "uid":
            return (
                world["media_uid"]
                if path.startswith("/api/media")
                else world["job_uid"]
                if path.startswith("/api/jobs")
                else world["event_uid"]
            )
        return world[name]

    url = re.sub(r"\{(\w+)\}", fill, path)
    if path == "/api/stats/spatial":
        url += "?crossing_id=cx-b"
    return url


def _call(api, method, url, headers, body=None):
    if method in ("POST", "PUT", "PATCH"):
        return api.client.request(method, url, headers=headers, json=body if body is not None else {})
    return api.client.request(method, url, headers=headers)


def _valid_body(path: str):
    """A body that passes validation, so that only the scope can refuse it."""
    from .conftest import crossing_yaml

    if path.endswith("/geometry"):
        return {"yaml": crossing_yaml("cx-b", "西城区")}
    if path.endswith("/review"):
        return {"action": "confirm"}
    if path.endswith("/plate"):
        return {"plate": "粤B12345"}
    if path.endswith("/review/undo"):
        return {"review_id": 1}
    return None


def test_every_operation_has_a_decided_access_rule(api):
    ops = _operations(api.app)
    assert ops - set(POLICY) == set(), "operations without an access rule"
    assert set(POLICY) - ops == set(), "rules for operations that do not exist"


def test_no_credentials_is_401_everywhere_but_public(api, world):
    wrong = []
    for (method, path), allowed in sorted(POLICY.items()):
        r = _call(api, method, _url(path, world), {})
        if allowed is PUBLIC:
            if r.status_code in (401, 403):
                wrong.append(f"{method} {path}: public but {r.status_code}")
        elif r.status_code != 401:
            wrong.append(f"{method} {path}: {r.status_code} without credentials")
    assert wrong == []


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_role_matrix(api, world, persona):
    role, evidence = PERSONAS[persona]
    headers = api.headers(role, evidence_access=evidence)
    wrong, checked = [], 0
    for (method, path), allowed in sorted(POLICY.items()):
        if allowed is PUBLIC:
            continue
        r = _call(api, method, _url(path, world), headers)
        checked += 1
        if admits(allowed, persona) and r.status_code in (401, 403):
            wrong.append(f"{method} {path}: {persona} refused ({r.status_code}: {r.text[:120]})")
        if not admits(allowed, persona) and r.status_code != 403:
            wrong.append(f"{method} {path}: {persona} not refused ({r.status_code})")
        if r.status_code >= 500:
            wrong.append(f"{method} {path}: {r.status_code}")
    assert checked >= 40 and wrong == []


# Operations that name one object of crossing cx-b: a user limited to 东城区 (cx-a) must get 404.
SCOPED = [
    op
    for op, allowed in POLICY.items()
    if allowed not in (PUBLIC, ADMIN) and "{" in op[1] and "/users/" not in op[1] and "/jobs/" not in op[1]
]


@pytest.mark.parametrize("persona", ["operator", "reviewer", "analyst+evidence"])
def test_out_of_scope_objects_are_404(api, world, persona):
    role, evidence = PERSONAS[persona]
    headers = api.headers(role, districts=["东城区"], evidence_access=evidence)
    wrong = []
    for method, path in SCOPED:
        if not admits(POLICY[(method, path)], persona):
            continue
        r = _call(api, method, _url(path, world), headers, _valid_body(path))
        if r.status_code != 404:
            wrong.append(f"{method} {path}: {r.status_code}")
    spatial = api.client.get(
        "/api/stats/spatial?crossing_id=cx-b", headers=api.headers("analyst", districts=["东城区"])
    )
    assert spatial.status_code == 404
    assert wrong == []


@pytest.mark.parametrize(
    "persona, url, key",
    [
        ("reviewer", "/api/events?limit=500", "crossing_id"),
        ("analyst", "/api/events?limit=500", "crossing_id"),
        ("operator", "/api/crossings", "id"),
        ("analyst", "/api/crossings", "id"),
    ],
)
def test_lists_hold_only_the_users_district(api, world, persona, url, key):
    role, evidence = PERSONAS[persona]
    everything = api.client.get(url, headers=api.headers(role, evidence_access=evidence)).json()["data"]
    limited = api.client.get(url, headers=api.headers(role, districts=["东城区"], evidence_access=evidence)).json()[
        "data"
    ]
    assert {row[key] for row in everything} == {"cx-a", "cx-b"}
    assert {row[key] for row in limited} == {"cx-a"}
