"""A set of notes as parallel numpy arrays: the unit every other data module speaks."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tunesmith.errors import ConfigError

_PITCH_NAME = re.compile(r"([A-Ga-g])([#b♯♭]*)(-?\d+)")
_STEPS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def pitch_number(text: str | int) -> int:
    """A MIDI pitch from a name in scientific pitch notation (``C4`` is 60, middle C; ``F#3``,
    ``Bb2``, ``C-1`` is 0) or a MIDI number 0-127. Anything else is a :class:`ConfigError`."""
    s = str(text).strip()
    if s.isdigit():
        pitch = int(s)
    elif m := _PITCH_NAME.fullmatch(s):
        letter, accidentals, octave = m.groups()
        alter = sum(1 if a in "#♯" else -1 for a in accidentals)
        pitch = 12 * (int(octave) + 1) + _STEPS[letter.lower()] + alter
    else:
        raise ConfigError(
            f"{text!r} is not a pitch: give a name such as C4 (middle C), F#3 or Bb2, or a MIDI "
            "number 0-127"
        )
    if not 0 <= pitch <= 127:
        raise ConfigError(f"pitch {text!r} is MIDI number {pitch}, outside 0-127")
    return pitch


@dataclass(frozen=True)
class Notes:
    """Notes of one piece, all timing in seconds.

    ``start`` and ``end`` are float64 seconds, ``pitch`` and ``velocity`` int16 MIDI values
    (0..127 and 1..127). Arrays have equal length; :meth:`sorted` orders by (start, pitch, end).
    """

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.start)
        if not (len(self.end) == len(self.pitch) == len(self.velocity) == n):
            raise ValueError("Notes arrays must have equal length")

    @classmethod
    def from_arrays(cls, start, end, pitch, velocity) -> Notes:
        return cls(
            np.asarray(start, dtype=np.float64),
            np.asarray(end, dtype=np.float64),
            np.asarray(pitch, dtype=np.int16),
            np.asarray(velocity, dtype=np.int16),
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, float, float, int]]) -> Notes:
        """Build from ``(pitch, start, end, velocity)`` rows, e.g. ``[(60, 0.0, 0.5, 80)]``."""
        rows = list(rows)
        if not rows:
            return cls.empty()
        pitch, start, end, velocity = zip(*rows)
        return cls.from_arrays(start, end, pitch, velocity)

    @classmethod
    def empty(cls) -> Notes:
        return cls.from_arrays([], [], [], [])

    def __len__(self) -> int:
        return len(self.start)

    @property
    def duration(self) -> float:
        """Seconds from time 0 to the last note's end."""
        return float(self.end.max()) if len(self) else 0.0

    def sorted(self) -> Notes:
        order = np.lexsort((self.end, self.pitch, self.start))
        return self.take(order)

    def take(self, index: np.ndarray) -> Notes:
        return Notes(self.start[index], self.end[index], self.pitch[index], self.velocity[index])

    def shifted(self, seconds: float) -> Notes:
        return Notes(self.start + seconds, self.end + seconds, self.pitch, self.velocity)

    def to_rows(self) -> list[tuple[int, float, float, int]]:
        return [
            (int(p), float(s), float(e), int(v))
            for p, s, e, v in zip(self.pitch, self.start, self.end, self.velocity)
        ]
