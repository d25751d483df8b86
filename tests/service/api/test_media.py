"""Evidence media: Range, ETag, scope and role, tampered / missing files, path traversal.

Big tables (ranges, traversal attempts) run inside one test per database, each row checked with
its own message: one app and one seed per table keeps the file fast on SQLite + PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from service import audit, security
from service.api.routes.media import Unsatisfiable, parse_range
from service.models import AuditRow, EventRow, EvidenceFileRow


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    """Tables here log in a user per row; argon2's production cost (~0.5 s a hash on this machine)
    is not what is under test, so accounts made in these tests use the cheapest parameters."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass(frozen=True)
class Ev:
    uid: str
    event_uid: str
    path: Path
    data: bytes


def evidence(api, crossing_id: str, kind: str = "clip", index: int = 0) -> Ev:
    """The `index`-th evidence file of `kind` of crossing `crossing_id`, with its bytes on disk."""
    with api.app.state.sessionmaker() as s:
        f, event_uid = s.execute(
            select(EvidenceFileRow, EventRow.uid)
            .join(EventRow, EventRow.id == EvidenceFileRow.event_id)
            .where(EventRow.crossing_id == crossing_id, EvidenceFileRow.kind == kind)
            .order_by(EvidenceFileRow.id)
        ).all()[index]
        path = api.evidence_dir / f.relpath
        return Ev(f.uid, event_uid, path, path.read_bytes())


def audit_entries(api, action: str) -> list[AuditRow]:
    with api.app.state.sessionmaker() as s:
        return list(s.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))


# -- Range parsing (pure) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "header,size,want",
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=0-1000", 100, (0, 99)),
        ("BYTES = 5 - 6", 100, (5, 6)),
        ("bytes=99-99", 100, (99, 99)),
        ("bytes=100-", 100, Unsatisfiable),
        ("bytes=-0", 100, Unsatisfiable),
        ("bytes=0-", 0, Unsatisfiable),
        ("bytes=" + "9" * 40 + "-", 100, Unsatisfiable),
        ("bytes=9-1", 100, None),  # last < first: invalid, ignored
        ("bytes=-", 100, None),
        ("bytes=a-b", 100, None),
        ("bytes=1-2-3", 100, None),
        ("bytes=0-1,4-5", 100, None),  # several ranges: whole file
        ("items=0-1", 100, None),
        ("bytes 0-1", 100, None),
        ("bytes=+1-2", 100, None),
    ],
)
def test_parse_range(header, size, want):
    if want is Unsatisfiable:
        with pytest.raises(Unsatisfiable):
            parse_range(header, size)
    else:
        assert parse_range(header, size) == want


# -- serving -----------------------------------------------------------------------------------
# (Range header with {size} / {last} placeholders, status, slice of the file expected as the body)
RANGE_TABLE = [
    (None, 200, slice(None)),
    ("bytes=0-99", 206, slice(0, 100)),  # first bytes (what a <video> asks first)
    ("bytes=100-299", 206, slice(100, 300)),  # middle (seeking)
    ("bytes=-64", 206, slice(-64, None)),  # suffix
    ("bytes=500-", 206, slice(500, None)),  # open-ended
    ("bytes=0-", 206, slice(None)),
    ("bytes={last}-{last}", 206, slice(-1, None)),
    ("bytes=10-{size}0", 206, slice(10, None)),  # past the end is clamped
    ("bytes={size}-", 416, None),
    ("bytes={size}0-{size}9", 416, None),
    ("bytes=-0", 416, None),
    ("bytes=300-100", 200, slice(None)),  # malformed: ignored
    ("bytes=zero-ten", 200, slice(None)),
    ("lines=0-5", 200, slice(None)),
    ("bytes=0-5,10-15", 200, slice(None)),
]


