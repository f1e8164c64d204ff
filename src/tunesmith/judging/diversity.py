"""How varied a set of pieces is: a tuned Composer that found a few pieces which fool the
Critic shows it here first (fewer distinct event n-grams, more alike pitch content)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunesmith.data.notes import Notes


def distinct_ngrams(pieces: Sequence[np.ndarray], n: int = 4) -> float:
    """Distinct event n-grams over all n-grams of the set, in [0, 1] ("distinct-n", Li et al.,
    2016). NaN when no piece is ``n`` tokens long."""
    grams = [
        np.lib.stride_tricks.sliding_window_view(np.asarray(p, dtype=np.int64), n)
        for p in pieces
        if len(p) >= n
    ]
    if not grams:
        return float("nan")
    rows = np.concatenate(grams)
    return len(np.unique(rows, axis=0)) / len(rows)


def pitch_class_histograms(pieces: Sequence[Notes]) -> np.ndarray:
    """Each piece's share of notes per pitch class, ``(pieces, 12)`` (zeros for no notes)."""
    out = np.zeros((len(pieces), 12))
    for i, notes in enumerate(pieces):
        if len(notes):
            out[i] = np.bincount(notes.pitch % 12, minlength=12) / len(notes)
    return out


def pitch_class_distance(pieces: Sequence[Notes]) -> float:
    """Mean total-variation distance in [0, 1] between the pitch-class histograms of every pair
    of pieces: 0 when all use pitch classes alike. NaN for fewer than two pieces."""
    h = pitch_class_histograms(pieces)
    k = len(h)
    if k < 2:
        return float("nan")
    d = 0.5 * np.abs(h[:, None, :] - h[None, :, :]).sum(axis=2)
    return float(d[np.triu_indices(k, 1)].mean())


def diversity(tokens: Sequence[np.ndarray], notes: Sequence[Notes]) -> dict[str, float]:
    return {
        "distinct_4grams": distinct_ngrams(tokens, 4),
        "pitch_class_distance": pitch_class_distance(notes),
    }
