"""Preparing a corpus in shards through a worker pool: one worker or many give the same cache, a
real prepare killed with SIGKILL resumes from its shards, added or changed files are the only ones
read again, files that crash or hang their reader are skipped, multi-track songs with drums (two
real Lakh MIDI files) keep their other tracks, and validation reads a fixed sample of a large
split and says so."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from symusic import Score

from helpers import TINY_COMPOSER, all_tokens, crash_hang_or_double, tunesmith
from tunesmith.config import ReadConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.midi import write_midi
from tunesmith.data.notes import Notes
from tunesmith.data.pool import run_tasks
from tunesmith.data.prepare import prepare
from tunesmith.training.loop import long_epoch_interval

SMALL_SHARDS = 2_000  # tokens: a shard every few chorales


@pytest.fixture
def many(tmp_path, bach_midi_files) -> Path:
    """48 files: the 8 chorales under 6 names each (distinct pieces to the cache)."""
    d = tmp_path / "many"
    d.mkdir()
    for k in range(6):
        for p in bach_midi_files:
            shutil.copy(p, d / f"{k}-{p.name}")
    return d


def _same_cache(a: TokenCache, b: TokenCache) -> None:
    """The same pieces with the same tokens, splits and everything else the manifest says, but
    when it was made and where each piece's tokens lie (which worker's shard read it)."""
    assert np.array_equal(all_tokens(a), all_tokens(b))
    layout = {"created", "files", "pieces_digest", "pieces"}
    assert {k: v for k, v in a.manifest.items() if k not in layout} == {
        k: v for k, v in b.manifest.items() if k not in layout
    }
    where = {"file", "offset"}
    assert [{k: v for k, v in p.items() if k not in where} for p in a.manifest["pieces"]] == [
        {k: v for k, v in p.items() if k not in where} for p in b.manifest["pieces"]
    ]


def test_one_worker_or_many_make_the_same_cache(many, tmp_path):
    one = prepare(midi_dir=many, cache_dir=tmp_path / "one", workers=1, shard_tokens=SMALL_SHARDS)
    two = prepare(midi_dir=many, cache_dir=tmp_path / "two", workers=3, shard_tokens=SMALL_SHARDS)
    whole = prepare(midi_dir=many, cache_dir=tmp_path / "whole", workers=2)
    assert one.read == two.read == whole.read == 48
    _same_cache(one.cache, two.cache)
    _same_cache(one.cache, whole.cache)
    ids = [p.id for p in one.cache.pieces]
    assert ids == sorted(ids)  # the folder's order, whatever order the workers finished in
    for cache_dir in ("one", "two", "whole"):  # the shards went into the cache
        assert not list((tmp_path / cache_dir / "shards").rglob("*.npy"))


def test_a_killed_prepare_resumes_from_its_shards(many, tmp_path):
    # A real prepare process is killed (SIGKILL) once its first shard is finished.
    script = textwrap.dedent(
        f"""
        from tunesmith.data.prepare import prepare
        prepare(midi_dir={str(many)!r}, cache_dir={str(tmp_path / "c")!r}, workers=1,
                shard_tokens=1)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    store = tmp_path / "c" / "shards"
    deadline = time.monotonic() + 120
    while not list(store.rglob("*.json")) and time.monotonic() < deadline:
        assert proc.poll() is None, "prepare ended before it could be killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    tokens_dir = tmp_path / "c" / "tokens"
    assert not tokens_dir.exists() or not [
        p for p in tokens_dir.iterdir() if not p.name.startswith(".")
    ]  # no cache, whole or half, is visible
    done = len(list(store.rglob("*.json")))
    assert 0 < done < 48

    again = prepare(midi_dir=many, cache_dir=tmp_path / "c", workers=1)
    assert not again.reused
    assert again.read <= 48 - done  # finished shards were not read again
    _same_cache(again.cache, prepare(midi_dir=many, cache_dir=tmp_path / "fresh").cache)
    assert not list(store.rglob("*.npy"))


def test_only_added_or_changed_files_are_read_again(many, tmp_path, bach_midi_files):
    first = prepare(midi_dir=many, cache_dir=tmp_path / "c")
    before = {p.id: p.split for p in first.cache.pieces}
    for p in bach_midi_files[:2]:
        shutil.copy(p, many / f"new-{p.name}")
    changed = sorted(many.glob("0-*.mid"))[0]
    shutil.copy(bach_midi_files[-1], changed)  # same name, other music
    second = prepare(midi_dir=many, cache_dir=tmp_path / "c")
    assert not second.reused
    assert second.read == 3
    assert len(second.cache.pieces) == 50
    _same_cache(second.cache, prepare(midi_dir=many, cache_dir=tmp_path / "fresh").cache)
    after = {p.id: p.split for p in second.cache.pieces}
    moved = [i for i in before if after[i] != before[i]]
    # The split ranks pieces by a hash of their ids: an added piece moves at most two others.
    assert len(moved) <= 2 * 2


def test_files_that_hang_their_reader_are_skipped_and_the_run_goes_on(many, tmp_path):
    n = 4_000_000  # notes: several seconds to read, where a chorale takes milliseconds
    rng = np.random.default_rng(0)
    start = np.sort(rng.uniform(0, 3000, n))
    notes = Notes.from_arrays(start, start + 0.2, rng.integers(30, 90, n), rng.integers(20, 110, n))
    write_midi(notes, many / "slow.mid")
    settings = {"workers": 2, "timeout": 0.5, "read": ReadConfig(max_notes=n)}
    result = prepare(midi_dir=many, cache_dir=tmp_path / "c", **settings)
    assert len(result.cache.pieces) == 48
    (skip,) = result.skipped
    assert skip["file"].endswith("slow.mid")
    assert skip["reason"].startswith("timed out (still running after 0.5 s)")
    assert result.skipped_by_reason() == {"timed out": 1}
    # A timed-out file is tried again by the next run (a longer limit may read it).
    again = prepare(midi_dir=many, cache_dir=tmp_path / "c", **settings)
    assert again.read == 1


