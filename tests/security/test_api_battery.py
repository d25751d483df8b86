"""The HTTP part of the hostile-input battery: one row per attack, each with the status class it
must get (never a 5xx, never a traceback), on one seeded app per backend.

Causes covered (issue 12 numbering): 4 YAML aliases, 5 NaN/inf, 11 unbounded text and bodies,
12 500s (deep nesting, 5,000-digit integers, path components > 255), 13 absurd frame sizes,
16 headers/CSP, 17 look-alike usernames, plus forged tokens, formula leads and exposure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from .conftest import Hostile, make_hostile, sample_config


class Raw(str):
    """JSON text sent as is (Python's json cannot even write a 5,000-digit integer or 2,000 levels)."""


BIG = Raw("9" * 5000)  # a 5,000-digit integer (Python's own int/str limit is 4,300 digits)
DEEP = Raw("[" * 2000 + "1" + "]" * 2000)


def _json(obj: Any) -> str:
    """`obj` as JSON text, with Raw pieces spliced in verbatim."""
    raws: dict[str, str] = {}

    def mark(o: Any) -> Any:
        if isinstance(o, Raw):
            key = f"@@raw{len(raws)}@@"
            raws[key] = str(o)
            return key
        if isinstance(o, dict):
            return {k: mark(v) for k, v in o.items()}
        if isinstance(o, list):
            return [mark(v) for v in o]
        return o

    text = json.dumps(mark(obj), allow_nan=True)
    for key, raw in raws.items():
        text = text.replace(f'"{key}"', raw)
    return text


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def h(request, tmp_path_factory) -> Iterator[Hostile]:
    from argon2 import PasswordHasher
    from pg_schemas import fresh_database

    from service import security

    mp = pytest.MonkeyPatch()
    mp.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    tmp = tmp_path_factory.mktemp("battery")
    with fresh_database(request.param, tmp / "crosswatch.db") as url:
        for hostile in make_hostile(url, tmp, max_body_bytes=2 * 1024**2):
            hostile.seed_hostile("cx-seed")
            yield hostile
    mp.undo()


def _yaml(**changes: Any) -> str:
    return yaml.safe_dump(sample_config(**changes), allow_unicode=True, sort_keys=False)


def _set(path: str, value: Any) -> dict:
    """The sample config with `path` (dotted, list indices as numbers) set to `value`."""
    data = sample_config(id="cx-bad")
    node: Any = data
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return data


def _yaml_text(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _nested(depth: int) -> Any:
    out: Any = 1
    for _ in range(depth):
        out = [out]
    return out


ALIAS_BOMB = "\n".join(
    [
        "id: cx-bad",
        "name: bomb",
        "frame_size: [1920, 1080]",
        "a: &a [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [8, 8], [9, 9], [10, 10]]",
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
        "lanes: [{id: l, polygon: *d, direction: [1, 0]}]",
    ]
)
ANCHOR_ONLY = sample_config(id="cx-bad")

# (row id, cause, YAML text or config dict) -> must be refused with 422 and nothing stored
CROSSING_ATTACKS: list[tuple[str, str, Any]] = [
    ("yaml-alias-bomb", "4", ALIAS_BOMB),
    (
        "yaml-single-alias",
        "4",
        _yaml_text(sample_config(id="cx-bad")).replace("grace_s: 0.5", "x: &g 0.5\ngrace_s: *g")
        if "grace_s" in _yaml_text(sample_config())
        else "id: cx-bad\nn: &n x\nname: *n\nframe_size: [10, 10]",
    ),
    ("yaml-merge-key", "4", "base: &b {name: x}\nid: cx-bad\n<<: *b\nframe_size: [10, 10]"),
    ("yaml-deep-2000", "12", "id: cx-bad\nname: x\nframe_size: [10, 10]\nx: " + "[" * 2000 + "]" * 2000),
    ("yaml-deep-map-200", "12", "id: cx-bad\nname: x\nframe_size: [10, 10]\nx: " + "{a: " * 200 + "1" + "}" * 200),
    ("yaml-5000-digit-int", "12", "id: cx-bad\nname: x\nframe_size: [" + "9" * 5000 + ", 10]"),
    ("yaml-30-digit-int", "12", "id: cx-bad\nname: x\nframe_size: [" + "9" * 30 + ", 10]"),
    ("yaml-python-tag", "12", "id: cx-bad\nname: !!python/object/apply:os.system [echo pwned]\nframe_size: [10, 10]"),
    ("yaml-not-a-mapping", "12", "- just\n- a list"),
    ("yaml-binary-name", "11", "id: cx-bad\nname: !!binary aGVsbG8=\nframe_size: [10, 10]"),
    ("frame-1e20", "13", _set("frame_size", [1e20, 1e20])),
    ("frame-1e29", "13", _set("frame_size", [1e29, 1e29])),
    ("frame-2p63", "13", _set("frame_size", [2**63, 2**63])),
    ("frame-2p31", "13", _set("frame_size", [2**31, 1080])),
    ("frame-16385", "13", _set("frame_size", [16385, 1080])),
    ("frame-negative", "13", _set("frame_size", [-1920, 1080])),
    ("frame-zero", "13", _set("frame_size", [0, 0])),
    ("frame-float-frac", "13", _set("frame_size", [1920.5, 1080])),
    ("frame-nan", "5", _set("frame_size", [float("nan"), 1080])),
    ("frame-big-json", "12", _set("frame_size", [BIG, 1080])),
    ("stopline-entering-nan", "5", _set("stop_lines.0.entering", [float("nan"), float("nan")])),
    ("stopline-entering-inf", "5", _set("stop_lines.0.entering", [float("inf"), 0])),
    ("stopline-point-nan", "5", _set("stop_lines.0.points.0", [float("nan"), 10])),
    ("stopline-point-inf", "5", _set("stop_lines.0.points.1", [float("-inf"), 10])),
    ("lane-direction-inf", "5", _set("lanes.0.direction", [float("inf"), 0])),
    ("lane-direction-nan", "5", _set("lanes.0.direction", [0, float("nan")])),
    ("lane-direction-1e300", "5", _set("lanes.0.direction", [1e300, 0])),
    ("lane-polygon-nan", "5", _set("lanes.0.polygon.0", [float("nan"), 0])),
    ("lane-polygon-outside", "13", _set("lanes.0.polygon.0", [1e9, 1e9])),
    ("lane-polygon-1001-points", "4", _set("lanes.0.polygon", [[i % 100, (i * 7) % 100] for i in range(1001)])),
    ("lamp-box-inf", "5", _set("signals.0.lamps.red", [1, 1, float("inf"), 5])),
    ("lamp-box-nan", "5", _set("signals.0.lamps.red", [float("nan"), 1, 5, 5])),
    ("grace-nan", "5", _set("grace_s", float("nan"))),
    ("grace-inf", "5", _set("grace_s", float("inf"))),
    ("location-nan", "5", _set("location", {"lat": float("nan"), "lon": 1})),
    ("tiles-nan", "5", _set("detection", {"tiles": [[0, 0, float("nan"), 10]]})),
    ("roi-inf", "5", _set("detection", {"roi": [0, 0, float("inf"), 10]})),
    (
        "lanes-101",
        "11",
        _set(
            "lanes", [{"id": f"l{i}", "polygon": [[0, 0], [10, 0], [10, 10]], "direction": [1, 0]} for i in range(101)]
        ),
    ),
    ("name-blank", "11", _set("name", "   ")),
    ("name-empty", "11", _set("name", "")),
    ("name-201-chars", "11", _set("name", "路" * 201)),
    ("name-100k", "11", _set("name", "x" * 100_000)),
    ("name-nul", "11", _set("name", "a\x00b")),
    ("name-bell", "11", _set("name", "a\x07b")),
    ("name-newline", "11", _set("name", "line1\nline2")),
    ("name-rtl-override", "11", _set("name", "abc\u202eexe.gpj")),
    ("name-c1-control", "11", _set("name", "a\x85b")),
    ("name-number", "11", _set("name", 12345)),
    ("district-empty", "11", _set("district", "")),
    ("district-blank", "11", _set("district", " \t ")),
    ("district-nul", "11", _set("district", "东城\x00区")),
    ("district-201", "11", _set("district", "d" * 201)),
    ("lane-id-nul", "11", _set("lanes.0.id", "a\x00")),
    ("lane-id-control", "11", _set("lanes.0.id", "\x1b[31mred")),
    ("lane-id-65", "11", _set("lanes.0.id", "l" * 65)),
    ("signal-id-blank", "11", _set("signals.0.id", " ")),
    ("stopline-id-nul", "11", _set("stop_lines.0.id", "\x00")),
    ("id-uppercase", "11", _set("id", "CX-BAD")),
    ("id-65-chars", "11", _set("id", "a" * 65)),
    ("id-traversal", "11", _set("id", "../etc")),
    ("unknown-key", "11", _set("owner", "mallory")),
    ("json-deep-2000", "12", {**sample_config(id="cx-bad"), "x": DEEP}),
    ("json-deep-40", "12", {**sample_config(id="cx-bad"), "x": _nested(40)}),
]


@pytest.mark.parametrize("row,cause,attack", CROSSING_ATTACKS, ids=[r[0] for r in CROSSING_ATTACKS])
def test_crossing_attack_is_refused(h, row, cause, attack):
    op = h.headers("operator", "op-battery")
    if isinstance(attack, str):
        body = json.dumps({"yaml": attack})
    else:
        body = _json({"config": attack})
    t0 = time.monotonic()
    r = h.client.post("/api/crossings", content=body, headers={**op, "content-type": "application/json"})
    elapsed = time.monotonic() - t0
    assert r.status_code in (400, 413, 422), (row, r.status_code, r.text[:300])
    detail = r.text
    assert "Traceback" not in detail and "errors.pydantic.dev" not in detail
    assert elapsed < 5, f"{row}: took {elapsed:.1f} s to refuse"
    assert h.client.get("/api/crossings/cx-bad", headers=op).status_code == 404  # nothing stored


def _long(n: int = 300) -> str:
    return "a" * n


# (row id, method, path, body) as an admin -> must be a 4xx (not 5xx)
LONG = _long()
PATH_ATTACKS: list[tuple[str, str, str, Any]] = [
    ("crossing-id-300", "GET", f"/api/crossings/{LONG}", None),
    ("crossing-id-5000", "GET", f"/api/crossings/{_long(5000)}", None),
    ("crossing-yaml-300", "GET", f"/api/crossings/{LONG}/config.yaml", None),
    ("crossing-summary-300", "GET", f"/api/crossings/{LONG}/summary", None),
    ("crossing-snapshot-300", "GET", f"/api/crossings/{LONG}/snapshot", None),
    ("crossing-version-big", "GET", f"/api/crossings/cx-seed/versions/{'9' * 5000}", None),
    ("crossing-version-neg", "GET", "/api/crossings/cx-seed/versions/-1", None),
    ("crossing-geometry-300", "PUT", f"/api/crossings/{LONG}/geometry", {"yaml": "id: x"}),
    ("event-uid-300", "GET", f"/api/events/{LONG}", None),
    ("event-review-300", "POST", f"/api/events/{LONG}/review", {"action": "confirm"}),
    ("media-uid-300", "GET", f"/api/media/{LONG}", None),
    ("media-uid-5000", "GET", f"/api/media/{_long(5000)}", None),
    ("job-uid-300", "GET", f"/api/jobs/{LONG}", None),
    ("job-cancel-300", "POST", f"/api/jobs/{LONG}/cancel", None),
    ("user-id-5000-digits", "PATCH", f"/api/users/{'9' * 5000}", {"active": False}),
    ("user-id-2p63", "PATCH", f"/api/users/{2**63}", {"active": False}),
    ("user-keys-5000-digits", "GET", f"/api/users/{'9' * 5000}/api-keys", None),
    ("key-id-5000-digits", "DELETE", f"/api/users/1/api-keys/{'9' * 5000}", None),
    ("static-300", "GET", f"/static/{LONG}.js", None),
    ("static-dir-300", "GET", f"/static/{LONG}/{LONG}.js", None),
    ("static-5000", "GET", f"/static/{_long(5000)}", None),
    ("static-traversal", "GET", "/static/..%2f..%2fpyproject.toml", None),
    ("static-node-modules", "GET", "/static/node_modules/echarts/package.json", None),
    ("vendor-300", "GET", f"/static/vendor/{LONG}", None),
    ("events-limit-5000-digits", "GET", f"/api/events?limit={'9' * 5000}", None),
    ("events-offset-5000-digits", "GET", f"/api/events?offset={'9' * 5000}", None),
    ("events-crossing-300", "GET", f"/api/events?crossing_id={LONG}", None),
    ("events-from-garbage", "GET", "/api/events?from=" + "9" * 5000, None),
    ("stats-bins-5000-digits", "GET", f"/api/stats/spatial?crossing_id=cx-seed&bins={'9' * 5000}", None),
    ("stats-tz-300", "GET", f"/api/stats/summary?tz={LONG}", None),
    ("stats-tz-traversal", "GET", "/api/stats/summary?tz=../../etc/passwd", None),
    ("audit-offset-5000-digits", "GET", f"/api/audit?offset={'9' * 5000}", None),
    ("nul-in-path", "GET", "/api/events/a%00b", None),
    ("nul-in-query", "GET", "/api/events?crossing_id=a%00b", None),
    ("login-5000-digit-username", "POST", "/api/auth/login", {"username": BIG, "password": "x"}),
    ("login-deep-json", "POST", "/api/auth/login", {"username": DEEP, "password": "x"}),
    ("login-nul-username", "POST", "/api/auth/login", {"username": "a\x00", "password": "x"}),
    ("login-long-username", "POST", "/api/auth/login", {"username": "u" * 10_000, "password": "x"}),
    ("login-long-password", "POST", "/api/auth/login", {"username": "u", "password": "p" * 100_000}),
    ("login-extra-field", "POST", "/api/auth/login", {"username": "u", "password": "p", "role": "admin"}),
    ("user-create-deep-json", "POST", "/api/users", {"username": "x", "password": "p" * 9, "role": DEEP}),
    ("user-create-big-int", "POST", "/api/users", {"username": BIG, "password": "p" * 9, "role": "admin"}),
    ("user-patch-big-int", "PATCH", "/api/users/1", {"active": BIG}),
    ("user-patch-district-nul", "PATCH", "/api/users/1", {"districts": ["a\x00"]}),
    ("user-patch-district-blank", "PATCH", "/api/users/1", {"districts": [" "]}),
    ("user-patch-district-control", "PATCH", "/api/users/1", {"districts": ["a\x1b[2J"]}),
    ("user-patch-role-bad", "PATCH", "/api/users/1", {"role": "root"}),
    ("key-name-control", "POST", "/api/users/1/api-keys", {"name": "a\x07"}),
    ("key-name-blank", "POST", "/api/users/1/api-keys", {"name": "   "}),
    (
        "review-comment-nul",
        "POST",
        "/api/events/x/review",
        {"action": "dismiss", "reason_code": "other", "comment": "a\x00"},
    ),
    (
        "review-comment-2001",
        "POST",
        "/api/events/x/review",
        {"action": "dismiss", "reason_code": "other", "comment": "c" * 2001},
    ),
    ("review-deep-json", "POST", "/api/events/x/review", {"action": DEEP}),
    ("job-paths-deep", "POST", "/api/jobs", {"crossing_id": "cx-seed", "paths": DEEP}),
    ("job-path-300-component", "POST", "/api/jobs", {"crossing_id": "cx-seed", "paths": [LONG]}),
    ("job-path-traversal", "POST", "/api/jobs", {"crossing_id": "cx-seed", "paths": ["../../../etc/passwd"]}),
    ("job-path-absolute-outside", "POST", "/api/jobs", {"crossing_id": "cx-seed", "paths": ["/etc/passwd"]}),
    ("job-path-nul", "POST", "/api/jobs", {"crossing_id": "cx-seed", "paths": ["a\x00.mp4"]}),
    ("case-package-deep", "POST", "/api/exports/case-package", {"event_uids": DEEP}),
    ("case-package-big-int", "POST", "/api/exports/case-package", {"event_uids": [BIG]}),
]


def _send(h: Hostile, method: str, path: str, body: Any, headers: dict[str, str]):
    kw: dict[str, Any] = {}
    if body is not None:
        kw["content"] = _json(body)
        headers = {**headers, "content-type": "application/json"}
    return h.client.request(method, path, headers=headers, **kw)


@pytest.mark.parametrize("row,method,path,body", PATH_ATTACKS, ids=[r[0] for r in PATH_ATTACKS])
def test_hostile_request_is_a_4xx(h, row, method, path, body):
    r = _send(h, method, path, body, h.headers("admin", "admin-battery"))
    assert 400 <= r.status_code < 500, (row, r.status_code, r.text[:300])
    assert "Traceback" not in r.text and "errors.pydantic.dev" not in r.text


# -- bodies ------------------------------------------------------------------------------------
BODY_ROUTES = ["/api/crossings", "/api/auth/login", "/api/users", "/api/jobs", "/api/exports/case-package"]


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_10mb_body_is_413_at_once(h, path):
    payload = json.dumps({"yaml": "x" * (10 * 1024**2)})
    t0 = time.monotonic()
    r = h.client.post(
        path, content=payload, headers={**h.headers("admin", "admin-battery"), "content-type": "application/json"}
    )
    assert r.status_code == 413 and time.monotonic() - t0 < 2


@pytest.mark.parametrize("path", ["/api/crossings", "/api/auth/login"])
def test_chunked_body_over_the_limit_is_413(h, path):
    def chunks():
        for _ in range(40):
            yield b"x" * (128 * 1024)

    r = h.client.post(
        path, content=chunks(), headers={**h.headers("admin", "admin-battery"), "content-type": "application/json"}
    )
    assert r.status_code == 413


@pytest.mark.parametrize("announced", ["-1", "abc", str(10**30)])
def test_bad_content_length_is_refused(h, announced):
    import asyncio

    from service.http_guards import BodyLimit

    sent: list[dict] = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("reached the app")

    async def send(m):
        sent.append(m)

    scope = {"type": "http", "path": "/api/crossings", "headers": [(b"content-length", announced.encode())]}
    guard = BodyLimit(app, limit=1000)
    if announced == "-1":  # negative: not over the limit; the body itself is then counted
        return
    asyncio.run(guard(scope, None, send))
    assert sent[0]["status"] == 413


# -- usernames (cause 17) ----------------------------------------------------------------------
USERNAMES = [
    ("cyrillic-a", "\u0430dmin", 422),
    ("cyrillic-o", "r\u043eot", 422),
    ("greek-omicron", "\u03bfperator", 422),
    ("fullwidth-new", "\uff4e\uff45\uff57-user", 201),
    ("zero-width-joiner", "ad\u200dmin", 422),
    ("zero-width-space", "ad\u200bmin", 422),
    ("rtl-override", "admin\u202e", 422),
    ("space-inside", "ad min", 422),
    ("emoji", "admin\U0001f600", 422),
    ("traversal", "../x", 422),
    ("nul", "adm\x00in", 422),
    ("65-chars", "u" * 65, 422),
    ("leading-dot", ".admin", 422),
    ("chinese", "王伟", 422),
    ("turkish-dotless-i", "adm\u0131n", 422),
    ("combining-accent", "admi\u0301n", 422),
    ("plain-ok", "li.wei-2@city", 201),
]


@pytest.mark.parametrize("row,username,code", USERNAMES, ids=[r[0] for r in USERNAMES])
def test_lookalike_usernames_are_refused(h, row, username, code):
    r = h.client.post(
        "/api/users",
        json={"username": username, "password": "p" * 10, "role": "analyst"},
        headers=h.headers("admin", "admin-battery"),
    )
    assert r.status_code == code, (row, r.status_code, r.text[:200])
    if code == 201:
        assert r.json()["username"].isascii()


def test_fullwidth_duplicate_of_an_existing_name_is_409(h):
    h.user("analyst", "dupname")
    r = h.client.post(
        "/api/users",
        json={"username": "\uff44\uff55\uff50name", "password": "p" * 10, "role": "analyst"},
        headers=h.headers("admin", "admin-battery"),
    )
    assert r.status_code == 409


# -- forged tokens -----------------------------------------------------------------------------
def _forged(h: Hostile) -> list[tuple[str, str]]:
    import jwt

    from service.models import UserRow

    from .conftest import SECRET

    uid = h.users[h.user("admin", "admin-battery")]
    with h.app.state.sessionmaker() as s:
        tv = s.get(UserRow, uid).token_version
    # `good` is exactly what login issues (checked below): each row changes one thing
    good = {
        "sub": "admin-battery",
        "uid": uid,
        "tv": tv,
        "role": "admin",
        "iss": "crosswatch",
        "iat": 0,
        "exp": 4102444800,
    }
    return [
        ("alg-none", jwt.encode(good, None, algorithm="none")),
        ("wrong-key", jwt.encode(good, "x" * 48, algorithm="HS256")),
        ("hs512", jwt.encode(good, SECRET, algorithm="HS512")),
        ("no-uid", jwt.encode({k: v for k, v in good.items() if k != "uid"}, SECRET, algorithm="HS256")),
        ("no-tv", jwt.encode({k: v for k, v in good.items() if k != "tv"}, SECRET, algorithm="HS256")),
        ("uid-string", jwt.encode({**good, "uid": str(uid)}, SECRET, algorithm="HS256")),
        ("tv-old", jwt.encode({**good, "tv": tv - 1}, SECRET, algorithm="HS256")),
        ("other-uid", jwt.encode({**good, "uid": uid + 10_000}, SECRET, algorithm="HS256")),
        ("name-mismatch", jwt.encode({**good, "sub": "someone"}, SECRET, algorithm="HS256")),
        (
            "role-escalated",
            jwt.encode(
                {**good, "sub": h.user("analyst", "ana-battery"), "uid": h.users["ana-battery"], "tv": 0},
                SECRET,
                algorithm="HS256",
            ),
        ),
        ("expired", jwt.encode({**good, "exp": 1}, SECRET, algorithm="HS256")),
        ("wrong-issuer", jwt.encode({**good, "iss": "other"}, SECRET, algorithm="HS256")),
        ("garbage", "a.b.c"),
        ("empty-ish", "."),
        ("huge", "x" * 20_000),
    ]


FORGED_IDS = [
    "alg-none",
    "wrong-key",
    "hs512",
    "no-uid",
    "no-tv",
    "uid-string",
    "tv-old",
    "other-uid",
    "name-mismatch",
    "role-escalated",
    "expired",
    "wrong-issuer",
    "garbage",
    "empty-ish",
    "huge",
]


def test_unforged_control_token_works(h):
    """The control row: the untouched claims are accepted, so each forged row fails for its change."""
    import jwt

    from .conftest import SECRET

    good = dict(_forged(h))  # noqa: F841 - makes the users
    uid = h.users["admin-battery"]
    from service.models import UserRow

    with h.app.state.sessionmaker() as s:
        tv = s.get(UserRow, uid).token_version
    token = jwt.encode(
        {
            "sub": "admin-battery",
            "uid": uid,
            "tv": tv,
            "role": "admin",
            "iss": "crosswatch",
            "iat": 0,
            "exp": 4102444800,
        },
        SECRET,
        algorithm="HS256",
    )
    assert h.client.get("/api/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("row", FORGED_IDS)
def test_forged_token_is_401(h, row):
    token = dict(_forged(h))[row]
    r = h.client.get("/api/users", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (row, r.status_code)


# -- headers and exposure (cause 16, README "Exposure") ------------------------------------------
HEADER_PATHS = [
    "/",
    "/static/app.js",
    "/static/style.css",
    "/api/crossings",
    "/healthz",
    "/openapi.json",
    "/api/auth/me",
    "/static/nope.js",
]


@pytest.mark.parametrize("path", HEADER_PATHS)
def test_security_headers(h, path):
    r = h.client.get(path)
    assert r.headers.get("x-frame-options") == "DENY" and r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    if path == "/" or path.startswith("/static/"):
        assert "script-src 'self';" in csp
    else:
        assert csp.startswith("default-src 'none'")


@pytest.mark.parametrize("path,code", [("/metrics", 401), ("/openapi.json", 200), ("/healthz", 200)])
def test_exposure_decision(h, path, code):
    assert h.client.get(path).status_code == code


def test_metrics_token(tmp_path):
    for hostile in make_hostile(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, metrics_token="m" * 40):
        assert hostile.client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40}).status_code == 200
        assert hostile.client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 39}).status_code == 401


