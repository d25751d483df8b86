"""The public (redacted) composites already made, on disk under the evidence root.

Redacting a composite runs two models over three pictures (seconds a case), and a bulletin of the
same period asks for the same cases again. The result depends only on the composite's bytes and
on how redaction is done, so it is kept as `<evidence root>/_public/<sha256>.v<N>.jpg` (the
composite's SHA-256, `redact.REDACT_VERSION`) with a small JSON beside it (the counts and the
picture's own SHA-256). A new `REDACT_VERSION` misses every old entry; an entry whose picture does
not match its JSON is a miss and is written again. The folder starts with '_', so the evidence
check does not count it as evidence (`service.runs.evidence_check`); deleting it only costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path

from ..files import write_atomic
from .redact import REDACT_VERSION, Redacted

FOLDER = "_public"
_SHA = re.compile(r"^[0-9a-f]{64}$")


class PublicCache:
    """Redacted composites by the SHA-256 of the composite they were made from."""

    def __init__(self, evidence_root: Path, version: int = REDACT_VERSION):
        self.folder = Path(evidence_root) / FOLDER
        self.version = version

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        if not _SHA.fullmatch(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        stem = f"{sha256}.v{self.version}"
        return self.folder / f"{stem}.jpg", self.folder / f"{stem}.json"

    def get(self, sha256: str) -> Redacted | None:
        """The redacted picture made from the composite `sha256`, None when there is none (or it is
        damaged)."""
        jpg, meta = self._paths(sha256)
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            data = jpg.read_bytes()
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                return None
            return Redacted(data, int(info["blurred"]), int(info["kept"]), bool(info["recorded"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, sha256: str, r: Redacted) -> None:
        """Keep `r` as the redaction of the composite `sha256` (picture first, then its JSON; each
        written atomically). A folder that cannot be written is not an error: the bulletin is made
        anyway, only not faster next time."""
        jpg, meta = self._paths(sha256)
        info = {
            "sha256": hashlib.sha256(r.jpeg).hexdigest(),
            "blurred": r.blurred,
            "kept": r.kept,
            "recorded": r.recorded,
        }
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(jpg, r.jpeg)
            write_atomic(meta, json.dumps(info).encode())
