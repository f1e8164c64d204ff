"""Typed, validated configuration for every stage, and the named presets every command uses.

Each config is a frozen dataclass that round-trips through JSON; an unknown key or an
out-of-range value is a :class:`ConfigError` naming it. Each field carries its help text (with
its unit) in its metadata, from which the CLI makes its flags, so a setting is added in one
line. The presets at the end (``COMPOSER``, ``CRITIC``, ``TUNE``, ``DEMO``, ...) are the one home
of defaults: the commands, the Python API and the README read them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from tunesmith.errors import ConfigError

C = TypeVar("C", bound="Config")
Tables = dict[str, dict[str, Any]]  # settings tables: section -> {field: value}, as in TOML


def setting(
    default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None
) -> Any:
    """A config field with its help text (units included) and, where the field's name would not
    do, its CLI flag (without ``--``) and the values it takes."""
    meta = {"help": help, "flag": flag, "choices": choices}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Config:
    """Mixin: ``to_dict`` / ``from_dict``, list fields (a tuple by default) taken from JSON or
    TOML lists or one name and written back as lists, each field with ``choices`` checked against
    them, and a ``validate`` hook for the rest."""

    section: ClassVar[str] = "config"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(f.default, tuple) and isinstance(value, list | str):
                object.__setattr__(
                    self, f.name, tuple([value] if isinstance(value, str) else value)
                )
            choices = f.metadata.get("choices")
            if choices is not None:
                value = getattr(self, f.name)
                _check(value in choices, self.section, f.name, value, f"one of {choices}")
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden where there is something to check
        pass

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

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


ENCODINGS = ("note-off", "duration")
CONDITIONS = ("density", "pitch-classes", "style")  # what a Composer may be conditioned on
MAX_SEED = 2**32 - 1  # numpy's and torch's generators all take it, and seed + i stays in range


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

    ``note-off`` is the seed's 382 events: 128 note-on, 128 note-off, 100 time-shifts of 10 ms
    (up to 1 s; longer gaps take several) and 26 velocity bins of width 5; special tokens follow.
    ``duration`` writes a note's length right after its note-on instead of a note-off, on the
    time-shift grid and as time-shifts are written (a longer one takes several), up to
    ``max_duration``.
    """

    section: ClassVar[str] = "codec"
    encoding: str = setting(
        "note-off",
        "note-off: a note-on and a note-off per note; duration: a note-on followed by the "
        "note's length (no note to remember, none left hanging)",
        choices=ENCODINGS,
    )
    time_step: float = setting(0.01, "seconds per time-shift step")
    max_shift_steps: int = setting(
        100, "the longest single time-shift (and note-length token), in steps"
    )
    velocity_bin_width: int = setting(5, "MIDI velocity units per bin; bins = ceil(128 / width)")
    max_duration: float = setting(
        8.0, "duration encoding: the longest note in seconds; a longer one is cut to it"
    )

    @classmethod
    def saved(cls, table: Any) -> CodecConfig:
        """The settings a checkpoint or a cache was written with: those written before the
        duration encoding existed name no encoding, and were note-off."""
        if isinstance(table, dict):
            table = {"encoding": "note-off", **table}
        return cls.from_dict(table)

    def validate(self) -> None:
        s = self.section
        _numbers(self, ("time_step", 0.0005, 1.0), ("max_duration", 0.0005, 3600.0))
        _integers(self, ("max_shift_steps", 1, 1000), ("velocity_bin_width", 1, 128))
        if self.encoding == "duration":
            ok = self.max_duration >= self.time_step
            _check(ok, s, "max_duration", self.max_duration, "at least one time step")

    @property
    def max_duration_steps(self) -> int:
        return max(1, round(self.max_duration / self.time_step))