# -- formula leads in exports ------------------------------------------------------------------
LEADS = ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20", " =", "\u3000=", "|", "%", "\t", "\r"]


@pytest.mark.parametrize("lead", LEADS, ids=[f"U+{ord(c[-1]):04X}{'-spaced' if len(c) > 1 else ''}" for c in LEADS])
def test_formula_lead_is_neutralised(lead):
    from service.exports import _csv_safe

    value = f'{lead}HYPERLINK("http://evil","x")'
    assert _csv_safe(value).startswith("'")


def test_export_neutralises_fullwidth_equals_end_to_end(h):
    """A crossing named `＝1+1` is exported as text in CSV and XLSX."""
    op = h.headers("operator", "op-battery")
    data = sample_config(id="cx-formula", name="\uff1d1+1", district="东城区")
    assert h.client.post("/api/crossings", json={"config": data}, headers=op).status_code == 201
    from service.repository import Repository

    from .conftest import BASE_TIME  # noqa: F401

    repo = Repository(h.app.state.engine)
    from service.models import CrossingVersionRow

    with h.app.state.sessionmaker() as s:
        ver = s.query(CrossingVersionRow).filter_by(crossing_id="cx-formula").one()
    run = repo.start_run(
        video_path="/v.mp4",
        video_sha256="f" * 64,
        crossing_version_id=ver.id,
        model="m",
        settings={},
        settings_hash="s",
        start_time=None,
    )
    from service.run_records import EventRecord

    repo.finish_run(
        run,
        events=[
            EventRecord(
                event_key="k", type="red_light", track_id=1, class_name="car", t=1.0, frame=1, x1=1, y1=1, x2=2, y2=2
            )
        ],
        counts=[],
        duration_s=1.0,
        frames=None,
        elapsed_s=1.0,
        timings={},
    )
    r = h.client.get(
        "/api/exports/events.csv?crossing_id=cx-formula&lang=en", headers=h.headers("admin", "admin-battery")
    )
    assert r.status_code == 200
    assert "'\uff1d1+1" in r.text and ",\uff1d1+1" not in r.text
