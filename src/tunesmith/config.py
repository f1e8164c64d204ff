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


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _integers(cfg: Config, *fields: tuple[str, int, int | None]) -> None:
    """Each ``(name, low, high)`` field an integer in [low, high] (no upper bound if None)."""
    for name, low, high in fields:
        v = getattr(cfg, name)
        ok = _is_int(v) and low <= v and (high is None or v <= high)
        want = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        _check(ok, cfg.section, name, v, want)


def _numbers(cfg: Config, *fields: tuple[str, float, float]) -> None:
    """Each ``(name, low, high)`` field a number in [low, high]."""
    for name, low, high in fields:
        v = getattr(cfg, name)
        _check(
            _is_number(v) and low <= v <= high, cfg.section, name, v, f"a number in [{low}, {high}]"
        )


def _bools(cfg: Config, *names: str) -> None:
    for name in names:
        _check(
            isinstance(getattr(cfg, name), bool),
            cfg.section,
            name,
            getattr(cfg, name),
            "true or false",
        )


def _fraction_below_1(cfg: Config, name: str) -> None:
    v = getattr(cfg, name)
    _check(_is_number(v) and 0.0 <= v < 1.0, cfg.section, name, v, "a fraction in [0, 1)")


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
        _numbers(self, ("time_step", 0.0005, 1.0))
        _integers(self, ("max_shift_steps", 1, 1000), ("velocity_bin_width", 1, 128))


@dataclass(frozen=True)
class ReadConfig(Config):
    """How MIDI files become notes."""

    section: ClassVar[str] = "read"
    first_track_only: bool = False  # the seed read only the first instrument; default merges all
    sustain: bool = True  # CC64 lengthens notes as pianists hear them

    def validate(self) -> None:
        _bools(self, "first_track_only", "sustain")


@dataclass(frozen=True)
class SplitConfig(Config):
    """Piece-level split into train / valid / test (deterministic under ``seed``)."""

    section: ClassVar[str] = "split"
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def validate(self) -> None:
        _fraction_below_1(self, "valid_fraction")
        _fraction_below_1(self, "test_fraction")
        total = self.valid_fraction + self.test_fraction
        _check(total < 1.0, self.section, "valid_fraction + test_fraction", total, "below 1")
        _check(_is_int(self.seed), self.section, "seed", self.seed, "an integer")


@dataclass(frozen=True)
class WindowConfig(Config):
    """Training windows cut from pieces, with optional on-the-fly augmentation."""

    section: ClassVar[str] = "windows"
    length: int = 256  # tokens per window
    stride: int = 128  # tokens between window starts
    transpose: int = 0  # augment: transpose by a uniform integer in [-transpose, transpose]
    stretch: float = 0.0  # augment: scale time by a uniform factor in [1 - stretch, 1 + stretch]

    def validate(self) -> None:
        _integers(self, ("length", 2, None), ("stride", 1, None), ("transpose", 0, 12))
        _numbers(self, ("stretch", 0.0, 0.5))


@dataclass(frozen=True)
class ComposerConfig(Config):
    """Size of the Composer: token embedding -> LSTM layers -> linear over the vocabulary."""

    section: ClassVar[str] = "composer"
    embedding: int = 128
    hidden: int = 512
    layers: int = 1
    dropout: float = 0.2
    tie_weights: bool = False  # output layer shares the embedding (projected if sizes differ)

    def validate(self) -> None:
        _integers(self, ("embedding", 1, 8192), ("hidden", 1, 8192), ("layers", 1, 16))
        _fraction_below_1(self, "dropout")
        _bools(self, "tie_weights")


SCHEDULES = ("cosine", "plateau")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig(Config):
    """The shared training loop (Composer and Critic): optimiser, schedule, budget, checkpoints."""

    section: ClassVar[str] = "train"
    batch_size: int = 64  # global: split across DDP ranks
    lr: float = 3e-3  # peak learning rate of AdamW
    min_lr_ratio: float = 0.05  # cosine ends at lr * min_lr_ratio
    weight_decay: float = 0.01
    warmup_steps: int = 50
    schedule: str = "cosine"  # "cosine" over the run, or "plateau": halve on no improvement
    grad_clip: float = 1.0  # max global gradient norm; 0 = off
    epochs: int = 40
    max_minutes: float = 0.0  # wall-clock budget of training steps; 0 = none
    patience: int = 4  # evaluations without improvement before stopping early; 0 = never
    eval_every: int = 0  # steps between validations; 0 = once per epoch
    save_every: int = 200  # steps between "last" checkpoints (also at every evaluation)
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when available (bf16 autocast), else CPU

    def validate(self) -> None:
        s = self.section
        _integers(
            self,
            ("batch_size", 1, None),
            ("warmup_steps", 0, None),
            ("epochs", 1, None),
            ("patience", 0, None),
            ("eval_every", 0, None),
            ("save_every", 0, None),
        )
        _numbers(
            self,
            ("lr", 0.0, 10.0),
            ("min_lr_ratio", 0.0, 1.0),
            ("weight_decay", 0.0, 10.0),
            ("grad_clip", 0.0, 1e6),
            ("max_minutes", 0.0, 1e7),
        )
        _check(self.lr > 0, s, "lr", self.lr, "positive")
        _check(self.schedule in SCHEDULES, s, "schedule", self.schedule, f"one of {SCHEDULES}")
        _check(self.device in DEVICES, s, "device", self.device, f"one of {DEVICES}")
        _check(_is_int(self.seed), s, "seed", self.seed, "an integer")


