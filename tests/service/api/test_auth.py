"""Login, tokens, API keys, the login rate limit, users admin, health and metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from service import security
from service.api.app import create_app
from service.settings import Settings, SettingsError

from .conftest import PASSWORD, SECRET


def test_login_and_me(api):
    name = api.user("reviewer", districts=["东城区"])
    r = api.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "reviewer"
    me = api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me == {
        "username": name,
        "role": "reviewer",
        "districts": ["东城区"],
        "crossing_ids": [],
        "evidence_access": True,
    }


@pytest.mark.parametrize("username,password", [("nobody", PASSWORD), ("USER", "wrong-password")])
def test_wrong_credentials_are_401(api, username, password):
    api.user("analyst", username="USER")
    r = api.client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        jwt.encode(
            {"sub": "x", "role": "admin", "iss": "crosswatch", "iat": 0, "exp": 4102444800},
            "other-secret-" + "y" * 30,
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": "x", "role": "admin", "iss": "crosswatch", "iat": 0, "exp": 4102444800}, None, algorithm="none"
        ),
        jwt.encode(
            {"sub": "ghost", "role": "admin", "iss": "crosswatch", "iat": 0, "exp": 4102444800},
            SECRET,
            algorithm="HS256",
        ),  # right key, user does not exist
    ],
)
def test_bad_tokens_are_401(api, token):
    r = api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_expired_token_is_401(api):
    name = api.user("admin")
    uid = next(
        u["id"]
        for u in api.client.get("/api/users", headers=api.headers("admin")).json()["data"]
        if u["username"] == name
    )
    token, _ = security.issue_token(
        SECRET, name, "admin", 60, now=datetime.now(UTC) - timedelta(hours=1), user_id=uid, token_version=0
    )
    r = api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["detail"] == "token expired"


def test_token_of_changed_role_is_401(api):
    """A token says which role it was issued for; after the role changes, it no longer works."""
    admin = api.headers("admin")
    name = api.user("reviewer")
    token = api.token(name)
    uid = next(u["id"] for u in api.client.get("/api/users", headers=admin).json()["data"] if u["username"] == name)
    assert api.client.patch(f"/api/users/{uid}", headers=admin, json={"role": "analyst"}).status_code == 200
    assert api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_patch_changes_only_what_is_sent(api):
    """A PATCH with one field (no role) is accepted and leaves the rest alone."""
    admin = api.headers("admin")
    name = api.user("reviewer")
    uid = next(u["id"] for u in api.client.get("/api/users", headers=admin).json()["data"] if u["username"] == name)
    r = api.client.patch(f"/api/users/{uid}", headers=admin, json={"active": False})
    assert r.status_code == 200, r.text
    assert (r.json()["active"], r.json()["role"]) == (False, "reviewer")
    r = api.client.patch(f"/api/users/{uid}", headers=admin, json={"role": "nobody"})
    assert r.status_code == 422


def test_login_is_rate_limited(api):
    name = api.user("reviewer")
    for _ in range(api.settings.login_attempts):
        assert api.client.post("/api/auth/login", json={"username": name, "password": "nope-nope"}).status_code == 401
    r = api.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # another account from the same client is not blocked
    assert (
        api.client.post("/api/auth/login", json={"username": api.user("analyst"), "password": PASSWORD}).status_code
        == 200
    )


def test_limiter_window_slides(api):
    """The limiter counts attempts in the database, per key, in a sliding window; a success clears it."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lim = security.LoginLimiter(2, 10, clock=lambda: now[0])
    w = api.app.state.write_sessionmaker
    assert lim.admit(w, "slide") == (1, 0) and lim.admit(w, "slide") == (2, 0)
    n, wait = lim.admit(w, "slide")
    assert n == 0 and wait == pytest.approx(10)
    now[0] += timedelta(seconds=10.5)
    assert lim.admit(w, "slide") == (1, 0)
    lim.succeeded(w, "slide")
    assert lim.admit(w, "slide") == (1, 0)


