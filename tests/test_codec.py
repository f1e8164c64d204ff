"""The performance-event codec: vocabulary layout, round trips, tolerant decoding, batching.

Expected values come from the documented layout and rounding rules, never from running the codec:
times are quantised to the nearest step (half up), so a decoded onset lies within half a step of
the original; every note lasts at least one step; velocities keep their bin.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict, deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.config import CodecConfig
from tunesmith.data.codec import Codec
from tunesmith.data.midi import read_midi
from tunesmith.data.notes import Notes

DATA = Path(__file__).parent / "data"
CODEC = Codec()
STEP = 0.01
FAST = settings(max_examples=200, deadline=None)

# -- builders and checks ---------------------------------------------------------------------


def tol(step: float) -> float:
    """Quantisation error bound: half a step, plus the codec's 1e-6-step tie-break and float."""
    return step * (0.5 + 1e-5) + 1e-12


def vbin(velocity, width: int) -> np.ndarray:
    """The velocity bin a velocity belongs to (0 counts as 1: MIDI's quietest sounding note)."""
    return np.maximum(np.asarray(velocity, dtype=np.int64), 1) // width


def names(codec: Codec, tokens) -> list[str]:
    return [codec.describe(t) for t in tokens]


def ids(codec: Codec, *descriptions: str) -> list[int]:
    """Token ids for names like "note_on(60)" or "shift(3)", from the documented layout."""
    out = []
    for d in descriptions:
        kind, _, arg = d.rstrip(")").partition("(")
        base = {
            "note_on": codec.note_on,
            "note_off": codec.note_off,
            "shift": codec.shift - 1,  # shift(k) moves k steps, k = 1..max
            "velocity": codec.velocity,
        }
        out.append(base[kind] + int(arg))
    return out


def assert_round_trip_per_pitch(orig: Notes, dec: Notes, config: CodecConfig) -> None:
    """The check that holds for any input, same-pitch overlaps included.

    Decoding pairs note-offs FIFO per pitch, so which onset gets which offset may change, but per
    pitch the sorted onsets, sorted offsets and sorted velocity bins must all match. An offset is
    compared with max(end, start + step): a note shorter than a step is lengthened to one step.
    """
    step, w = config.time_step, config.velocity_bin_width
    assert len(dec) == len(orig)
    assert np.array_equal(np.sort(dec.pitch), np.sort(orig.pitch))
    want_end = np.maximum(orig.end, orig.start + step)
    for p in np.unique(orig.pitch):
        o, d = orig.pitch == p, dec.pitch == p
        np.testing.assert_allclose(
            np.sort(dec.start[d]), np.sort(orig.start[o]), rtol=0, atol=tol(step)
        )
        np.testing.assert_allclose(
            np.sort(dec.end[d]), np.sort(want_end[o]), rtol=0, atol=tol(step)
        )
        assert np.array_equal(np.sort(vbin(dec.velocity[d], w)), np.sort(vbin(orig.velocity[o], w)))
    assert ((dec.velocity >= 1) & (dec.velocity <= 127)).all()
    assert (dec.end > dec.start).all()


def assert_round_trip_pairs(orig: Notes, dec: Notes, config: CodecConfig) -> None:
    """Without same-pitch overlap each decoded note matches its own original note."""
    step, w = config.time_step, config.velocity_bin_width
    a = orig.take(np.lexsort((orig.start, orig.pitch)))
    b = dec.take(np.lexsort((dec.start, dec.pitch)))
    assert np.array_equal(a.pitch, b.pitch)
    np.testing.assert_allclose(b.start, a.start, rtol=0, atol=tol(step))
    np.testing.assert_allclose(b.end, np.maximum(a.end, a.start + step), rtol=0, atol=tol(step))
    assert np.array_equal(vbin(b.velocity, w), vbin(a.velocity, w))


# -- strategies -------------------------------------------------------------------------------

pitches = st.integers(0, 127)
velocities = st.integers(1, 127)


def times(top_steps: int, step: float = STEP):
    """Seconds in [0, top_steps * step]: arbitrary floats, and exact half steps (rounding ties)."""
    return st.one_of(
        st.floats(0, top_steps * step, allow_nan=False),
        st.integers(0, 2 * top_steps).map(lambda k: k * step / 2),
    )