@dataclass(frozen=True)
class ReadConfig(Config):
    """How MIDI files become notes."""

    section: ClassVar[str] = "read"
    # The seed read only the first instrument; the default merges all but drums.
    first_track_only: bool = setting(False, "read only the first non-drum track, as the seed did")
    sustain: bool = setting(True, "let the sustain pedal (CC64) lengthen notes")
    # Guards against files that are broken or hostile rather than music: the longest MAESTRO
    # performance is under an hour and 40,000 notes, a Lakh song a few hundred kB.
    max_seconds: float = setting(4 * 3600.0, "skip a file whose music lasts longer (seconds)")
    max_notes: int = setting(500_000, "skip a file with more notes")
    max_megabytes: float = setting(32.0, "skip a larger file without reading it (MB)")

    def validate(self) -> None:
        _bools(self, "first_track_only", "sustain")
        _numbers(self, ("max_seconds", 1.0, 1e6), ("max_megabytes", 0.001, 4096.0))
        _integers(self, ("max_notes", 1, 100_000_000))


@dataclass(frozen=True)
class SplitConfig(Config):
    """Piece-level split into train / valid / test (deterministic under ``seed``)."""

    section: ClassVar[str] = "split"
    valid_fraction: float = setting(0.1, "share of pieces for validation")
    test_fraction: float = setting(0.1, "share of pieces for test")
    seed: int = setting(0, "seed of the split", flag="split-seed")

    def validate(self) -> None:
        _fraction_below_1(self, "valid_fraction")
        _fraction_below_1(self, "test_fraction")
        total = self.valid_fraction + self.test_fraction
        _check(total < 1.0, self.section, "valid_fraction + test_fraction", total, "below 1")
        _integers(self, ("seed", 0, MAX_SEED))


@dataclass(frozen=True)
class WindowConfig(Config):
    """Training windows cut from pieces, with optional on-the-fly augmentation."""

    section: ClassVar[str] = "windows"
    length: int = setting(256, "tokens per training window", flag="window")
    stride: int = setting(128, "tokens between window starts")
    transpose: int = setting(0, "augment: transpose by up to this many semitones, up or down")
    stretch: float = setting(0.0, "augment: stretch time by up to this fraction")

    def validate(self) -> None:
        _integers(self, ("length", 2, 65_536), ("stride", 1, 65_536), ("transpose", 0, 12))
        _numbers(self, ("stretch", 0.0, 0.5))


@dataclass(frozen=True)
class ComposerConfig(Config):
    """Size of the Composer: token embedding -> LSTM layers -> linear over the vocabulary."""

    section: ClassVar[str] = "composer"
    embedding: int = setting(128, "token embedding size")
    hidden: int = setting(512, "LSTM units per layer")
    layers: int = setting(1, "LSTM layers")
    dropout: float = setting(0.2, "dropout on the embedding, between layers and before the head")
    # Projected when the sizes differ.
    tie_weights: bool = setting(False, "share the embedding with the output layer")
    condition: tuple[str, ...] = setting(
        (),
        f"signals fed beside each event, comma-separated from {','.join(CONDITIONS)}: the "
        "note density and pitch classes of the music ahead, the piece's style; none by default",
    )
    condition_dropout: float = setting(
        0.3, "training: share of windows in which each signal is left out, so it is optional"
    )
    # Id 0 is no style. Naming them keeps ids fixed when a run goes on with more data.
    styles: tuple[str, ...] = setting(
        (), "style labels the Composer knows, comma-separated, in id order; none: the train split's"
    )

    def validate(self) -> None:
        s = self.section
        _integers(self, ("embedding", 1, 4096), ("hidden", 1, 4096), ("layers", 1, 8))
        _fraction_below_1(self, "dropout")
        _fraction_below_1(self, "condition_dropout")
        _bools(self, "tie_weights")
        ok = all(c in CONDITIONS for c in self.condition)
        ok &= len(set(self.condition)) == len(self.condition)
        _check(ok, s, "condition", list(self.condition), f"distinct names from {list(CONDITIONS)}")
        ok = all(isinstance(v, str) and v for v in self.styles)
        _check(ok, s, "styles", list(self.styles), "names")


SCHEDULES = ("cosine", "plateau")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
# More velocity bins than this in the train split: the music has dynamics for the Critic to hear.
VELOCITY_BINS_FOR_DYNAMICS = 4


