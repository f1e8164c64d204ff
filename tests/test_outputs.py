"""Output folders as users meet them: an earlier run is never overwritten unasked and is
replaced whole when asked, a killed run leaves no temp files behind once the next one runs,
and what is published has the usual permissions."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
import torch

from helpers import popen, tunesmith
from tunesmith.checkpoint import Record, save_checkpoint
from tunesmith.config import CodecConfig, ComposerConfig, WindowConfig
from tunesmith.data.codec import Codec
from tunesmith.data.prepare import prepare
from tunesmith.models.composer import Composer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def composer(tmp_path_factory) -> Path:
    """A small Composer checkpoint written by tunesmith (untrained: the files are the point)."""
    path = tmp_path_factory.mktemp("composer") / "ckpt"
    codec = Codec(CodecConfig())
    config = ComposerConfig(embedding=16, hidden=32, layers=1, dropout=0.0)
    torch.manual_seed(0)
    record = Record("composer", config, codec.config, WindowConfig(length=64, stride=32))
    save_checkpoint(path, Composer(config, codec.vocab_size), record, None)
    return path


def compose(composer: Path, out: Path, *more: str):
    return tunesmith("compose", "--checkpoint", composer, "--length", "60", "--out", out, *more)


def test_an_earlier_run_is_kept_unless_overwrite_then_replaced_whole(composer, tmp_path):
    out = tmp_path / "pieces"
    assert compose(composer, out, "--n", "12").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(before) == 12

    refused = compose(composer, out, "--n", "3", "--seed", "1")
    assert refused.returncode == 2
    assert "holds an earlier run; use --overwrite" in refused.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    replaced = compose(composer, out, "--n", "3", "--seed", "1", "--overwrite", "--json")
    assert replaced.returncode == 0, replaced.stderr
    files = [Path(f["file"]) for f in json.loads(replaced.stdout)["files"]]
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in files)
    assert all(f.parent == out for f in files)
    assert len(files) == 3  # piece_004 ... piece_012 of the earlier run are gone
    assert [p.name for p in tmp_path.iterdir()] == ["pieces"]  # and no temp folder is left


def test_a_killed_compose_leaves_nothing_once_the_next_one_runs(composer, tmp_path):
    out = tmp_path / "pieces"
    child = popen(
        "compose", "--checkpoint", composer, "--n", "400", "--length", "200000", "--out", out
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".pieces.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    child.kill()  # SIGKILL: no handler runs, the temp folder stays
    child.wait()
    left = list(tmp_path.glob(".pieces.*.tmp"))
    assert left, "the killed compose never made its temp folder"
    assert not out.exists()

    assert compose(composer, out, "--n", "2").returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["pieces"]


def test_published_runs_and_caches_have_the_usual_permissions(composer, tmp_path, bach_midi_dir):
    old = os.umask(0o022)
    try:
        out = tmp_path / "pieces"
        assert compose(composer, out, "--n", "2").returncode == 0
        cache = prepare(midi_dir=bach_midi_dir, cache_dir=tmp_path / "cache").cache
        ckpt = tmp_path / "ckpt"
        config = ComposerConfig(hidden=8, embedding=8)
        record = Record("composer", config, CodecConfig())
        save_checkpoint(ckpt, Composer(config, Codec(CodecConfig()).vocab_size), record, None)
    finally:
        os.umask(old)
    for folder in (out, cache.path, ckpt):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
        for f in folder.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
