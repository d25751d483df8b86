"""Exactly once under SIGKILL: the batch runner (a real child process, with its worker pool) is
killed at random moments and restarted; the final database must hold exactly the runs, events,
counts and evidence of one clean run, with no orphan evidence file (`scripts/kill_restart.py`'s
functions, with the pixel detector of test_batch and 3 kills instead of 10).

Run as a script, this file is that runner: `python tests/test_batch_kill.py BATCH-ARGS...` is
`crosswatch batch BATCH-ARGS...` with the pixel detector in every worker.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

KILLS = 3
SEED_ENV = "CROSSWATCH_KILL_SEED"  # replay a failure with the seed its message names


def _kill_restart_module():
    spec = importlib.util.spec_from_file_location("kill_restart", ROOT / "scripts" / "kill_restart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_restart"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_sigkill_at_random_points_then_restart_gives_one_clean_run(tmp_path):
    import pytest

    pytest.importorskip("av")
    import test_batch as tb
    from sqlalchemy import select

    from service.models import JobItemRow, JobRow

    tb.need_font()
    kr = _kill_restart_module()
    goods = [tb.make_clip(tmp_path / "in" / f"CAM{i:02d}_20260301_08{i:02d}00.mp4", 40 + 9 * i) for i in range(6)]
    bads = dict(make(tmp_path / "in") for make in (tb.bad_zero_bytes, tb.bad_text))
    crossing = tb.write_crossing(tmp_path / "synthetic.crossing.yaml")
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(1 << 30))
    lines: list[str] = []
    report = kr.kill_restart(
        [sys.executable, __file__],
        [str(tmp_path / "in")],
        ["--crossing", str(crossing)],
        tmp_path,
        kills=KILLS,
        rng=random.Random(seed),
        min_s=1.0,
        max_s=None,
        max_share=0.34,
        extra=["--workers", "2", "--device", "cpu", "--timezone", "+08:00"],
        say=lines.append,
    )
    why = f"seed {seed} ({SEED_ENV}={seed} replays it): " + "; ".join(lines + report.differences + report.evidence)
    assert report.reference_exit == 3, why  # the two bad files
    assert report.kills == KILLS, why
    assert report.final_exit == 3, why
    assert not report.differences, why
    assert report.evidence_ok, why
    assert (report.runs, report.events) == (len(goods), len(goods)), why

    engine = tb._engine(f"sqlite:///{tmp_path / 'killed.db'}")
    with engine.connect() as c:
        jobs = c.execute(select(JobRow.id, JobRow.status, JobRow.created_by)).all()
        items = c.execute(select(JobItemRow.path, JobItemRow.status, JobItemRow.error)).all()
    engine.dispose()
    assert [(j[1], j[2]) for j in jobs] == [("partial", "batch")], why  # one job, reopened after every kill
    assert sorted(i[0] for i in items) == sorted(map(str, [*goods, *bads])), why
    assert {i[0]: i[1] for i in items} == {**{str(g): "done" for g in goods}, **{str(b): "failed" for b in bads}}, why


def test_sigterm_stops_the_batch_and_leaves_a_clean_state(tmp_path):
    """SIGTERM (like Ctrl-C): the runner kills its workers, marks the job and its unfinished items
    cancelled ("run the same command again") and exits 130; no orphan evidence, nothing running."""
    import subprocess
    import time

    import pytest

    pytest.importorskip("av")
    import test_batch as tb
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from service.models import JobItemRow, JobRow
    from service.runs import batch

    tb.need_font()
    for i in range(4):
        tb.make_clip(tmp_path / "in" / f"v{i}.mp4", 50 + 10 * i)
    crossing = tb.write_crossing(tmp_path / "c.yaml")
    db = f"sqlite:///{tmp_path / 'cw.db'}"
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            str(tmp_path / "in"),
            "--crossing",
            str(crossing),
            "--db",
            db,
            "--evidence-dir",
            str(tmp_path / "evidence"),
            "--workers",
            "1",
            "--device",
            "cpu",
        ],
        env={**os.environ, SLOW_ENV: "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        engine = tb._engine(db)
        deadline, running = time.monotonic() + 60, []
        while not running:
            assert time.monotonic() < deadline and proc.poll() is None, "no video started"
            time.sleep(0.2)
            try:
                with engine.connect() as c:
                    running = c.execute(
                        select(JobItemRow.id).where(JobItemRow.status == "running", JobItemRow.progress > 0)
                    ).all()  # mid-video
            except OperationalError:  # tables not there yet
                pass
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert rc == batch.EXIT_INTERRUPTED, output
    assert "batch interrupted" in output
    with engine.connect() as c:
        job = c.execute(select(JobRow.status, JobRow.error)).one()
        items = c.execute(select(JobItemRow.status, JobItemRow.error)).all()
    check = batch.check_evidence(engine, tmp_path / "evidence")
    engine.dispose()
    assert job[0] == "cancelled" and "run the same command again" in job[1]
    assert {st for st, _ in items} <= {"done", "cancelled"} and any(st == "cancelled" for st, _ in items), items
    assert check.ok, check.lines()


SLOW_ENV = "CROSSWATCH_TEST_SLOW_DETECTOR"

if __name__ == "__main__":  # the batch runner with the pixel detector (see the module docstring)
    import test_batch

    from service.cli import batch as batch_cli

    init = (
        test_batch.install_slow_scripted_detector if os.environ.get(SLOW_ENV) else test_batch.install_scripted_detector
    )
    sys.exit(batch_cli.main(sys.argv[1:], worker_init=init))
