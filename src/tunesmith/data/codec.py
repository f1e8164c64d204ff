"""Performance-event codec: notes <-> token ids, vectorised with numpy.

Token id ranges of the ``note-off`` encoding (``n`` = max_shift_steps, ``v`` = velocity bins)::

    [0, 128)                 note-on(pitch)
    [128, 256)               note-off(pitch)
    [256, 256 + n)           time-shift(k steps), k = 1..n            (seed: 100 x 10 ms)
    [256 + n, 256 + n + v)   velocity(bin), applies to the following note-ons (seed: 26)
    then PAD, BOS, EOS

The ``duration`` encoding has no note-offs: after each note-on comes its length, written on the
same grid and in the same way as a gap (full tokens, then the remainder)::

    [0, 128)                 note-on(pitch)
    [128, 128 + n)           duration(k steps), k = 1..n: the length of the note just struck
    then time-shifts, velocities, PAD, BOS, EOS as above

Lengths are exact on the grid up to ``max_duration``; a longer note is cut to it. A language
model over it never has to remember which notes are open, and no note can hang on: its length
is said when it starts.

Encoding quantises onsets and offsets to the time grid (half up), gives every note at least one
step, and emits a velocity event only when the bin changes. At one time step note-offs come
before note-ons, so a repeated note is released before it is struck again; note-ons come in
pitch order.

Decoding accepts any sequence: it stops at EOS and ignores PAD/BOS. Under ``note-off`` it ignores
note-offs of pitches that are not sounding, pairs note-offs with note-ons first-in-first-out per
pitch (as symusic and most MIDI readers do), and ends a note that is never closed at the last time
reached, or after ``max_note_seconds``, whichever comes first. Under ``duration`` a note lasts
the sum of the durations right after its note-on (one step if there are none, ``max_duration``
at most), and durations after anything else are ignored.
"""

from __future__ import annotations

import numpy as np

from tunesmith.config import CodecConfig
from tunesmith.data.notes import Notes

NUM_PITCHES = 128
DEFAULT_VELOCITY = 64  # note-ons before any velocity event get this one's bin
_EPS = 1e-6  # steps; absorbs float error so exact half steps always round up
_TIME_BITS = 25  # packed sort keys hold times below 2**25 steps (93 h at 10 ms)
_PIECE_SHIFT = 15 + _TIME_BITS


