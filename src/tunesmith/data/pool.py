"""Worker processes that outlive their inputs: a task that crashes its worker outright or runs
past a time limit comes back as a failure with a reason, the worker is replaced, and the other
tasks go on.

Each worker is handed up to ``DEPTH`` tasks at a time, so it never waits for the parent, and
works through them in order: when one dies or hangs, the task at the head of its queue is the
culprit and the rest are handed out again. Workers start from a fork server (a clean process
that imported the data modules once), never by forking a parent that may be running torch's
threads.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from tunesmith.errors import WorkerError

DEPTH = 2  # tasks in a worker's hands at once
READY = (-1, None, None)  # a worker's first message: started up
STARTUP = 120.0  # seconds a worker may take to start up, whatever the time limit


@dataclass
class Outcome:
    """What became of task ``index``: its ``value``, or why it has none (``error``)."""

    index: int
    value: Any = None
    error: str | None = None
    lost: bool = False  # the worker crashed or hung: the task may pass another time


@dataclass
class _Worker:
    process: Any
    conn: Connection
    queue: deque = field(default_factory=deque)  # (index, item), oldest first
    since: float = 0.0  # when the task at the head of the queue became the head
    ready: bool = False  # started up: the time limit counts from then


def _context():
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["tunesmith.data.prepare"])
    return ctx


def _serve(conn: Connection, fn: Callable[[Any], Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn.send(READY)
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        index, item = task
        try:
            conn.send((index, fn(item), None))
        except Exception as e:  # a bug or an odd input: the task fails, the worker goes on
            conn.send((index, None, f"{type(e).__name__}: {e}".splitlines()[0]))


def run_tasks(
    fn: Callable[[Any], Any], items: Iterable[Any], workers: int, timeout: float
) -> Iterator[Outcome]:
    """``fn(item)`` for every item in ``workers`` processes, outcomes in the order they finish.

    ``fn`` must be importable (a module-level function or a ``functools.partial`` of one). A
    task still running after ``timeout`` seconds has its worker killed.
    """
    ctx = _context()
    pending: deque = deque(enumerate(items))
    pool: list[_Worker] = []

    def start() -> _Worker:
        here, there = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(there, fn), daemon=True)
        process.start()
        there.close()
        return _Worker(process, here)

    def feed(w: _Worker) -> None:
        while pending and len(w.queue) < DEPTH:
            task = pending.popleft()
            if not w.queue:
                w.since = time.monotonic()
            w.queue.append(task)
            try:
                w.conn.send(task)
            except OSError:
                return  # it died: the wait below sees it and hands its tasks out again

    def retire(w: _Worker, why: str) -> Outcome:
        """The worker is dead or hung: its head task failed, the rest go back to the front."""
        w.process.kill()
        w.process.join()
        w.conn.close()
        index, _ = w.queue.popleft()
        pending.extendleft(reversed(w.queue))
        pool[pool.index(w)] = start()
        return Outcome(index, error=why, lost=True)

    try:
        pool.extend(start() for _ in range(max(1, min(workers, len(pending)))))
        for w in pool:
            feed(w)
        while any(w.queue for w in pool):
            now = time.monotonic()
            busy = [w for w in pool if w.queue]
            left = min(w.since + (timeout if w.ready else STARTUP) - now for w in busy)
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], max(left, 0))
            for w in busy:
                done = []
                try:
                    while w.queue and w.conn.poll():
                        index, value, error = w.conn.recv()
                        w.since = time.monotonic()
                        if index == READY[0]:
                            w.ready = True
                            continue
                        w.queue.popleft()
                        done.append(Outcome(index, value, error))
                except (EOFError, OSError):
                    pass  # died mid-way: what it finished is in done, the rest below
                yield from done
                if w.queue and w.process.sentinel in ready and not w.process.is_alive():
                    code = w.process.exitcode
                    how = f"signal {-code}" if code and code < 0 else f"exit code {code}"
                    if not w.ready:  # no file's fault, and every new worker would die alike
                        raise WorkerError(
                            f"a worker process exited before it started ({how}); worker "
                            "processes import the main script, so a script that reads MIDI "
                            "through tunesmith must do it under `if __name__ == '__main__':`"
                        )
                    yield retire(w, f"crashed its worker process ({how})")
                elif w.queue and time.monotonic() - w.since > (timeout if w.ready else STARTUP):
                    if w.ready:
                        yield retire(w, f"timed out (still running after {timeout:g} s)")
                    else:
                        yield retire(w, f"timed out (its worker did not start in {STARTUP:g} s)")
            for w in pool:
                feed(w)
    finally:
        for w in pool:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in pool:
            w.process.join(timeout=1)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
