"""MIDI reading and writing: purpose-built case files, bad files, real chorales, round trips.

The case files in tests/data are written by tests/data/make_cases.py with mido; expected values
below are worked out by hand from the events that script writes (see its comments). Files our
writer produces are read back with an independent mido-based parser defined here.
"""

from __future__ import annotations

import os
from collections import defaultdict, deque
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.config import ReadConfig
from tunesmith.data.midi import NoteBatch, load_score, read_midi, write_midi
from tunesmith.data.notes import Notes
from tunesmith.errors import EmptyScoreError, MidiReadError

DATA = Path(__file__).parent / "data"
MS = 0.001  # write_midi's resolution: 1 tick = 1 ms
WRITE_TOL = MS / 2 + 1e-9  # rounding to the nearest tick moves a time by at most half a tick
FAST = settings(max_examples=200, deadline=None)


# -- an independent reader --------------------------------------------------------------------


def mido_read(path: Path) -> Notes:
    """Notes of a MIDI file by mido: delta ticks accumulated per track, seconds from
    ticks_per_beat and the set_tempo events of all tracks (120 bpm before the first), note_on
    with velocity 0 taken as note_off, note-offs paired first-in-first-out per track, channel
    and pitch. Drum channel 10 is skipped; no sustain pedal."""
    mid = mido.MidiFile(path)
    tempos: list[tuple[int, int]] = []
    raw = []  # (pitch, on tick, off tick, velocity)
    for track in mid.tracks:
        tick = 0
        sounding: dict[tuple[int, int], deque] = defaultdict(deque)
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
                sounding[msg.channel, msg.note].append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off") and sounding[msg.channel, msg.note]:
                on, vel = sounding[msg.channel, msg.note].popleft()
                raw.append((msg.note, on, tick, vel))
    tempos.sort(key=lambda t: t[0])

    def seconds(tick: int) -> float:
        sec, at, us = 0.0, 0, 500_000
        for t, tempo in tempos:
            if t >= tick:
                break
            sec += (t - at) * us / (1e6 * mid.ticks_per_beat)
            at, us = t, tempo
        return sec + (tick - at) * us / (1e6 * mid.ticks_per_beat)

    rows = [(p, seconds(on), seconds(off), v) for p, on, off, v in raw]
    return Notes.from_rows(rows).sorted()


def assert_same_notes(a: Notes, b: Notes, atol: float = 1e-9) -> None:
    """Equal as sets of notes: same pitches and velocities, times within ``atol`` seconds."""
    a = a.take(np.lexsort((a.velocity, a.end, a.start, a.pitch)))
    b = b.take(np.lexsort((b.velocity, b.end, b.start, b.pitch)))
    assert a.pitch.tolist() == b.pitch.tolist()
    np.testing.assert_allclose(a.start, b.start, rtol=0, atol=atol)
    np.testing.assert_allclose(a.end, b.end, rtol=0, atol=atol)
    assert a.velocity.tolist() == b.velocity.tolist()


def assert_same_per_pitch(got: Notes, want: Notes, atol: float) -> None:
    """For any notes, same-pitch overlaps included: readers pair note-offs FIFO per pitch, so
    compare per pitch the sorted onsets, offsets and velocities."""
    assert sorted(got.pitch.tolist()) == sorted(want.pitch.tolist())
    for p in np.unique(want.pitch):
        g, w = got.pitch == p, want.pitch == p
        np.testing.assert_allclose(np.sort(got.start[g]), np.sort(want.start[w]), rtol=0, atol=atol)
        np.testing.assert_allclose(np.sort(got.end[g]), np.sort(want.end[w]), rtol=0, atol=atol)
        assert sorted(got.velocity[g].tolist()) == sorted(want.velocity[w].tolist())


def rows(*notes: tuple[int, float, float, int]) -> Notes:
    return Notes.from_rows(notes)


# -- one-property case files ------------------------------------------------------------------