@dataclass(frozen=True)
class TrainConfig(Config):
    """The shared training loop (Composer and Critic): optimiser, schedule, budget, checkpoints."""

    section: ClassVar[str] = "train"
    batch_size: int = setting(64, "global batch (split across DDP ranks)")
    lr: float = setting(3e-3, "peak learning rate of AdamW")
    min_lr_ratio: float = setting(0.05, "the cosine ends at lr times this")
    weight_decay: float = setting(0.01, "AdamW weight decay")
    warmup_steps: int = setting(50, "steps of linear warm-up")
    schedule: str = setting(
        "cosine",
        "decay: cosine over the run, or plateau (halve on no improvement)",
        choices=SCHEDULES,
    )
    grad_clip: float = setting(1.0, "largest global gradient norm; 0 = off")
    epochs: int = setting(40, "most epochs")
    max_steps: int = setting(0, "most optimizer steps; 0 = the epochs decide")
    # A cap only: with max_steps set the schedule follows steps, so a run is the same however
    # busy the machine, unless the cap cuts it short.
    max_minutes: float = setting(0.0, "wall-clock cap on training in minutes; 0 = none")
    patience: int = setting(4, "evaluations without improvement before stopping; 0 = never")
    eval_every: int = setting(0, "steps between validations; 0 = once per epoch")
    # Validation reads whole pieces; on a large corpus a fixed sample of them is enough.
    valid_tokens: int = setting(
        0, "validate on a fixed sample of validation pieces up to this many tokens; 0 = all"
    )
    save_every: int = setting(200, "steps between resumable checkpoints (also at each validation)")
    seed: int = setting(0, "seed of initial weights, batch order, augmentation and dropout")
    device: str = setting("auto", "auto: CUDA when available, else CPU", choices=DEVICES)
    precision: str = setting(
        "auto",
        "auto: bf16 autocast where the hardware computes bf16 natively (a GPU, or a CPU with "
        "AVX512-BF16 or AMX), else fp32",
        choices=PRECISIONS,
    )

    def validate(self) -> None:
        s = self.section
        _integers(
            self,
            ("batch_size", 1, None),
            ("warmup_steps", 0, None),
            ("epochs", 1, None),
            ("patience", 0, None),
            ("eval_every", 0, None),
            ("valid_tokens", 0, None),
            ("save_every", 0, None),
            ("max_steps", 0, None),
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
        _integers(self, ("seed", 0, MAX_SEED))


@dataclass(frozen=True)
class SampleConfig(Config):
    """Batched sampling from the Composer: how many pieces, how long, how adventurous."""

    section: ClassVar[str] = "sample"
    n: int = setting(10, "pieces, all sampled together in one batch")
    length: int = setting(1024, "most tokens per piece (after any primer)")
    seconds: float = setting(0.0, "also stop each piece at this many seconds; 0 = no limit")
    min_seconds: float = setting(
        0.0, "end no piece before this many seconds (it may still run out of --length)"
    )
    temperature: float = setting(1.0, "softmax temperature; 0 = always the likeliest event")
    top_k: int = setting(0, "sample among the k likeliest events; 0 = all")
    top_p: float = setting(
        1.0,
        "nucleus sampling: the probability mass kept (compose, evaluate: by default the nucleus "
        "fitted to the Composer after training, where it has one)",
    )
    seed: int = setting(0, "seed, for reproducible pieces")
    max_note_seconds: float = setting(
        0.0, "release every note by this length (say the training pieces' longest); 0 = no bound"
    )
    max_polyphony: int = setting(
        0, "strike no note while this many sound (note-off encoding); 0 = no bound"
    )
    precision: str = setting(
        "auto",
        "auto: the LSTM step in bf16 where the hardware computes bf16 natively (as training's "
        "autocast), else fp32",
        choices=PRECISIONS,
    )
    # Controls, for a Composer trained with --condition; "" leaves a control out.
    density: str = setting(
        "", "notes per second to aim for, or START:END for a density moving over the piece"
    )
    key: str = setting(
        "", "key to compose in ('D minor', 'F# major'), or twelve pitch-class weights C to B"
    )
    style: str = setting("", "style to compose in, one of the Composer's (see its run.json)")
    # Measured (bench/control.py, nucleus 0.9): densities of 4 and 18 notes/s came out at 6.1
    # and 11.6 at 1 (correlation 0.77), 3.2 and 12.2 at 2 (0.84), 1.3 and 29.7 at 3 (0.97);
    # pieces in the requested key 64%, 92%, 96%.
    guidance: float = setting(
        2.0,
        "how hard controls steer: the logits move from those of the piece asked nothing past "
        "those asked, by this factor (classifier-free guidance; 1: as trained, 0: ignore the "
        "controls); other than 1, asking for something samples twice the rows",
    )

    def validate(self) -> None:
        s = self.section
        for name in ("density", "key", "style"):
            _check(isinstance(getattr(self, name), str), s, name, getattr(self, name), "text")
        _integers(self, ("n", 1, 100_000), ("length", 1, 1_000_000), ("top_k", 0, None))
        _integers(self, ("max_polyphony", 0, 128))
        _numbers(
            self,
            ("seconds", 0.0, 36_000.0),
            ("min_seconds", 0.0, 36_000.0),
            ("temperature", 0.0, 100.0),
            ("max_note_seconds", 0.0, 36_000.0),
            ("guidance", 0.0, 20.0),
        )
        ok = not self.seconds or self.min_seconds <= self.seconds
        _check(ok, s, "min_seconds", self.min_seconds, f"at most seconds ({self.seconds:g})")
        ok = _is_number(self.top_p) and 0.0 < self.top_p <= 1.0
        _check(ok, s, "top_p", self.top_p, "a fraction in (0, 1]")
        _integers(self, ("seed", 0, MAX_SEED))


VELOCITY = ("auto", "on", "off")


@dataclass(frozen=True)
class CriticConfig(Config):
    """Size of the Critic: token embedding (plus, with ``state``, the piece state at each event)
    -> LSTM -> pooled over time (last state, mean, and with ``peak`` maximum) -> one logit."""

    section: ClassVar[str] = "critic"
    embedding: int = setting(64, "token embedding size")
    hidden: int = setting(128, "LSTM units per layer (and direction)")
    layers: int = setting(1, "LSTM layers")
    dropout: float = setting(0.1, "dropout")
    bidirectional: bool = setting(False, "read each window both ways")
    # In a corpus of one velocity (the Bach chorales) velocity events would let the Critic tell
    # real from random by velocity alone; in performances dynamics are half of the music.
    velocity: str = setting(
        "auto",
        "read velocity events; auto: on when the train split uses more than "
        f"{VELOCITY_BINS_FOR_DYNAMICS} velocity bins",
        choices=VELOCITY,
    )
    # Off by default only so that checkpoints written before it existed read as what they are;
    # the CRITIC preset turns it on.
    state: bool = setting(
        False,
        "also feed, at every event, how many notes sound, how many have been held long, and "
        "the struck pitch class's share so far (from the whole piece, not only the window)",
    )

    # Off by default for the same reason; measured on the chorales' default mix (1,500 steps),
    # wrong notes went from AUC 0.63 (after 3,000 steps) to 0.95 with it.
    peak: bool = setting(False, "also pool by the maximum over the window, not only the mean")

    def __post_init__(self) -> None:
        if isinstance(self.velocity, bool):  # checkpoints before "auto" saved true / false
            object.__setattr__(self, "velocity", "on" if self.velocity else "off")
        super().__post_init__()

    @property
    def reads_velocity(self) -> bool:
        if self.velocity == "auto":
            raise ValueError("the Critic's velocity setting is not resolved yet (auto)")
        return self.velocity == "on"

    def validate(self) -> None:
        _integers(self, ("embedding", 1, 4096), ("hidden", 1, 4096), ("layers", 1, 8))
        _fraction_below_1(self, "dropout")
        _bools(self, "bidirectional", "state", "peak")


# Negatives made from real pieces, and which of them need a Critic that reads velocity.
CORRUPTIONS = ("wrong_notes", "shuffle", "jitter", "drone", "pileup", "loop", "repeat", "stall")
VELOCITY_KINDS = ("flat_velocity", "scramble_velocity")
NEGATIVE_KINDS = ("random", *CORRUPTIONS, *VELOCITY_KINDS, "composer")


def audible_kinds(kinds: tuple[str, ...], hears_dynamics: bool) -> tuple[str, ...]:
    """``kinds`` less the velocity kinds when the Critic does not hear dynamics (it reads no
    velocity, or the music has none): to it they would be copies of real pieces."""
    if hears_dynamics:
        return kinds
    kept = tuple(k for k in kinds if k not in VELOCITY_KINDS)
    if not kept:
        raise ConfigError(
            f"negatives: {list(kinds)} change velocity, which this Critic does not hear "
            "(it reads no velocity, or the music has no dynamics); choose other kinds"
        )
    return kept


@dataclass(frozen=True)
class NegativeConfig(Config):
    """Which bad music the Critic learns to reject, and how bad each kind is. Velocity kinds are
    left out (with a notice) when the Critic does not read velocity: they would look real."""

    section: ClassVar[str] = "negatives"
    kinds: tuple[str, ...] = setting(
        ("random", *CORRUPTIONS, *VELOCITY_KINDS),
        f"comma-separated kinds from {','.join(NEGATIVE_KINDS)}",
        flag="negatives",
    )
    wrong_fraction: float = setting(0.3, "wrong_notes: share of notes moved")
    wrong_semitones: int = setting(3, "wrong_notes: largest move in semitones, up or down")
    segment_seconds: float = setting(1.0, "shuffle: seconds per permuted segment")
    jitter_seconds: float = setting(0.05, "jitter: standard deviation of onset moves, seconds")
    drone_fraction: float = setting(0.15, "drone: share of notes whose release is dropped")
    pileup_fraction: float = setting(0.3, "pileup: share of onsets that gain extra held notes")
    pileup_notes: int = setting(3, "pileup: most extra notes at such an onset")
    pileup_seconds: float = setting(6.0, "pileup: longest hold of an extra note, seconds")
    loop_seconds: float = setting(
        2.0, "loop: seconds of the passage repeated to the end (repeat: where it may start)"
    )
    stall_fraction: float = setting(0.1, "stall: share of onsets before which the music halts")
    stall_seconds: float = setting(60.0, "stall: longest halt, seconds (the shortest is a quarter)")
    composer: str = setting("", "composer: a Composer checkpoint or run whose pieces are negatives")
    composer_pieces: int = setting(200, "composer: pieces sampled for training")
    composer_temperature: float = setting(1.0, "composer: sampling temperature")

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
            ("drone_fraction", 0.01, 1.0),
            ("pileup_fraction", 0.01, 1.0),
            ("pileup_seconds", 0.5, 600.0),
            ("loop_seconds", 0.1, 60.0),
            ("stall_fraction", 0.01, 1.0),
            ("stall_seconds", 1.0, 3600.0),
            ("composer_temperature", 0.05, 10.0),
        )
        _integers(
            self, ("wrong_semitones", 1, 12), ("pileup_notes", 1, 12), ("composer_pieces", 1, None)
        )
        _check(isinstance(self.composer, str), s, "composer", self.composer, "a path")
        _check(
            ("composer" in self.kinds) == bool(self.composer),
            s,
            "composer",
            self.composer,
            "a Composer checkpoint exactly when kinds include 'composer'",
        )

    def for_velocity(self, hears_dynamics: bool) -> NegativeConfig:
        """These settings with only the kinds a Critic can learn from (:func:`audible_kinds`)."""
        kinds = audible_kinds(self.kinds, hears_dynamics)
        return self if kinds == self.kinds else dataclasses.replace(self, kinds=kinds)


