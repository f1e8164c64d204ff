"""What a Composer can be asked for: the note density and pitch classes of the music ahead, and
the piece's style. Computed from the tokens to train on, and from a user's request to compose.

As in Performance RNN, both running signals describe the music *ahead* of each event: at the
event, the notes struck in the next :data:`DENSITY_SECONDS` (per second) and the pitch classes of
those struck in the next :data:`PITCH_SECONDS` (as shares). A signal of the past would tell the
model nothing its own context does not, and it could not steer what comes next.

Each signal is a few numbers fed beside every token: a flag saying it is given, then its value
(the density spread over log-spaced bins, :func:`density_bins`; the twelve shares). A signal
left out (dropped at random in training, not requested in composing) is all zeros, flag
included, so one model composes with any of them or none. The style is a label per piece, fed as
an id: 0 means none.
"""

from __future__ import annotations

import re

import numpy as np

from tunesmith.config import CONDITIONS
from tunesmith.data.codec import NUM_PITCHES, Codec
from tunesmith.errors import ConfigError

DENSITY_SECONDS = 3.0  # Performance RNN's windows
PITCH_SECONDS = 5.0
# A density is fed as weights on bins spaced half an octave apart (0.5 to 64 notes/s), split
# between the two bins around it in log scale: one number would be a faint voice beside the
# token's embedding (measured: it barely moved what was composed), bins are heard.
DENSITY_BINS = 2.0 ** np.arange(-1.0, 6.01, 0.5)
WIDTHS = {"density": 1 + len(DENSITY_BINS), "pitch-classes": 13}  # flag + values
MAX_DENSITY = 100.0  # notes/s: beyond the densest piano passages
MIN_SPAN = 1.0  # seconds: the shortest time a density is measured over

# Krumhansl-Kessler key profiles (C major, C minor): how well each pitch class fits the key.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_KEY = re.compile(r"^([a-g])\s*(#|b|sharp|flat)?\s*(major|minor|maj|min|m)?$")


def width(signals: tuple[str, ...]) -> int:
    """How many numbers the running signals among ``signals`` feed beside each token."""
    return sum(WIDTHS.get(s, 0) for s in signals)


def _note_ons(tokens: np.ndarray, codec: Codec, seconds: float) -> tuple[np.ndarray, ...]:
    """Each token's time (steps, after it), the note-ons' positions and, for each token, the
    range ``[lo, hi)`` of note-ons after it and struck less than ``seconds`` after its time."""
    t = np.asarray(tokens, dtype=np.int64)
    clock = np.cumsum(codec.shift_steps(t))  # each token's time, in steps, after it
    on = np.flatnonzero(t < NUM_PITCHES)
    lo = np.searchsorted(on, np.arange(len(t)), side="right")  # note-ons after the token
    steps = round(seconds / codec.config.time_step)
    hi = np.searchsorted(clock[on], clock + steps, side="left")
    return clock, on, lo, np.maximum(hi, lo)


def density(tokens: np.ndarray, codec: Codec, seconds: float = DENSITY_SECONDS) -> np.ndarray:
    """At each token, the notes struck after it within ``seconds`` of its time, per second.

    Where the sequence ends (EOS) sooner, the rate is over the time left to its last onset (at
    least :data:`MIN_SPAN`): a piece's last seconds keep their pace instead of fading to 0,
    which would teach the model that a sparse request means the end is near."""
    clock, on, lo, hi = _note_ons(tokens, codec, seconds)
    span = np.full(len(lo), seconds)
    if (np.asarray(tokens) == codec.eos).any() and len(on):
        span = np.clip((clock[on[-1]] - clock) * codec.config.time_step, MIN_SPAN, seconds)
    return ((hi - lo) / span).astype(np.float32)


def pitch_classes(tokens: np.ndarray, codec: Codec, seconds: float = PITCH_SECONDS) -> np.ndarray:
    """``(len(tokens), 12)``: at each token, the share of each pitch class among the notes
    struck after it within ``seconds`` of its time (all zero where none is)."""
    _, on, lo, hi = _note_ons(tokens, codec, seconds)
    pc = np.asarray(tokens, dtype=np.int64)[on] % 12
    counts = np.zeros((len(on) + 1, 12), dtype=np.int64)
    np.cumsum(np.eye(12, dtype=np.int64)[pc], axis=0, out=counts[1:])
    ahead = (counts[hi] - counts[lo]).astype(np.float32)
    return ahead / np.maximum(ahead.sum(axis=1, keepdims=True), 1)


def density_bins(density: np.ndarray) -> np.ndarray:
    """``(len(density), len(DENSITY_BINS))``: each density (notes/s) as weights on the two bins
    around it, linear in log scale (beyond the bins, all on the last; none, all on the first)."""
    d = np.asarray(density, dtype=np.float64)
    where = np.log2(np.clip(d, DENSITY_BINS[0], DENSITY_BINS[-1])) * 2 + 2  # bin 0 is 2**-1
    low = np.minimum(where.astype(np.int64), len(DENSITY_BINS) - 2)
    high_weight = where - low
    out = np.zeros((len(d), len(DENSITY_BINS)), dtype=np.float32)
    rows = np.arange(len(d))
    out[rows, low] = 1 - high_weight
    out[rows, low + 1] = high_weight
    return out


