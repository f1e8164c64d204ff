"""Bad music for the Critic to tell from real music: random notes, and corruptions of real pieces.

Every corruption works on a whole piece's notes (decoded from its tokens, changed, encoded again),
never on a window, so a negative window is cut from its piece exactly as a real window is and no
boundary artefact tells them apart. Each kind changes one aspect of the music and keeps the rest:

=============  ====================================================================
``random``     the seed's random notes: pitch uniform 0..127, velocity 10..79, length
               ``|N(1, 1)|`` s, onset gaps ``|N(0.3, 0.2)|`` s (not derived from any piece)
``wrong_notes``  a share of notes moved by 1..N semitones up or down; rhythm untouched
``shuffle``    the piece cut into short segments by onset time, segments permuted; every
               note keeps its pitch, length and place inside its segment
``jitter``     onsets moved at random (a chord's notes together), lengths kept: rhythm
               and tempo made unsteady; pitches untouched
=============  ====================================================================

A fifth kind, ``composer``, is made by sampling a Composer (see ``training/critic.py``).
The corruptions return notes in the order they were given, each changed in place, so a test can
compare them note for note.
"""

from __future__ import annotations

import numpy as np

from tunesmith.config import NegativeConfig
from tunesmith.data.codec import Codec
from tunesmith.data.notes import Notes

CORRUPTIONS = ("wrong_notes", "shuffle", "jitter")


def random_notes(rng: np.random.Generator, n: int) -> Notes:
    """``n`` random notes exactly as the seed made them."""
    gaps = np.abs(rng.normal(0.3, 0.2, n))
    start = np.cumsum(gaps) - gaps[0]
    length = np.abs(rng.normal(1.0, 1.0, n))
    pitch = rng.integers(0, 128, n)
    velocity = rng.integers(10, 80, n)
    return Notes.from_arrays(start, start + length, pitch, velocity).sorted()


def random_piece(rng: np.random.Generator, codec: Codec, n_tokens: int) -> np.ndarray:
    """Tokens of random notes, as many as a real piece of ``n_tokens`` tokens holds."""
    # Each random note costs about five tokens (on, off, velocity, one or two shifts).
    tokens = codec.encode(random_notes(rng, max(2, n_tokens // 3)))
    return tokens[:n_tokens]


def wrong_notes(notes: Notes, rng: np.random.Generator, fraction: float, semitones: int) -> Notes:
    """Move ``fraction`` of the notes (at least one) by 1..``semitones`` semitones up or down,
    staying within 0..127; onsets and lengths are kept."""
    n = len(notes)
    k = max(1, round(n * fraction))
    chosen = rng.choice(n, size=min(k, n), replace=False)
    step = rng.integers(1, semitones + 1, len(chosen)) * rng.choice([-1, 1], len(chosen))
    pitch = notes.pitch.astype(np.int64)
    moved = pitch[chosen] + step
    moved = np.where((moved < 0) | (moved > 127), pitch[chosen] - step, moved)  # bounce back
    pitch[chosen] = moved
    return Notes.from_arrays(notes.start, notes.end, pitch, notes.velocity)


def shuffle_segments(notes: Notes, rng: np.random.Generator, seconds: float) -> Notes:
    """Cut the piece into segments of ``seconds`` by onset, and play them in a random order
    (never the original one when there are two or more segments)."""
    origin = notes.start.min()
    segment = ((notes.start - origin) // seconds).astype(np.int64)
    count = int(segment.max()) + 1
    if count < 2:
        return notes
    order = rng.permutation(count)
    while np.array_equal(order, np.arange(count)):
        order = rng.permutation(count)
    new_place = np.empty(count, dtype=np.int64)
    new_place[order] = np.arange(count)  # segment order[j] is played j-th
    shift = (new_place[segment] - segment) * seconds
    return Notes(notes.start + shift, notes.end + shift, notes.pitch, notes.velocity)


def jitter(notes: Notes, rng: np.random.Generator, seconds: float) -> Notes:
    """Move every distinct onset by ``N(0, seconds)`` (the notes of a chord together), keeping
    each note's length and the onsets' order."""
    onsets, which = np.unique(np.round(notes.start, 6), return_inverse=True)
    moved = onsets + rng.normal(0.0, seconds, len(onsets))
    # Keep the order of onsets (a jitter, not a shuffle), and time from zero.
    moved = np.maximum.accumulate(moved)
    moved -= min(0.0, moved.min())
    shift = moved[which] - notes.start
    return Notes(notes.start + shift, notes.end + shift, notes.pitch, notes.velocity)


def corrupt(
    kind: str, tokens: np.ndarray, codec: Codec, rng: np.random.Generator, config: NegativeConfig
) -> np.ndarray:
    """A negative of ``kind`` made from a real piece's event tokens (``random`` only takes its
    length). Returns event tokens."""
    if kind == "random":
        return random_piece(rng, codec, len(tokens))
    notes = codec.decode(tokens)
    if kind == "wrong_notes":
        bad = wrong_notes(notes, rng, config.wrong_fraction, config.wrong_semitones)
    elif kind == "shuffle":
        bad = shuffle_segments(notes, rng, config.segment_seconds)
    elif kind == "jitter":
        bad = jitter(notes, rng, config.jitter_seconds)
    else:
        raise ValueError(f"no corruption called {kind!r}; known: {CORRUPTIONS}")
    return codec.encode(bad)
