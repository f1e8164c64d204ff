"""Fetch real piano performances for tests and benchmarks: the ten MAESTRO performances
(velocity and sustain pedal throughout) that miditok 3.1.0's source archive carries in
``tests/MIDIs_one_track/Maestro_*.mid``. MAESTRO is CC BY-NC-SA 4.0: fetched, never committed.

    python scripts/maestro.py [DEST]    # prints the folder; default ~/.cache/tunesmith/maestro

Needs only a package index (pip download). Safe to run again: a complete folder is kept.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "miditok==3.1.0"
FILES = [f"Maestro_{i}.mid" for i in range(1, 11)]
DEFAULT = Path.home() / ".cache" / "tunesmith" / "maestro"


def fetch(dest: Path = DEFAULT) -> Path:
    """The folder ``dest`` holding the ten performances, fetched if it does not yet."""
    if all((dest / f).is_file() for f in FILES):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "miditok"]
        subprocess.run([*pip, "-q", "-d", tmp, PACKAGE], check=True)
        (archive,) = Path(tmp).glob("miditok-*.tar.gz")
        staged = Path(tmp) / "maestro"
        staged.mkdir()
        with tarfile.open(archive) as tar:
            for m in tar.getmembers():
                if m.isfile() and Path(m.name).name in FILES and "MIDIs_one_track" in m.name:
                    source = tar.extractfile(m)
                    assert source is not None
                    (staged / Path(m.name).name).write_bytes(source.read())
        missing = [f for f in FILES if not (staged / f).is_file()]
        if missing:
            raise SystemExit(f"{archive.name} lacks {missing}")
        shutil.rmtree(dest, ignore_errors=True)
        staged.rename(dest)  # whole or not at all
    return dest


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
