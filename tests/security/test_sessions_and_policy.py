"""Battery rows for sessions (cause 6), partial user updates (7), the login limiter under
concurrency and across processes (2, 15), login holding no write lock while hashing (3), the
bounded failed-login audit (3), policy across processes (15), the scoped operator's district move
(14) and the keyed, anchored audit chain (8)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, select, update

from service import audit, security
from service.models import AuditHeadRow, AuditRow, EventRow, UserRow
from service.settings import SettingsError

from .conftest import PASSWORD, Hostile, make_hostile, sample_config


def _uid(h: Hostile, name: str) -> int:
    return h.users[name]


def _me(h: Hostile, token: str) -> int:
    return h.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


# -- session revocation (cause 6) and partial PATCH (cause 7) ------------------------------------
REVOCATIONS: list[tuple[str, dict]] = [
    ("password-reset", {"password": "a-new-password-123"}),
    ("deactivate", {"active": False}),
    ("role-change", {"role": "analyst"}),
    ("scope-change", {"districts": ["西城区"]}),
    ("evidence-grant", {"evidence_access": True}),
]


@pytest.mark.parametrize("row,patch", REVOCATIONS, ids=[r[0] for r in REVOCATIONS])
def test_change_revokes_tokens_at_once(hostile, row, patch):
    admin = hostile.headers("admin", "root-admin")
    name = hostile.user("reviewer", "rev-victim")
    token = hostile.token(name)
    assert _me(hostile, token) == 200  # used once: now in the principal cache
    r = hostile.client.patch(f"/api/users/{_uid(hostile, name)}", json=patch, headers=admin)
    assert r.status_code == 200, r.text  # partial: only the field sent (cause 7)
    assert _me(hostile, token) == 401, f"{row}: the old token still works"


def test_patch_active_false_alone_is_accepted(hostile):
    admin = hostile.headers("admin", "root-admin")
    name = hostile.user("operator", "op-x")
    r = hostile.client.patch(f"/api/users/{_uid(hostile, name)}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["role"] == "operator"
    r = hostile.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 401


def test_recreated_user_with_the_same_name_does_not_accept_old_tokens(hostile):
    name = hostile.user("reviewer", "phoenix")
    token = hostile.token(name)
    assert _me(hostile, token) == 200
    with hostile.app.state.write_sessionmaker.begin() as s:  # deleted (by a DBA / a later API) ...
        s.execute(delete(UserRow).where(UserRow.username == name))
    hostile.users.pop(name)
    hostile.app.state.principal_cache.forget_user(-1)  # nothing to forget: the cache's TTL is what remains
    hostile.app.state.principal_cache._entries.clear()
    hostile.user("reviewer", "phoenix")  # ... and created again: a new id
    assert _me(hostile, token) == 401


def test_token_after_reactivation_of_a_deactivated_user_stays_dead(hostile):
    admin = hostile.headers("admin", "root-admin")
    name = hostile.user("reviewer", "flip")
    token = hostile.token(name)
    uid = _uid(hostile, name)
    assert hostile.client.patch(f"/api/users/{uid}", json={"active": False}, headers=admin).status_code == 200
    assert hostile.client.patch(f"/api/users/{uid}", json={"active": True}, headers=admin).status_code == 200
    assert _me(hostile, token) == 401
    assert _me(hostile, hostile.token(name, fresh=True)) == 200


# -- scoped operator (cause 14) ----------------------------------------------------------------
@pytest.mark.parametrize(
    "scope,district,code",
    [
        ({"crossing_ids": ["cx-op"]}, "西城区", 403),  # crossing-scoped: may not move it
        ({"crossing_ids": ["cx-op"]}, None, 403),  # ... nor drop its district
        ({"crossing_ids": ["cx-op"]}, "东城区", 201),  # same district: a new geometry version is fine
        ({"districts": ["东城区"]}, "西城区", 403),  # district-scoped: outside their district
    ],
)
def test_scoped_operator_cannot_move_a_crossing(hostile, scope, district, code):
    admin = hostile.headers("admin", "root-admin")
    data = sample_config(id="cx-op", name="路口", district="东城区")
    assert hostile.client.post("/api/crossings", json={"config": data}, headers=admin).status_code == 201
    op = hostile.headers("operator", "scoped-op", **scope)
    moved = {**data, "district": district, "grace_s": 0.7}
    r = hostile.client.put("/api/crossings/cx-op/geometry", json={"config": moved}, headers=op)
    assert r.status_code == code, r.text
    if code == 403:
        got = hostile.client.get("/api/crossings/cx-op", headers=admin).json()
        assert got["district"] == "东城区"


# -- login limiter (causes 2, 3, 15) -------------------------------------------------------------
def _serve(app) -> tuple[str, Callable[[], None]]:
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert t.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)

    def stop() -> None:
        srv.should_exit = True
        t.join(20)

    return f"http://127.0.0.1:{port}", stop


def _parallel_logins(base: str, username: str, n: int, password: str = "wrong-password") -> list[int]:
    import httpx

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            rs = await asyncio.gather(
                *(c.post("/api/auth/login", json={"username": username, "password": password}) for _ in range(n))
            )
        return [r.status_code for r in rs]

    return asyncio.run(main())


@pytest.mark.parametrize("n", [16, 64])
def test_parallel_wrong_passwords_get_at_most_the_limit_checked(hostile, monkeypatch, n):
    """Loopback, bounded: n parallel wrong passwords for one account; the password is checked
    at most `login_attempts` times (the report: 36 of 64 with limit 5)."""
    name = hostile.user("reviewer", "target")
    checks = [0]
    real = security.verify_password
    lock = threading.Lock()

    def counting(password_hash, password):
        with lock:
            checks[0] += 1
        time.sleep(0.05)  # a slower hash widens the race the old limiter lost
        return real(password_hash, password)

    monkeypatch.setattr(security, "verify_password", counting)
    base, stop = _serve(hostile.app)
    try:
        codes = _parallel_logins(base, name, n)
    finally:
        stop()
    limit = hostile.settings.login_attempts
    assert checks[0] <= limit, f"{checks[0]} password checks for {n} parallel guesses (limit {limit})"
    assert codes.count(401) <= limit and codes.count(429) >= n - limit and set(codes) <= {401, 429}


def test_failed_login_audit_is_bounded(hostile):
    name = hostile.user("reviewer", "noisy")
    for _ in range(20):
        hostile.client.post("/api/auth/login", json={"username": name, "password": "nope-nope"})
    for i in range(30):  # a spray of unknown names from one client: one row per name at most
        hostile.client.post("/api/auth/login", json={"username": f"ghost{i % 3}", "password": "nope"})
    with hostile.app.state.sessionmaker() as s:
        rows = s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.action == "login_failed"))
    assert rows <= 2 + 3 * 2, rows  # first failure + lockout per (name, client)


def test_login_holds_no_write_lock_while_hashing(hostile, monkeypatch):
    """While a login's password check runs (made slow here), another writer commits at once."""
    name = hostile.user("reviewer", "slowhash")
    started, release = threading.Event(), threading.Event()
    real = security.verify_password

    def slow(password_hash, password):
        started.set()
        release.wait(10)
        return real(password_hash, password)

    monkeypatch.setattr(security, "verify_password", slow)
    t = threading.Thread(
        target=lambda: hostile.client.post("/api/auth/login", json={"username": name, "password": "wrong-one"})
    )
    t.start()
    try:
        assert started.wait(10)
        t0 = time.monotonic()
        with hostile.app.state.write_sessionmaker.begin() as w:
            w.execute(update(UserRow).where(UserRow.username == name).values(evidence_access=True))
        waited = time.monotonic() - t0
    finally:
        release.set()
        t.join(20)
    assert waited < 1.0, f"a writer waited {waited:.2f} s behind a login"


