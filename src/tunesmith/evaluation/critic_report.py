"""The Critic's report on a held-out split: how well it tells real music from each kind of bad
music, and whether its scores mean what they say (calibration)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tunesmith.config import NegativeConfig
from tunesmith.data.cache import TokenCache
from tunesmith.evaluation.classification import binary_metrics, confusion, fit_temperature, sigmoid
from tunesmith.evaluation.scoring import LoadedCritic
from tunesmith.progress import Progress
from tunesmith.training.checkpoint import update_meta
from tunesmith.training.critic import Examples, compose_negatives, critic_logits


def split_examples(
    critic: LoadedCritic,
    cache: TokenCache,
    split: str,
    kinds: tuple[str, ...] | None = None,
    progress: Progress | None = None,
) -> Examples:
    """The real windows of ``split`` and one negative each, of ``kinds`` in turn (by default the
    kinds the Critic was trained on), drawn from the Critic's seed."""
    negatives = NegativeConfig.from_dict(critic.meta["negatives"])
    if kinds is not None:
        composer = negatives.composer if "composer" in kinds else ""
        negatives = NegativeConfig.from_dict(
            {**negatives.to_dict(), "kinds": list(kinds), "composer": composer}
        )
    seed = critic.meta["train"]["seed"]
    composed = None
    if "composer" in negatives.kinds:
        composed = compose_negatives(
            negatives.composer, cache, split, negatives, seed, critic.device, progress
        )
    return Examples(
        cache, split, critic.windows, negatives, critic.model.config.velocity, seed, composed
    )


def calibrate(critic: LoadedCritic, cache: TokenCache, save: bool = True) -> float:
    """Fit the temperature on the validation split (the Critic's own negative mix) and, with
    ``save``, store it in the checkpoint so every later score uses it."""
    examples = split_examples(critic, cache, "valid")
    logits = critic_logits(critic.model, examples, critic.device)
    critic.temperature = fit_temperature(examples.labels(), logits)
    if save:
        update_meta(critic.path, temperature=critic.temperature)
    return critic.temperature


def critic_report(
    critic: LoadedCritic,
    cache: TokenCache,
    split: str = "test",
    kinds: tuple[str, ...] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Accuracy at 0.5, ROC AUC, F1, confusion matrix and ECE on the mix of negative kinds, and
    accuracy and AUC against each kind alone (all real windows against one negative each)."""
    kinds = tuple(kinds or critic.meta["negatives"]["kinds"])
    T = critic.temperature
    mix = split_examples(critic, cache, split, kinds, progress)
    logits = critic_logits(critic.model, mix, critic.device)
    labels = mix.labels()
    metrics = binary_metrics(labels, logits, T)
    n = len(mix.index)
    report: dict[str, Any] = {
        "split": split,
        "pieces": len(mix.pieces),
        "real_windows": n,
        "temperature": T,
        "mix": {
            **metrics,
            "ece_uncalibrated": binary_metrics(labels, logits)["ece"],
            "confusion": confusion(labels, sigmoid(logits / T)).tolist(),
            "kinds": list(kinds),
        },
        "kinds": {},
    }
    real = logits[:n]
    for kind in kinds:
        one = mix if len(kinds) == 1 else split_examples(critic, cache, split, (kind,), progress)
        bad = critic_logits(critic.model, one, critic.device)[n:]
        m = binary_metrics(np.r_[np.ones(n), np.zeros(n)], np.r_[real, bad], T)
        report["kinds"][kind] = {
            "accuracy": m["accuracy"],
            "auc": m["auc"],
            "called_real": float(np.mean(sigmoid(bad / T) > 0.5)),
            "mean_score": float(np.mean(sigmoid(bad / T))),
        }
    report["real_mean_score"] = float(np.mean(sigmoid(real / T)))
    report["real_called_real"] = float(np.mean(sigmoid(real / T) > 0.5))
    return report
