"""The copy check on real chorales: a copied piece is found whole, a spliced one by its longest
part, a transposed one not at all; the hashes agree with counting runs as tuples."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.data.notes import Notes
from tunesmith.judging.copying import (
    RUN,
    TrainingRuns,
    copy_flag,
    copying,
    note_keys,
    run_hashes,
    summary,
)


@pytest.fixture(scope="module")
def training(bach_cache) -> TrainingRuns:
    return TrainingRuns.of(bach_cache)


@pytest.fixture(scope="module")
def train_notes(bach_cache) -> dict[str, Notes]:
    return {
        p.id: bach_cache.codec.decode(bach_cache.piece_tokens(p)) for p in bach_cache.split("train")
    }


def ordered(notes: Notes) -> Notes:
    return notes.take(np.lexsort((notes.pitch, notes.start)))


def test_a_training_piece_is_found_whole_and_named(training, train_notes):
    for pid, notes in train_notes.items():
        [check] = copying(training, [notes])
        assert check.share == 1.0
        assert check.longest == len(notes)
        assert check.nearest == pid
        assert check.nearest_runs == len(np.unique(run_hashes(note_keys(notes, 0.01), RUN)))


def test_a_spliced_piece_is_found_by_its_longest_part(training, train_notes):
    a, b = (ordered(n) for n in list(train_notes.values())[:2])
    first, second = a.take(np.arange(30)), b.take(np.arange(40, 60))
    # The second part starts a second after the first ends: a gap no chorale has there.
    shift = first.start.max() + 1.0 - second.start.min()
    spliced = Notes(
        np.r_[first.start, second.start + shift],
        np.r_[first.end, second.end + shift],
        np.r_[first.pitch, second.pitch],
        np.r_[first.velocity, second.velocity],
    )
    [check] = copying(training, [spliced])
    assert 30 <= check.longest < 50
    runs = len(spliced) - RUN + 1
    assert check.share >= (30 - RUN + 1 + 20 - RUN) / runs - 1e-9  # all runs inside a part


def test_a_transposed_piece_is_not_a_copy(training, train_notes):
    notes = next(iter(train_notes.values()))
    moved = Notes(notes.start, notes.end, notes.pitch + 1, notes.velocity)
    [check] = copying(training, [moved])
    assert check.share < 0.1
    assert check.longest < 3 * RUN


def test_hashes_agree_with_runs_counted_as_tuples(training, train_notes, bach_cache):
    tuples = set()
    for notes in train_notes.values():
        keys = note_keys(notes, 0.01).tolist()
        tuples |= {tuple(keys[i : i + RUN]) for i in range(len(keys) - RUN + 1)}
    test = bach_cache.split("test")[0]
    real = bach_cache.codec.decode(bach_cache.piece_tokens(test))
    keys = note_keys(real, 0.01)
    expected = [tuple(keys[i : i + RUN].tolist()) in tuples for i in range(len(keys) - RUN + 1)]
    assert training.found(keys, RUN).tolist() == expected
    assert len(training.runs(RUN)) == len(tuples)


def test_the_flag_compares_with_real_pieces(training, train_notes, bach_cache):
    real = [
        bach_cache.codec.decode(bach_cache.piece_tokens(p))
        for p in bach_cache.split("test") + bach_cache.split("valid")
    ]
    yardstick = summary(copying(training, real))
    assert 0.0 <= yardstick["share"] < 0.5
    assert copy_flag(yardstick, yardstick) is None
    copied = summary(copying(training, list(train_notes.values())[:2]))
    assert copied["share"] == 1.0
    message = copy_flag(copied, yardstick)
    assert message is not None
    assert message.startswith("copying: 100% of its 8-note runs")