@st.composite
def note_sets(draw, step: float = STEP, top_steps: int = 1500, max_notes: int = 60) -> Notes:
    """Any notes: same-pitch overlaps, zero and sub-step durations, chords, long gaps."""
    pool = draw(st.lists(pitches, min_size=1, max_size=8))  # few pitches: many overlaps
    row = st.tuples(
        st.sampled_from(pool), times(top_steps, step), times(top_steps // 4, step), velocities
    )
    rows = draw(st.lists(row, min_size=1, max_size=max_notes))
    return Notes.from_rows((p, start, start + dur, v) for p, start, dur, v in rows)


@st.composite
def monophonic_per_pitch(draw, step: float = STEP, max_notes: int = 60) -> Notes:
    """Notes whose same-pitch notes never overlap and last at least one step."""
    row = st.tuples(pitches, times(300, step), times(300, step), velocities)
    free_at: dict[int, float] = defaultdict(float)  # per pitch, when its last note ended
    out = []
    for p, gap, extra, v in draw(st.lists(row, min_size=1, max_size=max_notes)):
        start = free_at[p] + gap
        free_at[p] = end = start + step + extra
        out.append((p, start, end, v))
    return Notes.from_rows(out)


configs = st.builds(
    CodecConfig,
    time_step=st.one_of(st.floats(0.0005, 1.0), st.sampled_from([0.0005, 0.001, 0.01, 1.0])),
    max_shift_steps=st.one_of(st.integers(1, 1000), st.sampled_from([1, 2, 100, 1000])),
    velocity_bin_width=st.one_of(st.integers(1, 128), st.sampled_from([1, 5, 127, 128])),
)

# -- vocabulary layout ------------------------------------------------------------------------

# Default layout: 128 note-on, 128 note-off, 100 shifts, 26 velocity bins (ceil(128 / 5)),
# then PAD, BOS, EOS. Each range's first and last id, so every boundary is seen from both sides.
BOUNDARIES = [
    (0, "note_on(0)"),
    (127, "note_on(127)"),
    (128, "note_off(0)"),
    (255, "note_off(127)"),
    (256, "shift(1)"),
    (355, "shift(100)"),
    (356, "velocity(0)"),
    (381, "velocity(25)"),
    (382, "PAD"),
    (383, "BOS"),
    (384, "EOS"),
]


@pytest.mark.parametrize(("token", "name"), BOUNDARIES, ids=[n for _, n in BOUNDARIES])
def test_describe_names_each_range_boundary(token, name):
    assert CODEC.describe(token) == name


def test_default_vocabulary_size():
    assert CODEC.num_events == 382
    assert (CODEC.pad, CODEC.bos, CODEC.eos) == (382, 383, 384)
    assert CODEC.vocab_size == 385


@pytest.mark.parametrize("token", [-1, -129, 385, 386, 10**6], ids=lambda t: f"id{t}")
def test_out_of_range_ids_raise(token):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        CODEC.describe(token)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        CODEC.decode(np.array([60, token]))


def test_boundary_events_encode_to_boundary_ids_and_back():
    """The other direction: notes at the extreme pitches and velocities and the shortest and
    longest single shift produce exactly the boundary ids, and decode back."""
    notes = Notes.from_rows([(0, 0.0, 0.01, 1), (127, 0.01, 1.01, 127)])
    tokens = CODEC.encode(notes)
    # t=0: velocity bin of 1, on(0); 1 step; t=1: off(0) before on(127) with velocity bin 25;
    # 100 steps (one full shift); t=101: off(127).
    assert tokens.tolist() == [356, 0, 256, 128, 381, 127, 355, 255]
    back = CODEC.decode(tokens)
    assert back.pitch.tolist() == [0, 127]
    np.testing.assert_allclose(back.start, [0.0, 0.01])
    np.testing.assert_allclose(back.end, [0.01, 1.01])
    # bin 0 -> its middle, 0 * 5 + 2; bin 25 -> 25 * 5 + 2 = 127
    assert back.velocity.tolist() == [2, 127]


@given(configs)
@FAST
def test_layout_for_any_config(config):
    codec = Codec(config)
    m, bins = config.max_shift_steps, math.ceil(128 / config.velocity_bin_width)
    assert codec.vocab_size == 256 + m + bins + 3
    expect = {
        0: "note_on(0)",
        127: "note_on(127)",
        128: "note_off(0)",
        255: "note_off(127)",
        256: "shift(1)",
        255 + m: f"shift({m})",
        256 + m: "velocity(0)",
        255 + m + bins: f"velocity({bins - 1})",
        256 + m + bins: "PAD",
        257 + m + bins: "BOS",
        258 + m + bins: "EOS",
    }
    for token, name in expect.items():
        assert codec.describe(token) == name
    for bad in (-1, codec.vocab_size):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            codec.describe(bad)
    # the loudest velocity falls in the last bin (floor(127 / w) = ceil(128 / w) - 1); bin 0
    # holds velocity 0 too, so with width 1 the quietest sounding note (1) is in bin 1
    w = config.velocity_bin_width
    assert codec.velocity_bin(np.array([1, 127])).tolist() == [1 // w, bins - 1]


# -- encoding -------------------------------------------------------------------------------


def test_long_gap_takes_several_shifts():
    # 3.37 s = 337 steps = 100 + 100 + 100 + 37; the note lasts 13 steps.
    notes = Notes.from_rows([(60, 3.37, 3.5, 90)])
    want = ["shift(100)"] * 3 + ["shift(37)", "velocity(18)", "note_on(60)"]
    want += ["shift(13)", "note_off(60)"]
    assert names(CODEC, CODEC.encode(notes)) == want


@given(gap=st.integers(1, 5000), config=configs)
@FAST
def test_gap_splits_into_full_shifts_and_remainder(gap, config):
    codec = Codec(config)
    step = config.time_step
    notes = Notes.from_rows([(60, gap * step, (gap + 1) * step, 90)])
    tokens = codec.encode(notes)
    m = config.max_shift_steps
    full, rest = divmod(gap, m)
    want = [f"shift({m})"] * full + ([f"shift({rest})"] if rest else [])
    head = names(codec, tokens[: len(want)])
    assert head == want
    assert names(codec, tokens[len(want) + 1 :]) == ["note_on(60)", "shift(1)", "note_off(60)"]


def test_velocity_event_only_when_bin_changes():
    # 90 and 94 share bin 18; 95 is bin 19; back to 90 is bin 18 again
    notes = Notes.from_rows(
        [(60, 0.0, 0.1, 90), (62, 0.0, 0.1, 94), (64, 0.1, 0.2, 95), (65, 0.2, 0.3, 90)]
    )
    want = ["velocity(18)", "note_on(60)", "note_on(62)", "shift(10)", "note_off(60)"]
    want += ["note_off(62)", "velocity(19)", "note_on(64)", "shift(10)", "note_off(64)"]
    want += ["velocity(18)", "note_on(65)", "shift(10)", "note_off(65)"]
    assert names(CODEC, CODEC.encode(notes)) == want


def test_repeated_note_is_released_before_it_is_struck_again():
    notes = Notes.from_rows([(60, 0.0, 0.5, 80), (60, 0.5, 1.0, 80)])
    want = ["velocity(16)", "note_on(60)", "shift(50)", "note_off(60)", "note_on(60)"]
    want += ["shift(50)", "note_off(60)"]
    assert names(CODEC, CODEC.encode(notes)) == want


def test_rounding_is_half_up():
    # 0.005 s is exactly half a step: it rounds up to step 1; 0.0149999 rounds down to step 1
    notes = Notes.from_rows([(60, 0.005, 0.0149999, 64)])
    assert names(CODEC, CODEC.encode(notes)) == [
        "shift(1)",
        "velocity(12)",
        "note_on(60)",
        "shift(1)",  # end rounds to step 1 too: the note is given one step
        "note_off(60)",
    ]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([(60, -0.01, 0.5, 64)], "before 0 s"),
        ([(128, 0.0, 0.5, 64)], "0..127"),
        ([(-1, 0.0, 0.5, 64)], "0..127"),
    ],
    ids=["negative-start", "pitch-128", "pitch-minus-1"],
)
def test_encode_rejects_bad_notes(rows, match):
    with pytest.raises(ValueError, match=match):
        CODEC.encode(Notes.from_rows(rows))


