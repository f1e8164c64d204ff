"""What the piece has said up to every event: the running state the Critic reads beside the tokens.

A window of a few hundred events cannot see a note struck before it, nor tell a note held for a
minute from one held for a beat; a drone hides in exactly that. Nor does it know the key the piece
has kept so far, against which a wrong note stands out. So at each event the Critic is also told,
from the whole piece up to that point:

- how many notes sound, and how many of them have been held longer than each of
  :data:`HELD_SECONDS` (a note counts from its onset until its release; one never released
  sounds to the end of the piece);
- at a note-on, the share of the piece's earlier notes that had its pitch class (0 elsewhere,
  and at the first note).

Only the past is used, so a window's state is the same however the piece is cut.
"""

from __future__ import annotations

import numpy as np

from tunesmith.data.codec import NUM_PITCHES, Codec

HELD_SECONDS = (1.0, 4.0)
# Notes sounding, those held longer than each of HELD_SECONDS, the struck pitch class's share.
FEATURES = 2 + len(HELD_SECONDS)
_FOREVER = 1e7  # seconds: decode an unreleased note as sounding to the end of the piece


def piece_state(tokens: np.ndarray, codec: Codec) -> np.ndarray:
    """``(len(tokens), FEATURES)`` float32 (see the module docstring): ``log1p`` of the number of
    notes sounding and of those held longer than each of :data:`HELD_SECONDS`, then the pitch
    class share. Any token sequence (BOS, EOS and PAD included) works; tokens after an EOS see
    the state at the EOS."""
    t = np.asarray(tokens, dtype=np.int64)
    out = np.zeros((len(t), FEATURES), dtype=np.float32)
    notes = codec.decode(t, max_note_seconds=_FOREVER)
    if not len(notes):
        return out
    now = np.cumsum(codec.shift_steps(t)) * codec.config.time_step
    # Times are the decoder's own (whole steps times the step), so equal times compare equal.
    ended = np.searchsorted(np.sort(notes.end), now, side="right")
    out[:, 0] = np.searchsorted(np.sort(notes.start), now, side="right") - ended
    length = notes.end - notes.start
    for k, held in enumerate(HELD_SECONDS, start=1):
        long = length > held
        # A note held longer than ``held`` counts from ``start + held`` until its release.
        since = np.searchsorted(np.sort(notes.start[long] + held), now, side="right")
        out[:, k] = since - np.searchsorted(np.sort(notes.end[long]), now, side="right")
    out[:, :-1] = np.log1p(out[:, :-1])

    on = np.flatnonzero(t < NUM_PITCHES)  # note-on tokens, in order
    if len(on) > 1:
        pc = t[on] % 12
        seen = np.cumsum(np.eye(12, dtype=np.int64)[pc], axis=0)  # counts up to each note-on
        before = seen[np.arange(len(on)), pc] - 1  # earlier notes of its pitch class
        out[on[1:], -1] = before[1:] / np.arange(1, len(on))
    return out
