"""Adversarial rounds, in the spirit of C-RNN-GAN and SeqGAN: the Critic learns the Composer's
latest pieces as negatives, then the Composer is tuned against that Critic; again and again.

Round ``r`` writes ``round_r/critic`` (the previous Critic extended with fresh Composer pieces
among its negatives) and ``round_r/composer`` (the previous Composer tuned against it, its KL
anchored to the original Composer so the rounds cannot drift far from real music), then
``round_r/round.json`` with the round's figures. A finished round is skipped when the command
runs again, and an interrupted one resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tunesmith.atomic import atomic_write_json, usable_dir
from tunesmith.checkpoint import read_record
from tunesmith.compose import load_composer
from tunesmith.config import (
    ADVERSARIAL,
    CRITIC,
    TUNE,
    AdversarialConfig,
    CriticConfig,
    NegativeConfig,
    Preset,
    Tables,
    TrainConfig,
    TuneConfig,
)
from tunesmith.data.cache import TokenCache, cache_of
from tunesmith.judging.critic_report import write_test_report
from tunesmith.judging.scoring import load_critic
from tunesmith.progress import Progress, Silent, rich_progress
from tunesmith.runtime import Runtime, runtime
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import Task, train
from tunesmith.tuning.tune import TuneTask, critic_reward

ROUND = "round.json"


def adversarial(
    composer: str | Path,
    critic: str | Path,
    out: str | Path,
    cache: TokenCache,
    rt: Runtime,
    settings: AdversarialConfig | None = None,
    tune: TuneConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run ``settings.rounds`` rounds into ``out``; returns each round's figures (also in
    ``out/adversarial.json``)."""
    out = usable_dir(out)
    # Under torchrun every rank runs the rounds (training is DDP); only rank 0 speaks and writes.
    progress = progress if rt.main and progress else Silent()
    say = say if rt.main else (lambda s: None)
    original = load_composer(composer, rt.device, codec=cache.codec.config)
    first = read_record(critic, kind="critic")
    assert isinstance(first.model, CriticConfig)
    assert first.windows is not None
    composer_path, critic_path = str(original.path), str(first.path)
    settings, tune = settings or AdversarialConfig(), tune or TuneConfig()
    records = []
    for r in range(1, settings.rounds + 1):
        here = out / f"round_{r}"
        if (here / ROUND).exists():
            record = json.loads((here / ROUND).read_text())
            say(f"round {r}: done before, skipped")
        else:
            # 1. The Critic learns this Composer's pieces: the previous Critic, extended.
            before = first.negatives or NegativeConfig()
            negatives = dataclasses.replace(
                before,
                kinds=(*(k for k in before.kinds if k != "composer"), "composer"),
                composer=composer_path,
                composer_pieces=settings.composer_pieces,
            )
            task = CriticTask(
                cache,
                first.model,
                first.windows,
                negatives,
                seed=seed + r,
                device=rt.device,
                progress=progress,
                init=critic_path,
            )
            config = _round_budget(CRITIC, settings.critic_steps, seed + r)
            _train(task, config, here / "critic", rt, progress)
            judge = load_critic(here / "critic" / "best", rt.device)
            report = write_test_report(
                judge, cache, kinds=("composer",), calibrate_first=True, progress=progress
            )

            # 2. The Composer is tuned against it, its KL anchored to the original Composer.
            start = load_composer(composer_path, rt.device, codec=cache.codec.config)
            reward = critic_reward(judge, judge.codec, tune.stuck_penalty)
            meta = {"critic": str(judge.path)}
            tuner = TuneTask(start, reward, tune, seed + r, cache, meta, reference=original)
            config = _round_budget(TUNE, settings.tune_steps, seed + r)
            result = _train(tuner, config, here / "composer", rt, progress)
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


def run_adversarial(
    composer: str | Path,
    critic: str | Path,
    out: str | Path,
    tables: Sequence[Tables] = (),
    seed: int = 0,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """``adversarial``: the ``ADVERSARIAL`` preset with ``tables`` laid over it, on the data the
    Composer was trained on, with progress bars (see :func:`adversarial`)."""
    settings = ADVERSARIAL.with_tables(*tables)
    assert settings.adversarial is not None
    with runtime(device) as rt:
        cache = cache_of(read_record(composer, kind="composer"))
        bars = rich_progress(transient=True) if rt.main else contextlib.nullcontext(None)
        with bars as progress:
            records = adversarial(
                composer,
                critic,
                out,
                cache,
                rt,
                settings.adversarial,
                settings.tune,
                seed,
                progress,
                say,
            )
    if rt.main:
        say(f"{len(records)} rounds in {out}; the last Composer: {records[-1]['composer']}")
    return records


def _round_budget(preset: Preset, steps: int, seed: int) -> TrainConfig:
    assert preset.train is not None
    return dataclasses.replace(preset.train, max_steps=steps, max_minutes=0.0, seed=seed)


def _train(task: Task, config: TrainConfig, run: Path, rt: Runtime, progress: Progress):
    """Train, or resume a run an interrupted round left behind."""
    resume = (run / "last").exists()
    return train(task, config, run, rt, resume=resume, progress=progress, echo=lambda s: None)
