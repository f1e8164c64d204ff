"""Did the pieces do as asked? Requested against achieved for a conditioned Composer's controls:
density, key or pitch-class profile, style; real test pieces beside them as the yardstick.

- Density: each piece is read in quarters of its time, from its first onset to its last; in each,
  the notes struck per second against the request at that quarter's middle (a schedule moves
  over the piece). The mean absolute error as a share of the request, and the correlation over
  all quarters of all pieces (none when the request does not move).
- Pitch classes: the total-variation distance between each piece's pitch-class histogram and
  the requested profile (0: the same shares, 1: no class in common); for a named key also the
  share of pieces whose estimated key (Krumhansl-Schmuckler) is the one asked for.
- Style: the share of pieces that a :class:`~tunesmith.judging.style.StyleClassifier` trained
  on the training split's pieces assigns to the requested style, and its accuracy on the real
  test pieces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tunesmith.config import SampleConfig
from tunesmith.data import controls
from tunesmith.data.cache import TokenCache
from tunesmith.data.notes import Notes
from tunesmith.errors import ConfigError
from tunesmith.judging.style import StyleClassifier, labelled_excerpts

QUARTERS = 4
STYLE_EXCERPT_SECONDS = 30.0  # real pieces are cut to about the length of composed ones


def density_by_quarter(notes: Notes) -> np.ndarray:
    """Notes struck per second in each quarter of the piece's onsets' span (NaN without a
    span)."""
    if len(notes) < 2 or notes.start.max() <= notes.start.min():
        return np.full(QUARTERS, np.nan)
    first, span = notes.start.min(), notes.start.max() - notes.start.min()
    part = np.minimum(((notes.start - first) / span * QUARTERS).astype(np.int64), QUARTERS - 1)
    return np.bincount(part, minlength=QUARTERS) / (span / QUARTERS)


def density_report(text: str, composed: list[Notes]) -> dict[str, Any]:
    start, end = controls.parse_density(text)
    asked = np.array([start + (end - start) * (q + 0.5) / QUARTERS for q in range(QUARTERS)])
    got = np.array([density_by_quarter(n) for n in composed])
    ok = np.isfinite(got)
    pairs = np.broadcast_to(asked, got.shape)[ok], got[ok]
    moving = start != end and len(pairs[0]) > 2 and np.std(pairs[1]) > 0
    return {
        "requested": text,
        "requested_by_quarter": asked.round(3).tolist(),
        "achieved_by_quarter": np.nanmean(got, axis=0).round(3).tolist() if ok.any() else None,
        "mean_abs_error": float(np.mean(np.abs(pairs[1] - pairs[0]) / pairs[0]))
        if ok.any()
        else None,
        "correlation": float(np.corrcoef(*pairs)[0, 1]) if moving else None,
    }


def key_report(text: str, composed: list[Notes], real: list[Notes]) -> dict[str, Any]:
    profile = controls.key_profile(text)
    out: dict[str, Any] = {"requested": text}
    try:
        wanted = controls.parse_key(text)
    except ConfigError:  # a profile of twelve weights names no key
        wanted = None
    if wanted is not None:
        out["key"] = controls.key_name(*wanted)
    for name, pieces in (("composed", composed), ("real", real)):
        hists = [controls.pitch_class_histogram(n.pitch) for n in pieces if len(n)]
        out[name] = {
            "distance": float(np.mean([controls.profile_distance(h, profile) for h in hists]))
        }
        if wanted is not None:
            keys = [controls.estimate_key(h) == wanted for h in hists]
            out[name]["in_key"] = float(np.mean(keys))
    return out


def style_report(
    text: str, composed: list[Notes], cache: TokenCache, styles: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {"requested": text, "styles": list(styles)}
    if len(styles) < 2:
        out["note"] = "one style only: nothing to tell apart"
        return out

    classifier = StyleClassifier.fit(*labelled_excerpts(cache, ("train",), STYLE_EXCERPT_SECONDS))
    test, labels = labelled_excerpts(cache, ("test",), STYLE_EXCERPT_SECONDS)
    verdicts = classifier.predict(composed)
    wanted = next(s for s in styles if s.lower() == text.lower())
    out["assigned_to_requested"] = float(np.mean([v == wanted for v in verdicts]))
    out["classifier_accuracy_on_real_test"] = classifier.accuracy(test, labels) if test else None
    return out


def requested_report(
    config: SampleConfig,
    composed: list[Notes],
    real: list[Notes],
    cache: TokenCache,
    styles: tuple[str, ...],
) -> dict[str, Any] | None:
    """Requested against achieved for every control ``config`` asks for (None: none asked)."""
    out: dict[str, Any] = {}
    if config.density:
        out["density"] = density_report(config.density, composed)
    if config.key:
        out["key"] = key_report(config.key, composed, real)
    if config.style:
        out["style"] = style_report(config.style, composed, cache, styles)
    return out or None
