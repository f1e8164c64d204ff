"""Negatives on real chorales do what they claim: each kind changes one aspect and keeps the rest,
and the Critic's examples are balanced, per split, and free of leakage."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.config import NegativeConfig, WindowConfig
from tunesmith.data.examples import Examples, critic_view
from tunesmith.data.midi import read_midi
from tunesmith.data.negatives import (
    corrupt,
    drone,
    flat_velocity,
    jitter,
    loop,
    pileup,
    random_notes,
    random_piece,
    repeat,
    scramble_velocity,
    shuffle_segments,
    stall,
    wrong_notes,
)
from tunesmith.data.notes import Notes
from tunesmith.errors import ConfigError


@pytest.fixture(scope="module")
def chorale(bach_cache) -> Notes:
    piece = bach_cache.split("train")[0]
    return bach_cache.codec.decode(bach_cache.piece_tokens(piece))


@pytest.fixture(scope="module")
def piano(maestro_midi_dir) -> Notes:
    """A real performance (MAESTRO, 220 s, 3142 notes): the chorales are written at one velocity,
    so the velocity kinds, and the velocities pileup and loop copy, show only on these."""
    return read_midi(maestro_midi_dir / "Maestro_3.mid")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def same_notes(a: Notes, b: Notes) -> bool:
    return (
        np.array_equal(a.start, b.start)
        and np.array_equal(a.end, b.end)
        and np.array_equal(a.pitch, b.pitch)
        and np.array_equal(a.velocity, b.velocity)
    )


def sounding_at_onsets(notes: Notes, onsets: np.ndarray) -> np.ndarray:
    """How many notes sound at each of ``onsets``."""
    return ((notes.start[None] <= onsets[:, None]) & (onsets[:, None] < notes.end[None])).sum(1)


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


def test_drone_holds_the_asked_share_of_notes_to_the_last_end_and_changes_nothing_else(chorale):
    n, last = len(chorale), chorale.end.max()
    k = round(0.15 * n)
    already = int(np.sum(chorale.end == last))  # the final chord: a drone there changes nothing
    changed_counts = []
    for seed in range(5):
        bad = drone(chorale, rng(seed), fraction=0.15)
        assert np.array_equal(bad.start, chorale.start)
        assert np.array_equal(bad.pitch, chorale.pitch)
        assert np.array_equal(bad.velocity, chorale.velocity)
        changed = bad.end != chorale.end
        assert np.all(bad.end[changed] == last)
        assert max(k, already) <= np.sum(bad.end == last) <= k + already
        assert k - already <= changed.sum() <= k
        changed_counts.append(int(changed.sum()))
        # A drone can begin anywhere, the first seconds included.
        assert chorale.start[changed].min() < 0.2 * last
    assert k in changed_counts


def test_drone_holds_at_least_one_note(chorale):
    last = chorale.end.max()
    held = [int(np.sum(drone(chorale, rng(s), 1e-4).end != chorale.end)) for s in range(5)]
    assert max(held) == 1
    bad = drone(chorale, rng(0), 1e-4)
    assert np.sum(bad.end == last) >= np.sum(chorale.end == last)


@pytest.mark.parametrize("piece", ["chorale", "piano"])
def test_repeat_strikes_one_early_note_over_and_over_to_the_last_onset(request, piece):
    real: Notes = request.getfixturevalue(piece)
    last = real.start.max()
    onsets = np.unique(np.round(real.start, 6))
    for seed in range(6):
        bad = repeat(real, rng(seed), seconds=2.0)
        fits = []
        for t0 in onsets[onsets < onsets[0] + 2.0]:
            # The piece's own notes before t0, unchanged, then one note struck at t0 again and
            # again, at one period (at least 0.1 s), to the last onset.
            m = int(np.sum(np.round(real.start, 6) < t0))
            tail = bad.take(np.arange(m, len(bad)))
            if not same_notes(bad.take(np.arange(m)), real.take(np.arange(m))) or len(tail) < 2:
                continue
            struck = (np.round(real.start, 6) == t0) & (real.pitch == tail.pitch[0])
            struck &= real.velocity == tail.velocity[0]
            period = np.diff(tail.start)
            fits.append(
                abs(tail.start[0] - t0) < 1e-6
                and struck.any()
                and len(np.unique(tail.pitch)) == len(np.unique(tail.velocity)) == 1
                and np.allclose(tail.end - tail.start, (real.end - real.start)[struck][0])
                and np.allclose(period, period[0])
                and period[0] >= 0.1 - 1e-9
                and last - period[0] < tail.start[-1] <= last + 1e-9
            )
        assert any(fits), seed


@pytest.mark.parametrize("piece", ["chorale", "piano"])
def test_stall_halts_before_onsets_and_holds_or_releases_what_sounds(request, piece):
    real: Notes = request.getfixturevalue(piece)
    onsets = np.unique(np.round(real.start, 6))
    for seed in range(4):
        bad = stall(real, rng(seed), fraction=0.1, seconds=60.0)
        assert np.array_equal(bad.pitch, real.pitch)
        assert np.array_equal(bad.velocity, real.velocity)
        # Each note comes later by the halts before its onset: the same for a chord's notes,
        # never less for a later onset, and each halt lasts 15 to 60 s.
        delay = bad.start - real.start
        per_onset = np.array([delay[np.round(real.start, 6) == t][0] for t in onsets])
        for t, d in zip(onsets, per_onset):
            assert np.allclose(delay[np.round(real.start, 6) == t], d)
        steps = np.diff(np.r_[0.0, per_onset])
        halts = steps[steps > 1e-9]
        assert len(halts) == max(1, round(0.1 * len(onsets)))
        assert np.all((halts >= 15.0 - 1e-9) & (halts <= 60.0 + 1e-9))
        # A note is held through the halts it spans, or cut short where one begins.
        length, real_length = bad.end - bad.start, real.end - real.start
        longer = length > real_length + 1e-9
        shorter = length < real_length - 1e-9
        assert longer.any() or shorter.any()
        assert np.all(length[shorter] > 0)
        assert np.all(length[longer] - real_length[longer] >= 15.0 - 1e-9)


def test_pileup_adds_held_notes_at_existing_onsets_and_keeps_the_piece(piano):
    n = len(piano)
    bad = pileup(piano, rng(5), fraction=0.3, most=3, seconds=6.0)
    assert same_notes(bad.take(np.arange(n)), piano)
    extra = bad.take(np.arange(n, len(bad)))
    assert len(extra) > 0
    onsets = np.unique(piano.start)
    assert np.isin(extra.start, onsets).all()
    length = extra.end - extra.start
    assert length.min() >= 3.0
    assert length.max() <= 6.0
    assert extra.pitch.min() >= piano.pitch.min()
    assert extra.pitch.max() <= piano.pitch.max()
    for s, v in zip(extra.start, extra.velocity):
        assert v in piano.velocity[piano.start == s]
    struck, count = np.unique(extra.start, return_counts=True)
    assert len(struck) == round(0.3 * len(onsets))
    assert set(count.tolist()) == {1, 2, 3}
    before, after = sounding_at_onsets(piano, onsets), sounding_at_onsets(bad, onsets)
    assert np.all(after >= before)
    assert after.mean() > 1.5 * before.mean()


def test_pileup_strikes_at_least_one_onset(chorale):
    bad = pileup(chorale, rng(0), fraction=1e-4, most=1, seconds=1.0)
    assert len(bad) == len(chorale) + 1
    assert same_notes(bad.take(np.arange(len(chorale))), chorale)


@pytest.mark.parametrize(
    ("piece", "seconds"), [("piano", 2.0), ("piano", 0.3), ("chorale", 2.0), ("chorale", 0.3)]
)
def test_loop_repeats_one_early_passage_to_the_last_onset(request, piece, seconds):
    piano = request.getfixturevalue(piece)  # the chorale's rests make the loop skip ahead
    origin, last = piano.start.min(), piano.start.max()
    for seed in range(6):
        bad = loop(piano, rng(seed), seconds)
        # The piece's own notes up to the loop, unchanged and in order...
        m = 0
        while m < min(len(bad), len(piano)) and same_notes(bad.take([m]), piano.take([m])):
            m += 1
        assert 0 < m < len(bad)
        assert piano.start[m] > piano.start[m - 1]  # no chord is cut in two
        # ...then the passage from the first repeat's onset, played every ``seconds`` after.
        p0 = bad.start[m] - seconds
        # It starts within the first ``seconds``, or at the first onset after a rest there.
        assert p0 <= piano.start[piano.start >= origin + seconds - 1e-9].min() + 1e-9
        passage = piano.take(
            np.flatnonzero((piano.start >= p0 - 1e-9) & (np.arange(len(piano)) < m))
        )
        assert len(passage) > 0
        assert np.ptp(passage.start) < seconds
        assert abs(passage.start.min() - p0) < 1e-9
        shifts = seconds * np.arange(1, int((last - p0) // seconds) + 2)
        start = (passage.start[None] + shifts[:, None]).ravel()
        fits = start <= last + 1e-9
        tail = bad.take(np.arange(m, len(bad)))
        assert len(tail) == fits.sum()
        assert np.allclose(tail.start, start[fits], atol=1e-9)
        assert np.allclose(tail.end, (passage.end[None] + shifts[:, None]).ravel()[fits], atol=1e-9)
        assert np.array_equal(tail.pitch, np.tile(passage.pitch, len(shifts))[fits])
        assert np.array_equal(tail.velocity, np.tile(passage.velocity, len(shifts))[fits])
        # It covers the piece and ends there.
        assert bad.start.max() <= last + 1e-9
        assert bad.start.max() > last - seconds


def test_flat_velocity_plays_every_note_at_the_median_and_keeps_the_rest(piano):
    for notes in (piano, piano.take(np.arange(len(piano) - 1))):  # odd and even counts
        bad = flat_velocity(notes)
        assert np.array_equal(bad.start, notes.start)
        assert np.array_equal(bad.end, notes.end)
        assert np.array_equal(bad.pitch, notes.pitch)
        level = np.unique(bad.velocity)
        assert len(level) == 1
        v = notes.velocity
        assert np.sum(v <= level[0]) >= len(v) / 2  # a median: half at or below,
        assert np.sum(v >= level[0]) >= len(v) / 2  # half at or above
    assert flat_velocity(piano).velocity[0] == np.median(piano.velocity)


def test_scramble_velocity_deals_the_same_velocities_to_other_notes(piano):
    bad = scramble_velocity(piano, rng(9))
    assert np.array_equal(bad.start, piano.start)
    assert np.array_equal(bad.end, piano.end)
    assert np.array_equal(bad.pitch, piano.pitch)
    assert np.array_equal(np.sort(bad.velocity), np.sort(piano.velocity))
    assert np.mean(bad.velocity != piano.velocity) > 0.9
    assert not np.array_equal(scramble_velocity(piano, rng(10)).velocity, bad.velocity)


def test_corrupt_makes_each_new_kind_from_a_real_piece_and_keeps_it_decodable(bach_cache, piano):
    codec = bach_cache.codec
    config = NegativeConfig()
    chorales = [bach_cache.piece_tokens(p).astype(np.int64) for p in bach_cache.split("train")[:3]]
    for i, tokens in enumerate([*chorales, codec.encode(piano)]):
        real = codec.decode(tokens)
        kinds = ("drone", "pileup", "loop", "repeat", "stall", "flat_velocity", "scramble_velocity")
        for kind in kinds:
            bad_tokens = corrupt(kind, tokens, codec, rng(4), config)
            assert bad_tokens.min() >= 0, kind
            assert bad_tokens.max() < codec.num_events, kind
            bad = codec.decode(bad_tokens)
            assert len(bad) > 0, kind
            moves = ("drone", "pileup", "loop", "repeat", "stall")
            if kind in moves or i == len(chorales):  # chorales: one velocity
                assert not np.array_equal(bad_tokens, tokens), kind
            if kind == "drone":
                assert len(bad) == len(real)
                assert np.array_equal(bad.start, real.start)
                assert (bad.end - bad.start).sum() > (real.end - real.start).sum()
            elif kind == "pileup":
                assert len(bad) > len(real)
                assert set(bad.start.tolist()) == set(real.start.tolist())
            elif kind == "loop":
                assert real.start.max() - config.loop_seconds < bad.start.max() <= real.start.max()
            elif kind == "repeat":
                late = bad.start > bad.start.min() + config.loop_seconds
                assert len(np.unique(bad.pitch[late])) == 1
            elif kind == "stall":
                assert len(bad) == len(real)
                assert bad.start.max() >= real.start.max() + config.stall_seconds / 4
            else:
                assert np.array_equal(bad.start, real.start), kind
                assert np.array_equal(bad.end, real.end), kind
                assert np.array_equal(bad.pitch, real.pitch), kind
                if kind == "flat_velocity":
                    assert len(np.unique(bad.velocity)) == 1
                else:
                    assert np.array_equal(np.sort(bad.velocity), np.sort(real.velocity))


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
    counts = {k: int(np.sum(kinds == k)) for k in NegativeConfig().kinds}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert int(np.sum(kinds == "real")) == len(ex) // 2
    # Each window meets every kind in turn, one an epoch.
    n, K = len(ex) // 2, len(counts)
    met = {ex.kind(n + 5, epoch) for epoch in range(K)}
    assert met == set(counts)
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
