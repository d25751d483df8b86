"""Anti-forgery code (防伪码) and evidence seal: HMACs with a key that is never in the database.

* The anti-forgery code is short (10 characters, ``XXXXX-XXXXX``) and printed on the composite, so it
  covers the event's fields and the hashes of every evidence file except the composite itself (which
  carries it).
* The seal (64 hex) is stored with the event and covers the same fields, every file's hash including
  the composite's, and the code.

A changed picture, clip or plate crop, or an edited event row, no longer matches (``service.verify``).
The key: ``$CROSSWATCH_EVIDENCE_KEY``, else derived from ``$CROSSWATCH_SECRET_KEY``, else a random key
kept in the file ``evidence.key`` beside the evidence folder (created on first use, mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY_ENV = "CROSSWATCH_EVIDENCE_KEY"
SECRET_ENV = "CROSSWATCH_SECRET_KEY"
KEY_FILE = "evidence.key"
SEALED_FIELDS = (
    "event_key",
    "type",
    "track_id",
    "class_name",
    "t",
    "frame",
    "lane",
    "stop_line",
    "signal_state",
    "since_red_s",
    "plate_text",
    "violation_code",
)
NOT_IN_CODE = ("composite",)  # the picture that prints the code cannot be covered by it


def evidence_key(evidence_root: Path | str | None = None) -> bytes:
    """The key: env CROSSWATCH_EVIDENCE_KEY, else HMAC-derived from CROSSWATCH_SECRET_KEY, else the
    `evidence.key` file beside `evidence_root` (made once). Never stored in the database."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    if os.environ.get(SECRET_ENV):
        return hmac.new(os.environ[SECRET_ENV].encode(), b"crosswatch evidence key v1", hashlib.sha256).digest()
    if evidence_root is None:
        raise ValueError(f"no evidence key: set {KEY_ENV} (or {SECRET_ENV})")
    path = Path(evidence_root).resolve().parent / KEY_FILE
    if not path.is_file():
        _create_key_file(path)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise OSError(f"the evidence key file {path} is empty")
    return key.encode()


def _create_key_file(path: Path) -> None:
    """Write a new random key to `path` unless another process got there first (batch workers start
    together): the key is written whole to a file of its own, then linked to `path`, which never exists
    half written, and the first link wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it: its key is the key
    finally:
        tmp.unlink(missing_ok=True)


def _num(v: Any) -> str | None:
    return None if v is None else f"{float(v):.3f}"


def sealed_fields(
    *,
    event_key: str,
    type: str,
    track_id: int,
    class_name: str,
    t: float,
    frame: int,
    lane: str | None,
    stop_line: str | None,
    signal_state: str | None,
    since_red_s: float | None,
    plate_text: str | None,
    violation_code: str | None,
) -> dict[str, Any]:
    """The event's fields in the canonical form both the recorder and the verifier hash."""
    return {
        "event_key": str(event_key),
        "type": str(getattr(type, "value", type)),
        "track_id": int(track_id),
        "class_name": str(class_name),
        "t": _num(t),
        "frame": int(frame),
        "lane": lane,
        "stop_line": stop_line,
        "signal_state": None if signal_state is None else str(getattr(signal_state, "value", signal_state)),
        "since_red_s": _num(since_red_s),
        "plate_text": plate_text,
        "violation_code": violation_code,
    }


def _mac(key: bytes, payload: Mapping[str, Any]) -> bytes:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(key, blob, hashlib.sha256).digest()


def anti_forgery_code(key: bytes, fields: Mapping[str, Any], file_hashes: Mapping[str, str]) -> str:
    """10 characters (base32, grouped 5-5) over the fields and the hashes of the files (by kind) the
    composite does not carry."""
    files = {k: v for k, v in file_hashes.items() if k not in NOT_IN_CODE}
    raw = base64.b32encode(_mac(key, {"v": 1, "fields": dict(fields), "files": files})).decode()[:10]
    return f"{raw[:5]}-{raw[5:]}"


def evidence_seal(key: bytes, fields: Mapping[str, Any], file_hashes: Mapping[str, str], code: str) -> str:
    """64 hex over the fields, every file's hash (composite included) and the code."""
    return _mac(key, {"v": 1, "fields": dict(fields), "files": dict(file_hashes), "code": code}).hex()
