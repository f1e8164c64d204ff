"""Music statistics on hand-made note sets with hand-computed values, and on real chorales."""

from __future__ import annotations

import math

import numpy as np
import pytest
import symusic

from tunesmith.data.midi import read_midi
from tunesmith.data.notes import Notes
from tunesmith.judging import stats
from tunesmith.judging.stats import (
    STATISTICS,
    compare_sets,
    kl_divergence,
    overlap_area,
    piece_statistics,
    set_statistics,
)

# C4..C5 up the C major scale, half a second each: onsets 0, 0.5, .., 3.5; ends at 4 s.
C_MAJOR = Notes.from_rows(
    (p, i / 2, i / 2 + 0.5, 80) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])
)
# C4..B4 chromatically, a quarter second each: onsets 0 .. 2.75, ends at 3 s.
CHROMATIC = Notes.from_rows((60 + i, i / 4, i / 4 + 0.25, 80) for i in range(12))
TRIAD = Notes.from_rows([(60, 0.0, 2.0, 80), (64, 0.0, 2.0, 80), (67, 0.0, 2.0, 80)])
SINGLE = Notes.from_rows([(69, 1.0, 1.5, 64)])
EMPTY = Notes.empty()


def melody(seconds: float) -> list[tuple[int, float, float, int]]:
    """Rows of a released half-second line (D4/E4 alternating) from 0 to ``seconds``."""
    return [(62 + 2 * (i % 2), i / 2, i / 2 + 0.5, 80) for i in range(int(seconds * 2))]


def test_c_major_scale():
    s = piece_statistics(C_MAJOR)
    assert s["scale_consistency"] == 1.0
    assert s["pitch_classes_used"] == 7
    assert s["pitches_used"] == 8
    assert s["pitch_range"] == 12
    assert s["polyphony"] == pytest.approx(1.0)
    assert s["note_density"] == pytest.approx(8 / 4.0)
    assert s["mean_ioi"] == pytest.approx(0.5)
    assert s["ioi_std"] == pytest.approx(0.0, abs=1e-12)
    assert s["mean_duration"] == pytest.approx(0.5)
    assert s["duration_std"] == pytest.approx(0.0, abs=1e-12)
    assert s["velocity_std"] == 0.0
    assert s["stuck_notes"] == 0.0
    # counts: C twice, six others once -> p = 1/4 and 6 x 1/8: 0.5 + 6 * 3/8 = 2.75 bits
    assert s["pitch_class_entropy"] == pytest.approx(2.75)


def test_chromatic_scale():
    # every major scale holds 7 of the 12 pitch classes, each played once
    assert stats.scale_consistency(CHROMATIC) == pytest.approx(7 / 12)
    assert stats.pitch_classes_used(CHROMATIC) == 12
    assert stats.pitch_class_entropy(CHROMATIC) == pytest.approx(math.log2(12))
    assert stats.pitch_range(CHROMATIC) == 11
    assert stats.note_density(CHROMATIC) == pytest.approx(12 / 3.0)
    assert stats.mean_ioi(CHROMATIC) == pytest.approx(0.25)


def test_chromatic_octave_fits_best_with_its_repeated_tonic():
    # C4..C5 (13 notes): C major holds C twice plus 6 others -> 8/13; no scale does better
    notes = Notes.from_rows((60 + i, i / 4, i / 4 + 0.25, 80) for i in range(13))
    assert stats.scale_consistency(notes) == pytest.approx(8 / 13)


def test_minor_melody_is_fully_consistent():
    a_minor = Notes.from_rows((p, i, i + 1, 80) for i, p in enumerate([57, 59, 60, 62, 64, 65, 67]))
    assert stats.scale_consistency(a_minor) == 1.0
    with_f_sharp = Notes.from_rows([*a_minor.to_rows(), (66, 7, 8, 80), (68, 8, 9, 80)])
    assert stats.scale_consistency(with_f_sharp) < 1.0


def test_held_triad():
    assert stats.polyphony(TRIAD) == pytest.approx(3.0)
    assert stats.mean_ioi(TRIAD) != stats.mean_ioi(TRIAD)  # one distinct onset: no interval
    assert stats.note_density(TRIAD) == pytest.approx(3 / 2.0)
    assert stats.pitch_classes_used(TRIAD) == 3


