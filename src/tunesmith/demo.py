"""The whole story on one corpus, end to end: prepare, train a Critic, train a Composer, extend
the Critic with the Composer's own pieces as negatives, and let it judge the Composer.

Budgets are wall-clock minutes per stage; the defaults fit in about 15 minutes on a 2-core CPU.
``quick`` shrinks models and budgets so the whole run takes a minute or two (for tests).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.atomic import atomic_write_json
from tunesmith.config import (
    ComposerConfig,
    CriticConfig,
    NegativeConfig,
    SampleConfig,
    TrainConfig,
    WindowConfig,
)
from tunesmith.data.cache import TokenCache
from tunesmith.progress import Progress, Silent
from tunesmith.training import composer as composer_defaults
from tunesmith.training import critic as critic_defaults
from tunesmith.training.distributed import Runtime


@dataclass(frozen=True)
class DemoPlan:
    """Models and wall-clock budgets (minutes) of each stage."""

    composer: ComposerConfig
    composer_windows: WindowConfig
    composer_minutes: float
    critic: CriticConfig
    critic_windows: WindowConfig
    critic_minutes: float
    extend_minutes: float  # the Critic again, with the Composer's pieces among the negatives
    composer_pieces: int  # Composer pieces sampled as negatives for training
    n: int  # pieces composed and judged


FULL = DemoPlan(
    composer=composer_defaults.MODEL,
    composer_windows=composer_defaults.WINDOWS,
    composer_minutes=6.0,
    critic=critic_defaults.MODEL,
    critic_windows=critic_defaults.WINDOWS,
    critic_minutes=4.0,
    extend_minutes=2.5,
    composer_pieces=200,
    n=50,
)
QUICK = DemoPlan(
    composer=ComposerConfig(embedding=32, hidden=128, layers=1, dropout=0.0),
    composer_windows=WindowConfig(length=128, stride=64, transpose=3),
    composer_minutes=0.25,
    critic=CriticConfig(embedding=16, hidden=32),
    critic_windows=WindowConfig(length=128, stride=64, transpose=3),
    critic_minutes=0.15,
    extend_minutes=0.1,
    composer_pieces=24,
    n=8,
)


def run_demo(
    cache: TokenCache,
    out: Path,
    rt: Runtime,
    plan: DemoPlan = FULL,
    progress: Progress | None = None,
    say: Callable[[str], None] = print,
    seed: int = 0,
) -> dict[str, Any]:
    """Run every stage into ``out`` (``critic/``, ``composer/``, ``critic-composer/``,
    ``evaluation/``) and return a summary with the wall time of each stage."""
    from tunesmith.evaluation.critic_report import calibrate, critic_report
    from tunesmith.evaluation.evaluate import evaluate
    from tunesmith.evaluation.scoring import load_critic
    from tunesmith.training.loop import train

    progress = progress or Silent()
    out = Path(out)
    times: dict[str, float] = {}
    summary: dict[str, Any] = {"plan": _plan_dict(plan), "seconds": times}

    def fit(task, defaults: TrainConfig, minutes: float, run: str):
        config = dataclasses.replace(defaults, max_minutes=minutes, seed=seed)
        # The bars show the training; each stage prints its result.
        return train(task, config, out / run, rt, progress=progress, echo=lambda s: None)

    def judge(run: Path, name: str) -> dict[str, Any]:
        critic = load_critic(run / "best", rt.device)
        calibrate(critic, cache)
        report = critic_report(critic, cache, "test", progress=progress)
        atomic_write_json(run / "test_report.json", {**report, "critic": str(critic.path)})
        say(
            f"  {name}: test accuracy {report['mix']['accuracy']:.1%}, "
            f"AUC {report['mix']['auc']:.3f} against {', '.join(report['kinds'])}"
        )
        return report

    t = time.perf_counter()
    say(f"[1/4] Critic: real chorales against {', '.join(critic_defaults.NEGATIVES.kinds)}")
    task = critic_defaults.CriticTask(cache, plan.critic, plan.critic_windows, seed=seed)
    fit(task, critic_defaults.TRAIN, plan.critic_minutes, "critic")
    summary["critic"] = judge(out / "critic", "Critic")
    times["critic"] = time.perf_counter() - t

    t = time.perf_counter()
    say("[2/4] Composer: next-event prediction on the train split")
    task = composer_defaults.ComposerTask(cache, plan.composer, plan.composer_windows, seed=seed)
    result = fit(task, composer_defaults.TRAIN, plan.composer_minutes, "composer")
    summary["composer"] = {"valid_nll": result.state.best, "steps": result.state.step}
    say(
        f"  Composer: validation NLL {result.state.best:.4f} nats/token ({result.state.step} steps)"
    )
    times["composer"] = time.perf_counter() - t

    t = time.perf_counter()
    say("[3/4] Critic again, with the Composer's own pieces among the negatives")
    negatives = NegativeConfig(
        kinds=(*critic_defaults.NEGATIVES.kinds, "composer"),
        composer=str(out / "composer" / "best"),
        composer_pieces=plan.composer_pieces,
    )
    task = critic_defaults.CriticTask(
        cache,
        plan.critic,
        plan.critic_windows,
        negatives,
        seed=seed,
        device=rt.device,
        progress=progress,
        init=str(out / "critic" / "best"),
    )
    fit(task, critic_defaults.TRAIN, plan.extend_minutes, "critic-composer")
    summary["critic_composer"] = judge(out / "critic-composer", "Critic with Composer negatives")
    times["critic_composer"] = time.perf_counter() - t

    t = time.perf_counter()
    say(f"[4/4] Evaluation: {plan.n} composed pieces judged beside real and random ones")
    report = evaluate(
        out / "composer",
        load_critic(out / "critic-composer" / "best", rt.device),
        out / "evaluation",
        SampleConfig(n=plan.n, seed=seed),
        cache=cache,
        device=str(rt.device),
        progress=progress,
        # The first Critic's view of the same pieces shows what Composer negatives changed.
        also={"critic without Composer negatives": load_critic(out / "critic" / "best", rt.device)},
    )
    times["evaluation"] = time.perf_counter() - t
    summary["evaluation"] = {
        **{k: _brief(report["sets"][k]) for k in ("composed", "real", "random")},
        "also_judged": report["also_judged"],
        "report": str(out / "evaluation" / "report.html"),
    }
    atomic_write_json(out / "demo.json", summary)
    return summary


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("scores", "files")}


def _plan_dict(plan: DemoPlan) -> dict[str, Any]:
    return {
        f.name: (v.to_dict() if hasattr(v, "to_dict") else v)
        for f in dataclasses.fields(plan)
        for v in [getattr(plan, f.name)]
    }
