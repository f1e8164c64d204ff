"""Adversarial rounds, in the spirit of C-RNN-GAN and SeqGAN: the Critic learns the Composer's
latest pieces as negatives, then the Composer is tuned against that Critic; again and again.

Round ``r`` writes ``round_r/critic`` (the previous Critic extended with fresh Composer pieces
among its negatives) and ``round_r/composer`` (the previous Composer tuned against it, its KL
anchored to the original Composer so the rounds cannot drift far from real music), then
``round_r/round.json`` with the round's figures. A finished round is skipped when the command
runs again, and an interrupted one resumes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.atomic import atomic_write_json
from tunesmith.compose import load_composer
from tunesmith.config import Budgets, CriticConfig, NegativeConfig, TuneConfig, WindowConfig
from tunesmith.data.cache import TokenCache
from tunesmith.evaluation.critic_report import calibrate, critic_report
from tunesmith.evaluation.scoring import load_critic
from tunesmith.progress import Progress, Silent
from tunesmith.training import critic as critic_defaults
from tunesmith.training import tune as tune_defaults
from tunesmith.training.checkpoint import read_meta
from tunesmith.training.critic import CriticTask
from tunesmith.training.distributed import Runtime
from tunesmith.training.loop import train
from tunesmith.training.tune import TuneTask, critic_reward

ROUND = "round.json"


def adversarial(
    composer: str | Path,
    critic: str | Path,
    out: str | Path,
    rounds: int,
    cache: TokenCache,
    rt: Runtime,
    budgets: Budgets | None = None,
    tune: TuneConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run ``rounds`` rounds into ``out``; returns each round's figures (also in
    ``out/adversarial.json``)."""
    out = Path(out)
    # Under torchrun every rank runs the rounds (training is DDP); only rank 0 speaks and writes.
    progress = progress if rt.main and progress else Silent()
    say = say if rt.main else (lambda s: None)
    original = load_composer(composer, rt.device, codec=cache.codec.config)
    critic_meta = read_meta(critic, kind="critic")
    composer_path, critic_path = str(original.path), str(critic_meta["path"])
    budgets, tune = budgets or Budgets(), tune or tune_defaults.TUNE
    records = []
    for r in range(1, rounds + 1):
        here = out / f"round_{r}"
        if (here / ROUND).exists():
            record = json.loads((here / ROUND).read_text())
            say(f"round {r}: done before, skipped")
        else:
            # 1. The Critic learns this Composer's pieces: the previous Critic, extended.
            kinds = [k for k in critic_meta["negatives"]["kinds"] if k != "composer"]
            negatives = NegativeConfig.from_dict(
                {
                    **critic_meta["negatives"],
                    "kinds": [*kinds, "composer"],
                    "composer": composer_path,
                    "composer_pieces": budgets.composer_pieces,
                }
            )
            task = CriticTask(
                cache,
                CriticConfig.from_dict(critic_meta["model"]),
                WindowConfig.from_dict(critic_meta["windows"]),
                negatives,
                seed=seed + r,
                device=rt.device,
                progress=progress,
                init=critic_path,
            )
            minutes = budgets.critic_minutes
            config = dataclasses.replace(critic_defaults.TRAIN, max_minutes=minutes, seed=seed + r)
            _train(task, config, here / "critic", rt, progress)
            judge = load_critic(here / "critic" / "best", rt.device)
            calibrate(judge, cache)
            report = critic_report(judge, cache, "test", kinds=("composer",), progress=progress)

            # 2. The Composer is tuned against it, its KL anchored to the original Composer.
            start = load_composer(composer_path, rt.device, codec=cache.codec.config)
            reward = critic_reward(judge, judge.codec, tune.stuck_penalty)
            meta = {"critic": str(judge.path)}
            task = TuneTask(start, reward, tune, seed + r, cache, meta, reference=original)
            minutes = budgets.tune_minutes
            config = dataclasses.replace(tune_defaults.TRAIN, max_minutes=minutes, seed=seed + r)
            result = _train(task, config, here / "composer", rt, progress)
            best = next(h for h in result.state.history if h["step"] == result.state.best_step)
            record = {
                "round": r,
                "critic": str(judge.path),
                "composer": str(here / "composer" / "best"),
                "critic_accuracy_on_composed": report["kinds"]["composer"]["accuracy"],
                "critic_auc_on_composed": report["kinds"]["composer"]["auc"],
                "tuned_reward": best["valid_reward"],
                "tuned_kl": best["valid_kl"],
                "composer_valid_nll": best.get("valid_nll"),
            }
            if rt.main:
                atomic_write_json(here / ROUND, record)
            say(
                f"round {r}: Critic tells real from the round's composed pieces with accuracy "
                f"{record['critic_accuracy_on_composed']:.1%}; tuned Composer: reward "
                f"{record['tuned_reward']:.3f}, KL {record['tuned_kl']:.2f} nats/piece, "
                f"validation NLL {record['composer_valid_nll']:.4f}"
            )
        records.append(record)
        composer_path, critic_path = record["composer"], record["critic"]
    if rt.main:
        atomic_write_json(out / "adversarial.json", {"rounds": records})
    return records


def _train(task, config, run: Path, rt: Runtime, progress: Progress):
    """Train, or resume a run an interrupted round left behind."""
    resume = (run / "last").exists()
    return train(task, config, run, rt, resume=resume, progress=progress, echo=lambda s: None)