def test_polyphony_ignores_silence_and_weights_by_time():
    # two notes together for 1 s, then one alone for 1 s, a 10 s rest, then one note for 1 s:
    # 2 notes x 1 s + 1 x 1 s + 1 x 1 s over 3 sounding seconds
    notes = Notes.from_rows([(60, 0, 2, 80), (64, 0, 1, 80), (67, 12, 13, 80)])
    assert stats.polyphony(notes) == pytest.approx(4 / 3)


def test_ioi_of_uneven_onsets_with_a_chord():
    # onsets 0, 0 (chord), 1, 3: distinct intervals 1 and 2
    notes = Notes.from_rows([(60, 0, 1, 80), (64, 0, 1, 80), (62, 1, 3, 80), (60, 3, 4, 80)])
    assert stats.mean_ioi(notes) == pytest.approx(1.5)
    assert stats.ioi_std(notes) == pytest.approx(0.5)


def test_single_note():
    s = piece_statistics(SINGLE)
    assert s["pitch_range"] == 0
    assert s["pitches_used"] == 1
    assert s["pitch_class_entropy"] == 0.0
    assert s["scale_consistency"] == 1.0
    assert s["polyphony"] == pytest.approx(1.0)
    assert s["note_density"] == pytest.approx(1 / 0.5)
    assert math.isnan(s["mean_ioi"])
    assert math.isnan(s["ioi_std"])
    assert s["mean_duration"] == pytest.approx(0.5)
    assert s["duration_std"] == 0.0
    assert s["velocity_std"] == 0.0
    assert s["stuck_notes"] == 0.0


def test_empty_is_nan_or_zero_counts():
    s = piece_statistics(EMPTY)
    assert s["pitches_used"] == 0
    assert s["pitch_classes_used"] == 0
    nan = [name for name, v in s.items() if math.isnan(v)]
    assert nan == [n for n in STATISTICS if n not in ("pitches_used", "pitch_classes_used")]


def test_velocity_spread():
    notes = Notes.from_rows([(60, 0, 1, 60), (62, 1, 2, 80), (64, 2, 3, 100)])
    assert stats.velocity_std(notes) == pytest.approx(math.sqrt(800 / 3))  # population std


def test_duration_spread():
    notes = Notes.from_rows([(60, 0, 1, 80), (62, 1, 4, 80)])
    assert stats.mean_duration(notes) == pytest.approx(2.0)
    assert stats.duration_std(notes) == pytest.approx(1.0)


def test_stuck_note_at_the_decoder_cap():
    # a note left on at 1 s in a 10 s line, closed by the decoder's 5 s cap
    notes = Notes.from_rows([*melody(10), (72, 1.0, 6.0, 80)])
    assert stats.stuck_notes(notes) == pytest.approx(1 / 21)
    # a released note just under the cap mid-piece is not stuck
    assert stats.stuck_notes(Notes.from_rows([*melody(10), (72, 1.0, 5.99, 80)])) == 0.0
    # a different cap moves the rule with it
    assert stats.stuck_notes(notes, max_note_seconds=4.0) == 0.0


def test_stuck_note_hanging_on_to_the_end():
    # left on at 2 s, closed at the piece's end (6 s) after onsets up to 5.5 s: 3.5 s of hold
    notes = Notes.from_rows([*melody(6), (72, 2.0, 6.0, 80)])
    assert stats.stuck_notes(notes) == pytest.approx(1 / 13)
    # the boundary, both ways: held exactly hold_seconds (3 s) is not stuck
    assert stats.stuck_notes(Notes.from_rows([*melody(6), (72, 2.5, 6.0, 80)])) == 0.0
    assert stats.stuck_notes(notes, hold_seconds=3.5) == 0.0


def test_long_final_chord_and_long_held_note_are_not_stuck():
    # a 4 s final chord released together at the end
    chord = [(60, 6.0, 10.0, 80), (64, 6.0, 10.0, 80), (67, 6.0, 10.0, 80)]
    assert stats.stuck_notes(Notes.from_rows([*melody(6), *chord])) == 0.0
    # a soprano holding 8 s to the end over moving voices (as in bwv10.7): longer than the
    # decoder's cap, so it was released
    held = Notes.from_rows([*melody(8), (72, 0.0, 8.0, 80)])
    assert stats.stuck_notes(held) == 0.0
    assert stats.stuck_notes(held, max_note_seconds=None) == pytest.approx(1 / 17)


