"""A stand-in for `service.runs.tasks.execute_task` in the jobs worker's child (imported there by name)."""

from __future__ import annotations

import os

from service.runs.executors import Report
from service.runs.tasks import Task, TaskResult


def reading_task(task: Task, report: Report) -> TaskResult:
    """Reads the video it is handed (as the real task would) and logs its real path and bytes to
    $FAKE_OUT; fails with how many bytes it read, so a test sees whether it ran."""
    with open(task.path, "rb") as f:
        data = f.read()
    with open(os.environ["FAKE_OUT"], "ab") as out:
        out.write(os.path.realpath(task.path).encode() + b"\t" + data + b"\n")
    return TaskResult("failed", f"fake child read {len(data)} bytes")