@dataclass(frozen=True)
class TuneConfig(Config):
    """Fine-tuning the Composer by policy gradient (REINFORCE with a leave-one-out baseline):
    reward = the Critic's score of a composed piece (minus ``stuck_penalty`` for each of its stuck
    notes), with a KL penalty to the original Composer so it cannot drift far."""

    section: ClassVar[str] = "tune"
    length: int = setting(512, "tokens per sampled piece")
    # The optimum keeps KL(tuned || original) <= 1 / beta nats a piece.
    kl_coef: float = setting(0.05, "beta of the KL penalty to the original Composer")
    # Measured on the chorales (8-minute runs): 0.1 took the pieces holding a stuck note from
    # 66% to 44% and cost nothing with a held-out judge; 0.3 took them to 18-26% but its gain
    # with the judge varied twofold between two runs.
    stuck_penalty: float = setting(0.1, "reward minus this per note never released")
    temperature: float = setting(1.0, "sampling temperature of the policy")
    pieces_per_epoch: int = setting(256, "pieces between validations")
    valid_pieces: int = setting(32, "pieces sampled (always the same seeds) to validate")

    def validate(self) -> None:
        _integers(
            self, ("length", 2, None), ("pieces_per_epoch", 1, None), ("valid_pieces", 2, None)
        )
        _numbers(
            self, ("kl_coef", 1e-6, 1e3), ("stuck_penalty", 0.0, 10.0), ("temperature", 0.05, 10.0)
        )