# (file, expected notes as (pitch, start s, end s, velocity)), from make_cases.py's comments.
CASES = {
    "tempo_change": rows(
        (60, 0.0, 0.5, 80),
        (62, 0.5, 1.0, 80),
        (64, 0.75, 1.5, 80),  # spans the change at 1.0 s: 1.0 + 240/480 * 1.0
        (65, 1.0, 2.0, 80),
        (67, 2.0, 3.0, 80),
    ),
    "tempo_late": rows((60, 0.0, 0.5, 80), (62, 1.0, 2.0, 80)),  # 120 bpm until the first tempo
    "tpq_96": rows((60, 0.0, 0.6, 70), (64, 0.6, 1.5, 71), (67, 0.6, 0.8, 72), (72, 1.5, 2.4, 73)),
    "tpq_960": rows((60, 0.0, 0.6, 70), (64, 0.6, 1.5, 71), (67, 0.6, 0.8, 72), (72, 1.5, 2.4, 73)),
    "sustain": rows(
        (48, 0.0, 2.0, 60),  # released after the pedal came up: unchanged
        (60, 0.0, 1.5, 61),  # released under the pedal: lasts until the pedal is released
        (64, 0.5, 1.0, 62),  # sustained, then struck again: cut at the new onset
        (64, 1.0, 1.5, 63),
        (67, 2.0, 2.75, 64),  # second pedal (down at value 64, up at 63)
    ),
    "sustain_held": rows((60, 0.0, 1.0, 90), (62, 0.25, 1.0, 90)),  # never released
    "two_tracks": rows(
        (43, 0.0, 1.0, 50), (48, 0.25, 0.75, 50), (60, 0.0, 0.5, 100), (64, 0.5, 1.0, 100)
    ),
    "zero_velocity_off": rows((60, 0.0, 0.5, 77), (62, 0.5, 1.5, 88)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_case_file_notes(name):
    notes = read_midi(DATA / f"{name}.mid")
    assert_same_notes(notes, CASES[name])
    assert notes.start.dtype == np.float64
    # read_midi returns notes sorted by onset, then pitch
    order = np.lexsort((notes.end, notes.pitch, notes.start))
    assert order.tolist() == list(range(len(notes)))


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith("sustain")])
def test_case_file_agrees_with_independent_parser(name):
    assert_same_notes(read_midi(DATA / f"{name}.mid"), mido_read(DATA / f"{name}.mid"))


def test_ticks_per_beat_does_not_change_seconds():
    assert_same_notes(read_midi(DATA / "tpq_96.mid"), read_midi(DATA / "tpq_960.mid"))


def test_sustain_off_keeps_key_releases():
    notes = read_midi(DATA / "sustain.mid", ReadConfig(sustain=False))
    want = rows(
        (48, 0.0, 2.0, 60),
        (60, 0.0, 0.5, 61),
        (64, 0.5, 0.75, 62),
        (64, 1.0, 1.25, 63),
        (67, 2.0, 2.5, 64),
    )
    assert_same_notes(notes, want)
    assert_same_notes(notes, mido_read(DATA / "sustain.mid"))  # mido_read ignores the pedal


def test_first_track_only():
    notes = read_midi(DATA / "two_tracks.mid", ReadConfig(first_track_only=True))
    assert_same_notes(notes, rows((60, 0.0, 0.5, 100), (64, 0.5, 1.0, 100)))


@pytest.mark.parametrize(
    ("name", "reason"),
    [("drums_only", "only drum tracks"), ("no_notes", "no notes")],
    ids=["drums_only", "no_notes"],
)
def test_files_without_music_raise_empty_score(name, reason):
    path = DATA / f"{name}.mid"
    with pytest.raises(EmptyScoreError) as info:
        read_midi(path)
    assert str(info.value) == f"{path}: {reason}"


# -- bad files ---------------------------------------------------------------------------------

BAD = [
    ("not_midi", "not a MIDI file"),
    ("empty", "empty file"),
    ("truncated", "corrupt or truncated MIDI"),
    ("garbage", "corrupt or truncated MIDI"),
]


def assert_one_line_reason(err: Exception, path: Path, reason: str) -> None:
    message = str(err)
    assert str(path) in message
    assert "\n" not in message
    assert message.startswith(f"{path}: {reason}")


@pytest.mark.parametrize(("name", "reason"), BAD, ids=[n for n, _ in BAD])
def test_bad_file_raises_midi_read_error(name, reason):
    path = DATA / f"{name}.mid"
    with pytest.raises(MidiReadError) as info:
        read_midi(path)
    assert_one_line_reason(info.value, path, reason)
    with pytest.raises(MidiReadError):  # the lower-level entry point refuses it the same way
        load_score(path)


