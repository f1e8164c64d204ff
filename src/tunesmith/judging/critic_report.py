"""The Critic's report on a held-out split: how well it tells real music from each kind of bad
music, and whether its scores mean what they say (calibration)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.atomic import atomic_write_json
from tunesmith.checkpoint import update_record
from tunesmith.compose import compose_negatives
from tunesmith.config import VALID_TOKENS, NegativeConfig, Preset, Tables, audible_kinds
from tunesmith.data.cache import TokenCache, cache_of
from tunesmith.data.examples import Examples
from tunesmith.data.prepare import DataSource
from tunesmith.judging.scoring import LoadedCritic, load_critic
from tunesmith.metrics import binary_metrics, confusion, fit_temperature, sigmoid
from tunesmith.models.critic import critic_logits
from tunesmith.progress import Progress, rich_progress
from tunesmith.runtime import pick_device
from tunesmith.training.loop import TrainResult
from tunesmith.training.run import train_model

TEST_REPORT = "test_report.json"


def split_examples(
    critic: LoadedCritic,
    cache: TokenCache,
    split: str,
    kinds: tuple[str, ...] | None = None,
    progress: Progress | None = None,
) -> Examples:
    """The real windows of ``split`` and one negative each, of ``kinds`` in turn (by default the
    kinds the Critic was trained on), drawn from the Critic's seed."""
    negatives = critic.record.negatives or NegativeConfig()
    if kinds is not None:
        composer = negatives.composer if "composer" in kinds else ""
        negatives = NegativeConfig.from_dict(
            {**negatives.to_dict(), "kinds": list(kinds), "composer": composer}
        )
    seed = critic.record.seed
    composed = None
    if "composer" in negatives.kinds:
        composed = compose_negatives(
            negatives.composer, cache, split, negatives, seed, critic.device, progress
        )
    config = critic.model.config
    return Examples(
        cache,
        split,
        critic.windows,
        negatives,
        config.reads_velocity,
        seed,
        composed,
        state=config.state,
        # A fixed sample of a large split's pieces: the whole of the chorales' and MAESTRO's.
        max_tokens=VALID_TOKENS,
    )


def calibrate(critic: LoadedCritic, cache: TokenCache, save: bool = True) -> float:
    """Fit the temperature on the validation split (the Critic's own negative mix) and, with
    ``save``, store it in the checkpoint so every later score uses it."""
    examples = split_examples(critic, cache, "valid")
    logits = critic_logits(critic.model, examples, critic.device, precision=critic.precision)
    critic.temperature = fit_temperature(examples.labels(), logits)
    if save:
        critic.record = update_record(critic.path, temperature=critic.temperature)
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
    kinds = tuple(kinds or (critic.record.negatives or NegativeConfig()).kinds)
    kinds = audible_kinds(kinds, critic.model.config.reads_velocity)
    T = critic.temperature
    mix = split_examples(critic, cache, split, kinds, progress)
    logits = critic_logits(critic.model, mix, critic.device, precision=critic.precision)
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
        bad = critic_logits(critic.model, one, critic.device, precision=critic.precision)[n:]
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


def write_test_report(
    critic: LoadedCritic | str | Path,
    cache: TokenCache | None = None,
    split: str = "test",
    kinds: tuple[str, ...] | None = None,
    calibrate_first: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The Critic's test report, the one way every command makes it: calibrate if asked (or
    never done), report on ``split`` (by default on the data the Critic was trained on) and
    write ``test_report.json`` beside the run."""
    if not isinstance(critic, LoadedCritic):
        critic = load_critic(critic, pick_device(device))
    cache = cache or cache_of(critic.record)
    cache.check_codec(critic.codec.config, f"the Critic {critic.path}")
    if calibrate_first or critic.record.temperature is None:
        calibrate(critic, cache)
    # Bars of its own, unless the caller shows some already.
    bars = rich_progress(transient=True) if progress is None else contextlib.nullcontext(progress)
    with bars as shown:
        report = critic_report(critic, cache, split, kinds, shown)
    report["critic"] = str(critic.path)
    atomic_write_json(critic.path.parent / TEST_REPORT, report)
    return report


def train_critic(
    preset: Preset,
    out: str | Path,
    tables: Sequence[Tables] = (),
    data: DataSource | None = None,
    resume: bool = False,
    init: str | Path | None = None,
    say: Callable[[str], None] = print,
) -> tuple[TrainResult, dict[str, Any] | None]:
    """``train critic``: train (see :func:`~tunesmith.training.run.train_model`), then fit the
    temperature and write the test report (None when interrupted, and on other ranks)."""
    result, cache, rt = train_model(preset, out, tables, data, resume, init, say)
    if result.stop == "interrupted" or not rt.main:
        return result, None
    critic = load_critic(result.best, rt.device)
    return result, write_test_report(critic, cache, calibrate_first=True)