# An adversarial round's budgets, in steps so that rounds are the same however busy the machine:
# about 2 minutes each on a 2-core CPU with bf16 (in the demo the Critic takes 0.053 s a step,
# tuning 0.58 s with its validations).
CRITIC_ROUND_STEPS = 2000
TUNE_ROUND_STEPS = 240


@dataclass(frozen=True)
class AdversarialConfig(Config):
    """Rounds of Critic and Composer training, and what each round spends."""

    section: ClassVar[str] = "adversarial"
    rounds: int = setting(3, "rounds")
    critic_steps: int = setting(CRITIC_ROUND_STEPS, "Critic training a round, optimizer steps")
    tune_steps: int = setting(TUNE_ROUND_STEPS, "Composer tuning a round, optimizer steps")
    composer_pieces: int = setting(200, "Composer pieces the Critic learns from a round")

    def validate(self) -> None:
        _integers(
            self,
            ("rounds", 1, 100),
            ("composer_pieces", 1, None),
            ("critic_steps", 1, None),
            ("tune_steps", 1, None),
        )


@dataclass(frozen=True)
class Preset:
    """A command's settings, one config per section; the sections a command does not use are
    None. :meth:`with_tables` lays a saved run, a TOML file and flags over it, in that order."""

    model: ComposerConfig | CriticConfig | None = None
    windows: WindowConfig | None = None
    negatives: NegativeConfig | None = None
    train: TrainConfig | None = None
    tune: TuneConfig | None = None
    sample: SampleConfig | None = None
    adversarial: AdversarialConfig | None = None

    def sections(self) -> dict[str, Config]:
        """The configs it holds by section name (``composer`` or ``critic`` for the model)."""
        configs = (getattr(self, f.name) for f in dataclasses.fields(self))
        return {c.section: c for c in configs if c is not None}

    def with_tables(self, *tables: Tables) -> Preset:
        """Each section's values replaced by those in ``tables`` (section -> {field: value}),
        later tables winning; the result is validated."""
        changes = {}
        for f in dataclasses.fields(self):
            config = getattr(self, f.name)
            if config is None:
                continue
            values = config.to_dict()
            for table in tables:
                values.update(table.get(config.section, {}))
            changes[f.name] = type(config).from_dict(values)
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class DemoPlan:
    """The demo's stages: the Critic's, the Composer's and tuning's presets with their budgets in
    steps (``train.max_steps``), the Critic extended with Composer negatives (twice: the reward
    and the judge), the pieces judged."""

    critic: Preset
    composer: Preset
    tune: Preset
    extend_steps: int  # the Critic again, with the Composer's pieces among the negatives
    composer_pieces: int  # Composer pieces sampled as negatives for training
    n: int  # pieces composed and judged