def test_encode_empty_and_batch_with_empty_piece():
    assert CODEC.encode(Notes.empty()).tolist() == []
    notes = Notes.from_rows([(60, 0.0, 0.5, 64)])
    with pytest.raises(ValueError, match="at least one note"):
        CODEC.encode_batch(notes, np.array([0, 0, 1]))


# -- round trips ------------------------------------------------------------------------------


@given(note_sets())
@FAST
def test_round_trip_keeps_notes_per_pitch(notes):
    dec = CODEC.decode(CODEC.encode(notes), max_note_seconds=1e6)
    assert_round_trip_per_pitch(notes, dec, CODEC.config)


@given(monophonic_per_pitch())
@FAST
def test_round_trip_keeps_pairs_without_same_pitch_overlap(notes):
    dec = CODEC.decode(CODEC.encode(notes), max_note_seconds=1e6)
    assert_round_trip_pairs(notes, dec, CODEC.config)


@given(st.data(), configs)
@FAST
def test_round_trip_under_any_config(data, config):
    codec = Codec(config)
    notes = data.draw(note_sets(step=config.time_step, top_steps=2000, max_notes=30))
    tokens = codec.encode(notes)
    assert tokens.min() >= 0
    assert tokens.max() < codec.num_events  # events only: no PAD/BOS/EOS
    assert_round_trip_per_pitch(notes, codec.decode(tokens, max_note_seconds=1e9), config)


