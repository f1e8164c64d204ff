"""Helpers for tests that run tunesmith as a user does: real processes, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Tiny settings that train in seconds on two cores; the cache dir keeps test caches apart.
TINY_COMPOSER = ["--embedding", "16", "--hidden", "32", "--layers", "2", "--dropout", "0"]


def env(**extra: str) -> dict[str, str]:
    """The environment for a child process: one thread each, so parallel ranks do not fight."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def tunesmith(*args: str | Path, cwd: Path | None = None, timeout: float = 300):
    """Run ``python -m tunesmith ARGS`` and return the completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "tunesmith", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env(),
        timeout=timeout,
    )


def popen(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tunesmith", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )


def crash_hang_or_double(item: str) -> int:
    """A task for the worker pool: "crash" kills its own process (SIGSEGV, as a parser bug
    would), "hang" never returns, "fail" raises, a number comes back doubled."""
    import signal
    import time

    if item == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if item == "hang":
        time.sleep(3600)
    if item == "fail":
        raise ValueError("not a number")
    return 2 * int(item)


def all_tokens(cache):
    """Every piece's tokens, in the cache's piece order, as one array."""
    import numpy as np

    return np.concatenate([cache.piece_tokens(p) for p in cache.pieces])
