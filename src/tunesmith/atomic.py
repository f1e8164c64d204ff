"""Atomic writes: an output is either the old file, the new file, or absent, never half-written.

Temporary files and folders are made beside their target and named ``.{target}.{pid}.*.tmp``;
one left by a killed process (its pid no longer running) is removed by the next write to the
same target, so an interrupted run leaves nothing behind for long.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tunesmith.errors import OutputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    remove_stale(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp makes the file private (0600); give it the permissions of a plainly made one.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json_text(obj, indent=1, sort_keys=True) + "\n").encode())


def json_text(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON (what any parser reads): NaN and infinities become null."""
    return json.dumps(finite(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (numpy's float64 too) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def temp_dir_beside(path: Path) -> Path:
    """A fresh directory next to ``path`` to build into before :func:`publish_dir`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=_prefix(path), suffix=".tmp"))


def publish_dir(tmp: Path, path: Path) -> None:
    """Rename a finished directory into place, replacing any old one at ``path``. Everything
    in it gets the permissions the umask gives (some writers, safetensors among them, make
    private files: a shared run must be readable by the group's other users)."""
    mask = _umask()
    for folder, _, files in os.walk(tmp):
        os.chmod(folder, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666 & ~mask)
    if path.exists():
        trash = Path(tempfile.mkdtemp(dir=path.parent, prefix=_prefix(path), suffix=".tmp"))
        os.replace(path, trash / "old")
        os.replace(tmp, path)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, path)


def usable_dir(path: str | os.PathLike) -> Path:
    """``path`` as a folder to write into, made if missing; a one-line :class:`OutputError`
    before any work if it is a file or cannot be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot write there ({e.strerror or e})") from e
    return path


@contextmanager
def output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """A run's output folder, built whole: yields a temp folder beside ``path`` that replaces
    ``path`` when the block ends, or vanishes if it fails. A non-empty ``path`` is an
    :class:`OutputError` unless ``overwrite``; then the earlier run goes as a whole."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder")
    try:
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise OutputError(f"{path}: holds an earlier run; use --overwrite to replace it")
        tmp = temp_dir_beside(path)
    except OSError as e:
        raise OutputError(f"{path}: cannot write there ({e.strerror or e})") from e
    try:
        yield tmp
        publish_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def remove_stale(path: Path) -> None:
    """Remove temp files and folders of ``path`` left by processes that no longer run."""
    try:
        entries = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(True)


def running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