@given(note_sets())
@FAST
def test_encode_of_decoded_is_a_fixed_point(notes):
    """Decoded notes lie on the grid with representative velocities: encoding them again gives
    the very same tokens (the FIFO re-pairing changes no event)."""
    tokens = CODEC.encode(notes)
    assert np.array_equal(CODEC.encode(CODEC.decode(tokens, max_note_seconds=1e6)), tokens)


# -- tolerant decoding -------------------------------------------------------------------------


def onsets_and_offsets(notes: Notes) -> tuple[list, list]:
    """Sorted (pitch, onset, velocity) and sorted (pitch, offset): what survives re-pairing."""
    ons = sorted(zip(notes.pitch.tolist(), notes.start.tolist(), notes.velocity.tolist()))
    return ons, sorted(zip(notes.pitch.tolist(), notes.end.tolist()))


def reference_decode(codec: Codec, tokens, max_note_seconds: float):
    """A plain-loop decoder of the documented rules: sorted (pitch, on step, off step, velocity,
    closed) rows, ``closed`` telling whether a note-off ended the note."""
    w = codec.config.velocity_bin_width

    def rep(b: int) -> int:  # a bin's representative velocity: its middle, within 1..127
        return min(max(b * w + w // 2, 1), 127)

    clock, vel = 0, rep(64 // w)  # before any velocity event: the bin of velocity 64
    sounding: dict[int, deque] = defaultdict(deque)
    out = []
    for t in tokens:
        if t == codec.eos:
            break
        if t < codec.note_off:
            sounding[t].append((clock, vel))
        elif t < codec.shift:
            if sounding[t - codec.note_off]:  # an off of a silent pitch is ignored
                on, v = sounding[t - codec.note_off].popleft()
                out.append((t - codec.note_off, on, max(clock, on + 1), v, True))
        elif t < codec.velocity:
            clock += t - codec.shift + 1
        elif t < codec.num_events:
            vel = rep(t - codec.velocity)
    limit = round(max_note_seconds / codec.config.time_step)
    for p, q in sounding.items():
        for on, v in q:  # never closed: to the last time reached, at most `limit` steps
            out.append((p, on, max(min(max(clock, on + 1), on + limit), on + 1), v, False))
    return sorted(out)


@st.composite
def token_sequences(draw, codec: Codec = CODEC):
    """Any ids, with extra weight on a few pitches so that ons and offs meet."""
    few = draw(st.lists(pitches, min_size=1, max_size=4))
    token = st.one_of(
        st.integers(0, codec.vocab_size - 1),
        st.sampled_from(few).map(lambda p: codec.note_on + p),
        st.sampled_from(few).map(lambda p: codec.note_off + p),
        st.integers(codec.shift, codec.velocity - 1),
    )
    return draw(st.lists(token, max_size=300))


@given(st.data(), st.one_of(st.just(CodecConfig()), configs), st.sampled_from([0.001, 0.5, 5.0]))
@FAST
def test_decode_tolerates_any_sequence(data, config, max_note_seconds):
    codec = Codec(config)
    step = config.time_step
    tokens = data.draw(token_sequences(codec))
    notes = codec.decode(np.array(tokens, dtype=np.int64), max_note_seconds=max_note_seconds)
    assert notes.start.dtype == np.float64
    assert (notes.end > notes.start).all()
    assert ((notes.pitch >= 0) & (notes.pitch <= 127)).all()
    assert ((notes.velocity >= 1) & (notes.velocity <= 127)).all()
    # Same notes as the plain-loop reading of the documented rules.
    got = sorted(
        zip(
            notes.pitch.tolist(),
            np.round(notes.start / step).astype(int).tolist(),
            np.round(notes.end / step).astype(int).tolist(),
            notes.velocity.tolist(),
        )
    )
    want = reference_decode(codec, tokens, max_note_seconds)
    assert got == [row[:4] for row in want]
    # A note never closed lasts at most max_note_seconds (one step if that is shorter; the
    # limit is rounded to whole steps, hence half a step of slack).
    bound = max(max_note_seconds, step) + step / 2 + 1e-9
    for (p, on, off, _, closed), (p2, on2, off2, _) in zip(want, got):
        assert (p, on, off) == (p2, on2, off2)
        if not closed:
            assert (off2 - on2) * step <= bound
    # Decoded notes survive encoding again: the same onsets (with their velocities) and the same
    # offsets per pitch. Only the pairing may change, when a note cut by max_note_seconds
    # overlaps a later note of its pitch and FIFO pairs them the other way.
    if len(notes):
        again = codec.decode(codec.encode(notes), max_note_seconds=1e6)
        assert onsets_and_offsets(again) == onsets_and_offsets(notes)


def test_off_without_on_is_ignored():
    tokens = ids(CODEC, "note_off(60)", "shift(1)", "note_on(60)", "shift(10)", "note_off(60)")
    tokens += ids(CODEC, "note_off(60)", "note_off(61)")
    notes = CODEC.decode(np.array(tokens))
    assert notes.pitch.tolist() == [60]
    np.testing.assert_allclose([notes.start[0], notes.end[0]], [0.01, 0.11])


@pytest.mark.parametrize(
    ("tail", "end"),
    [
        ([], 0.01),  # nothing after the onset: one step
        (["shift(50)"], 0.5),  # to the last time reached
        (["shift(100)"] * 10, 5.0),  # 10 s reached, but at most max_note_seconds (5 s)
    ],
    ids=["at-end", "last-time", "max-length"],
)
def test_unclosed_note_ends_at_a_bounded_time(tail, end):
    notes = CODEC.decode(np.array(ids(CODEC, "note_on(60)", *tail)))
    assert notes.to_rows() == [(60, 0.0, end, 62)]  # default velocity 64 -> bin 12 -> 62


def test_long_closed_note_is_kept_whole():
    """max_note_seconds bounds only notes that are never closed: a held note that the sequence
    closes after 8 s (as in real chorales) decodes to its full length."""
    notes = CODEC.decode(np.array(ids(CODEC, "note_on(60)", *["shift(100)"] * 8, "note_off(60)")))
    assert notes.to_rows() == [(60, 0.0, 8.0, 62)]


def test_same_pitch_offs_pair_first_in_first_out():
    tokens = ids(CODEC, "velocity(10)", "note_on(60)", "shift(10)", "velocity(20)", "note_on(60)")
    tokens += ids(CODEC, "shift(10)", "note_off(60)", "shift(10)", "note_off(60)")
    notes = CODEC.decode(np.array(tokens))
    # the first off closes the first (quieter, bin 10 -> 52) note
    assert notes.to_rows() == [(60, 0.0, 0.2, 52), (60, 0.1, 0.3, 102)]


def test_eos_stops_decoding():
    head = ids(CODEC, "note_on(60)", "shift(10)", "note_off(60)", "note_on(62)", "shift(20)")
    tail = ids(CODEC, "shift(50)", "note_off(62)", "note_on(64)", "shift(10)", "note_off(64)")
    notes = CODEC.decode(np.array([*head, CODEC.eos, *tail]))
    # 62 is never closed before EOS: it ends at the last time reached before EOS (0.3 s)
    assert notes.to_rows() == [(60, 0.0, 0.1, 62), (62, 0.1, 0.3, 62)]


@given(st.data(), token_sequences())
@FAST
def test_pad_and_bos_are_ignored(data, tokens):
    plain = CODEC.decode(np.array(tokens, dtype=np.int64))
    noisy = list(tokens)
    for _ in range(data.draw(st.integers(1, 10))):
        at = data.draw(st.integers(0, len(noisy)))
        noisy.insert(at, data.draw(st.sampled_from([CODEC.pad, CODEC.bos])))
    assert CODEC.decode(np.array(noisy)).to_rows() == plain.to_rows()


def test_decode_empty():
    assert len(CODEC.decode(np.array([], dtype=np.int64))) == 0
    assert len(CODEC.decode(np.array([CODEC.bos, CODEC.pad, CODEC.eos]))) == 0


# -- real pieces ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chorales(bach_midi_files) -> list[tuple[str, Notes]]:
    return [(p.stem, read_midi(p)) for p in bach_midi_files]


def test_each_chorale_round_trips(chorales):
    for name, notes in chorales:
        tokens = CODEC.encode(notes)
        dec = CODEC.decode(tokens, max_note_seconds=1e6)
        assert len(dec) == len(notes), name
        assert_round_trip_per_pitch(notes, dec, CODEC.config)
        # music21 writes every note with velocity 90 (bin 18): one velocity event per piece
        assert (notes.velocity == 90).all(), name
        velocity_events = tokens[(tokens >= CODEC.velocity) & (tokens < CODEC.num_events)]
        assert names(CODEC, velocity_events) == ["velocity(18)"], name


def test_reference_tokens_of_one_real_file():
    """Guards against a silent change of representation: see tests/data/make_cases.py."""
    ref = json.loads((DATA / "bwv10.7.tokens.json").read_text())
    tokens = CODEC.encode(read_midi(DATA / ref["file"]))
    assert tokens.tolist() == ref["tokens"]


def _shuffled_batch(pieces: list[Notes], seed: int) -> tuple[Notes, np.ndarray]:
    """Pieces concatenated, each piece's notes in a random order (encode_batch takes any)."""
    rng = np.random.default_rng(seed)
    parts = [p.take(rng.permutation(len(p))) for p in pieces]
    fields = ("start", "end", "pitch", "velocity")
    cat = Notes(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
    return cat, np.r_[0, np.cumsum([len(p) for p in parts])]


def test_encode_batch_equals_encode_per_piece(chorales):
    pieces = [n for _, n in chorales]
    notes, offsets = _shuffled_batch(pieces, seed=0)
    tokens, starts = CODEC.encode_batch(notes, offsets)
    each = [CODEC.encode(p) for p in pieces]
    assert starts.tolist() == np.r_[0, np.cumsum([len(t) for t in each])].tolist()
    for i, want in enumerate(each):
        assert np.array_equal(tokens[starts[i] : starts[i + 1]], want), chorales[i][0]


def test_encode_batch_trim_equals_encode_from_first_onset(chorales):
    # Move each piece later by a different amount, off the grid, so that trimming matters.
    pieces = [n.shifted(0.377 * i + 0.0031 * i) for i, (_, n) in enumerate(chorales)]
    notes, offsets = _shuffled_batch(pieces, seed=1)
    tokens, starts = CODEC.encode_batch(notes, offsets, trim=True)
    for i, p in enumerate(pieces):
        first = math.floor(p.start.min() / STEP + 0.5)  # the first onset, quantised (half up)
        # Subtracting a whole number of steps moves every rounded time by exactly that many
        # steps. The first onset may then lie up to half a step below 0 (it rounds to 0 all the
        # same), so clip at 0, which the encoder requires and which rounds identically.
        moved = Notes(
            np.maximum(p.start - first * STEP, 0.0),
            np.maximum(p.end - first * STEP, 0.0),
            p.pitch,
            p.velocity,
        )
        want = CODEC.encode(moved)
        assert np.array_equal(tokens[starts[i] : starts[i + 1]], want), chorales[i][0]
        assert CODEC.describe(want[0]) == "velocity(18)"  # trimmed: no leading shift


def test_velocities_outside_midi_range_clip_to_the_end_bins():
    codec = Codec()
    notes = Notes.from_rows([(60, 0.0, 0.5, 300), (62, 0.5, 1.0, 0)])
    decoded = codec.decode(codec.encode(notes))
    assert decoded.velocity.tolist() == codec.bin_velocity(np.array([25, 0])).tolist()
