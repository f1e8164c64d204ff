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