def test_range_table(api):
    api.seed(events_per_crossing=1)
    h = api.headers("reviewer")
    ev = evidence(api, "cx-a")
    size = len(ev.data)
    assert size > 1000, "the seeded clip must be big enough for the table"
    for header, code, sl in RANGE_TABLE:
        hdrs = dict(h)
        if header is not None:
            hdrs["Range"] = header.format(size=size, last=size - 1)
        r = api.client.get(f"/api/media/{ev.uid}", headers=hdrs)
        assert r.status_code == code, (header, r.status_code, r.text[:200])
        assert r.headers["etag"] == f'"{hashlib.sha256(ev.data).hexdigest()}"', header
        if code == 416:
            assert r.headers["content-range"] == f"bytes */{size}", header
            assert ev.data[:16] not in r.content
            continue
        want = ev.data[sl]
        assert r.content == want, header
        assert int(r.headers["content-length"]) == len(want), header
        if code == 206:
            first = sl.indices(size)[0]
            assert r.headers["content-range"] == f"bytes {first}-{first + len(want) - 1}/{size}", header
        else:
            assert "content-range" not in r.headers, header


@pytest.mark.parametrize(
    "kind,mime,filename", [("clip", "video/mp4", "clip.mp4"), ("composite", "image/jpeg", "composite.jpg")]
)
def test_headers_and_head(api, kind, mime, filename):
    api.seed(events_per_crossing=1)
    h = api.headers("reviewer")
    ev = evidence(api, "cx-a", kind)
    sha = hashlib.sha256(ev.data).hexdigest()
    r = api.client.get(f"/api/media/{ev.uid}", headers=h)
    assert r.status_code == 200 and r.content == ev.data
    assert r.headers["content-type"] == mime
    assert r.headers["etag"] == f'"{sha}"'
    assert r.headers["cache-control"].startswith("private")
    assert r.headers["content-disposition"] == f'inline; filename="{filename}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["accept-ranges"] == "bytes"
    head = api.client.head(f"/api/media/{ev.uid}", headers=h)
    assert head.status_code == 200 and head.content == b""
    assert {k: head.headers[k] for k in ("etag", "content-type", "content-length", "accept-ranges")} == {
        "etag": f'"{sha}"',
        "content-type": mime,
        "content-length": str(len(ev.data)),
        "accept-ranges": "bytes",
    }
    head = api.client.head(f"/api/media/{ev.uid}", headers={**h, "Range": "bytes=2-5"})
    assert head.status_code == 206 and head.content == b"" and head.headers["content-length"] == "4"
    assert head.headers["content-range"] == f"bytes 2-5/{len(ev.data)}"


# (request headers, {sha} = the file's SHA-256; status; body: all / first4 / b"")
CONDITIONAL_TABLE = [
    ({"If-None-Match": '"{sha}"'}, 304, b""),
    ({"If-None-Match": 'W/"{sha}", "other"'}, 304, b""),
    ({"If-None-Match": '"0000"'}, 200, "all"),
    ({"Range": "bytes=0-3", "If-Range": '"{sha}"'}, 206, "first4"),
    ({"Range": "bytes=0-3", "If-Range": '"0000"'}, 200, "all"),  # stale copy: whole file
    ({"Range": "bytes=0-3", "If-Range": "Mon, 02 Mar 2026 08:00:00 GMT"}, 200, "all"),  # no dates: whole file
]


def test_conditional_requests(api):
    api.seed(events_per_crossing=1)
    h = api.headers("reviewer")
    ev = evidence(api, "cx-a")
    sha = hashlib.sha256(ev.data).hexdigest()
    for extra, code, body in CONDITIONAL_TABLE:
        r = api.client.get(f"/api/media/{ev.uid}", headers={**h, **{k: v.format(sha=sha) for k, v in extra.items()}})
        assert r.status_code == code, extra
        assert r.content == {"all": ev.data, "first4": ev.data[:4]}.get(body, body), extra
        assert r.headers["etag"] == f'"{sha}"', extra


def test_clip_plays_through_ranges(api):
    """What a browser's <video> does: probe with `bytes=0-`, then seek with open-ended ranges; the
    pieces put together are the exact clip, and the clip decodes as H.264."""
    import io

    import av

    api.seed(events_per_crossing=1)
    h = api.headers("reviewer")
    ev = evidence(api, "cx-a")
    size = len(ev.data)
    got = bytearray()
    step = max(1, size // 5)
    while len(got) < size:
        r = api.client.get(
            f"/api/media/{ev.uid}", headers={**h, "Range": f"bytes={len(got)}-{min(size, len(got) + step) - 1}"}
        )
        assert r.status_code == 206
        got += r.content
    assert bytes(got) == ev.data
    with av.open(io.BytesIO(bytes(got))) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in c.decode(stream)) == 10


