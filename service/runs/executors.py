"""Where `crosswatch batch` runs its videos: a local pool of child processes, or Ray.

Both executors run one function, `target(payload, report) -> result`, on one payload at a time per
worker, and hand the runner `Message`s as they happen:

- ``progress`` / ``started``: whatever the target passed to ``report(kind, value)``;
- ``result``: the target returned (its value);
- ``crashed``: the worker died or raised (the value is one line for a person).

`LocalExecutor` keeps up to N long-lived child processes (spawned, not forked: the runner has
threads and database connections that must not be copied). Each child loads the pipeline's
imports and model code once and then takes one video at a time over its own pipe, so a decoder
that crashes (SIGSEGV, abort) kills only that child: the runner sees the pipe close, reports the
video as crashed and starts a fresh child for the next one. Children ask the kernel to SIGKILL
them when the runner dies (Linux `PR_SET_PDEATHSIG`), so a runner killed with SIGKILL leaves no
child behind to finish a video that the restarted runner is processing again.

`RayExecutor` submits one Ray task per video (`ray.init()` locally, or to the cluster at
`address`); progress comes back through a small Ray queue actor. `ray` is imported only here,
only when a RayExecutor is made, so the local executor needs no Ray installed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, cast

Report = Callable[[str, Any], None]
Target = Callable[[Any, Report], Any]
Init = Callable[[], None]

_PR_SET_PDEATHSIG = 1
JOIN_S = 5.0  # how long shutdown() waits for an idle child to exit before killing it


@dataclass(frozen=True, slots=True)
class Message:
    key: str  # the key the payload was submitted with
    kind: str  # started | progress | result | crashed (or any kind the target reports)
    value: Any


class Executor(Protocol):
    """What the batch runner needs from an executor."""

    capacity: int  # videos that may be in flight at once

    def submit(self, key: str, payload: Any) -> None: ...

    def poll(self, timeout: float) -> list[Message]: ...

    def cancel(self, key: str) -> None: ...

    def shutdown(self) -> None: ...


def describe_exit(exitcode: int | None) -> str:
    """'killed by signal 11 (SIGSEGV)' / 'exit status 3': why a child process ended."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-exitcode} ({name})"
    return f"exit status {exitcode}"


