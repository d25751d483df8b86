"""Case packages: a zip of confirmed events that police can hand on and anyone can check.

Layout (every name ASCII, so `sha256sum -c` works on any system):

    README.txt                      what this is and how to verify it (zh + en)
    MANIFEST.sha256                 `sha256sum` format: every other file in the zip
    <event uid>/event.json          the event, its crossing, its review history, its evidence list
    <event uid>/<file name>         each evidence file, byte for byte as recorded

Only complete packages exist: every evidence file is hashed while it is copied into the zip and a
changed or missing file aborts the whole package (a case with a hole in it is worse than none).
The zip is written to a temporary file, never held in memory (clips can be large).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import evidence_store
from .models import CrossingRow, CrossingVersionRow, EventRow, EvidenceFileRow, ReviewRow, VideoRunRow
from .principal import Principal
from .vocabulary import EVENT_TYPE_LABELS, label_dict

MAX_EVENTS = 200
MANIFEST = "MANIFEST.sha256"
README = "README.txt"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_COMPRESSED = ("image/", "video/", "audio/", "application/zip")  # already compressed: store as is

NOT_CONFIRMED = {
    "pending": {
        "zh": "事件尚未审核，只能导出已确认的事件",
        "en": "the event has not been reviewed; only confirmed events can be exported",
    },
    "dismissed": {
        "zh": "事件已被驳回，只能导出已确认的事件",
        "en": "the event was dismissed; only confirmed events can be exported",
    },
    "needs_info": {
        "zh": "事件需要补充信息，只能导出已确认的事件",
        "en": "the event needs more information; only confirmed events can be exported",
    },
}

README_TEXT = """crosswatch 案件证据包 / crosswatch case package
================================================

【中文】
本压缩包由 crosswatch 交通违法分析系统导出，包含已经人工审核确认的违法事件（闯红灯、逆行）。
每个事件一个文件夹（文件夹名为事件编号），其中：
  event.json  事件的全部字段（含号牌：人工更正与机器识别、违法代码与法律依据、防伪码）、路口名称与所属区、审核记录、证据文件清单（含 SHA-256）；
  其余文件    原始证据（合成图片、视频片段），与系统记录的 SHA-256 逐字节一致。
MANIFEST.sha256 列出本包中除它自身以外每个文件的 SHA-256。导出时 MANIFEST.sha256 自身的
SHA-256 已写入系统的防篡改审计日志（case_package_export）。

校验方法：解压后在本目录中执行
    sha256sum -c MANIFEST.sha256
每一行都应显示“成功 / OK”。再执行 `sha256sum MANIFEST.sha256`，与审计日志中的值比对。
任何一个文件校验失败，说明该文件在导出后被改动，不应作为证据使用。

[English]
This archive was exported by crosswatch, a traffic-violation camera analytics system. It holds
violation events (red light, wrong way) that a reviewer has confirmed. One folder per event
(named by the event id) contains:
  event.json   every field of the event (plate: the reviewer's correction and the machine reading; violation
               code and legal basis; anti-forgery code), the crossing's name and district, the review history
               and the list of evidence files with their SHA-256;
  other files  the original evidence (composite image, video clip), byte for byte as recorded.
MANIFEST.sha256 lists the SHA-256 of every file in this package except itself. The SHA-256 of
MANIFEST.sha256 was written to crosswatch's tamper-evident audit log (case_package_export) when
the package was exported.

To verify: unzip, then in this folder run
    sha256sum -c MANIFEST.sha256
Every line must say OK. Then run `sha256sum MANIFEST.sha256` and compare it with the audit log.
A file that fails was changed after export and must not be relied on as evidence.
"""


class EventsNotFound(Exception):
    """Unknown or out-of-scope events (indistinguishable on purpose)."""

    def __init__(self, uids: list[str]):
        super().__init__(f"event(s) not found: {', '.join(uids)}")
        self.uids = uids


class EventsNotConfirmed(Exception):
    """Events that exist but may not be packaged; `errors` is the 422 detail, one per event."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} event(s) not confirmed")
        self.errors = errors


