"""The duration encoding: each note-on followed by its length, no note-offs.

Expected values come from the documented rules: a note's length is written right after its
note-on on the time-shift grid, as a gap is written (full tokens, then the remainder), and cut to
``max_duration``; onsets, pitches and velocity bins are kept as under the note-off encoding;
decoding tolerates any sequence.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.compose import Rules, sample
from tunesmith.config import CodecConfig, ComposerConfig, SampleConfig
from tunesmith.data.codec import NUM_PITCHES, Codec
from tunesmith.data.midi import read_midi
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import prepare
from tunesmith.errors import ConfigError
from tunesmith.models.composer import Composer

DUR = Codec(CodecConfig(encoding="duration"))
STEP = DUR.config.time_step
CAP = round(8.0 / STEP)  # max_duration's default, in steps
FAST = settings(max_examples=200, deadline=None)


@st.composite
def configs(draw) -> CodecConfig:
    return CodecConfig(
        encoding="duration",
        time_step=draw(st.sampled_from([0.001, 0.01, 0.05])),
        max_shift_steps=draw(st.sampled_from([1, 7, 100])),
        max_duration=draw(st.sampled_from([0.05, 2.0, 8.0])),
        velocity_bin_width=draw(st.sampled_from([1, 5, 128])),
    )


def runs(codec: Codec, tokens: np.ndarray) -> list[tuple[int, list[int]]]:
    """(position of each note-on, the duration steps right after it), and checks that no
    duration stands anywhere else."""
    t = np.asarray(tokens).tolist()
    out: list[tuple[int, list[int]]] = []
    for i, tok in enumerate(t):
        if tok < codec.note_off:
            out.append((i, []))
        elif codec.duration <= tok < codec.shift:
            last = out[-1] if out else None
            assert last is not None, f"duration before any note-on at {i}"
            assert last[0] + len(last[1]) == i - 1, f"stray duration at {i}"
            last[1].append(tok - codec.duration + 1)
    return out


def assert_written_as_gaps(codec: Codec, tokens: np.ndarray) -> None:
    """Every note-on has a length: full tokens, then the remainder."""
    m = codec.config.max_shift_steps
    for at, steps in runs(codec, tokens):
        assert steps, f"note-on at {at} has no length"
        assert all(k == m for k in steps[:-1]), (at, steps)


@st.composite
def grid_notes(draw, codec: Codec = DUR, max_notes: int = 40) -> Notes:
    """Notes whose onsets and ends lie on the time grid; lengths from 1 step to past the cap."""
    cap = codec.config.max_duration_steps
    row = st.tuples(
        st.integers(0, 127), st.integers(0, 3000), st.integers(1, 2 * cap), st.integers(1, 127)
    )
    rows = draw(st.lists(row, min_size=1, max_size=max_notes))
    step = codec.config.time_step
    return Notes.from_rows((p, on * step, (on + n) * step, v) for p, on, n, v in rows)


def steps_of(notes: Notes, step: float) -> list[tuple[int, int, int]]:
    """Sorted (pitch, onset step, length in steps): onset and end each on the grid (half up),
    at least one step apart."""
    on, end = (np.floor(x / step + 0.5 + 1e-6).astype(int) for x in (notes.start, notes.end))
    n = np.maximum(end - on, 1)
    return sorted(zip(notes.pitch.tolist(), on.tolist(), n.tolist()))


# -- the vocabulary ---------------------------------------------------------------------------


def test_layout_and_names():
    assert DUR.describe(127) == "note_on(127)"
    assert DUR.describe(128) == "duration(1)"
    assert DUR.describe(227) == "duration(100)"
    assert DUR.describe(228) == "shift(1)"
    assert DUR.describe(327) == "shift(100)"
    assert DUR.describe(328) == "velocity(0)"
    assert DUR.vocab_size == 128 + 100 + 100 + 26 + 3  # no note-offs; 100 durations


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoding": "offsets"}, "codec.encoding must be one of"),
        ({"max_duration": 0.001}, "codec.max_duration must be at least one time step"),
        ({"max_duration": float("nan")}, "codec.max_duration"),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        CodecConfig(**{"encoding": "duration", **change})


# -- encoding and decoding --------------------------------------------------------------------


@given(grid_notes())
@FAST
def test_each_note_keeps_its_onset_pitch_and_length_up_to_the_cap(notes):
    tokens = DUR.encode(notes)
    assert_written_as_gaps(DUR, tokens)
    want = [(p, on, min(n, CAP)) for p, on, n in steps_of(notes, STEP)]
    assert steps_of(DUR.decode(tokens), STEP) == sorted(want)


@given(st.data(), configs())
@FAST
def test_round_trip_and_fixed_point_under_any_config(data, config):
    codec = Codec(config)
    notes = data.draw(grid_notes(codec, max_notes=25))
    tokens = codec.encode(notes)
    assert tokens.max() < codec.num_events
    assert_written_as_gaps(codec, tokens)
    cap = config.max_duration_steps
    want = [(p, on, min(n, cap)) for p, on, n in steps_of(notes, config.time_step)]
    decoded = codec.decode(tokens)
    assert steps_of(decoded, config.time_step) == sorted(want)
    assert np.array_equal(codec.encode(decoded), tokens)


def reference_decode(codec: Codec, tokens: list[int]) -> list[tuple[int, int, int]]:
    """The documented rules as a plain loop: (pitch, onset step, length in steps)."""
    clock, out = 0, []
    note: list[int] | None = None  # the note whose durations may follow
    for t in tokens:
        if t == codec.eos:
            break
        if codec.duration <= t < codec.shift:
            if note is not None:
                note[2] += t - codec.duration + 1
            continue
        note = None
        if codec.shift <= t < codec.velocity:
            clock += t - codec.shift + 1
        elif t < codec.note_off:
            note = [t, clock, 0]
            out.append(note)
    cap = codec.config.max_duration_steps
    return sorted((p, on, min(max(n, 1), cap)) for p, on, n in out)


@given(st.lists(st.integers(0, DUR.vocab_size - 1), max_size=300))
@FAST
def test_decode_tolerates_any_sequence(tokens):
    notes = DUR.decode(np.array(tokens, dtype=np.int64))
    assert steps_of(notes, STEP) == reference_decode(DUR, tokens)
    assert ((notes.velocity >= 1) & (notes.velocity <= 127)).all()


@given(grid_notes(), st.integers(-5, 5))
@FAST
def test_transposing_moves_pitches_and_keeps_lengths(notes, semitones):
    notes = Notes(notes.start, notes.end, np.clip(notes.pitch, 10, 117), notes.velocity)
    tokens = DUR.encode(notes)
    moved = DUR.decode(DUR.transpose(tokens, semitones))
    dec = DUR.decode(tokens)
    assert np.array_equal(moved.pitch, dec.pitch + semitones)
    assert np.array_equal(moved.end - moved.start, dec.end - dec.start)
    assert DUR.pitch_range(tokens) == (int(notes.pitch.min()), int(notes.pitch.max()))


@given(grid_notes(), st.sampled_from([0.5, 0.9, 1.0, 1.1, 2.0]))
@FAST
def test_stretching_scales_lengths_too(notes, factor):
    tokens = DUR.encode(notes)
    stretched = DUR.stretch(tokens, factor)
    assert_written_as_gaps(DUR, stretched)
    dec = DUR.decode(tokens)
    # The n-th note-on keeps its place among note-ons; its length scales (half up, 1 step to
    # the cap), its onset lies within half a step of the scaled one.
    before, after = runs(DUR, tokens), runs(DUR, stretched)
    assert [tokens[i] for i, _ in before] == [stretched[i] for i, _ in after]
    for (_, n), (_, n2) in zip(before, after):
        assert sum(n2) == min(CAP, max(1, math.floor(sum(n) * factor + 0.5)))
    onsets = np.sort(DUR.decode(stretched).start)
    assert np.abs(onsets - np.sort(dec.start) * factor).max() <= STEP / 2 + 1e-9


def test_real_chorales_round_trip_exactly_and_batch(bach_midi_files):
    pieces = [read_midi(p) for p in bach_midi_files]
    for path, notes in zip(bach_midi_files, pieces):
        tokens = DUR.encode(notes)
        assert_written_as_gaps(DUR, tokens)
        # Chorale notes lie on the grid and last under 8 s: each comes back as it was.
        assert steps_of(DUR.decode(tokens), STEP) == steps_of(notes, STEP), path
    fields = ("start", "end", "pitch", "velocity")
    cat = Notes(*(np.concatenate([getattr(p, f) for p in pieces]) for f in fields))
    offsets = np.r_[0, np.cumsum([len(p) for p in pieces])]
    tokens, starts = DUR.encode_batch(cat, offsets)
    for i, p in enumerate(pieces):
        assert np.array_equal(tokens[starts[i] : starts[i + 1]], DUR.encode(p))


# -- composing --------------------------------------------------------------------------------


def test_sampling_writes_each_length_after_its_note_on_as_gaps_are_written(bach_midi_dir, tmp_path):
    """Masks, not training, keep sequences well formed: a random model must obey them too."""
    cache = prepare(
        midi_dir=bach_midi_dir, cache_dir=tmp_path, codec=CodecConfig(encoding="duration")
    ).cache
    codec = cache.codec
    assert codec.config.encoding == "duration"
    for piece in cache.split("train"):
        assert_written_as_gaps(codec, cache.piece_tokens(piece))
    torch.manual_seed(0)
    model = Composer(ComposerConfig(embedding=16, hidden=32, layers=1), codec.vocab_size)
    pieces = sample(model, codec, SampleConfig(n=30, length=200, seed=1))
    for tokens in pieces:
        assert_written_as_gaps(codec, tokens)
        notes = codec.decode(tokens)
        assert len(notes) >= 1
        assert (notes.end - notes.start <= codec.config.max_duration + 1e-9).all()


def test_a_note_is_struck_only_with_room_for_its_length():
    rules = Rules(DUR, 2, torch.device("cpu"))
    rules.update(torch.tensor([60, DUR.shift]))
    allowed = rules.allowed(left=2)
    lengths = list(range(DUR.duration, DUR.shift))
    assert allowed[0].nonzero().squeeze(1).tolist() == lengths  # only a length after a note-on
    assert allowed[1].nonzero().squeeze(1).tolist() == list(range(NUM_PITCHES))  # no note yet
    rules.update(torch.tensor([DUR.duration + 5, 62]))
    allowed = rules.allowed(left=3)
    assert allowed[0, DUR.eos]
    assert not allowed[0, DUR.duration : DUR.shift].any()
    assert allowed[1].nonzero().squeeze(1).tolist() == lengths
    final = rules.allowed(left=1)
    assert not final[0, : DUR.note_off].any()  # no room for a note's length
    assert final[0, DUR.eos]


def test_a_length_goes_on_only_after_a_full_token_and_stops_at_the_cap():
    codec = Codec(CodecConfig(encoding="duration", max_duration=2.5))  # 250 steps
    rules = Rules(codec, 1, torch.device("cpu"))
    full = codec.duration + 99  # duration(100)

    def lengths_allowed() -> list[int]:
        mask = rules.allowed(left=10)[0, codec.duration : codec.shift]
        return (mask.nonzero().squeeze(1) + 1).tolist()

    rules.update(torch.tensor([60]))
    assert lengths_allowed() == list(range(1, 101))
    rules.update(torch.tensor([full]))
    assert lengths_allowed() == list(range(1, 101))  # 200 steps at most so far
    assert rules.allowed(left=10)[0, codec.shift]  # or the note is 1 s long
    rules.update(torch.tensor([full]))
    assert lengths_allowed() == list(range(1, 51))  # 50 steps to the cap
    rules.update(torch.tensor([codec.duration + 49]))
    assert lengths_allowed() == []  # the cap is reached
    rules.update(torch.tensor([61]))
    rules.update(torch.tensor([codec.duration + 4]))
    assert lengths_allowed() == []  # a remainder ends the length
