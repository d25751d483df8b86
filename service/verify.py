"""Check an event's anti-forgery code (防伪码) and evidence seal against its files and its row.

The code and seal are HMACs (`detector.evidence.seal`) over the event's sealed fields and the
SHA-256 of each evidence file, with a key that is not in the database. Here every file is hashed
again from disk, the fields are taken from the stored row, and both HMACs are recomputed: a flipped
byte in any picture or clip, a missing file, or an edited event row (type, time, class, lane, the
machine plate reading, the code, ...) no longer matches. A reviewer's plate correction is not a
sealed field (it sits beside the machine reading and is audited).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path

from detector.evidence.files import sha256_file
from detector.evidence.seal import anti_forgery_code, evidence_key, evidence_seal, sealed_fields

from .models import EventRow


@dataclass(slots=True)
class VerifyResult:
    uid: str
    ok: bool
    code: str | None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.ok:
            return f"{self.uid}: OK (防伪码 {self.code})"
        return f"{self.uid}: FAILED: " + "; ".join(self.problems)


def row_fields(e: EventRow) -> dict:
    return sealed_fields(
        event_key=e.event_key,
        type=e.type,
        track_id=e.track_id,
        class_name=e.class_name,
        t=e.t,
        frame=e.frame,
        lane=e.lane,
        stop_line=e.stop_line,
        signal_state=e.signal_state,
        since_red_s=e.since_red_s,
        plate_text=e.plate_text,
        violation_code=e.violation_code,
    )


def verify_event(e: EventRow, evidence_root: Path | str, key: bytes | None = None) -> VerifyResult:
    """Re-hash the event's files and recompute its code and seal; `key` defaults to `evidence_key(root)`."""
    root = Path(evidence_root)
    result = VerifyResult(e.uid, True, e.anti_forgery_code)
    if not e.anti_forgery_code or not e.evidence_seal:
        result.ok = False
        result.problems.append("no anti-forgery code stored (recorded without an evidence key)")
        return result
    key = key if key is not None else evidence_key(root)
    hashes: dict[str, str] = {}
    for f in e.evidence:
        path = root / f.relpath
        if not path.is_file():
            result.problems.append(f"missing file: {f.kind} ({f.relpath})")
            hashes[f.kind] = "missing"
            continue
        digest = sha256_file(path)
        hashes[f.kind] = digest
        if digest != f.sha256:
            result.problems.append(f"{f.kind} changed: SHA-256 {digest[:12]}… is not the recorded {f.sha256[:12]}…")
    fields = row_fields(e)
    if not hmac.compare_digest(anti_forgery_code(key, fields, hashes), e.anti_forgery_code):
        result.problems.append("anti-forgery code does not match the files and the event row")
    if not hmac.compare_digest(evidence_seal(key, fields, hashes, e.anti_forgery_code), e.evidence_seal):
        result.problems.append("evidence seal does not match the files and the event row")
    result.ok = not result.problems
    return result
