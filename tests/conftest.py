"""Shared fixtures: real Bach chorales from music21's bundled corpus, converted to MIDI once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tunesmith.data.corpus import convert_scores, corpus_source

# Under pytest-xdist each worker is a process: share the cores out, or every worker's OpenMP
# threads spin against the others' (measured on 2 cores: steps a hundred times slower).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))

# A fixed handful of chorales (ids are music21 corpus file names), chosen for variety in length.
CHORALES = (
    "bwv1.6.mxl",
    "bwv10.7.mxl",
    "bwv11.6.mxl",
    "bwv13.6.mxl",
    "bwv14.5.mxl",
    "bwv16.6.mxl",
    "bwv17.7.mxl",
    "bwv18.5-lz.mxl",
)


@pytest.fixture(scope="session")
def bach_midi_dir(tmp_path_factory) -> Path:
    """A folder of eight real chorales as MIDI files, written by music21's MIDI writer."""
    cache = tmp_path_factory.mktemp("m21cache")
    source = corpus_source("bach", cache)
    source.files = [f for f in source.files if f.id in CHORALES]
    assert len(source.files) == len(CHORALES)
    failed = convert_scores(source, workers=1)
    assert not failed
    out = tmp_path_factory.mktemp("bach_midi")
    for f in source.files:
        shutil.copy(f.path, out / (Path(f.id).stem + ".mid"))
    return out


@pytest.fixture(scope="session")
def bach_midi_files(bach_midi_dir) -> list[Path]:
    return sorted(bach_midi_dir.glob("*.mid"))


@pytest.fixture(scope="session")
def bach_cache(bach_midi_dir, tmp_path_factory):
    """The eight chorales prepared as a token cache: 6 train, 1 valid, 1 test pieces."""
    from tunesmith.data.prepare import prepare

    return prepare(midi_dir=bach_midi_dir, cache_dir=tmp_path_factory.mktemp("cache")).cache


@pytest.fixture(scope="session")
def maestro_midi_dir() -> Path:
    """Ten real MAESTRO piano performances (velocity, sustain pedal), fetched once per machine by
    scripts/maestro.py from miditok's source archive on the package index."""
    script = Path(__file__).parents[1] / "scripts" / "maestro.py"
    done = subprocess.run([sys.executable, str(script)], check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def maestro_cache(maestro_midi_dir, tmp_path_factory):
    """The ten performances prepared as a token cache."""
    from tunesmith.data.prepare import prepare

    return prepare(midi_dir=maestro_midi_dir, cache_dir=tmp_path_factory.mktemp("mcache")).cache
