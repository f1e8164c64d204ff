"""Negatives on real chorales do what they claim: each kind changes one aspect and keeps the rest,
and the Critic's examples are balanced, per split, and free of leakage."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.config import NegativeConfig, WindowConfig
from tunesmith.data.examples import Examples, critic_view
from tunesmith.data.negatives import (
    corrupt,
    jitter,
    random_notes,
    random_piece,
    shuffle_segments,
    wrong_notes,
)
from tunesmith.data.notes import Notes
from tunesmith.errors import ConfigError


@pytest.fixture(scope="module")
def chorale(bach_cache) -> Notes:
    piece = bach_cache.split("train")[0]
    return bach_cache.codec.decode(bach_cache.piece_tokens(piece))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_wrong_notes_keep_the_rhythm_and_move_the_asked_share_of_pitches(chorale):
    bad = wrong_notes(chorale, rng(), fraction=0.3, semitones=3)
    assert np.array_equal(bad.start, chorale.start)
    assert np.array_equal(bad.end, chorale.end)
    moved = bad.pitch != chorale.pitch
    assert moved.sum() == round(0.3 * len(chorale))
    steps = np.abs(bad.pitch[moved].astype(int) - chorale.pitch[moved])
    assert steps.min() >= 1
    assert steps.max() <= 3
    assert len(np.unique(steps)) == 3  # all three sizes of move occur


def test_wrong_notes_stay_within_midi_pitches():
    edge = Notes.from_rows([(0, 0.0, 1.0, 80), (127, 0.0, 1.0, 80)])
    for seed in range(20):
        bad = wrong_notes(edge, rng(seed), fraction=1.0, semitones=12)
        assert bad.pitch.min() >= 0
        assert bad.pitch.max() <= 127
        assert set(bad.pitch.tolist()) != {0, 127}


def test_shuffle_permutes_segments_and_keeps_every_note(chorale):
    bad = shuffle_segments(chorale, rng(1), seconds=1.0)
    assert np.array_equal(bad.pitch, chorale.pitch)
    assert np.allclose(bad.end - bad.start, chorale.end - chorale.start, atol=1e-9)
    shift = bad.start - chorale.start
    assert np.allclose(shift, np.round(shift), atol=1e-9)  # moved by whole segments
    segment = np.floor(chorale.start - chorale.start.min()).astype(int)
    for s in np.unique(segment):  # a segment moves as one block
        assert np.ptp(shift[segment == s]) < 1e-9
    assert np.abs(shift).max() >= 1.0
    # Segments go to distinct places within the piece's span: a permutation, not a spreading.
    place = {s: round(shift[segment == s][0]) + s for s in np.unique(segment)}
    assert len(set(place.values())) == len(place)
    assert min(place.values()) >= 0
    assert max(place.values()) <= segment.max()


def test_jitter_moves_onsets_keeps_pitches_chords_and_lengths(chorale):
    bad = jitter(chorale, rng(2), seconds=0.05)
    assert np.array_equal(bad.pitch, chorale.pitch)
    assert np.allclose(bad.end - bad.start, chorale.end - chorale.start, atol=1e-9)
    shift = bad.start - chorale.start
    for t in np.unique(chorale.start):  # a chord's notes move together
        assert np.ptp(shift[chorale.start == t]) < 1e-9
    assert np.all(np.diff(bad.start[np.argsort(chorale.start, kind="stable")]) >= -1e-9)
    assert 0.03 < np.std(shift) < 0.07


def test_random_notes_are_the_seeds_random_notes():
    notes = random_notes(rng(3), 20_000)
    assert notes.pitch.min() == 0
    assert notes.pitch.max() == 127
    assert notes.velocity.min() == 10
    assert notes.velocity.max() == 79
    onsets = np.sort(notes.start)
    gaps = np.diff(onsets)
    # |N(0.3, 0.2)|: mean a little above 0.3; |N(1, 1)|: mean about 1.17.
    assert 0.30 < gaps.mean() < 0.33
    assert 1.10 < (notes.end - notes.start).mean() < 1.24


def test_a_random_piece_has_the_length_of_the_piece_it_stands_for(bach_cache):
    codec = bach_cache.codec
    for n in (5, 300, 2000):
        assert len(random_piece(rng(n), codec, n)) == n


def test_corrupt_changes_each_real_piece_and_keeps_it_decodable(bach_cache):
    codec = bach_cache.codec
    config = NegativeConfig()
    for piece in bach_cache.split("train")[:3]:
        tokens = bach_cache.piece_tokens(piece).astype(np.int64)
        for kind in ("random", "wrong_notes", "shuffle", "jitter"):
            bad = corrupt(kind, tokens, codec, rng(4), config)
            assert not np.array_equal(bad, tokens), kind
            assert len(codec.decode(bad)) > 0, kind


def test_negative_settings_are_validated():
    with pytest.raises(ConfigError, match=r"negatives\.kinds"):
        NegativeConfig(kinds=("random", "nonsense"))
    with pytest.raises(ConfigError, match=r"negatives\.composer"):
        NegativeConfig(kinds=("composer",))  # composer negatives need a checkpoint
    assert NegativeConfig.from_dict(NegativeConfig().to_dict()) == NegativeConfig()
    assert NegativeConfig.from_dict({"kinds": ["shuffle"]}).kinds == ("shuffle",)


# -- the Critic's examples ------------------------------------------------------------------------


def examples(cache, split: str, **kw) -> Examples:
    windows = WindowConfig(length=64, stride=32, transpose=kw.pop("transpose", 0))
    return Examples(cache, split, windows, NegativeConfig(), velocity=False, seed=0, **kw)


def test_examples_are_balanced_and_every_kind_equally_common(bach_cache):
    ex = examples(bach_cache, "train")
    labels = ex.labels()
    assert labels.mean() == 0.5
    kinds = ex.kinds()
    counts = {k: int(np.sum(kinds == k)) for k in ("random", "wrong_notes", "shuffle", "jitter")}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert int(np.sum(kinds == "real")) == len(ex) // 2
    batch = ex.batch(np.arange(len(ex)), epoch=0)
    assert batch["labels"].numpy().tolist() == labels.tolist()


def test_the_critic_reads_no_velocity_events_unless_asked(bach_cache):
    codec = bach_cache.codec
    ex = examples(bach_cache, "train")
    tokens = ex.batch(np.arange(len(ex)), epoch=0)["tokens"].numpy()
    is_velocity = (tokens >= codec.velocity) & (tokens < codec.num_events)
    assert not is_velocity.any()  # random negatives' velocities 10..79 are invisible too
    piece = bach_cache.piece_tokens(bach_cache.split("train")[0]).astype(np.int64)
    assert len(critic_view(piece, codec, velocity=True)) == len(piece)
    assert len(critic_view(piece, codec, velocity=False)) < len(piece)


def test_real_windows_come_only_from_their_own_split(bach_cache):
    """No leakage: every real window is a slice of one of its split's pieces and of no piece of
    another split; the splits share no piece."""
    codec = bach_cache.codec
    ids = {s: {p.id for p in bach_cache.split(s)} for s in ("train", "valid", "test")}
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not ids[a] & ids[b]
    digests = {s: {p.digest for p in bach_cache.split(s)} for s in ids}
    assert not (digests["train"] & digests["test"])

    def seqs(split):
        pieces = [bach_cache.piece_tokens(p).astype(np.int64) for p in bach_cache.split(split)]
        return [np.r_[codec.bos, critic_view(t, codec, False), codec.eos] for t in pieces]

    for split in ("valid", "test"):
        ex = examples(bach_cache, split)
        n = len(ex) // 2
        batch = ex.batch(np.arange(n), epoch=0)
        own, others = seqs(split), seqs("train")
        for row, length in zip(batch["tokens"].numpy(), batch["lengths"].numpy()):
            w = row[:length].tobytes()
            assert any(w in s.tobytes() for s in own)
            assert not any(w in s.tobytes() for s in others)


def test_a_negative_is_made_from_the_same_piece_as_its_real_window(bach_cache):
    """Wrong-note negatives keep rhythm: the time-shift tokens of negative ``n + i`` are those
    of real window ``i`` (same piece, same place), while the notes differ."""
    codec = bach_cache.codec
    ex = Examples(
        bach_cache,
        "train",
        WindowConfig(length=64, stride=32),
        NegativeConfig(kinds=("wrong_notes",)),
        velocity=False,
        seed=0,
    )
    n = len(ex) // 2
    batch = ex.batch(np.r_[np.arange(n), np.arange(n) + n], epoch=0)["tokens"].numpy()
    is_shift = lambda w: (w >= codec.shift) & (w < codec.velocity)  # noqa: E731
    for real, bad in zip(batch[:n], batch[n:]):
        assert np.array_equal(real[is_shift(real)], bad[is_shift(bad)])
        assert np.array_equal(is_shift(real), is_shift(bad))
    assert not np.array_equal(batch[:n], batch[n:])


def test_negatives_are_drawn_afresh_each_epoch_and_repeatably(bach_cache):
    ex = examples(bach_cache, "train", transpose=2)
    idx = np.arange(len(ex))
    a0, b0 = ex.batch(idx, 0)["tokens"], ex.batch(idx, 0)["tokens"]
    a1 = ex.batch(idx, 1)["tokens"]
    assert (a0 == b0).all()
    assert not (a0 == a1).all()
