"""What sounds at every event of a piece: the running state the Critic reads beside the tokens.

A window of a few hundred events cannot see a note struck before it, nor tell a note held for a
minute from one held for a beat; a drone hides in exactly that. So at each event the Critic is
also told, from the whole piece up to that point, how many notes sound and how many of them have
been held longer than :data:`HELD_SECONDS`. Only the past is used: a note counts from its onset
until its release, and one never released sounds to the end of the piece.
"""

from __future__ import annotations

import numpy as np

from tunesmith.data.codec import Codec

HELD_SECONDS = (1.0, 4.0)
FEATURES = 1 + len(HELD_SECONDS)  # notes sounding, then held longer than each of HELD_SECONDS
_FOREVER = 1e7  # seconds: decode an unreleased note as sounding to the end of the piece


def sounding_state(tokens: np.ndarray, codec: Codec) -> np.ndarray:
    """``(len(tokens), FEATURES)`` float32: at each token, ``log1p`` of the number of notes
    sounding, then of those held longer than each of :data:`HELD_SECONDS`. Any token sequence
    (BOS, EOS and PAD included) works; tokens after an EOS see the state at the EOS."""
    t = np.asarray(tokens, dtype=np.int64)
    out = np.zeros((len(t), FEATURES), dtype=np.float32)
    notes = codec.decode(t, max_note_seconds=_FOREVER)
    if not len(notes):
        return out
    is_shift = (t >= codec.shift) & (t < codec.velocity)
    now = np.cumsum(np.where(is_shift, t - codec.shift + 1, 0)) * codec.config.time_step
    # Times are the decoder's own (whole steps times the step), so equal times compare equal.
    ended = np.searchsorted(np.sort(notes.end), now, side="right")
    out[:, 0] = np.searchsorted(np.sort(notes.start), now, side="right") - ended
    length = notes.end - notes.start
    for k, held in enumerate(HELD_SECONDS, start=1):
        long = length > held
        # A note held longer than ``held`` counts from ``start + held`` until its release.
        since = np.searchsorted(np.sort(notes.start[long] + held), now, side="right")
        out[:, k] = since - np.searchsorted(np.sort(notes.end[long]), now, side="right")
    return np.log1p(out)
