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
``drone``      a share of notes lose their release and sound to the end of the piece,
               as when a Composer forgets a note-off
``pileup``     extra notes, held for seconds, struck at a share of the onsets: polyphony
               piles up; the piece's own notes untouched
``loop``       from a point within the first passage, one passage of a few seconds played
               over and over to the end, as a stuck sampler does
``repeat``     from an onset within the first passage, one of its notes struck over and
               over to the end: a Composer stuck on a single event
``stall``      before a share of onsets the music halts for up to a minute, the notes
               sounding there held through the halt or released at it: a Composer stuck
               on a held note or on silence (real pieces have neither)
``flat_velocity``  every note at the piece's median velocity: dynamics gone
``scramble_velocity``  the piece's velocities dealt to its notes at random
=============  ====================================================================

One more kind, ``composer``, is made by sampling a Composer (see ``compose.compose_negatives``).
The corruptions return the piece's notes in the order they were given, each changed in place,
and any added notes after them, so a test can compare them note for note. The loop and pileup
start within the first seconds and cover the whole piece, and a drone can begin at any note, so
that no window of a negative is a real window under another label.
"""

from __future__ import annotations

import numpy as np

from tunesmith.config import CORRUPTIONS, VELOCITY_KINDS, NegativeConfig
from tunesmith.data.codec import Codec
from tunesmith.data.notes import Notes


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


def drone(notes: Notes, rng: np.random.Generator, fraction: float) -> Notes:
    """Drop the release of ``fraction`` of the notes (at least one): they sound to the end."""
    n = len(notes)
    chosen = rng.choice(n, size=min(max(1, round(n * fraction)), n), replace=False)
    end = notes.end.copy()
    end[chosen] = notes.end.max()
    return Notes(notes.start, end, notes.pitch, notes.velocity)


def pileup(
    notes: Notes, rng: np.random.Generator, fraction: float, most: int, seconds: float
) -> Notes:
    """At ``fraction`` of the distinct onsets (at least one), strike 1..``most`` extra notes
    within the piece's pitch range at the onset's velocity, each held ``seconds / 2`` to
    ``seconds``. The piece's notes come first, unchanged; the extra ones follow."""
    onsets, first = np.unique(np.round(notes.start, 6), return_index=True)
    k = min(max(1, round(len(onsets) * fraction)), len(onsets))
    chosen = np.sort(rng.choice(len(onsets), size=k, replace=False))
    count = rng.integers(1, most + 1, k)
    at = np.repeat(chosen, count)
    start = notes.start[first[at]]
    length = rng.uniform(seconds / 2, seconds, len(at))
    pitch = rng.integers(int(notes.pitch.min()), int(notes.pitch.max()) + 1, len(at))
    velocity = notes.velocity[first[at]]
    return Notes.from_arrays(
        np.r_[notes.start, start],
        np.r_[notes.end, start + length],
        np.r_[notes.pitch, pitch],
        np.r_[notes.velocity, velocity],
    )