class Codec:
    """Vocabulary layout and the two conversions, for one :class:`CodecConfig`."""

    def __init__(self, config: CodecConfig | None = None) -> None:
        self.config = config or CodecConfig()
        c = self.config
        self.velocity_bins = -(-NUM_PITCHES // c.velocity_bin_width)
        # Ranges lie back to back: note-on [note_on, note_off), note-off [note_off, duration),
        # duration [duration, shift), ...; one of the middle two is empty.
        self.note_on = 0
        self.note_off = NUM_PITCHES
        self.durations = c.encoding == "duration"
        self.duration = NUM_PITCHES if self.durations else 2 * NUM_PITCHES
        self.shift = self.duration + (c.max_shift_steps if self.durations else 0)
        self.velocity = self.shift + c.max_shift_steps
        self.num_events = self.velocity + self.velocity_bins
        self.pad = self.num_events
        self.bos = self.num_events + 1
        self.eos = self.num_events + 2
        self.vocab_size = self.num_events + 3
        # velocity -> bin, with bit 14 (the packed "note-on" flag of encode_batch) set
        self._bin_of = (np.maximum(np.arange(128), 1) // c.velocity_bin_width) | (1 << 14)

    def __repr__(self) -> str:
        return f"Codec({self.config}, vocab_size={self.vocab_size})"

    # -- helpers -----------------------------------------------------------------------------

    def quantize(self, seconds: np.ndarray) -> np.ndarray:
        """Seconds (>= 0) -> whole time steps, rounding half up."""
        return (seconds * (1.0 / self.config.time_step) + (0.5 + _EPS)).astype(np.int64)

    def shift_steps(self, tokens: np.ndarray) -> np.ndarray:
        """How many time steps each token moves the clock: ``k`` for shift(k), 0 for the rest."""
        t = np.asarray(tokens, dtype=np.int64)
        return np.where((t >= self.shift) & (t < self.velocity), t - self.shift + 1, 0)

    def velocity_bin(self, velocity: np.ndarray) -> np.ndarray:
        return self._bin_of[np.clip(velocity, 0, 127)] & 127

    def bin_velocity(self, bins: np.ndarray) -> np.ndarray:
        """Velocity bin -> a representative MIDI velocity (the bin's middle, within 1..127)."""
        w = self.config.velocity_bin_width
        return np.clip(bins * w + w // 2, 1, 127).astype(np.int16)

    def describe(self, token: int) -> str:
        """Human-readable name of one token id, e.g. ``note_on(60)`` or ``shift(25)``."""
        t = int(token)
        if not 0 <= t < self.vocab_size:
            raise ValueError(f"token {t} is outside the vocabulary of size {self.vocab_size}")
        if t < self.note_off:
            return f"note_on({t})"
        if t < self.duration:
            return f"note_off({t - self.note_off})"
        if t < self.shift:
            return f"duration({t - self.duration + 1})"
        if t < self.velocity:
            return f"shift({t - self.shift + 1})"
        if t < self.num_events:
            return f"velocity({t - self.velocity})"
        return {self.pad: "PAD", self.bos: "BOS", self.eos: "EOS"}[t]

    def shift_tokens(
        self, gaps: np.ndarray, base: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expand gaps (whole steps > 0) into time-shift tokens (or, from ``base``, durations).

        Returns the tokens of all gaps, concatenated, and how many each gap took. A gap longer
        than ``max_shift_steps`` becomes several full shifts and the remainder.
        """
        base = self.shift if base is None else base
        m = self.config.max_shift_steps
        counts = (gaps + (m - 1)) // m
        if len(gaps) and counts.min() == counts.max() == 1:  # the common case: one token each
            return base + gaps - 1, counts
        tokens = np.full(int(counts.sum()), base + m - 1, dtype=np.int64)
        some = counts > 0
        tokens[np.cumsum(counts)[some] - 1] = base + gaps[some] - (counts[some] - 1) * m - 1
        return tokens, counts

    # -- encode ------------------------------------------------------------------------------

    def encode(self, notes: Notes) -> np.ndarray:
        """Notes of one piece -> int64 token ids (events only: no BOS/EOS). Time starts at 0 s."""
        if len(notes) == 0:
            return np.empty(0, dtype=np.int64)
        tokens, _ = self.encode_batch(notes, np.array([0, len(notes)]))
        return tokens

    def encode_batch(
        self, notes: Notes, offsets: np.ndarray, trim: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode many pieces in one vectorised pass.

        ``notes[offsets[i]:offsets[i + 1]]`` are the notes of piece ``i`` (any order, at least
        one each). Returns all pieces' tokens concatenated and their offsets into it. With
        ``trim`` each piece starts at its first onset rather than at 0 s.
        """
        offsets = np.asarray(offsets, dtype=np.int64)
        counts = np.diff(offsets)
        if len(counts) == 0 or counts.min() < 1:
            raise ValueError("encode_batch needs at least one note in every piece")
        if notes.start.min() < 0:
            raise ValueError("notes must not start before 0 s")
        on = self.quantize(notes.start)
        off = self.quantize(notes.end)
        if trim:
            first_on = np.repeat(np.minimum.reduceat(on, offsets[:-1]), counts)
            on -= first_on
            off -= first_on
        np.maximum(off, on + 1, out=off)
        if off.max() >= 1 << _TIME_BITS:
            longest = (1 << _TIME_BITS) * self.config.time_step
            raise ValueError(f"pieces must be shorter than {longest:.0f} s")
        pitch = notes.pitch.astype(np.int64)
        if pitch.min() < 0 or pitch.max() >= NUM_PITCHES:
            raise ValueError("pitches must lie in 0..127")

        # Packed keys order events by (piece, time, off-before-on, pitch) and carry the
        # velocity bin: bits 0-6 bin, 7-13 pitch, 14 on, 15-39 time, 40+ piece.
        common = np.repeat(np.arange(len(counts), dtype=np.int64) << _PIECE_SHIFT, counts)
        common |= pitch << 7
        on_keys = common | (on << 15) | self._bin_of[np.clip(notes.velocity, 0, 127)]
        if self.durations:
            length = np.minimum(off - on, self.config.max_duration_steps)
            order = np.lexsort((length, on_keys))  # a note struck twice at once: shorter first
            keys = on_keys[order]
            after = self.shift_tokens(length[order], self.duration)
            per_piece = counts
        else:
            keys = np.concatenate([common | (off << 15), on_keys])
            keys.sort()
            after, per_piece = None, 2 * counts
        # bit 14 set (on) -> pitch; clear (off) -> 128 + pitch: exactly the token ids.
        return self._lay_out(keys, ((keys >> 7) & 255) ^ NUM_PITCHES, per_piece, after)

    def _lay_out(
        self,
        keys: np.ndarray,
        event: np.ndarray,
        counts: np.ndarray,
        after: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token rows from sorted event keys: before each event the time-shifts that reach its
        time and a velocity when the bin changes; after it, its run of ``after`` tokens if given
        (all runs' tokens, and how many each event has)."""
        n = len(keys)
        tail = np.zeros(n, dtype=np.int64) if after is None else after[1]
        head = np.r_[0, np.cumsum(counts)[:-1]]  # each piece's first event
        clock = keys >> 15
        gaps = np.empty(n, dtype=np.int64)
        np.subtract(clock[1:], clock[:-1], out=gaps[1:])
        gaps[head] = clock[head] & ((1 << _TIME_BITS) - 1)
        moved = np.flatnonzero(gaps)
        shifts, n_shift = self.shift_tokens(gaps[moved])

        on_at = np.flatnonzero(event < NUM_PITCHES)
        on_key = keys[on_at]
        on_state = ((on_key >> _PIECE_SHIFT) << 7) | (on_key & 127)  # (piece, velocity bin)
        changed = np.r_[True, on_state[1:] != on_state[:-1]]
        vel_at = on_at[changed]

        extra = np.zeros(n, dtype=np.int64)  # tokens each event needs before its own
        extra[moved] = n_shift
        extra[vel_at] += 1
        pos = np.cumsum(extra)
        pos += np.arange(n)
        pos[1:] += np.cumsum(tail)[:-1]
        out = np.empty(int(pos[-1] + 1 + tail[-1]), dtype=np.int64)
        out[pos] = event
        if after is not None:
            _fill_runs(out, pos + 1, tail, after[0])
        out[pos[vel_at] - 1] = self.velocity + (on_key[changed] & 127)
        shift_end = pos[moved] - extra[moved] + n_shift  # one past each gap's last shift
        if len(shifts) == len(moved):
            out[shift_end - 1] = shifts
        else:
            _fill_runs(out, shift_end - n_shift, n_shift, shifts)
        starts = pos[head] - extra[head]
        return out, np.r_[starts, len(out)]

    # -- augmentation on tokens -------------------------------------------------------------

    def pitch_range(self, tokens: np.ndarray) -> tuple[int, int] | None:
        """Lowest and highest pitch of the note events in ``tokens`` (None if there are none)."""
        notes = tokens[tokens < self.duration]
        if not len(notes):
            return None
        pitches = notes % NUM_PITCHES
        return int(pitches.min()), int(pitches.max())

    def transpose(self, tokens: np.ndarray, semitones: int) -> np.ndarray:
        """Move every note event by ``semitones``; the caller keeps pitches within 0..127."""
        out = np.array(tokens, dtype=np.int64)
        is_note = out < self.duration
        moved = out[is_note] % NUM_PITCHES + semitones
        if len(moved) and (moved.min() < 0 or moved.max() >= NUM_PITCHES):
            raise ValueError(f"transposing by {semitones} moves notes out of 0..127")
        out[is_note] += semitones
        return out

    def stretch(self, tokens: np.ndarray, factor: float) -> np.ndarray:
        """Scale all time by ``factor``: time-shifts are re-quantised from absolute times (so
        rounding does not drift) and re-expanded; other tokens keep their order."""
        t = np.asarray(tokens, dtype=np.int64)
        steps = self.shift_steps(t)
        clock = np.cumsum(steps)
        keep = np.flatnonzero(steps == 0)
        # each kept token's time, then the time at the end (trailing shifts)
        when = np.r_[clock[keep], clock[-1] if len(t) else 0]
        when = np.floor(when * factor + 0.5).astype(np.int64)
        shifts, n_shift = self.shift_tokens(np.diff(when, prepend=0))
        kept = np.r_[t[keep], -1]  # -1 marks the end slot, dropped below
        end = np.cumsum(n_shift + 1)
        out = np.empty(int(end[-1]), dtype=np.int64)
        out[end - 1] = kept
        _fill_runs(out, end - 1 - n_shift, n_shift, shifts)
        out = out[:-1]
        if self.durations:
            out = self._rescale_durations(out, factor)
        return out

    def _rescale_durations(self, tokens: np.ndarray, factor: float) -> np.ndarray:
        """Each run of durations written again for its total times ``factor`` (half up, at
        least one step, at most ``max_duration``)."""
        is_d = (tokens >= self.duration) & (tokens < self.shift)
        if not is_d.any():
            return tokens
        first = is_d & ~np.r_[False, is_d[:-1]]
        run = np.cumsum(first) - 1
        total = np.bincount(run[is_d], weights=tokens[is_d] - self.duration + 1)
        steps = np.clip(np.floor(total * factor + 0.5), 1, self.config.max_duration_steps)
        new, n_new = self.shift_tokens(steps.astype(np.int64), self.duration)
        slots = np.where(is_d, 0, 1)
        slots[first] = n_new
        at = np.cumsum(slots) - slots
        out = np.empty(int(slots.sum()), dtype=np.int64)
        out[at[~is_d]] = tokens[~is_d]
        _fill_runs(out, at[first], n_new, new)
        return out

    # -- decode ------------------------------------------------------------------------------

    def decode(self, tokens: np.ndarray, max_note_seconds: float = 5.0) -> Notes:
        """Token ids -> notes. Tolerates any sequence (see the module docstring)."""
        t = np.asarray(tokens, dtype=np.int64).ravel()
        if t.size and (t.min() < 0 or t.max() >= self.vocab_size):
            bad = t[(t < 0) | (t >= self.vocab_size)][0]
            raise ValueError(f"token {bad} is outside the vocabulary of size {self.vocab_size}")
        eos = np.flatnonzero(t == self.eos)
        if eos.size:
            t = t[: eos[0]]
        clock = np.cumsum(self.shift_steps(t))  # steps after each token
        is_vel = (t >= self.velocity) & (t < self.num_events)
        last_vel = np.maximum.accumulate(np.where(is_vel, np.arange(len(t)), -1))
        default_bin = DEFAULT_VELOCITY // self.config.velocity_bin_width
        vel_bin = np.where(last_vel >= 0, t[np.maximum(last_vel, 0)] - self.velocity, default_bin)

        if self.durations:
            return self._decode_durations(t, clock, vel_bin)
        ev = np.flatnonzero(t < self.shift)  # note-on and note-off positions, in order
        is_on = t[ev] < self.note_off
        pitch = np.where(is_on, t[ev], t[ev] - self.note_off)
        # Group events by pitch (stable, so each group stays in sequence order).
        order = np.argsort(pitch, kind="stable")
        ev, is_on, pitch = ev[order], is_on[order], pitch[order]
        first = np.r_[True, pitch[1:] != pitch[:-1]][: len(pitch)]
        group = np.cumsum(first) - 1
        # Sounding notes of a pitch, as a walk (+1 on, -1 off) that an off cannot push below
        # zero: an off is ignored exactly when the unclipped walk reaches a new low below zero.
        walk = _group_cumsum(np.where(is_on, 1, -1), first)
        below = walk - group * (2 * len(walk) + 2)  # later groups lie wholly below earlier ones
        low_before = np.minimum.accumulate(np.r_[0, below[:-1]])
        low_before = np.minimum(low_before, below - walk)  # the walk starts at 0 in each group
        valid_off = ~is_on & (below >= low_before)
        # FIFO per pitch: the k-th valid off of a pitch closes its k-th note-on.
        ons = np.flatnonzero(is_on)
        n_off = np.bincount(group[valid_off], minlength=len(first))
        on_rank = _group_cumsum(is_on.astype(np.int64), first) - 1
        closed = on_rank[ons] < n_off[group[ons]]

        step = self.config.time_step
        on_pos = ev[ons]
        onset = clock[on_pos]
        offset = np.empty(len(ons), dtype=np.int64)
        offset[closed] = clock[ev[valid_off]]
        final = clock[-1] if len(clock) else 0
        limit = round(max_note_seconds / step)
        offset[~closed] = np.minimum(np.maximum(final, onset[~closed] + 1), onset[~closed] + limit)
        offset = np.maximum(offset, onset + 1)  # an off at the onset's own step still sounds 1 step

        notes = Notes.from_arrays(
            onset * step, offset * step, pitch[ons], self.bin_velocity(vel_bin[on_pos])
        )
        return notes.sorted()

    def _decode_durations(self, t: np.ndarray, clock: np.ndarray, vel_bin: np.ndarray) -> Notes:
        on = np.flatnonzero(t < self.note_off)
        is_d = (t >= self.duration) & (t < self.shift)
        # Each duration belongs to the last token before its run; only a note-on's count.
        owner = np.maximum.accumulate(np.where(is_d, -1, np.arange(len(t))))
        said = is_d & (owner >= 0)
        said[said] = t[owner[said]] < self.note_off
        length = np.bincount(owner[said], weights=t[said] - self.duration + 1, minlength=len(t))
        steps = np.clip(length[on], 1, self.config.max_duration_steps).astype(np.int64)
        step = self.config.time_step
        onset = clock[on]
        notes = Notes.from_arrays(
            onset * step, (onset + steps) * step, t[on], self.bin_velocity(vel_bin[on])
        )
        return notes.sorted()


def _group_cumsum(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum that restarts where ``first`` is True."""
    total = np.cumsum(x)
    head = np.maximum.accumulate(np.where(first, np.arange(len(x)), 0))
    return total - total[head] + x[head]


def _fill_runs(out: np.ndarray, first: np.ndarray, counts: np.ndarray, values: np.ndarray) -> None:
    """Write ``values`` into ``out`` as consecutive runs: run ``i`` has ``counts[i]`` values and
    starts at ``first[i]``."""
    run_start = np.repeat(first - np.cumsum(counts) + counts, counts)
    out[run_start + np.arange(len(values))] = values