# -- local process pool --------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit now if it already has."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        try:
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the runner kills children on normal exits only
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(conn: Connection, parent_pid: int, target: Target, init: Init | None) -> None:
    """A pool child: run `init` once, then one payload at a time until told to stop (None)."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    if init is not None:
        init()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        key, payload = job

        def report(kind: str, value: Any, _key: str = key) -> None:
            conn.send(Message(_key, kind, value))

        try:
            result = target(payload, report)
        except BaseException as e:  # noqa: BLE001 - any failure of one video is that video's, not the pool's
            conn.send(Message(key, "crashed", f"{type(e).__name__}: {e}"))
            continue
        conn.send(Message(key, "result", result))


@dataclass
class _Child:
    proc: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    key: str | None = None  # what it is working on


class LocalExecutor:
    """Up to `workers` child processes, each running `target` on one payload at a time."""

    def __init__(self, target: Target, workers: int, *, init: Init | None = None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.capacity = workers
        self._target, self._init = target, init
        self._ctx = mp.get_context("spawn")
        self._children: list[_Child] = []

    def _spawn(self) -> _Child:
        mine, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_child_main,
            args=(theirs, os.getpid(), self._target, self._init),
            name="crosswatch-batch-worker",
            daemon=True,
        )
        proc.start()
        theirs.close()
        child = _Child(proc, mine)
        self._children.append(child)
        return child

    def busy(self) -> int:
        return sum(c.key is not None for c in self._children)

    def submit(self, key: str, payload: Any) -> None:
        for dead in [c for c in self._children if c.key is None and not c.proc.is_alive()]:
            self._discard(dead)  # died after its last result: never hand it a video
        child = next((c for c in self._children if c.key is None), None)
        if child is None:
            if len(self._children) >= self.capacity:
                raise RuntimeError("every worker is busy: submit after a result")
            child = self._spawn()
        child.key = key
        try:
            child.conn.send((key, payload))
        except (BrokenPipeError, OSError):  # it died while idle: poll() reports the video as crashed
            pass

    def poll(self, timeout: float) -> list[Message]:
        """Messages that arrived within `timeout` seconds (at least one, unless none came)."""
        busy = [c for c in self._children if c.key is not None]
        if not busy:
            return []
        wait([c.conn for c in busy] + [c.proc.sentinel for c in busy], timeout)
        out: list[Message] = []
        for child in busy:
            out.extend(self._drain(child))
        return out

    def _drain(self, child: _Child) -> list[Message]:
        out: list[Message] = []
        closed = False
        try:
            while child.conn.poll():
                msg = child.conn.recv()
                out.append(msg)
                if msg.kind in ("result", "crashed"):
                    child.key = None
        except (EOFError, OSError):
            closed = True
        if child.key is not None and (closed or not child.proc.is_alive()):
            child.proc.join(1.0)
            why = describe_exit(child.proc.exitcode)
            out.append(Message(child.key, "crashed", f"the processing child died: {why}"))
            self._discard(child)
        return out

    def cancel(self, key: str) -> None:
        """Kill the child working on `key` (a fresh one takes the next video)."""
        for child in [c for c in self._children if c.key == key]:
            child.proc.kill()
            child.proc.join(JOIN_S)
            self._discard(child)

    def _discard(self, child: _Child) -> None:
        child.key = None
        child.conn.close()
        if child in self._children:
            self._children.remove(child)

    def shutdown(self) -> None:
        """Idle children exit; busy ones (an interrupted batch) are killed."""
        for child in self._children:
            if child.key is None:
                try:
                    child.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
            else:
                child.proc.kill()
        for child in list(self._children):
            child.proc.join(JOIN_S)
            if child.proc.is_alive():
                child.proc.kill()
                child.proc.join(JOIN_S)
            self._discard(child)


# -- Ray -----------------------------------------------------------------------------------------
_ray_init_done = False


def _ray_entry(target: Target, init: Init | None, key: str, payload: Any, queue: Any) -> Any:
    """Body of the Ray task: `init` once per Ray worker process, then the target, whose reports
    go to the runner through the queue actor (dropped if the queue is gone: progress is optional)."""
    global _ray_init_done
    if init is not None and not _ray_init_done:
        init()
        _ray_init_done = True

    def report(kind: str, value: Any) -> None:
        try:
            queue.put_nowait(Message(key, kind, value))
        except Exception:  # noqa: BLE001 - a full or lost queue must not fail the video
            pass

    return target(payload, report)


class RayExecutor:
    """One Ray task per video. Without `address`, a local Ray instance with `workers` CPUs is
    started (and shut down at the end); with one, the cluster there is used as it is."""

    def __init__(
        self,
        target: Target,
        workers: int | None,
        *,
        address: str | None = None,
        init: Init | None = None,
        runtime_env: dict[str, Any] | None = None,
        max_retries: int = 1,
    ):
        import ray
        from ray.util.queue import Queue

        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            opts: dict[str, Any] = dict(
                include_dashboard=False, log_to_driver=False, configure_logging=False, runtime_env=runtime_env
            )
            if address:
                ray.init(address=address, **opts)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, **opts)
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self._queue = Queue(actor_options={"num_cpus": 0})
        except BaseException:
            if self._owns:
                ray.shutdown()
            raise
        self.capacity = max(1, workers or cpus)
        self._target, self._init = target, init
        # max_retries: a lost node is retried; a video that crashes its worker fails after that.
        self._task = ray.remote(num_cpus=1, max_retries=max_retries)(_ray_entry)
        self._refs: dict[Any, str] = {}
        self._closed = False

    def submit(self, key: str, payload: Any) -> None:
        ref = self._task.remote(self._target, self._init, key, payload, self._queue)
        self._refs[ref] = key

    def _drain_queue(self) -> list[Message]:
        n = self._queue.qsize()
        return list(self._queue.get_nowait_batch(n)) if n else []

    def poll(self, timeout: float) -> list[Message]:
        out = self._drain_queue()
        if not self._refs:
            return out
        refs = list(self._refs)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=0 if out else timeout)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        out.extend(self._drain_queue())  # reports sent before a result come before it
        for ref in ready:
            key = self._refs.pop(ref)
            try:
                out.append(Message(key, "result", self._ray.get(ref)))
            except self._ray.exceptions.RayError as e:
                out.append(Message(key, "crashed", _ray_reason(e)))
        return out

    def cancel(self, key: str) -> None:
        for ref, k in list(self._refs.items()):
            if k == key:
                self._ray.cancel(ref, force=True)
                del self._refs[ref]

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ref in list(self._refs):
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        try:
            self._ray.kill(cast(Any, self._queue.actor))
        except Exception:  # noqa: BLE001 - already gone
            pass
        if self._owns:
            self._ray.shutdown()


def _ray_reason(e: BaseException) -> str:
    """One line from a Ray error: the task's own exception when it raised, else what happened."""
    cause = getattr(e, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}".splitlines()[0][:500]
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}"[:500]