def test_statistics_table_is_complete():
    assert list(STATISTICS)[:3] == ["pitch_range", "pitches_used", "pitch_classes_used"]
    for name, stat in STATISTICS.items():
        assert stat.label, name
        assert stat.unit, name
        assert stat.fn.__doc__, name
        assert stat(C_MAJOR) == getattr(stats, name)(C_MAJOR)


def test_set_statistics_one_value_per_piece():
    values = set_statistics([C_MAJOR, TRIAD, EMPTY])
    assert list(values) == list(STATISTICS)
    assert values["polyphony"].dtype == np.float64
    np.testing.assert_allclose(values["polyphony"], [1.0, 3.0, np.nan])
    assert set_statistics([])["pitch_range"].shape == (0,)


def test_identical_samples_overlap_fully():
    a = np.random.default_rng(0).normal(3.0, 1.0, 200)
    assert overlap_area(a, a) == pytest.approx(1.0)
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-12)


def test_far_apart_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 100), rng.normal(50, 1, 100)
    assert overlap_area(a, b) < 1e-3
    assert kl_divergence(a, b) > 10


def test_overlap_symmetric_and_kl_grows_with_distance():
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(0, 1, 150), rng.normal(1, 1.5, 80), rng.normal(3, 1.5, 80)
    assert overlap_area(a, b) == pytest.approx(overlap_area(b, a))
    assert 0 < overlap_area(a, c) < overlap_area(a, b) < 1
    assert 0 < kl_divergence(a, b) < kl_divergence(a, c)


def test_constant_samples():
    zeros = np.zeros(41)  # e.g. velocity_std of every real chorale
    assert overlap_area(zeros, zeros) == pytest.approx(1.0)
    assert kl_divergence(zeros, zeros) == pytest.approx(0.0, abs=1e-12)
    spread = np.random.default_rng(3).uniform(0, 20, 50)
    assert 0 <= overlap_area(zeros, spread) < 0.2
    assert math.isfinite(kl_divergence(zeros, spread))
    assert overlap_area(np.full(5, 7.0), np.full(5, 9.0)) < 1e-3


def test_nans_dropped_and_empty_samples_nan():
    a = np.array([1.0, 2.0, 3.0, np.nan])
    assert overlap_area(a, a[:3]) == pytest.approx(1.0)
    assert math.isnan(overlap_area(np.array([np.nan]), a))
    assert math.isnan(kl_divergence(a, np.array([])))


def test_compare_sets():
    real = set_statistics([C_MAJOR, CHROMATIC, SINGLE])
    fake = set_statistics([TRIAD, TRIAD, EMPTY])
    result = compare_sets(real, {**fake, "extra": np.ones(3)})
    assert list(result) == list(STATISTICS)
    poly = result["polyphony"]
    assert poly["reference_mean"] == pytest.approx(1.0)
    assert poly["other_mean"] == pytest.approx(3.0)  # the empty piece's NaN is dropped
    assert poly["other_std"] == pytest.approx(0.0)
    assert poly["overlap"] < 0.05
    assert compare_sets(real, real)["pitch_range"]["overlap"] == pytest.approx(1.0)
    assert compare_sets(real, real)["pitch_range"]["kl"] == pytest.approx(0.0, abs=1e-12)


def test_real_chorales(bach_midi_files):
    assert bach_midi_files
    for path in bach_midi_files:
        notes = read_midi(path)
        s = piece_statistics(notes)
        assert s["scale_consistency"] > 0.9, path.name
        assert s["stuck_notes"] == 0.0, path.name
        assert s["velocity_std"] == 0.0, path.name  # music21 writes every note at velocity 90
        # never more notes at once than voices (bwv1.6 adds a horn to the four), rarely fewer
        # than two: the voices move together
        voices = sum(1 for track in symusic.Score(path).tracks if track.notes)
        assert 2.0 <= s["polyphony"] <= voices + 1e-9, path.name
        assert 12 <= s["pitch_range"] <= 48, path.name
        assert 0 < s["mean_ioi"] < s["mean_duration"] * 2, path.name