def test_truncated_file_is_the_first_half_of_a_readable_real_file():
    whole = (DATA / "bwv10.7.mid").read_bytes()
    assert (DATA / "truncated.mid").read_bytes() == whole[: len(whole) // 2]
    assert len(read_midi(DATA / "bwv10.7.mid")) > 0


@pytest.mark.parametrize("kind", ["dangling_symlink", "missing", "directory"])
def test_unreadable_path_raises_cannot_read(tmp_path, kind):
    path = tmp_path / "x.mid"
    if kind == "dangling_symlink":
        path.symlink_to(tmp_path / "nowhere.mid")
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(MidiReadError) as info:
        read_midi(path)
    assert_one_line_reason(info.value, path, "cannot read file")


# -- real chorales ----------------------------------------------------------------------------


def test_chorales_agree_with_independent_parser(bach_midi_files):
    for path in bach_midi_files:
        notes = read_midi(path)
        assert len(notes) > 0, path.name
        assert_same_notes(notes, mido_read(path))


def test_note_batch_equals_one_file_at_a_time(bach_midi_files):
    """Reading many files in one batch (tick scales and tempo maps mixed) changes nothing."""
    paths = [*bach_midi_files, DATA / "tempo_change.mid", DATA / "tpq_96.mid"]
    batch = NoteBatch()
    for p in paths:
        batch.add(load_score(p), p)
    notes, offsets = batch.build()
    assert offsets.tolist()[0] == 0
    assert len(offsets) == len(paths) + 1
    for i, p in enumerate(paths):
        assert_same_notes(notes.take(np.arange(offsets[i], offsets[i + 1])), read_midi(p))


def test_chorale_survives_write_and_read(bach_midi_files, tmp_path):
    for path in bach_midi_files:
        notes = read_midi(path)
        out = write_midi(notes, tmp_path / path.name)
        assert_same_per_pitch(read_midi(out), notes, atol=WRITE_TOL)
        assert_same_per_pitch(mido_read(out), notes, atol=WRITE_TOL)


# -- writing ----------------------------------------------------------------------------------

pitches = st.integers(0, 127)
velocities = st.integers(1, 127)
seconds = st.one_of(
    st.floats(0, 120, allow_nan=False),
    st.integers(0, 240_000).map(lambda k: k * MS / 2),  # exact half ticks
)


@st.composite
def note_sets(draw) -> Notes:
    """Any notes, same-pitch overlaps and sub-millisecond notes included."""
    pool = draw(st.lists(pitches, min_size=1, max_size=8))
    row = st.tuples(st.sampled_from(pool), seconds, st.floats(0, 10), velocities)
    found = draw(st.lists(row, min_size=1, max_size=40))
    return Notes.from_rows((p, s, s + d, v) for p, s, d, v in found)


def written(notes: Notes) -> Notes:
    """What a 1 ms grid can hold: every note lasts at least one tick."""
    return Notes(notes.start, np.maximum(notes.end, notes.start + MS), notes.pitch, notes.velocity)


@given(note_sets())
@FAST
def test_write_then_independent_parser(tmp_path_factory, notes):
    path = tmp_path_factory.mktemp("w") / "out.mid"
    write_midi(notes, path)
    assert_same_per_pitch(mido_read(path), written(notes), atol=WRITE_TOL)


@given(note_sets())
@FAST
def test_write_then_read_midi(tmp_path_factory, notes):
    path = tmp_path_factory.mktemp("w") / "out.mid"
    write_midi(notes, path)
    got = read_midi(path)
    assert_same_per_pitch(got, written(notes), atol=WRITE_TOL)
    assert_same_notes(got, mido_read(path))  # and both readers pair the notes alike


def test_write_exact_pairs_without_overlap(tmp_path):
    notes = rows(
        (60, 0.0, 0.25, 10), (60, 0.25, 0.5, 120), (64, 0.1234, 3.0, 1), (0, 1.0, 1.0004, 127)
    )
    path = write_midi(notes, tmp_path / "x.mid")
    # 0.1234 s -> tick 123; 1.0004 s -> tick 1000, which is the onset: one tick is kept
    want = rows(
        (60, 0.0, 0.25, 10), (60, 0.25, 0.5, 120), (64, 0.123, 3.0, 1), (0, 1.0, 1.001, 127)
    )
    assert_same_notes(mido_read(path), want)
    assert_same_notes(read_midi(path), want)


def test_write_is_atomic_and_replaces_whole(tmp_path):
    path = tmp_path / "piece.mid"
    big = Notes.from_rows([(60 + i % 12, i * 0.1, i * 0.1 + 0.5, 90) for i in range(500)])
    small = rows((72, 0.0, 1.0, 64))
    assert write_midi(big, path) == path
    old = path.read_bytes()
    os.link(path, tmp_path / "old-link.mid")  # another name for the old file's inode
    write_midi(small, path)
    # The new file is whole and holds only the new notes; the old bytes were never touched in
    # place (the other link still has them): the write was a rename, not a rewrite.
    assert_same_notes(read_midi(path), small)
    assert path.stat().st_size < len(old)
    assert (tmp_path / "old-link.mid").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old-link.mid", "piece.mid"]


def test_failed_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "taken.mid"
    target.mkdir()  # a directory where the file should go: the final rename fails
    (target / "keep").write_text("x")
    with pytest.raises(IsADirectoryError):
        write_midi(rows((60, 0.0, 1.0, 64)), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mid"]
    assert (target / "keep").read_text() == "x"


def test_write_creates_parent_folders(tmp_path):
    path = write_midi(rows((60, 0.0, 1.0, 64)), tmp_path / "a" / "b" / "x.mid")
    assert_same_notes(mido_read(path), rows((60, 0.0, 1.0, 64)))