# -- role and scope ----------------------------------------------------------------------------
# (role, scope, evidence of crossing, expected status)
ACCESS_TABLE = [
    ("admin", {}, "cx-b", 200),
    ("reviewer", {}, "cx-b", 200),
    ("reviewer", {"districts": ["东城区"]}, "cx-a", 200),
    ("reviewer", {"districts": ["东城区"]}, "cx-b", 404),  # other district: does not exist for them
    ("reviewer", {"crossing_ids": ["cx-b"]}, "cx-a", 404),
    ("analyst", {}, "cx-a", 403),  # no evidence access
    ("analyst", {"evidence_access": True}, "cx-a", 200),
    ("analyst", {"evidence_access": True, "districts": ["西城区"]}, "cx-a", 404),
    ("operator", {}, "cx-a", 403),
    (None, {}, "cx-a", 401),
]


def test_access_table(api):
    api.seed(events_per_crossing=1)
    files = {cid: evidence(api, cid, "composite") for cid in ("cx-a", "cx-b")}
    for role, scope, cid, code in ACCESS_TABLE:
        h = api.headers(role, **scope) if role else {}
        for method in ("GET", "HEAD"):
            r = api.client.request(method, f"/api/media/{files[cid].uid}", headers=h)
            assert r.status_code == code, (role, scope, cid, method, r.status_code)
            assert (r.content == files[cid].data) == (code == 200 and method == "GET"), (role, scope, method)


# -- integrity ---------------------------------------------------------------------------------
def _flip_byte(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_byte,  # same size, one byte changed
        lambda p: p.write_bytes(p.read_bytes() + b"\0"),  # appended
        lambda p: p.write_bytes(p.read_bytes()[:-1]),  # truncated
    ],
    ids=["flip-one-byte", "append", "truncate"],
)
def test_tampered_file_is_refused_and_audited(api, tamper):
    api.seed(events_per_crossing=1)
    h = api.headers("reviewer")
    ev = evidence(api, "cx-a")
    tamper(ev.path)
    changed = ev.path.read_bytes()
    for method, extra in (("GET", {}), ("GET", {"Range": "bytes=0-99"}), ("HEAD", {})):
        r = api.client.request(method, f"/api/media/{ev.uid}", headers={**h, **extra})
        assert r.status_code == 409, (method, extra)
        assert "content-range" not in r.headers and "etag" not in r.headers
        if method == "GET":
            assert "no longer matches its recorded SHA-256 and was not served" in r.json()["detail"]
            assert changed[:32] not in r.content and changed[-32:] not in r.content
    entries = audit_entries(api, "evidence_integrity_failure")
    assert len(entries) == 3 and {e.object_id for e in entries} == {ev.uid}
    assert entries[0].payload["expected_sha256"] == hashlib.sha256(ev.data).hexdigest()
    assert entries[0].payload["actual_sha256"] == hashlib.sha256(changed).hexdigest()
    with api.app.state.sessionmaker() as s:
        assert audit.verify(s).ok
    # the untouched composite of the same event is still served
    assert api.client.get(f"/api/media/{evidence(api, 'cx-a', 'composite').uid}", headers=h).status_code == 200


def test_missing_file_is_410_and_audited(api):
    api.seed(events_per_crossing=1)
    ev = evidence(api, "cx-a")
    ev.path.unlink()
    r = api.client.get(f"/api/media/{ev.uid}", headers=api.headers("reviewer"))
    assert r.status_code == 410 and "missing" in r.json()["detail"]
    assert [e.object_id for e in audit_entries(api, "evidence_missing")] == [ev.uid]


# -- path traversal and malformed ids ----------------------------------------------------------
SECRET = b"TOP-SECRET-outside-the-evidence-root-7f3a"

