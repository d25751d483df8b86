"""Stand-ins for `service.runs.tasks.execute_task` in the jobs worker's child process (imported
there by name): the video's name says what the child does."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from service.runs.executors import Report
from service.runs.tasks import Task, TaskResult

PID_FILE_ENV = "CROSSWATCH_TEST_FAKE_PID"


def fake_task(task: Task, report: Report) -> TaskResult:
    name = Path(task.path).name
    if name == "error.mp4":  # a bad file: a failed result with the reason
        return TaskResult("failed", f"{task.path}: empty file (0 bytes)")
    if name == "crash.mp4":  # the task raises
        raise RuntimeError("decoder exploded")
    if name == "kill.mp4":  # the child dies (a decoder's SIGSEGV would do the same)
        os.kill(os.getpid(), signal.SIGKILL)
    Path(os.environ[PID_FILE_ENV]).write_text(str(os.getpid()))
    report("started", {"duration_s": 60.0, "sha256": None})
    report("progress", 0.25)
    time.sleep(60)
    return TaskResult("done", run_id=None, events=0)