@dataclass(frozen=True)
class SampleConfig(Config):
    """Batched sampling from the Composer: how many pieces, how long, how adventurous."""

    section: ClassVar[str] = "sample"
    n: int = 10  # pieces, all sampled together in one batch
    length: int = 1024  # most tokens to generate per piece (after any primer)
    seconds: float = 0.0  # also stop a piece once it holds this much music; 0 = no limit
    temperature: float = 1.0  # 0 = always the most likely token
    top_k: int = 0  # sample among the k most likely tokens; 0 = all
    top_p: float = 1.0  # sample among the most likely tokens holding this much probability
    seed: int = 0

    def validate(self) -> None:
        s = self.section
        _integers(self, ("n", 1, 100_000), ("length", 1, 1_000_000), ("top_k", 0, None))
        _numbers(self, ("seconds", 0.0, 36_000.0), ("temperature", 0.0, 100.0))
        ok = _is_number(self.top_p) and 0.0 < self.top_p <= 1.0
        _check(ok, s, "top_p", self.top_p, "a fraction in (0, 1]")
        _check(_is_int(self.seed), s, "seed", self.seed, "an integer")


@dataclass(frozen=True)
class CriticConfig(Config):
    """Size of the Critic: token embedding -> LSTM -> pooled over time (last state and mean)
    -> one logit."""

    section: ClassVar[str] = "critic"
    embedding: int = 64
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.1
    bidirectional: bool = False
    # Velocity events are dropped from what the Critic reads unless asked for: in a corpus of one
    # velocity (the Bach chorales) they would let it tell real from random by velocity alone.
    velocity: bool = False

    def validate(self) -> None:
        _integers(self, ("embedding", 1, 8192), ("hidden", 1, 8192), ("layers", 1, 16))
        _fraction_below_1(self, "dropout")
        _bools(self, "bidirectional", "velocity")


NEGATIVE_KINDS = ("random", "wrong_notes", "shuffle", "jitter", "composer")


@dataclass(frozen=True)
class NegativeConfig(Config):
    """Which bad music the Critic learns to reject, and how bad each kind is."""

    section: ClassVar[str] = "negatives"
    kinds: tuple[str, ...] = ("random", "wrong_notes", "shuffle", "jitter")
    wrong_fraction: float = 0.3  # wrong_notes: share of notes moved
    wrong_semitones: int = 3  # wrong_notes: moved by 1..N semitones, up or down
    segment_seconds: float = 1.0  # shuffle: length of the permuted segments
    jitter_seconds: float = 0.05  # jitter: standard deviation of the onset moves
    composer: str = ""  # composer: a Composer checkpoint or run directory
    composer_pieces: int = 200  # composer: pieces sampled per split
    composer_temperature: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.kinds, (list, str)):  # from JSON or TOML, or one name
            kinds = [self.kinds] if isinstance(self.kinds, str) else self.kinds
            object.__setattr__(self, "kinds", tuple(kinds))
        super().__post_init__()

    def validate(self) -> None:
        s = self.section
        _check(
            bool(self.kinds)
            and all(k in NEGATIVE_KINDS for k in self.kinds)
            and len(set(self.kinds)) == len(self.kinds),
            s,
            "kinds",
            list(self.kinds),
            f"distinct names from {list(NEGATIVE_KINDS)}",
        )
        _numbers(
            self,
            ("wrong_fraction", 0.01, 1.0),
            ("segment_seconds", 0.05, 60.0),
            ("jitter_seconds", 0.001, 5.0),
            ("composer_temperature", 0.05, 10.0),
        )
        _integers(self, ("wrong_semitones", 1, 12), ("composer_pieces", 1, None))
        _check(isinstance(self.composer, str), s, "composer", self.composer, "a path")
        _check(
            ("composer" in self.kinds) == bool(self.composer),
            s,
            "composer",
            self.composer,
            "a Composer checkpoint exactly when kinds include 'composer'",
        )

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "kinds": list(self.kinds)}


@dataclass(frozen=True)
class TuneConfig(Config):
    """Fine-tuning the Composer by policy gradient (REINFORCE with a leave-one-out baseline):
    reward = the Critic's score of a composed piece (minus ``stuck_penalty`` for each of its stuck
    notes), with a KL penalty to the original Composer so it cannot drift far."""

    section: ClassVar[str] = "tune"
    length: int = 512  # tokens per sampled piece
    kl_coef: float = 0.05  # beta: the optimum keeps KL(tuned || original) <= 1 / beta nats a piece
    # Reward minus this for each note never released. Measured on the chorales (8-minute runs):
    # 0.1 took the pieces holding one from 66% to 44% and cost nothing with a held-out judge;
    # 0.3 took them to 18-26% but its gain with the judge varied twofold between two runs.
    stuck_penalty: float = 0.1
    temperature: float = 1.0  # sampling temperature of the policy
    pieces_per_epoch: int = 256  # pieces between validations
    valid_pieces: int = 32  # pieces sampled (always the same seeds) to validate

    def validate(self) -> None:
        _integers(
            self, ("length", 2, None), ("pieces_per_epoch", 1, None), ("valid_pieces", 2, None)
        )
        _numbers(
            self, ("kl_coef", 1e-6, 1e3), ("stuck_penalty", 0.0, 10.0), ("temperature", 0.05, 10.0)
        )


@dataclass(frozen=True)
class Budgets:
    """What each adversarial round spends: minutes of Critic and of Composer training, and how
    many Composer pieces the Critic learns from."""

    critic_minutes: float = 2.0
    tune_minutes: float = 3.0
    composer_pieces: int = 200