def test_limiter_holds_across_processes(db_url, tmp_path):
    """Two service instances on one database share the limiter (a second process used to accept a
    locked-out account)."""
    a = make_hostile(db_url, tmp_path / "a")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ha = next(a)
    b = make_hostile(db_url, tmp_path / "b")
    hb = next(b)
    try:
        name = ha.user("reviewer", "shared")
        for _ in range(ha.settings.login_attempts):
            assert (
                ha.client.post("/api/auth/login", json={"username": name, "password": "wrong-pass"}).status_code == 401
            )
        r = hb.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 429
    finally:
        next(a, None)
        next(b, None)


def test_second_review_policy_is_shared_across_processes(db_url, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    weak = make_hostile(db_url, tmp_path / "a")  # started first, without second review
    hw = next(weak)
    strict = make_hostile(db_url, tmp_path / "b", second_review=True)
    hs = next(strict)
    try:
        uid = hs.seed_hostile("cx-2nd", events=1)[0]
        rev = hw.headers("reviewer", "stage1")
        r = hw.client.post(f"/api/events/{uid}/review", json={"action": "confirm"}, headers=rev)
        assert r.status_code == 200 and r.json()["event"]["review_status"] == "pending"  # follows the DB policy
        with pytest.raises(SettingsError, match="second review"):  # a new weak instance refuses to start
            next(make_hostile(db_url, tmp_path / "c"))
    finally:
        next(weak, None)
        next(strict, None)


# -- audit chain (cause 8) ---------------------------------------------------------------------
def _reviewed(h: Hostile, n: int = 3) -> list[str]:
    uids = h.seed_hostile("cx-audit", events=n)
    rev = h.headers("reviewer", "auditee")
    for uid in uids:
        assert h.client.post(f"/api/events/{uid}/review", json={"action": "confirm"}, headers=rev).status_code == 200
    return uids


def _verify(h: Hostile) -> dict:
    r = h.client.get("/api/audit/verify", headers=h.headers("admin", "auditor"))
    assert r.status_code == 200
    return r.json()


def _rehash_from(h: Hostile, first_id: int, key: bytes | None) -> None:
    """Recompute every hash from `first_id` on (unkeyed, or under a guessed key), as an attacker
    who can write the database would after an edit."""
    with h.app.state.write_sessionmaker.begin() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.id >= first_id).order_by(AuditRow.id)).all()
        prev = (
            s.scalar(select(AuditRow.hash).where(AuditRow.id < first_id).order_by(AuditRow.id.desc()).limit(1))
            or audit.GENESIS
        )
        for r in rows:
            r.prev_hash = prev
            r.hash = audit.entry_hash(prev, r.at, r.actor, r.action, r.object_type, r.object_id, r.payload, key)
            prev = r.hash