def features(
    tokens: np.ndarray, codec: Codec, signals: tuple[str, ...], given: tuple[str, ...] = CONDITIONS
) -> np.ndarray:
    """``(len(tokens), width(signals))`` float32: the running signals of a token sequence,
    those not in ``given`` left out (zeros)."""
    out = np.zeros((len(tokens), width(signals)), dtype=np.float32)
    col = 0
    for s in signals:
        if s not in WIDTHS:
            continue
        if s in given:
            out[:, col] = 1.0
            if s == "density":
                out[:, col + 1 : col + WIDTHS[s]] = density_bins(density(tokens, codec))
            else:
                out[:, col + 1 : col + WIDTHS[s]] = pitch_classes(tokens, codec)
        col += WIDTHS[s]
    return out


def request(
    signals: tuple[str, ...], density: float | None = None, profile: np.ndarray | None = None
) -> np.ndarray:
    """The features of a request (one row): ``density`` in notes/s and a pitch-class
    ``profile``, each None when not asked for."""
    out = np.zeros(width(signals), dtype=np.float32)
    col = 0
    for s in signals:
        if s == "density" and density is not None:
            out[col] = 1.0
            out[col + 1 : col + WIDTHS[s]] = density_bins(np.array([density]))[0]
        elif s == "pitch-classes" and profile is not None:
            out[col] = 1.0
            out[col + 1 : col + 13] = profile
        col += WIDTHS.get(s, 0)
    return out


# -- requests --------------------------------------------------------------------------------


def parse_density(text: str) -> tuple[float, float]:
    """``"6"`` (notes/s throughout) or ``"3:10"`` (from 3 at the start to 10 at the end)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(0.1 <= v <= MAX_DENSITY for v in values):
        raise ConfigError(
            f"--density {text!r}: give notes per second in [0.1, {MAX_DENSITY:g}], or "
            "START:END for a density that moves from one to the other over the piece"
        )
    return values[0], values[-1]


def key_profile(text: str) -> np.ndarray:
    """A key (``"D minor"``, ``"F# major"``, ``"Bb"``: major unless said) or twelve
    comma-separated weights from C to B, as twelve shares summing to 1.

    A key becomes its Krumhansl-Kessler profile less the profile's smallest value, so tones
    outside the key get next to nothing, as in a real passage in that key."""
    if "," in text:
        try:
            weights = np.array([float(v) for v in text.split(",")])
        except ValueError:
            weights = np.empty(0)
        if (
            len(weights) != 12
            or not np.isfinite(weights).all()
            or weights.min() < 0
            or weights.sum() <= 0
        ):
            raise ConfigError(
                f"--key {text!r}: a pitch-class profile is twelve non-negative numbers "
                "(C to B), not all zero"
            )
        return weights / weights.sum()
    tonic, minor = parse_key(text)
    kk = _MINOR if minor else _MAJOR
    profile = kk - kk.min()
    return np.roll(profile / profile.sum(), tonic)


def parse_key(text: str) -> tuple[int, bool]:
    """``"D minor"`` -> (2, True): the tonic's pitch class and whether the key is minor."""
    m = _KEY.match(text.strip().lower())
    if m is None:
        raise ConfigError(
            f"--key {text!r}: give a key such as 'D minor', 'F# major' or 'Bb', or twelve "
            "comma-separated pitch-class weights from C to B"
        )
    letter, accidental, mode = m.groups()
    shift = {"#": 1, "sharp": 1, "b": -1, "flat": -1}.get(accidental or "", 0)
    return (_LETTERS[letter] + shift) % 12, mode in ("minor", "min", "m")


def key_name(tonic: int, minor: bool) -> str:
    return f"{NAMES[tonic]} {'minor' if minor else 'major'}"


def pitch_class_histogram(pitches: np.ndarray) -> np.ndarray:
    """Shares of each pitch class among ``pitches`` (all zero for none)."""
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12).astype(float)
    return counts / max(counts.sum(), 1.0)


def estimate_key(histogram: np.ndarray) -> tuple[int, bool]:
    """The key whose Krumhansl-Kessler profile correlates best with a pitch-class histogram
    (Krumhansl-Schmuckler): (tonic, minor)."""
    best, key = -np.inf, (0, False)
    for minor, profile in ((False, _MAJOR), (True, _MINOR)):
        for tonic in range(12):
            r = np.corrcoef(np.roll(profile, tonic), histogram)[0, 1]
            if np.isfinite(r) and r > best:
                best, key = r, (tonic, minor)
    return key


def profile_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance of two pitch-class shares: 0 the same, 1 no class in common."""
    return float(0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum())