# Validation on a fixed sample of at most this many tokens of validation pieces: all of the
# chorales' (28k) and of the ten MAESTRO performances' (74k), a few minutes of a large corpus.
VALID_TOKENS = 1 << 18

# The presets: every default a command uses, chosen by measurement on the Bach chorales (bench/).
#
# The Composer: one layer of 512 leaves the unigram plateau in a few dozen steps where two layers
# take hundreds, and small batches at a high learning rate make the most of a CPU's minutes.
COMPOSER = Preset(
    model=ComposerConfig(),
    windows=WindowConfig(length=256, stride=128, transpose=5, stretch=0.05),
    # 2,000 steps: what the former 10-minute budget gave on a 2-core CPU in fp32.
    train=TrainConfig(
        batch_size=16, lr=5e-3, epochs=60, max_steps=2000, patience=5, valid_tokens=VALID_TOKENS
    ),
)
# The Critic: a small LSTM (128 units) takes twice the steps of one of 256 in the same minutes and
# learns the hard negatives (wrong notes, shuffled segments) sooner; so does a higher learning
# rate. Patience is long: on the hard negatives validation loss wanders for a while (the Critic
# grows overconfident on a few windows, which calibration later undoes) as accuracy still climbs.
CRITIC = Preset(
    model=CriticConfig(state=True, peak=True),
    windows=WindowConfig(length=256, stride=128, transpose=5),
    negatives=NegativeConfig(),
    # 3,000 steps: about 4 minutes on a 2-core CPU with bf16 (bench/critic.py).
    train=TrainConfig(
        batch_size=32, lr=5e-3, epochs=60, max_steps=3000, patience=10, valid_tokens=VALID_TOKENS
    ),
)
# Tuning: lr 2e-4 took the held-out judge from 6% to 46% of pieces taken for real in 4 minutes,
# where 5e-5 reached 12% in 5.
TUNE = Preset(
    tune=TuneConfig(),
    train=TrainConfig(
        batch_size=16,
        lr=2e-4,
        warmup_steps=10,
        epochs=30,
        max_steps=480,  # the 30 epochs of 16 steps: under 5 minutes on a 2-core CPU with bf16
        patience=0,
        weight_decay=0.0,
    ),
)
ADVERSARIAL = Preset(adversarial=AdversarialConfig(), tune=TuneConfig())
# Composing and judging sample from the nucleus of 0.8 (tuning and Composer negatives sample the
# whole distribution, as the policy gradient needs). Measured on the three demo seeds' Composers
# under their held-out judges, 200 pieces each (median and range over seeds), nucleus 0.9 / 0.8 /
# 0.7 / 0.6: taken for real, base 10% (5-20) / 12% (8-32) / 21% (14-30) / 23% (18-31), tuned
# 52% (27-52) / 54% (40-58) / 64% (44-72) / 66% (50-67); base mean note length 0.44 / 0.41 /
# 0.39 / 0.37 s (real pieces' interquartile range 0.41-0.51: a smaller nucleus ends notes
# sooner); mean statistics overlap with real pieces, base 0.70 / 0.76 / 0.74 / 0.68, tuned
# 0.78 / 0.77 / 0.72 / 0.65; distinct event 4-grams over 41 pieces 0.70 / 0.66 / 0.60 / 0.51
# (real chorales 0.50). The whole distribution: base 0-8%. Since then each Composer fits its own
# nucleus after training (judging/nucleus.py) and compose and evaluate take that one; 0.8 stays
# for a Composer without one.
COMPOSE = Preset(sample=SampleConfig(top_p=0.8))
EVALUATE = Preset(sample=SampleConfig(n=50, top_p=0.8))


