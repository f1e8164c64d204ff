"""Typed, validated configuration for every stage, each a frozen dataclass that round-trips
through JSON. An unknown key or an out-of-range value is a :class:`ConfigError` naming it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from tunesmith.errors import ConfigError

C = TypeVar("C", bound="Config")


class Config:
    """Mixin: ``to_dict`` / ``from_dict`` and a ``validate`` hook."""

    section: ClassVar[str] = "config"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden where there is something to check
        pass

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.section}: expected a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{cls.section}: unknown key(s) {unknown}; known: {sorted(names)}")
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"{cls.section}: {e}") from e


def _check(cond: bool, section: str, name: str, value: Any, want: str) -> None:
    if not cond:
        raise ConfigError(f"{section}.{name} must be {want}, got {value!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class CodecConfig(Config):
    """Performance-event vocabulary (Performance RNN style).

    The default is the seed's 382 events: 128 note-on, 128 note-off, 100 time-shifts of 10 ms
    (up to 1 s; longer gaps take several) and 26 velocity bins of width 5; special tokens follow.
    """

    section: ClassVar[str] = "codec"
    time_step: float = 0.01  # seconds per time-shift step
    max_shift_steps: int = 100  # the longest single time-shift, in steps
    velocity_bin_width: int = 5  # MIDI velocity units per bin; bins = ceil(128 / width)

    def validate(self) -> None:
        s = self.section
        _check(
            isinstance(self.time_step, (int, float)) and 0.0005 <= self.time_step <= 1.0,
            s,
            "time_step",
            self.time_step,
            "a number of seconds in [0.0005, 1]",
        )
        _check(
            _is_int(self.max_shift_steps) and 1 <= self.max_shift_steps <= 1000,
            s,
            "max_shift_steps",
            self.max_shift_steps,
            "an integer in [1, 1000]",
        )
        _check(
            _is_int(self.velocity_bin_width) and 1 <= self.velocity_bin_width <= 128,
            s,
            "velocity_bin_width",
            self.velocity_bin_width,
            "an integer in [1, 128]",
        )


@dataclass(frozen=True)
class ReadConfig(Config):
    """How MIDI files become notes."""

    section: ClassVar[str] = "read"
    first_track_only: bool = False  # the seed read only the first instrument; default merges all
    sustain: bool = True  # CC64 lengthens notes as pianists hear them

    def validate(self) -> None:
        for name in ("first_track_only", "sustain"):
            v = getattr(self, name)
            _check(isinstance(v, bool), self.section, name, v, "true or false")


@dataclass(frozen=True)
class SplitConfig(Config):
    """Piece-level split into train / valid / test (deterministic under ``seed``)."""

    section: ClassVar[str] = "split"
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        s = self.section
        for name in ("valid_fraction", "test_fraction"):
            v = getattr(self, name)
            _check(
                isinstance(v, (int, float)) and 0.0 <= v < 1.0, s, name, v, "a fraction in [0, 1)"
            )
        _check(
            self.valid_fraction + self.test_fraction < 1.0,
            s,
            "valid_fraction + test_fraction",
            self.valid_fraction + self.test_fraction,
            "below 1",
        )
        _check(_is_int(self.seed), s, "seed", self.seed, "an integer")


@dataclass(frozen=True)
class WindowConfig(Config):
    """Training windows cut from pieces, with optional on-the-fly augmentation."""

    section: ClassVar[str] = "windows"
    length: int = 256  # tokens per window
    stride: int = 128  # tokens between window starts
    transpose: int = 0  # augment: transpose by a uniform integer in [-transpose, transpose]
    stretch: float = 0.0  # augment: scale time by a uniform factor in [1 - stretch, 1 + stretch]

    def validate(self) -> None:
        s = self.section
        _check(_is_int(self.length) and self.length >= 2, s, "length", self.length, "an int >= 2")
        _check(_is_int(self.stride) and self.stride >= 1, s, "stride", self.stride, "an int >= 1")
        _check(
            _is_int(self.transpose) and 0 <= self.transpose <= 12,
            s,
            "transpose",
            self.transpose,
            "an integer in [0, 12]",
        )
        _check(
            isinstance(self.stretch, (int, float)) and 0.0 <= self.stretch <= 0.5,
            s,
            "stretch",
            self.stretch,
            "a fraction in [0, 0.5]",
        )
