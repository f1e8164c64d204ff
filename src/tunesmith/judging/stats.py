"""Objective statistics of a piece, and how far two sets of pieces differ in each.

In the spirit of Yang & Lerch, "On the evaluation of generative models in music" (Neural
Computing and Applications, 2018; the mgeval toolbox): every statistic is a pure function of one
piece's :class:`Notes` returning a float (NaN where empty input leaves it undefined), and two
sets of pieces (say composed and real) are compared per statistic by the overlap area and the
KL divergence of kernel density estimates of their per-piece values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tunesmith.data.notes import Notes

_TOL = 1e-6  # seconds: times closer than this are the same time
_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=np.int64)  # C major, by pitch class
# Row k: the major scale on tonic k. A natural-minor scale has the same pitch classes as its
# relative major (A minor = C major), so these 12 rows cover all 24 major and minor scales.
_SCALES = np.stack([np.roll(_MAJOR, k) for k in range(12)])


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _std(x: np.ndarray) -> float:
    """Population standard deviation (ddof 0), NaN for an empty array."""
    return float(np.std(x)) if len(x) else float("nan")


def _onset_intervals(notes: Notes) -> np.ndarray:
    # Notes of a chord share their onset; rounding to 1 us keeps float noise from splitting it.
    return np.diff(np.unique(np.round(notes.start, 6)))


def pitch_range(notes: Notes) -> float:
    """Highest minus lowest pitch, in semitones (Yang & Lerch's PR); NaN with no notes."""
    return float(notes.pitch.max() - notes.pitch.min()) if len(notes) else float("nan")


def pitches_used(notes: Notes) -> float:
    """Number of distinct MIDI pitches (Yang & Lerch's PC, pitch count); 0 with no notes."""
    return float(len(np.unique(notes.pitch)))


def pitch_classes_used(notes: Notes) -> float:
    """Number of distinct pitch classes, 0..12 (MuseGAN's UPC); 0 with no notes."""
    return float(len(np.unique(notes.pitch % 12)))


def pitch_class_entropy(notes: Notes) -> float:
    """Shannon entropy of the pitch-class histogram, in bits (0..log2 12 = 3.585).

    Count-based, as in mgeval's pitch class histogram and muspy's ``pitch_class_entropy``: each
    note counts once whatever its length, so the value does not depend on tempo or articulation.
    NaN with no notes.
    """
    if not len(notes):
        return float("nan")
    p = np.bincount(notes.pitch % 12, minlength=12) / len(notes)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def scale_consistency(notes: Notes) -> float:
    """Share of notes (0..1) that lie in the best-fitting major or natural-minor scale.

    Taken over all 12 tonics, as in Mogren's C-RNN-GAN (2016) and Yang & Lerch; counts notes,
    not durations. Any 7-note diatonic melody gives 1.0. NaN with no notes.
    """
    if not len(notes):
        return float("nan")
    counts = np.bincount(notes.pitch % 12, minlength=12)
    return float((_SCALES @ counts).max() / len(notes))


def polyphony(notes: Notes) -> float:
    """Mean number of notes sounding, in notes, over the time when at least one sounds.

    Time-weighted (muspy's ``polyphony``, measured in seconds rather than time steps): a melody
    gives 1, a held triad 3. NaN when no note has positive length.
    """
    times = np.concatenate([notes.start, notes.end])
    step = np.concatenate([np.ones(len(notes)), -np.ones(len(notes))])
    order = np.argsort(times, kind="stable")
    sounding = np.cumsum(step[order])[:-1]  # notes sounding from each event to the next
    dt = np.diff(times[order])
    active = dt[sounding > 0.5].sum()
    return float((sounding * dt).sum() / active) if active > 0 else float("nan")


def note_density(notes: Notes) -> float:
    """Notes started per second over the span from the first onset to the last end.

    Each note of a chord counts. NaN with no notes or a span of zero length.
    """
    if not len(notes):
        return float("nan")
    span = notes.end.max() - notes.start.min()
    return float(len(notes) / span) if span > 0 else float("nan")


def mean_ioi(notes: Notes) -> float:
    """Mean inter-onset interval in seconds between successive distinct onset times (Yang &
    Lerch's IOI, with a chord's shared onset counted once). NaN with fewer than two onsets."""
    return _mean(_onset_intervals(notes))


def ioi_std(notes: Notes) -> float:
    """Standard deviation (ddof 0) of the inter-onset intervals of :func:`mean_ioi`, in seconds.
    NaN with fewer than two distinct onsets."""
    return _std(_onset_intervals(notes))


def mean_duration(notes: Notes) -> float:
    """Mean note length in seconds. NaN with no notes."""
    return _mean(notes.end - notes.start)


def duration_std(notes: Notes) -> float:
    """Standard deviation (ddof 0) of note length in seconds. NaN with no notes."""
    return _std(notes.end - notes.start)


def velocity_std(notes: Notes) -> float:
    """Standard deviation (ddof 0) of note velocity in MIDI units (0 for music played at one
    velocity, as the chorales are). NaN with no notes."""
    return _std(notes.velocity.astype(np.float64))


def stuck_notes(
    notes: Notes, *, hold_seconds: float = 3.0, max_note_seconds: float | None = 5.0
) -> float:
    """Share of notes (0..1) that bear the mark of a note-on never followed by its note-off.

    The Composer's decoder ends such a note at the last time reached or after
    ``max_note_seconds``, whichever comes first. So a note is stuck when either

    - it lasts exactly ``max_note_seconds`` (within 1 us): the decoder's cap; or
    - it ends at the piece's end (the latest note end, within 1 us), lasts less than
      ``max_note_seconds``, and began more than ``hold_seconds`` before the piece's last onset:
      it hung on while later music started.

    A final chord, however long, starts at or near the last onset and is not stuck; a note longer
    than the cap cannot be an unreleased one. In music21's 410 Bach chorales no note lasts exactly
    5 s, and the longest hold of this kind by a note shorter than 5 s is exactly 3 s (a soprano
    keeping the tonic through the cadence in bwv323, bwv328 and bwv48.3): hence the default
    ``hold_seconds``, with which every real chorale scores 0. Pass
    ``max_note_seconds=None`` for music that never went through the decoder: only the second
    rule applies then, whatever the note's length. NaN with no notes.
    """
    if not len(notes):
        return float("nan")
    length = notes.end - notes.start
    held = (np.abs(notes.end - notes.end.max()) <= _TOL) & (
        notes.start.max() - notes.start > hold_seconds
    )
    if max_note_seconds is None:
        return float(held.mean())
    capped = np.abs(length - max_note_seconds) <= _TOL
    return float((capped | (held & (length < max_note_seconds))).mean())


@dataclass(frozen=True)
class Statistic:
    """A statistic with its table label and unit; calling it calls ``fn``."""

    fn: Callable[[Notes], float]
    label: str
    unit: str

    def __call__(self, notes: Notes) -> float:
        return self.fn(notes)


STATISTICS: dict[str, Statistic] = {
    "pitch_range": Statistic(pitch_range, "pitch range", "semitones"),
    "pitches_used": Statistic(pitches_used, "pitches used", "pitches"),
    "pitch_classes_used": Statistic(pitch_classes_used, "pitch classes used", "classes"),
    "pitch_class_entropy": Statistic(pitch_class_entropy, "pitch-class entropy", "bits"),
    "scale_consistency": Statistic(scale_consistency, "scale consistency", "share"),
    "polyphony": Statistic(polyphony, "polyphony", "notes"),
    "note_density": Statistic(note_density, "note density", "notes/s"),
    "mean_ioi": Statistic(mean_ioi, "mean inter-onset interval", "s"),
    "ioi_std": Statistic(ioi_std, "inter-onset interval std", "s"),
    "mean_duration": Statistic(mean_duration, "mean note length", "s"),
    "duration_std": Statistic(duration_std, "note length std", "s"),
    "velocity_std": Statistic(velocity_std, "velocity std", "MIDI velocity"),
    "stuck_notes": Statistic(stuck_notes, "stuck notes", "share"),
}


def note_length_quantile(pieces: Sequence[Notes], q: float) -> float:
    """The ``q``-th percentile (0-100) of the lengths of all notes of ``pieces``, in seconds."""
    return float(np.percentile(np.concatenate([n.end - n.start for n in pieces]), q))


def piece_statistics(notes: Notes) -> dict[str, float]:
    """Every statistic of :data:`STATISTICS` for one piece, in that order."""
    return {name: stat(notes) for name, stat in STATISTICS.items()}


def set_statistics(pieces: Sequence[Notes]) -> dict[str, np.ndarray]:
    """Every statistic for a set of pieces: name -> float64 array, one value per piece."""
    values = [piece_statistics(notes) for notes in pieces]
    return {name: np.array([v[name] for v in values], dtype=np.float64) for name in STATISTICS}


# -- comparing two sets ------------------------------------------------------------------------

_GRID = 2048  # points of the shared density grid
_KL_EPS = 1e-10  # probability mass added to every grid cell so KL stays finite


def _bandwidth(x: np.ndarray, floor: float) -> float:
    """Silverman's rule of thumb, 0.9 min(std, IQR/1.34) n^-1/5, with R's ``bw.nrd0``
    fallback to the std when the IQR is 0, and never below ``floor``."""
    std = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
    iqr = float(np.subtract(*np.percentile(x, [75, 25]))) / 1.34
    spread = min(std, iqr) or std
    return max(0.9 * spread * len(x) ** -0.2, floor)


def _masses(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Gaussian KDEs of the two samples on one shared grid, as probability masses per grid cell
    (each sums to 1). NaNs are dropped first; None if either sample is then empty."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) or not len(b):
        return None
    both = np.concatenate([a, b])
    lo, hi = both.min(), both.max()
    # The floor (1% of the pooled span, or of the value's size if all values are equal) keeps a
    # constant sample from having zero bandwidth, and is wider than a grid cell so it is resolved.
    floor = 0.01 * ((hi - lo) or max(abs(hi), 1.0))
    h = np.array([_bandwidth(a, floor), _bandwidth(b, floor)])
    grid = np.linspace(lo - 4 * h.max(), hi + 4 * h.max(), _GRID)
    out = []
    for x, bw in zip((a, b), h):
        density = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / bw) ** 2).sum(axis=1)
        out.append(density / density.sum())  # normalising on the grid: equal samples, equal masses
    return out[0], out[1]


def overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """Overlap area of the two samples' densities, the integral of min(p, q), in [0, 1].

    1 for identical samples, near 0 for samples far apart; symmetric. Densities are Gaussian
    KDEs with Silverman's bandwidth on a shared grid (as mgeval, which uses scipy's KDE). NaN
    values are dropped; NaN if either sample is then empty.
    """
    masses = _masses(a, b)
    if masses is None:
        return float("nan")
    return float(np.clip(np.minimum(*masses).sum(), 0.0, 1.0))


def kl_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """KL divergence KL(p || q) in nats of sample ``a``'s density p from sample ``b``'s q.

    Same densities as :func:`overlap_area`, with 1e-10 of mass added to every grid cell of both
    so the value stays finite (at most about 23 nats): >= 0, and 0 for identical samples. Not
    symmetric. NaN values are dropped; NaN if either sample is then empty.
    """
    masses = _masses(a, b)
    if masses is None:
        return float("nan")
    p, q = ((m + _KL_EPS) / (1 + _KL_EPS * _GRID) for m in masses)
    return max(float((p * np.log(p / q)).sum()), 0.0)


def mean_overlap(comparison: dict[str, dict[str, float]]) -> float | None:
    """The mean overlap area of a :func:`compare_sets` result over the statistics defined for
    both sets (None if none is)."""
    known = [c["overlap"] for c in comparison.values() if c["overlap"] == c["overlap"]]
    return float(np.mean(known)) if known else None


def compare_sets(
    reference: dict[str, np.ndarray], other: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Per statistic present in both (in ``reference``'s order): mean and std (ddof 0, NaNs
    dropped) of each set, the overlap area, and KL(reference || other) in nats: how badly
    ``other`` (e.g. composed pieces) covers where ``reference`` (real pieces) lies."""
    out = {}
    for name, ref in reference.items():
        if name not in other:
            continue
        ref = np.asarray(ref, dtype=np.float64)
        oth = np.asarray(other[name], dtype=np.float64)
        out[name] = {
            "reference_mean": _mean(ref[~np.isnan(ref)]),
            "reference_std": _std(ref[~np.isnan(ref)]),
            "other_mean": _mean(oth[~np.isnan(oth)]),
            "other_std": _std(oth[~np.isnan(oth)]),
            "overlap": overlap_area(ref, oth),
            "kl": kl_divergence(ref, oth),
        }
    return out
