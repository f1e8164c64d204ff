"""Several Composers side by side (say the base, a tuned one and each adversarial round), judged
by one Critic that none of them was tuned against, with the guards against reward hacking.

A tuned Composer is flagged when it

- scores higher than the base with the Critic it was tuned against but not with the judge
  (it learned to fool its Critic, not to write better music);
- lost more than ``NLL_SLACK`` of the base's likelihood of real music (validation NLL);
- lost more than ``DIVERSITY_SLACK`` of the base's diversity (distinct 4-grams of events, or the
  pairwise pitch-class distance): a collapse onto a few pieces;
- is judged by the very Critic it was tuned against (then the verdict is not held out).

Any Composer, the base too, is flagged for copying when its pieces share clearly more runs of
notes with the training split than real test pieces do (:mod:`tunesmith.judging.copying`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.compose import LoadedComposer
from tunesmith.config import VALID_TOKENS
from tunesmith.data.cache import TokenCache
from tunesmith.data.windows import piece_sequences
from tunesmith.judging.copying import TrainingRuns, copy_flag, copying, summary
from tunesmith.judging.diversity import diversity
from tunesmith.judging.scoring import LoadedCritic, load_critic
from tunesmith.judging.stats import mean_overlap
from tunesmith.models.composer import sequence_nll

NLL_SLACK = 0.05  # a tuned Composer may lose 5% of the base's likelihood of real music
DIVERSITY_SLACK = 0.2  # and 20% of its diversity
FARTHEST = 3  # statistics listed per Composer, those farthest from real music


@dataclass
class Judged:
    """One Composer's pieces and what was measured of them."""

    label: str
    composer: LoadedComposer
    tokens: list[np.ndarray]
    scores: np.ndarray  # the judge's score of each piece
    notes: list
    top_p: float  # the nucleus they were sampled from


def composer_entry(
    judged: Judged, cache: TokenCache, comparison: dict[str, dict], training: TrainingRuns
) -> dict[str, Any]:
    """The figures of one Composer: judge's scores, NLL on real music, diversity, statistics,
    and how much of its music is found in the training split."""
    model = judged.composer.model
    nll, count = sequence_nll(model, piece_sequences(cache, "valid", VALID_TOKENS), cache.codec.pad)
    known = {k: c for k, c in comparison.items() if c["overlap"] == c["overlap"]}  # not NaN
    farthest = sorted(known, key=lambda k: known[k]["overlap"])[:FARTHEST]
    entry = {
        "label": judged.label,
        "path": str(judged.composer.path.resolve()),
        "mean": float(judged.scores.mean()),
        "called_real": float(np.mean(judged.scores > 0.5)),
        "valid_nll": nll / count,
        **diversity(judged.tokens, judged.notes),
        "mean_overlap": mean_overlap(comparison),
        "farthest": [
            {
                "statistic": k,
                "overlap": known[k]["overlap"],
                "real_mean": known[k]["reference_mean"],
                "mean": known[k]["other_mean"],
            }
            for k in farthest
        ],
        "copying": summary(copying(training, judged.notes)),
        "top_p": judged.top_p,
        "tuned_against": judged.composer.record.tuned_against,
        "flags": [],
    }
    return entry


def flag(
    entries: list[dict[str, Any]],
    judged: list[Judged],
    judge: LoadedCritic,
    real_copying: dict[str, Any],
) -> None:
    """Add each Composer's warnings (module docstring) to its entry, against the first, and
    against real test pieces for copying."""
    base, base_pieces = entries[0], judged[0]
    for entry, j in zip(entries, judged):
        copied = copy_flag(entry["copying"], real_copying)
        if copied:
            entry["flags"].append(copied)
        own = entry["tuned_against"]
        if own and Path(own).resolve() == judge.path.resolve():
            entry["flags"].append(
                "judged by the Critic it was tuned against: this verdict is not held out"
            )
        elif own and Path(own).exists() and entry is not base:
            critic = load_critic(own, judge.device)
            mine = float(critic.piece_scores(j.tokens).mean())
            theirs = float(critic.piece_scores(base_pieces.tokens).mean())
            entry["own_critic"] = {"path": own, "mean": mine, "base_mean": theirs}
            if mine > theirs and entry["mean"] <= base["mean"]:
                entry["flags"].append(
                    f"reward hacking: its own Critic's score rose ({theirs:.3f} -> {mine:.3f}) "
                    f"but the held-out judge's did not ({base['mean']:.3f} -> {entry['mean']:.3f})"
                )
        if entry is base:
            continue
        if entry["valid_nll"] > base["valid_nll"] * (1 + NLL_SLACK):
            rise = entry["valid_nll"] / base["valid_nll"] - 1
            entry["flags"].append(f"validation NLL {rise:.0%} above the base's")
        for key in ("distinct_4grams", "pitch_class_distance"):
            if entry[key] < base[key] * (1 - DIVERSITY_SLACK):
                entry["flags"].append(
                    f"diversity collapsed: {key} {entry[key]:.3f} against the base's "
                    f"{base[key]:.3f}"
                )