@dataclass
class PackagedEvent:
    """One event's JSON document (without the evidence file names yet) and its evidence."""

    uid: str
    doc: dict[str, Any]
    evidence: list[evidence_store.EvidenceRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    path: str  # the temporary zip: the caller sends it, then deletes it
    manifest_sha256: str
    files: int  # files listed in the manifest


# -- loading -----------------------------------------------------------------------------------
def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat() if t is not None else None


def _event_doc(e: EventRow, c: CrossingRow, v: CrossingVersionRow, run: VideoRunRow) -> dict[str, Any]:
    return {
        "uid": e.uid,
        "type": e.type,
        "type_label": label_dict(EVENT_TYPE_LABELS, e.type),
        "class_name": e.class_name,
        "occurred_at": _iso(e.occurred_at),
        "t": e.t,
        "frame": e.frame,
        "track_id": e.track_id,
        "box": {"x1": e.x1, "y1": e.y1, "x2": e.x2, "y2": e.y2},
        "lane": e.lane,
        "stop_line": e.stop_line,
        "signal_id": e.signal_id,
        "signal_state": e.signal_state,
        "signal_source": e.signal_source,
        "since_red_s": e.since_red_s,
        "confidence": e.confidence,
        "review_status": e.review_status,
        "review_stage": e.review_stage,
        "reviewed_by": e.reviewed_by,
        "reviewed_at": _iso(e.reviewed_at),
        "created_at": _iso(e.created_at),
        # the plate to act on (the reviewer's correction where there is one) and the machine reading beside it
        "plate": {
            "plate": e.plate,
            "machine_reading": e.plate_text,
            "display": e.plate_display,
            "status": e.plate_status,
            "colour": e.plate_colour,
            "confidence": e.plate_confidence,
            "reason": e.plate_reason,
            "corrected": e.plate_corrected,
            "corrected_by": e.plate_corrected_by,
            "corrected_at": _iso(e.plate_corrected_at),
        },
        "violation": {
            "code": e.violation_code,
            "full_code": e.violation_full_code,
            "description": e.violation_description,
            "legal_basis": e.legal_basis,
            "note": "codes from the deployment's codes table (defaults: public code lists, not GA 408.1)",
        },
        "anti_forgery_code": e.anti_forgery_code,
        "evidence_seal": e.evidence_seal,
        "crossing": {
            "id": c.id,
            "name": c.name,
            "district": c.district,
            "lat": c.lat,
            "lon": c.lon,
            "version": v.version,
            "geometry_hash": v.geometry_hash,
        },
        "video": {
            "sha256": run.video_sha256,
            "file_name": PurePosixPath(run.video_path).name,
            "model": run.model,
            "start_time": _iso(run.start_time),
        },
        "reviews": [],
        "evidence": [],
    }


def load_events(s: Session, p: Principal, uids: list[str]) -> list[PackagedEvent]:
    """The events `uids` in `p`'s scope, all confirmed, in the order asked; `EventsNotFound` if any
    is unknown or out of scope (checked first), else `EventsNotConfirmed` listing the others."""
    rows = s.execute(
        select(EventRow, CrossingRow, CrossingVersionRow, VideoRunRow)
        .join(CrossingRow, CrossingRow.id == EventRow.crossing_id)
        .join(CrossingVersionRow, CrossingVersionRow.id == EventRow.crossing_version_id)
        .join(VideoRunRow, VideoRunRow.id == EventRow.run_id)
        .where(EventRow.uid.in_(uids), p.scope(EventRow.crossing_id))
    ).all()
    by_uid = {r[0].uid: r for r in rows}
    missing = [u for u in uids if u not in by_uid]
    if missing:
        raise EventsNotFound(missing)
    errors = [
        {
            "loc": ["body", "event_uids", i],
            "type": "event_not_confirmed",
            "event_uid": u,
            "review_status": by_uid[u][0].review_status,
            "msg": f"event {u} is {by_uid[u][0].review_status}, not confirmed",
            "reason": NOT_CONFIRMED.get(
                by_uid[u][0].review_status,
                {"zh": "只能导出已确认的事件", "en": "only confirmed events can be exported"},
            ),
        }
        for i, u in enumerate(uids)
        if by_uid[u][0].review_status != "confirmed"
    ]
    if errors:
        raise EventsNotConfirmed(errors)
    events = {u: PackagedEvent(u, _event_doc(*by_uid[u])) for u in uids}
    ids = {by_uid[u][0].id: u for u in uids}
    _add_reviews(s, ids, events)
    _add_evidence(s, ids, events)
    return list(events.values())


def _add_reviews(s: Session, ids: dict[int, str], events: dict[str, PackagedEvent]) -> None:
    for r in s.scalars(select(ReviewRow).where(ReviewRow.event_id.in_(ids)).order_by(ReviewRow.at, ReviewRow.id)):
        events[ids[r.event_id]].doc["reviews"].append(
            {
                "stage": r.stage,
                "action": r.action,
                "reason_code": r.reason_code,
                "comment": r.comment,
                "username": r.username,
                "at": _iso(r.at),
            }
        )


def _add_evidence(s: Session, ids: dict[int, str], events: dict[str, PackagedEvent]) -> None:
    rows = s.execute(
        select(EvidenceFileRow, EventRow.uid, EventRow.crossing_id)
        .join(EventRow, EventRow.id == EvidenceFileRow.event_id)
        .where(EvidenceFileRow.event_id.in_(ids))
        .order_by(EvidenceFileRow.id)
    ).all()
    for f, event_uid, crossing_id in rows:
        events[event_uid].evidence.append(evidence_store.ref_of(f, event_uid, crossing_id))


# -- building ----------------------------------------------------------------------------------
def _file_names(refs: list[evidence_store.EvidenceRef]) -> list[str]:
    """A safe, unique name inside the event's folder for each file: the recorded base name when
    it is plain ASCII (`clip.mp4`), else `<kind>-<evidence uid>`; clashes get the uid prefixed."""
    names: list[str] = []
    for ref in refs:
        base = PurePosixPath(ref.relpath.replace("\\", "/")).name
        if not _SAFE_NAME.fullmatch(base) or base in ("event.json",):
            base = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', ref.kind, flags=re.ASCII) or 'evidence'}-{ref.uid}"
        if base in names:
            base = f"{ref.uid}-{base}"
        names.append(base)
    return names


def _info(name: str, mime: str | None, when: tuple[int, ...]) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=when)  # type: ignore[arg-type]
    zi.compress_type = zipfile.ZIP_STORED if mime and mime.startswith(_COMPRESSED) else zipfile.ZIP_DEFLATED
    zi.external_attr = 0o644 << 16
    return zi