def test_a_task_that_crashes_or_hangs_its_worker_fails_alone():
    items = ["1", "crash", "2", "hang", "3", "fail", *map(str, range(4, 20))]
    outcomes = list(run_tasks(crash_hang_or_double, items, workers=2, timeout=2.0))
    assert sorted(o.index for o in outcomes) == list(range(len(items)))
    by_item = {items[o.index]: o for o in outcomes}
    assert by_item["crash"].lost
    assert by_item["crash"].error == "crashed its worker process (signal 11)"
    assert by_item["hang"].lost
    assert by_item["hang"].error.startswith("timed out")
    assert not by_item["fail"].lost
    assert by_item["fail"].error == "ValueError: not a number"
    for item, o in by_item.items():
        if item.isdigit():
            assert o.error is None
            assert o.value == 2 * int(item)


def test_a_script_without_a_main_guard_is_told_so(bach_midi_files, tmp_path):
    # Workers import the main script: unguarded, each would start a prepare of its own and die.
    # That is the script's fault, not the files': one error that says what to do.
    call = f"prepare(midi_dir={str(bach_midi_files[0].parent)!r}, cache_dir={str(tmp_path)!r})"
    unguarded, guarded = tmp_path / "unguarded.py", tmp_path / "guarded.py"
    unguarded.write_text(f"from tunesmith.data.prepare import prepare\n{call}\n")
    guarded.write_text(
        f"from tunesmith.data.prepare import prepare\nif __name__ == '__main__':\n    {call}\n"
    )
    bad = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True)
    assert bad.returncode != 0
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("tunesmith.errors.WorkerError: a worker process exited before")
    assert "if __name__ == '__main__':" in last
    ok = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


@pytest.fixture(scope="module")
def lakh_midi_dir() -> Path:
    """Two real songs of the Lakh MIDI dataset (multi-track, with drums), fetched once per
    machine by scripts/maestro.py from miditok's source archive on the package index."""
    script = Path(__file__).parents[1] / "scripts" / "maestro.py"
    done = subprocess.run(
        [sys.executable, str(script), "--lakh"], check=True, capture_output=True, text=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def test_multitrack_songs_keep_all_but_their_drums(lakh_midi_dir, tmp_path):
    cache = prepare(midi_dir=lakh_midi_dir, cache_dir=tmp_path / "c").cache
    assert len(cache.pieces) == 2
    for piece in cache.pieces:
        score = Score(lakh_midi_dir / piece.id)  # symusic directly: an independent reading
        assert any(t.is_drum and len(t.notes) for t in score.tracks)
        pitched = [t for t in score.tracks if not t.is_drum]
        assert len(pitched) > 3
        pitches = np.concatenate([t.notes.numpy()["pitch"] for t in pitched])
        assert piece.notes == len(pitches)
        decoded = cache.codec.decode(cache.piece_tokens(piece))
        assert sorted(decoded.pitch) == sorted(pitches)


def test_validation_samples_a_fixed_share_of_a_large_split(tmp_path, many):
    cache = prepare(midi_dir=many, cache_dir=tmp_path / "c").cache
    valid = cache.split("valid")
    total = sum(p.length for p in valid)
    assert cache.sample("valid") == valid
    assert cache.sample("valid", total) == valid
    cap = total // 2
    half = cache.sample("valid", cap)
    assert 0 < len(half) < len(valid)
    assert sum(p.length for p in half) <= cap
    assert half == cache.sample("valid", cap)  # fixed
    assert [p for p in valid if p in half] == half  # in cache order
    # a cap below any one piece still validates on one
    assert len(cache.sample("valid", 1)) == 1


def test_training_says_which_validation_pieces_it_uses(many, tmp_path):
    args = ["train", "composer", "--midi-dir", many, "--cache-dir", tmp_path / "c",
            "--out", tmp_path / "run", *TINY_COMPOSER, "--window", "64", "--stride", "64",
            "--batch-size", "8", "--max-steps", "2", "--valid-tokens", "1500"]  # fmt: skip
    out = tunesmith(*args)
    assert out.returncode == 0, out.stderr
    cache = prepare(midi_dir=many, cache_dir=tmp_path / "c").cache
    used = cache.sample("valid", 1500)
    total = len(cache.split("valid"))
    assert len(used) < total
    assert f"validating on a fixed sample of {len(used)} of {total} validation pieces" in out.stdout
    settings = json.loads((tmp_path / "run" / "run.json").read_text())
    assert settings["train"]["valid_tokens"] == 1500
    # then it fits the nucleus that compose samples from
    fitted = json.loads((tmp_path / "run" / "best" / "checkpoint.json").read_text())["top_p"]
    assert f"nucleus {fitted:g}: statistics overlap" in out.stdout


def test_a_long_epoch_is_validated_every_eighth_of_the_budget():
    assert long_epoch_interval(steps_per_epoch=100, total_steps=1500) == 0  # chorales
    assert long_epoch_interval(steps_per_epoch=80_000, total_steps=1500) == 187  # a big folder
    assert long_epoch_interval(steps_per_epoch=1_000, total_steps=150) == 0  # a first look