def loop(notes: Notes, rng: np.random.Generator, seconds: float) -> Notes:
    """Play the notes up to a point ``t0`` within the first ``seconds``, then the passage
    ``[t0, t0 + seconds)`` over and over until the piece's last onset. Notes are kept in order,
    the passage's repeats after the piece's own notes before ``t0`` and the first passage."""
    origin = float(notes.start.min())
    t0 = origin + rng.uniform(0.0, seconds)
    passage = (notes.start >= t0) & (notes.start < t0 + seconds)
    if not passage.any():  # a rest there: loop from the first note at or after t0
        t0 = float(notes.start[notes.start >= t0].min()) if (notes.start >= t0).any() else origin
        passage = (notes.start >= t0) & (notes.start < t0 + seconds)
    keep = notes.start < t0 + seconds
    last = float(notes.start.max())
    repeats = int((last - t0) // seconds)
    shifts = seconds * np.arange(1, repeats + 1)
    rep = notes.take(np.flatnonzero(passage))
    start = (rep.start[None] + shifts[:, None]).ravel()
    fits = start <= last
    return Notes.from_arrays(
        np.r_[notes.start[keep], start[fits]],
        np.r_[notes.end[keep], (rep.end[None] + shifts[:, None]).ravel()[fits]],
        np.r_[notes.pitch[keep], np.tile(rep.pitch, repeats)[fits]],
        np.r_[notes.velocity[keep], np.tile(rep.velocity, repeats)[fits]],
    )


def repeat(notes: Notes, rng: np.random.Generator, seconds: float) -> Notes:
    """Play the notes up to an onset ``t0`` within the first ``seconds``, then one note struck
    at ``t0`` over and over until the piece's last onset, every gap from ``t0`` to the next
    onset (at least 0.1 s), each time held as long as it was. The piece's notes before ``t0``
    come first."""
    onsets = np.unique(np.round(notes.start, 6))
    early = onsets[onsets < onsets[0] + seconds]
    i = int(rng.integers(len(early)))
    t0 = onsets[i]
    # A rolled chord's next onset may be milliseconds away: no faster than ten strikes a second.
    period = max(onsets[i + 1] - t0 if i + 1 < len(onsets) else seconds, 0.1)
    note = int(rng.choice(np.flatnonzero(np.round(notes.start, 6) == t0)))
    keep = np.round(notes.start, 6) < t0
    start = notes.start[note] + period * np.arange(int((onsets[-1] - t0) // period) + 1)
    length = notes.end[note] - notes.start[note]
    count = len(start)
    return Notes.from_arrays(
        np.r_[notes.start[keep], start],
        np.r_[notes.end[keep], start + length],
        np.r_[notes.pitch[keep], np.full(count, notes.pitch[note])],
        np.r_[notes.velocity[keep], np.full(count, notes.velocity[note])],
    )


def stall(notes: Notes, rng: np.random.Generator, fraction: float, seconds: float) -> Notes:
    """Before ``fraction`` of the distinct onsets (at least one) the music halts for
    ``seconds / 4`` to ``seconds``: the notes sounding then are held through the halt or, at
    even odds per halt, released when it starts; every later note comes that much later."""
    onsets = np.unique(np.round(notes.start, 6))
    k = min(max(1, round(len(onsets) * fraction)), len(onsets))
    at = np.sort(onsets[rng.choice(len(onsets), size=k, replace=False)])
    gaps = rng.uniform(seconds / 4, seconds, k)
    held = rng.random(k) < 0.5
    start, end = notes.start.copy(), notes.end.copy()
    released = np.full(len(notes), np.inf)  # original time a note was cut short at, if it was
    for t, gap, hold in zip(at, gaps, held):
        later = np.round(notes.start, 6) >= t
        sounding = ~later & (np.minimum(notes.end, released) > t)
        start[later] += gap
        end[later] += gap
        if hold:
            end[sounding] += gap
        else:
            end[sounding] -= np.minimum(notes.end, released)[sounding] - t
            released[sounding] = t
    return Notes(start, end, notes.pitch, notes.velocity)


def flat_velocity(notes: Notes) -> Notes:
    """Every note at the piece's median velocity."""
    level = np.full(len(notes), int(np.median(notes.velocity)), dtype=np.int16)
    return Notes(notes.start, notes.end, notes.pitch, level)


def scramble_velocity(notes: Notes, rng: np.random.Generator) -> Notes:
    """The piece's velocities, dealt to its notes in a random order."""
    return Notes(notes.start, notes.end, notes.pitch, rng.permutation(notes.velocity))


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
    elif kind == "drone":
        bad = drone(notes, rng, config.drone_fraction)
    elif kind == "pileup":
        bad = pileup(notes, rng, config.pileup_fraction, config.pileup_notes, config.pileup_seconds)
    elif kind == "loop":
        bad = loop(notes, rng, config.loop_seconds)
    elif kind == "repeat":
        bad = repeat(notes, rng, config.loop_seconds)
    elif kind == "stall":
        bad = stall(notes, rng, config.stall_fraction, config.stall_seconds)
    elif kind == "flat_velocity":
        bad = flat_velocity(notes)
    elif kind == "scramble_velocity":
        bad = scramble_velocity(notes, rng)
    else:
        raise ValueError(f"no corruption called {kind!r}; known: {CORRUPTIONS + VELOCITY_KINDS}")
    return codec.encode(bad)
