"""The Notes container: construction, dtypes, ordering, shifting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesmith.data.notes import Notes

row = st.tuples(
    st.integers(0, 127),
    st.floats(0, 1000, allow_nan=False),
    st.floats(0, 1000, allow_nan=False),
    st.integers(1, 127),
)


@given(st.lists(row, max_size=30))
@settings(max_examples=100, deadline=None)
def test_rows_round_trip_and_sorted_order(rows):
    notes = Notes.from_rows(rows)
    assert len(notes) == len(rows)
    assert notes.to_rows() == [(p, s, e, v) for p, s, e, v in rows]
    assert notes.start.dtype == notes.end.dtype == np.float64
    assert notes.pitch.dtype == notes.velocity.dtype == np.int16
    ordered = notes.sorted().to_rows()
    assert ordered == sorted(rows, key=lambda r: (r[1], r[0], r[2]))  # by (start, pitch, end)


def test_unequal_lengths_raise():
    with pytest.raises(ValueError, match="equal length"):
        Notes.from_arrays([0.0, 1.0], [0.5], [60], [64])


def test_empty():
    notes = Notes.empty()
    assert len(notes) == 0
    assert notes.duration == 0.0
    assert Notes.from_rows([]).to_rows() == []


def test_duration_is_the_last_end_and_shift_moves_times_only():
    notes = Notes.from_rows([(60, 0.5, 2.0, 10), (62, 1.0, 1.5, 20)])
    assert notes.duration == 2.0
    moved = notes.shifted(1.25)
    assert moved.to_rows() == [(60, 1.75, 3.25, 10), (62, 2.25, 2.75, 20)]
    assert notes.to_rows() == [(60, 0.5, 2.0, 10), (62, 1.0, 1.5, 20)]  # unchanged: frozen