def test_api_keys_work_until_revoked(api):
    admin = api.headers("admin")
    name = api.user("operator")
    uid = next(u["id"] for u in api.client.get("/api/users", headers=admin).json()["data"] if u["username"] == name)
    own = api.headers("operator")
    created = api.client.post(f"/api/users/{uid}/api-keys", headers=own, json={"name": "nightly"}).json()
    key = created["key"]
    assert key.startswith("cw_") and created["prefix"] in key
    assert api.client.get("/api/auth/me", headers={"X-API-Key": key}).json()["username"] == name
    listed = api.client.get(f"/api/users/{uid}/api-keys", headers=own).json()
    assert listed["count"] == 1 and "key" not in listed["data"][0] and listed["data"][0]["last_used_at"]
    assert api.client.delete(f"/api/users/{uid}/api-keys/{created['id']}", headers=own).status_code == 200
    assert api.client.get("/api/auth/me", headers={"X-API-Key": key}).status_code == 401
    assert api.client.get("/api/auth/me", headers={"X-API-Key": key[:-1] + "A"}).status_code == 401


def test_users_admin_only_and_validated(api):
    for role in ("operator", "reviewer", "analyst"):
        h = api.headers(role)
        assert api.client.get("/api/users", headers=h).status_code == 403
        assert (
            api.client.post(
                "/api/users", headers=h, json={"username": "x", "password": "p" * 9, "role": "admin"}
            ).status_code
            == 403
        )
    admin = api.headers("admin")
    ok = {"username": "li.wei", "password": "p" * 9, "role": "analyst", "districts": ["东城区"]}
    assert api.client.post("/api/users", headers=admin, json=ok).status_code == 201
    assert api.client.post("/api/users", headers=admin, json=ok).status_code == 409
    for bad in (
        {**ok, "username": "a2", "role": "root"},
        {**ok, "username": "a3", "password": "short"},
        {**ok, "username": "a4", "extra": 1},
        {**ok, "username": "../x"},
    ):
        assert api.client.post("/api/users", headers=admin, json=bad).status_code == 422, bad


def test_no_secret_refuses_to_start(tmp_path):
    with pytest.raises(SettingsError, match="no secret key"):
        create_app(Settings(db_url=f"sqlite:///{tmp_path}/x.db"))
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env(secret_key="short")


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CROSSWATCH_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("CROSSWATCH_DB_URL", f"sqlite:///{tmp_path}/db/x.db")
    monkeypatch.setenv("CROSSWATCH_UPLOAD_MAX_BYTES", "1000")
    s = Settings.from_env()
    assert s.secret_key == "k" * 40 and s.upload_max_bytes == 1000
    assert s.resolved_evidence_dir() == (tmp_path / "db" / "evidence").resolve()
    monkeypatch.setenv("CROSSWATCH_UPLOAD_MAX_BYTES", "lots")
    with pytest.raises(SettingsError):
        Settings.from_env()


def test_health_and_metrics(api):
    assert api.client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    api.seed(events_per_crossing=2)
    api.client.get("/api/auth/me")
    assert api.client.get("/metrics").status_code == 401  # not public (README: Exposure)
    assert api.client.get("/metrics", headers=api.headers("analyst")).status_code == 403
    text = api.client.get("/metrics", headers=api.headers("admin")).text
    assert 'crosswatch_http_requests_total{method="GET",route="/api/auth/me",status="401"} 1.0' in text
    assert 'crosswatch_events{review_status="pending"} 4.0' in text


@pytest.mark.parametrize(
    "url",
    [
        "/api/jobs?crossing_id=%00",
        "/api/events?lane=a%00b",
        "/api/crossings/cx%00a",
        "/api/stats/counts?tz=Asia%2FShanghai%00",
    ],
)
def test_nul_in_the_url_is_422_not_a_server_error(api, url):
    """Found by Schemathesis on PostgreSQL: NUL reached a text comparison and raised."""
    r = api.client.get(url, headers=api.headers("admin"))
    assert r.status_code == 422 and "NUL" in r.json()["detail"]


def test_nul_in_a_json_text_field_is_422(api):
    seeded = api.seed(events_per_crossing=1)
    r = api.client.post(
        f"/api/events/{seeded.events[0]}/review",
        headers=api.headers("reviewer"),
        json={"action": "needs_info", "reason_code": "other", "comment": "bad\u0000byte"},
    )
    assert r.status_code == 422
    status = api.client.get(f"/api/events/{seeded.events[0]}", headers=api.headers("reviewer")).json()["review_status"]
    assert status == "pending"  # nothing of the refused review was stored