def _write_bytes(zf: zipfile.ZipFile, name: str, data: bytes, when: tuple[int, ...]) -> str:
    zf.writestr(_info(name, "text/plain", when), data)
    return hashlib.sha256(data).hexdigest()


def _write_evidence(
    zf: zipfile.ZipFile, root: Path, name: str, ref: evidence_store.EvidenceRef, when: tuple[int, ...]
) -> None:
    with zf.open(_info(name, ref.mime, when), "w", force_zip64=ref.size >= 2**31) as dest:
        evidence_store.copy_verified(root, ref, dest.write)


def _write_all(
    zf: zipfile.ZipFile, root: Path, events: list[PackagedEvent], when: tuple[int, ...]
) -> list[tuple[str, str]]:
    """Every entry but the manifest; returns (sha256, name) for the manifest, in zip order."""
    listed = [(_write_bytes(zf, README, README_TEXT.encode(), when), README)]
    for ev in events:
        names = _file_names(ev.evidence)
        ev.doc["evidence"] = [
            {"uid": r.uid, "kind": r.kind, "mime": r.mime, "size": r.size, "sha256": r.sha256, "file": f"{ev.uid}/{n}"}
            for r, n in zip(ev.evidence, names, strict=True)
        ]
        doc = json.dumps(ev.doc, ensure_ascii=False, indent=2, sort_keys=False).encode() + b"\n"
        listed.append((_write_bytes(zf, f"{ev.uid}/event.json", doc, when), f"{ev.uid}/event.json"))
        for ref, n in zip(ev.evidence, names, strict=True):
            _write_evidence(zf, root, f"{ev.uid}/{n}", ref, when)
            listed.append((ref.sha256, f"{ev.uid}/{n}"))  # verified: these are the bytes copied
    return listed


def build(root: Path, events: list[PackagedEvent], tmp_dir: str | None = None) -> BuiltPackage:
    """Write the zip to a temporary file. Any `EvidenceError` (changed, missing, refused file)
    deletes the partial zip and propagates: there is no incomplete package."""
    when = time.gmtime()[:6]
    fd, path = tempfile.mkstemp(prefix="case-package-", suffix=".zip", dir=tmp_dir)
    try:
        with os.fdopen(fd, "w+b") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
            listed = _write_all(zf, root, events, when)
            manifest = "".join(f"{sha}  {name}\n" for sha, name in listed).encode()
            manifest_sha = _write_bytes(zf, MANIFEST, manifest, when)
    except BaseException:
        os.unlink(path)
        raise
    return BuiltPackage(path=path, manifest_sha256=manifest_sha, files=len(listed))
