"""seal.evidence_key: the key file beside the evidence folder is made once, whole, also when many
processes (a batch's workers) ask for it at the same moment."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat

import pytest

from detector.evidence import seal


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch):
    monkeypatch.delenv(seal.KEY_ENV, raising=False)
    monkeypatch.delenv(seal.SECRET_ENV, raising=False)


def _ask(root: str, barrier, out) -> None:
    barrier.wait()  # every process asks at once
    try:
        out.put(seal.evidence_key(root).decode())
    except Exception as e:  # noqa: BLE001 - the test reports what each process got
        out.put(f"error: {type(e).__name__}: {e}")


def test_processes_asking_at_once_all_get_the_one_key(tmp_path):
    ctx = mp.get_context("fork")
    n = 12
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_ask, args=(str(tmp_path / "evidence"), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    got = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert len(set(got)) == 1, got
    key_file = tmp_path / seal.KEY_FILE
    assert got[0] == key_file.read_text(encoding="ascii") and len(got[0]) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == [seal.KEY_FILE]  # no half-made files left


def test_an_existing_key_is_kept(tmp_path):
    (tmp_path / seal.KEY_FILE).write_text("ab" * 32 + "\n", encoding="ascii")
    assert seal.evidence_key(tmp_path / "evidence") == b"ab" * 32


def test_an_empty_key_file_is_an_error_not_an_empty_key(tmp_path):
    (tmp_path / seal.KEY_FILE).write_text("", encoding="ascii")
    with pytest.raises(OSError, match="is empty"):
        seal.evidence_key(tmp_path / "evidence")
