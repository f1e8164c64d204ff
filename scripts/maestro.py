"""Fetch real music for tests and benchmarks from miditok 3.1.0's source archive: the ten MAESTRO
performances (velocity and sustain pedal throughout) in ``tests/MIDIs_one_track/Maestro_*.mid``,
and with ``--lakh`` two songs of the Lakh MIDI dataset (multi-track General MIDI with drums) from
``tests/MIDIs_multitrack/``. MAESTRO is CC BY-NC-SA 4.0: fetched, never committed.

    python scripts/maestro.py [DEST]         # prints the folder; default ~/.cache/tunesmith/maestro
    python scripts/maestro.py --lakh [DEST]  # default ~/.cache/tunesmith/lakh

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
LAKH = ["d6caebd1964d9e4a3c5ea59525230e2a.mid", "d8faddb8596fff7abb24d78666f73e4e.mid"]
DEFAULT = Path.home() / ".cache" / "tunesmith" / "maestro"
DEFAULT_LAKH = DEFAULT.with_name("lakh")


def fetch(dest: Path = DEFAULT, lakh: bool = False) -> Path:
    """The folder ``dest`` holding the ten performances (or the two Lakh songs), fetched if it
    does not yet."""
    files, folder = (LAKH, "MIDIs_multitrack") if lakh else (FILES, "MIDIs_one_track")
    if all((dest / f).is_file() for f in files):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "miditok"]
        subprocess.run([*pip, "-q", "-d", tmp, PACKAGE], check=True)
        (archive,) = Path(tmp).glob("miditok-*.tar.gz")
        staged = Path(tmp) / "staged"
        staged.mkdir()
        with tarfile.open(archive) as tar:
            for m in tar.getmembers():
                if m.isfile() and Path(m.name).name in files and folder in m.name:
                    source = tar.extractfile(m)
                    assert source is not None
                    (staged / Path(m.name).name).write_bytes(source.read())
        missing = [f for f in files if not (staged / f).is_file()]
        if missing:
            raise SystemExit(f"{archive.name} lacks {missing}")
        shutil.rmtree(dest, ignore_errors=True)
        staged.rename(dest)  # whole or not at all
    return dest


if __name__ == "__main__":
    args = sys.argv[1:]
    lakh = "--lakh" in args
    args = [a for a in args if a != "--lakh"]
    print(fetch(Path(args[0]) if args else DEFAULT_LAKH if lakh else DEFAULT, lakh))
