"""Repository.add_events: events of a running run stored one batch at a time (`crosswatch watch`).

Each test runs on SQLite and on PostgreSQL (see conftest.py); the helpers are the ones of
test_repository.py, so a run here is set up exactly as there.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from test_repository import T0, event, finish, new_run, table_counts

from service.run_records import CountRecord, EvidenceRecord, RunAlreadyDone, RunStateError


@pytest.mark.parametrize(
    ("batches", "stored_keys", "added_per_batch"),
    [
        ([["a"], ["b"], ["c"]], ["a", "b", "c"], [1, 1, 1]),
        ([["a", "b"], ["b", "c"]], ["a", "b", "c"], [2, 1]),  # a retried batch: the stored key is skipped
        ([["a"], ["a"], ["a"]], ["a"], [1, 0, 0]),  # the same write three times (lost acknowledgements)
        ([[]], [], [0]),
    ],
    ids=["one-by-one", "overlapping-retry", "same-thrice", "empty"],
)
def test_add_events_is_incremental_and_idempotent(repo, batches, stored_keys, added_per_batch):
    run_id, _ = new_run(repo)
    added = []
    for batch in batches:
        got = repo.add_events(run_id, [event(k, t=float(i + 1)) for i, k in enumerate(batch)])
        assert all(len(uid) == 32 for uid in got.values())
        added.append(len(got))
    assert added == added_per_batch
    rows = repo.run_events(run_id)
    assert sorted(r.event_key for r in rows) == stored_keys
    assert len({r.uid for r in rows}) == len(rows)
    assert repo.get_run(run_id).status == "running"  # still live: finish_run ends it


def test_add_events_are_visible_at_once_and_finish_keeps_them(repo):
    run_id, _ = new_run(repo)
    uids = repo.add_events(run_id, [event("red_light-3-90", t=3.0, n_evidence=3)])
    assert repo.count_events(run_id=run_id) == 1  # readable before the run ends
    (row,) = repo.run_events(run_id)
    assert row.uid == uids["red_light-3-90"] and len(row.evidence) == 3
    assert row.occurred_at == T0 + timedelta(seconds=3.0)
    repo.add_counts(run_id, [CountRecord("north", "car", 0, 2)])

    finish(repo, run_id, [event("wrong_way-4-200", t=6.0, type="wrong_way")], [CountRecord("north", "car", 0, 1)])
    assert [r.event_key for r in repo.run_events(run_id)] == ["red_light-3-90", "wrong_way-4-200"]
    assert [c.count for c in repo.run_counts(run_id)] == [3]
    assert table_counts(repo.engine)["evidence_files"] == 3 + 2


def test_add_events_occurred_at_override_is_kept(repo):
    run_id, _ = new_run(repo)
    wall = T0 + timedelta(hours=2, milliseconds=250)
    repo.add_events(run_id, [event("k", t=7200.25, occurred_at=wall)])
    assert repo.run_events(run_id)[0].occurred_at == wall


@pytest.mark.parametrize(
    ("state", "error"),
    [("done", RunAlreadyDone), ("failed", RunStateError), ("missing", LookupError)],
)
def test_add_events_needs_a_running_run(repo, state, error):
    run_id, _ = new_run(repo)
    if state == "done":
        finish(repo, run_id)
    elif state == "failed":
        repo.fail_run(run_id, "stream gone")
    else:
        run_id += 1000
    with pytest.raises(error):
        repo.add_events(run_id, [event("k")])
    assert table_counts(repo.engine)["events"] == 0


@pytest.mark.parametrize(
    ("events", "error"),
    [
        ([event("k1"), event("k1", t=2.0)], ValueError),  # two events with one key in one call
        (
            [event("k1"), event("k2", evidence=[EvidenceRecord("clip", "k2/clip.mp4", None, 1, "video/mp4")])],
            IntegrityError,
        ),  # a broken evidence row: the whole batch is rolled back
    ],
    ids=["duplicate-key-in-batch", "bad-evidence-row"],
)
def test_add_events_batch_is_all_or_nothing(repo, events, error):
    run_id, _ = new_run(repo)
    with pytest.raises(error):
        repo.add_events(run_id, events)
    assert table_counts(repo.engine)["events"] == 0
    assert repo.add_events(run_id, [event("k1")]).keys() == {"k1"}  # and the run is still usable