TAMPERS = [
    "delete-last",
    "delete-last-three",
    "rewrite-and-rehash-unkeyed",
    "rewrite-and-rehash-wrong-key",
    "head-deleted",
    "head-count-edited",
    "event-status-updated",
    "event-reviewer-updated",
    "event-stage-updated",
    "unreviewed-event-confirmed",
    "head-moved-back-with-truncation",
]


@pytest.mark.parametrize("tamper", TAMPERS)
def test_audit_tamper_is_detected(hostile, tamper):
    uids = _reviewed(hostile)
    assert _verify(hostile)["ok"] is True
    extra = hostile.seed_hostile("cx-audit2", events=1)[0]
    with hostile.app.state.write_sessionmaker.begin() as s:
        last = s.scalar(select(func.max(AuditRow.id)))
        head = s.get(AuditHeadRow, 1)
        if tamper == "delete-last":
            s.execute(delete(AuditRow).where(AuditRow.id == last))
        elif tamper == "delete-last-three":
            s.execute(delete(AuditRow).where(AuditRow.id > last - 3))
        elif tamper == "head-deleted":
            s.delete(head)
        elif tamper == "head-count-edited":
            head.entries += 1
        elif tamper == "head-moved-back-with-truncation":
            s.execute(delete(AuditRow).where(AuditRow.id == last))
            prev = s.scalar(select(AuditRow).where(AuditRow.id == last - 1))
            head.last_id, head.last_hash, head.entries = prev.id, prev.hash, head.entries - 1
        elif tamper.startswith("event-"):
            column = {
                "event-status-updated": {"review_status": "dismissed"},
                "event-reviewer-updated": {"reviewed_by": "someone-else"},
                "event-stage-updated": {"review_stage": 2},
            }[tamper]
            s.execute(update(EventRow).where(EventRow.uid == uids[1]).values(**column))
        elif tamper == "unreviewed-event-confirmed":
            s.execute(
                update(EventRow)
                .where(EventRow.uid == extra)
                .values(review_status="confirmed", review_stage=1, reviewed_by="ghost")
            )
    if tamper.startswith("rewrite"):
        with hostile.app.state.write_sessionmaker.begin() as s:
            first = s.scalar(select(AuditRow).where(AuditRow.action == "review").order_by(AuditRow.id).limit(1))
            first.payload = {**first.payload, "status": "dismissed"}
            first_id = first.id
        _rehash_from(hostile, first_id, None if tamper.endswith("unkeyed") else b"guessed-key")
        if tamper.endswith("unkeyed"):  # the attacker also moves the head to the new last hash
            with hostile.app.state.write_sessionmaker.begin() as s:
                head = s.get(AuditHeadRow, 1)
                head.last_hash = s.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))
    report = _verify(hostile)
    assert report["ok"] is False, f"{tamper}: verify still says ok"
    assert report["reason"]


def test_audit_key_is_not_in_the_database(hostile):
    """The chain verifies under the app's key and not under another one (the key lives outside)."""
    _reviewed(hostile, 1)
    with hostile.app.state.sessionmaker() as s:
        assert audit.verify(s).ok
        s.info["audit_key"] = b"another-key-" + b"x" * 30
        assert not audit.verify(s).ok


def test_password_checks_run_at_most_login_hash_concurrency_at_once(db_url, tmp_path, monkeypatch):
    """A flood of logins queues for the hash gate instead of taking every core (cause 3)."""
    inside, peak, lock = [0], [0], threading.Lock()
    real = security.verify_password

    def watched(password_hash, password):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.05)
        try:
            return real(password_hash, password)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(security, "verify_password", watched)
    gen = make_hostile(db_url, tmp_path, login_hash_concurrency=1)
    h = next(gen)
    try:
        base, stop = _serve(h.app)
        try:
            import httpx

            async def main() -> list[int]:
                async with httpx.AsyncClient(base_url=base, timeout=60) as c:
                    rs = await asyncio.gather(
                        *(
                            c.post("/api/auth/login", json={"username": f"spray{i}", "password": "wrong-password"})
                            for i in range(16)
                        )
                    )
                return [r.status_code for r in rs]

            codes = asyncio.run(main())
        finally:
            stop()
    finally:
        next(gen, None)
    # 401 each, or 503 "retry shortly" for those that waited past HASH_WAIT_S (unknown users are
    # checked against a production-cost dummy hash, ~0.5 s here)
    assert set(codes) <= {401, 503} and 401 in codes and peak[0] == 1, (codes, peak[0])