def _budget(preset: Preset, steps: int) -> Preset:
    assert preset.train is not None
    return dataclasses.replace(preset, train=dataclasses.replace(preset.train, max_steps=steps))


# The demo: about 16 minutes on a 2-core CPU with bf16, the same figures however busy.
DEMO = DemoPlan(
    critic=_budget(CRITIC, 2500),
    composer=_budget(COMPOSER, 1500),
    tune=TUNE,
    extend_steps=1000,
    composer_pieces=200,
    # 200 pieces a Composer: the share of 50 taken for real stood up to 14 points from that of
    # 200 (another sampling seed) for the same Composer and judge.
    n=200,
)
# Tiny models and budgets: the whole story in about a minute (for tests and a first look).
DEMO_QUICK = DemoPlan(
    critic=_budget(
        dataclasses.replace(
            CRITIC,
            model=CriticConfig(embedding=16, hidden=32, state=True, peak=True),
            windows=WindowConfig(length=128, stride=64, transpose=3),
        ),
        150,
    ),
    composer=_budget(
        dataclasses.replace(
            COMPOSER,
            model=ComposerConfig(embedding=32, hidden=128, layers=1, dropout=0.0),
            windows=WindowConfig(length=128, stride=64, transpose=3),
        ),
        150,
    ),
    tune=_budget(
        dataclasses.replace(TUNE, tune=TuneConfig(length=48, pieces_per_epoch=32, valid_pieces=4)),
        4,
    ),
    extend_steps=60,
    composer_pieces=24,
    n=8,
)
