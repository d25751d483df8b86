"""The cache of redacted composites: a hit gives back what was put, a new redaction version, a
damaged picture or a missing JSON is a miss, and a folder that cannot be written is no error."""

from __future__ import annotations

import hashlib

import pytest

from service.reports.public_cache import FOLDER, PublicCache
from service.reports.redact import REDACT_VERSION, Redacted

SHA = hashlib.sha256(b"composite").hexdigest()


def test_a_put_picture_comes_back(tmp_path):
    cache = PublicCache(tmp_path)
    assert cache.get(SHA) is None
    r = Redacted(b"\xff\xd8 redacted", blurred=4, kept=2, recorded=True)
    cache.put(SHA, r)
    assert cache.get(SHA) == r
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == [
        f"{SHA}.v{REDACT_VERSION}.jpg",
        f"{SHA}.v{REDACT_VERSION}.json",
    ]
    assert PublicCache(tmp_path, version=REDACT_VERSION + 1).get(SHA) is None  # redaction changed: a miss


def test_a_damaged_or_half_written_entry_is_a_miss(tmp_path):
    cache = PublicCache(tmp_path)
    cache.put(SHA, Redacted(b"picture", 1, 1))
    jpg = tmp_path / FOLDER / f"{SHA}.v{REDACT_VERSION}.jpg"
    jpg.write_bytes(b"another picture")
    assert cache.get(SHA) is None
    cache.put(SHA, Redacted(b"picture", 1, 1))
    assert cache.get(SHA) == Redacted(b"picture", 1, 1)
    jpg.with_suffix(".json").unlink()
    assert cache.get(SHA) is None


def test_an_unwritable_folder_is_not_an_error(tmp_path):
    (tmp_path / FOLDER).write_text("a file where the folder should be")
    cache = PublicCache(tmp_path)
    cache.put(SHA, Redacted(b"picture", 1, 1))
    assert cache.get(SHA) is None


def test_only_a_sha256_names_an_entry(tmp_path):
    with pytest.raises(ValueError):
        PublicCache(tmp_path).get("../../etc/passwd")
