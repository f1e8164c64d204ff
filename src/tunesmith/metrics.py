"""Figures of a binary judge (the Critic): accuracy, ROC AUC, F1, confusion matrix, calibration.

Pure numpy functions of labels (1 = real, 0 = bad) and logits or probabilities, so that the
numbers a user reads come from one place.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def bce(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary cross-entropy (nats) of ``logits`` against ``labels``, computed stably."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if not len(z):
        return float("nan")
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive outranks a random negative
    (ties count half; the Mann-Whitney U statistic). NaN unless both classes are present."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # Average ranks over ties.
    first = np.r_[True, sorted_s[1:] != sorted_s[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)]
    ranks[order] = ((starts + ends - 1) / 2.0 + 1.0)[group]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def confusion(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``[[true bad, bad called real], [real called bad, true real]]`` counts."""
    y = np.asarray(labels).astype(bool)
    called = np.asarray(probs) > threshold
    return np.array(
        [[np.sum(~y & ~called), np.sum(~y & called)], [np.sum(y & ~called), np.sum(y & called)]]
    )


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE: the mean over equal-width probability bins of |share real - mean probability|,
    weighted by each bin's size (Guo et al., 2017, for the probability of "real")."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if not len(p):
        return float("nan")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, y, bins) - np.bincount(which, p, bins))
    return float(gap.sum() / count.sum())


def fit_temperature(labels: np.ndarray, logits: np.ndarray) -> float:
    """The temperature ``T`` that minimises the cross-entropy of ``logits / T`` (Guo et al.'s
    temperature scaling), by golden-section search over log T in [1/20, 20]."""
    if not len(logits):
        return 1.0
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    f = lambda log_t: bce(labels, np.asarray(logits) / np.exp(log_t))  # noqa: E731
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return float(np.exp((lo + hi) / 2.0))


def binary_metrics(
    labels: np.ndarray, logits: np.ndarray, temperature: float = 1.0
) -> dict[str, float]:
    """Loss, accuracy at 0.5, AUC, F1 (real as the positive class) and ECE of scores
    ``sigmoid(logits / temperature)``."""
    y = np.asarray(labels).astype(bool)
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = sigmoid(z)
    cm = confusion(y, p)
    tp, fp, fn = cm[1, 1], cm[0, 1], cm[1, 0]
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else float("nan")
    return {
        "loss": bce(y, z),
        "accuracy": float(np.mean(y == (p > 0.5))) if len(y) else float("nan"),
        "auc": roc_auc(y, z),
        "f1": float(f1),
        "ece": expected_calibration_error(y, p),
    }