# URL paths; {uid} = a real evidence uid, {event} = its event's uid
URL_ATTEMPTS = [
    "/api/media/../../secret.txt",
    "/api/media/..%2f..%2fsecret.txt",
    "/api/media/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/media/%2e%2e/%2e%2e/secret.txt",
    "/api/media/..%5c..%5csecret.txt",
    "/api/media/..%255c..%255csecret.txt",
    "/api/media/..%252f..%252fsecret.txt",
    "/api/media/%c0%ae%c0%ae%c0%afsecret.txt",
    "/api/media/%2fetc%2fpasswd",
    "/api/media//etc/passwd",
    "/api/media/file%3a%2f%2f%2fetc%2fpasswd",
    "/api/media/C%3a%5cWindows%5cwin.ini",
    "/api/media/%00",
    "/api/media/{uid}%00",
    "/api/media/{uid}%00.jpg",
    "/api/media/{uid}%0a",
    "/api/media/%20{uid}",
    "/api/media/{uid}x",
    "/api/media/{uid}{uid}",
    "/api/media/" + "a" * 4096,
    "/api/media/{UID}",
    "/api/media/{uid31}",
    "/api/media/{uuid}",
    "/api/media/" + "g" * 32,
    "/api/media/{event}",
    "/api/media/{uid}%2f..%2f..%2fsecret.txt",
]


def _relpath_attacks(api, root: Path, secret: Path) -> list[tuple[str, str]]:
    """(label, relpath) to write into an evidence row; links are created inside the root."""
    (root / "cx-a" / "link.jpg").symlink_to(secret)
    (root / "cx-a" / "linkdir").symlink_to(secret.parent, target_is_directory=True)
    (root / "cx-a" / "abs-link.jpg").symlink_to("/etc/passwd")
    return [
        ("dotdot", "../secret.txt"),
        ("dotdot-inside", "cx-a/../../secret.txt"),
        ("absolute", str(secret)),
        ("etc-passwd", "/etc/passwd"),
        ("etc-passwd-dotdot", "../../../../../../../../etc/passwd"),
        ("backslash", "..\\secret.txt"),
        ("symlink-file", "cx-a/link.jpg"),
        ("symlink-dir", "cx-a/linkdir/secret.txt"),
        ("symlink-etc", "cx-a/abs-link.jpg"),
        ("empty", ""),
        ("root-itself", "."),
        ("a-directory", "cx-a"),
    ]


def _no_leak(r, label) -> None:
    assert r.status_code in (400, 404, 409, 410, 422), (label, r.status_code)
    assert SECRET not in r.content and b"root:x:0:0" not in r.content, label


def test_traversal_and_malformed_ids(api):
    api.seed(events_per_crossing=1)
    root = api.evidence_dir
    secret = root.parent / "secret.txt"
    secret.write_bytes(SECRET)
    h = api.headers("admin")
    ev = evidence(api, "cx-a", "composite")
    subst = {
        "uid": ev.uid,
        "UID": ev.uid.upper(),
        "uid31": ev.uid[:31],
        "event": ev.event_uid,
        "uuid": f"{ev.uid[:8]}-{ev.uid[8:12]}-{ev.uid[12:16]}-{ev.uid[16:20]}-{ev.uid[20:]}",
    }
    attempts = 0
    for url in URL_ATTEMPTS:
        for method in ("GET", "HEAD"):
            _no_leak(api.client.request(method, url.format(**subst), headers=h), url)
        attempts += 1
    # a row whose recorded path is hostile, with the secret's real hash and size so that only the
    # path check stands between the attacker and the file
    victim = evidence(api, "cx-b", "composite")
    attacks = _relpath_attacks(api, root, secret)
    for label, rel in attacks:
        target = secret if "etc" not in label else Path("/etc/passwd")
        data = target.read_bytes() if target.is_file() else b""
        with api.app.state.write_sessionmaker() as s:
            s.execute(
                update(EvidenceFileRow)
                .where(EvidenceFileRow.uid == victim.uid)
                .values(relpath=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            )
            s.commit()
        for extra in ({}, {"Range": "bytes=0-9"}):
            r = api.client.get(f"/api/media/{victim.uid}", headers={**h, **extra})
            _no_leak(r, label)
            assert r.status_code == 409, (label, r.status_code)
        attempts += 1
    assert attempts >= 30
    refused = audit_entries(api, "evidence_path_refused")
    assert len(refused) == 2 * len(attacks) and {e.object_id for e in refused} == {victim.uid}
    assert os.path.exists(secret)
