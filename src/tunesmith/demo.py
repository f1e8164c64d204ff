"""The whole story on one corpus, end to end: prepare, train a Critic, train a Composer, extend
the Critic with the Composer's own pieces as negatives, tune the Composer with that Critic's
verdict as its reward, and judge the base and the tuned Composer side by side with a Critic that
neither was tuned against (the same extension with another seed), both sampling from the
nucleus fitted to the base Composer on the validation pieces.

Budgets are optimizer steps per stage, so the same command and seed give the same figures however
busy the machine: ``DEMO`` takes about 16 minutes on a 2-core CPU with bf16 (longer in fp32), and
``DEMO_QUICK`` shrinks models and budgets so the whole run takes about a minute (for tests).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.atomic import atomic_write_json, usable_dir
from tunesmith.compose import load_composer
from tunesmith.config import (
    DEMO,
    EVALUATE,
    MAX_SEED,
    VALID_TOKENS,
    ComposerConfig,
    CriticConfig,
    DemoPlan,
    Preset,
)
from tunesmith.data.cache import TokenCache
from tunesmith.data.prepare import DataSource
from tunesmith.errors import ConfigError
from tunesmith.judging.critic_report import write_test_report
from tunesmith.judging.evaluate import evaluate
from tunesmith.judging.nucleus import describe, fit_nucleus
from tunesmith.judging.scoring import load_critic
from tunesmith.judging.stats import note_length_quantile
from tunesmith.progress import Progress, rich_progress
from tunesmith.report.html import write_html
from tunesmith.runtime import Runtime, runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import Task, TrainResult, train
from tunesmith.tuning.tune import TuneTask, critic_reward

TUNED = ("valid_reward", "valid_kl", "valid_nll")  # a tuned Composer's validation figures
# What a demo writes into its folder: an earlier demo's are replaced only with ``overwrite``.
STAGES = ("critic", "composer", "critic-composer", "judge", "tuned", "evaluation", "demo.json")


def run_demo(
    data: DataSource | None = None,
    out: str | Path = "demo",
    plan: DemoPlan = DEMO,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``demo``: prepare ``data`` (by default the Bach chorales), then every stage into ``out``
    (``critic/``, ``composer/``, ``critic-composer/``, ``evaluation/``), with progress bars.
    Returns a summary with the wall time of each stage, preparing the data included (the
    stages' are also in ``demo.json``)."""
    out = usable_dir(out)
    old = [out / s for s in STAGES if (out / s).exists()]
    if old and not overwrite:
        raise ConfigError(f"{out}: holds an earlier demo ({old[0].name}); use --overwrite")
    for path in old:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    data = data or DataSource()
    t0 = time.perf_counter()
    with runtime(device) as rt, rich_progress(transient=True) as progress:
        say(f"[0/6] Data: {data.midi_dir or data.corpus or 'bach'}")
        cache = data.prepare(progress)
        rows = {r["split"]: r for r in cache.summary()}
        say(
            f"  {rows['total']['pieces']} pieces, {rows['total']['tokens']:,} tokens "
            f"({rows['train']['pieces']} train, {rows['valid']['pieces']} valid, "
            f"{rows['test']['pieces']} test); {time.perf_counter() - t0:.0f} s"
        )
        prepared = time.perf_counter() - t0
        summary = _stages(cache, out, rt, plan, progress, say, seed)
    atomic_write_json(out / "demo.json", summary)
    return {**summary, "seconds": {"prepare": prepared, **summary["seconds"]}}


def _stages(
    cache: TokenCache,
    out: Path,
    rt: Runtime,
    plan: DemoPlan,
    progress: Progress,
    say: Callable[[str], None],
    seed: int,
) -> dict[str, Any]:
    times: dict[str, float] = {}
    summary: dict[str, Any] = {"plan": _plan_dict(plan), "seconds": times}

    def fit(
        task: Task, preset: Preset, run: str, steps: int | None = None, stage_seed: int = seed
    ) -> TrainResult:
        assert preset.train is not None
        config = dataclasses.replace(preset.train, seed=stage_seed)
        if steps is not None:
            config = dataclasses.replace(config, max_steps=steps)
        # The bars show the training; each stage prints its result.
        return train(task, config, out / run, rt, progress=progress, echo=lambda s: None)

    def test_report(run: Path, name: str) -> dict[str, Any]:
        critic = load_critic(run / "best", rt.device)
        report = write_test_report(critic, cache, calibrate_first=True, progress=progress)
        say(
            f"  {name}: test accuracy {report['mix']['accuracy']:.1%}, "
            f"AUC {report['mix']['auc']:.3f} against {', '.join(report['kinds'])}"
        )
        return report

    critic, composer = plan.critic, plan.composer
    assert isinstance(critic.model, CriticConfig)
    assert critic.windows
    assert critic.negatives
    assert isinstance(composer.model, ComposerConfig)
    assert composer.windows
    t = time.perf_counter()
    assert critic.train
    assert composer.train
    name = cache.manifest["source"]["name"]
    first = CriticTask(
        cache,
        critic.model,
        critic.windows,
        critic.negatives,
        seed=seed,
        valid_tokens=critic.train.valid_tokens,
    )
    say(f"[1/6] Critic: real pieces of {name} against {', '.join(first.negatives.kinds)}")
    for note in (*first.notes, first.valid_note):
        say(f"  {note}")
    fit(first, critic, "critic")
    summary["critic"] = test_report(out / "critic", "Critic")
    times["critic"] = time.perf_counter() - t

    t = time.perf_counter()
    say(f"[2/6] Composer: next-event prediction on the train split of {name}")
    composer_task = ComposerTask(
        cache, composer.model, composer.windows, seed=seed, valid_tokens=composer.train.valid_tokens
    )
    say(f"  {composer_task.valid_note}")
    result = fit(composer_task, composer, "composer")
    summary["composer"] = {"valid_nll": result.state.best, "steps": result.state.step}
    say(
        f"  Composer: validation NLL {result.state.best:.4f} nats/token ({result.state.step} steps)"
    )
    nucleus = fit_nucleus(load_composer(result.best, rt.device), cache, progress=progress)
    summary["composer"]["top_p"] = nucleus["top_p"]
    say(f"  {describe(nucleus)}")
    times["composer"] = time.perf_counter() - t

    def extend(run: str, stage_seed: int) -> None:
        assert isinstance(critic.model, CriticConfig)
        assert critic.negatives
        negatives = dataclasses.replace(
            critic.negatives,
            kinds=(*critic.negatives.kinds, "composer"),
            composer=str(out / "composer" / "best"),
            composer_pieces=plan.composer_pieces,
        )
        task = CriticTask(
            cache,
            critic.model,
            critic.windows,
            negatives,
            seed=stage_seed,
            device=rt.device,
            progress=progress,
            init=str(out / "critic" / "best"),
            valid_tokens=critic.train.valid_tokens if critic.train else 0,
        )
        fit(task, critic, run, plan.extend_steps, stage_seed)

    t = time.perf_counter()
    say("[3/6] Critic again, with the Composer's own pieces among the negatives")
    extend("critic-composer", seed)
    summary["critic_composer"] = test_report(
        out / "critic-composer", "Critic with Composer negatives"
    )
    times["critic_composer"] = time.perf_counter() - t

    t = time.perf_counter()
    say("[4/6] A judge: the same again with its own seed; nothing is tuned against it")
    extend("judge", (seed + 1) % (MAX_SEED + 1))
    summary["judge"] = test_report(out / "judge", "Judge")
    times["judge"] = time.perf_counter() - t

    t = time.perf_counter()
    tune = plan.tune
    assert tune.tune is not None
    say("[5/6] Tuning: the Composer rewarded by the Critic with Composer negatives")
    base = load_composer(out / "composer" / "best", rt.device)
    reward_critic = load_critic(out / "critic-composer" / "best", rt.device)
    reward = critic_reward(reward_critic, reward_critic.codec, tune.tune.stuck_penalty)
    meta = {"critic": str(reward_critic.path)}
    tuner = TuneTask(base, reward, tune.tune, seed, cache, meta)
    result = fit(tuner, tune, "tuned")
    best = next(h for h in result.state.history if h["step"] == result.state.best_step)
    summary["tuned"] = {"steps": result.state.step, **{k: best[k] for k in TUNED if k in best}}
    say(
        f"  tuned: {result.state.step} steps, valid reward {best['valid_reward']:.3f}, "
        f"KL {best['valid_kl']:.2f} nats a piece, validation NLL {best['valid_nll']:.4f}"
    )
    summary["tuned"]["top_p"] = summary["composer"]["top_p"]  # the base's (tuning/tune.py)
    times["tuned"] = time.perf_counter() - t

    t = time.perf_counter()
    longest = longest_training_note(cache)
    say(
        f"[6/6] Evaluation: {plan.n} pieces of each Composer (no note held past {longest:.2f} s, "
        "the train split's 99.9th percentile) judged beside real and random ones"
    )
    report = judge_composers(out, cache, plan.n, seed, longest, rt.device, progress)
    write_html(out / "evaluation", report)
    times["evaluation"] = time.perf_counter() - t
    summary["evaluation"] = {
        **{k: _brief(report["sets"][k]) for k in ("composed", "real", "random")},
        "composers": [_composer(c) for c in report["composers"]],
        "also_judged": report["also_judged"],
        "copying": {k: _brief(v) for k, v in report["copying"].items()},
        "max_note_seconds": longest,
        "report": str(out / "evaluation" / "report.html"),
    }
    return summary


def longest_training_note(cache: TokenCache) -> float:
    """The 99.9th percentile of note length in the train split (a fixed sample of it on a
    large corpus), in whole time steps: how long the demo lets a composed note sound."""
    pieces = [
        cache.codec.decode(cache.piece_tokens(p)) for p in cache.sample("train", VALID_TOKENS)
    ]
    step = cache.codec.config.time_step
    return float(np.floor(note_length_quantile(pieces, 99.9) / step + 1e-6) * step)


def judge_composers(
    out: Path,
    cache: TokenCache,
    n: int,
    seed: int,
    longest: float,
    device: Any = "cpu",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The demo's last stage: ``n`` pieces of the base and the tuned Composer in ``out``, each
    from its own nucleus (the tuned one's is the base's) and each note held at most ``longest``
    seconds, judged by the judge beside real and random pieces."""
    assert EVALUATE.sample is not None
    sampling = dataclasses.replace(EVALUATE.sample, n=n, seed=seed, max_note_seconds=longest)
    return evaluate(
        [("base", out / "composer"), ("tuned", out / "tuned")],
        load_critic(out / "judge" / "best", device),
        out / "evaluation",
        sampling,
        cache=cache,
        device=str(device),
        progress=progress,
        # The first Critic's view of the same pieces shows what Composer negatives changed.
        also={"critic without Composer negatives": load_critic(out / "critic" / "best", device)},
        own_nucleus=True,
    )


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("scores", "files", "pieces")}


def _composer(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in ("scores", "files", "copying")}


def _plan_dict(plan: DemoPlan) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, Preset):
            return {name: c.to_dict() for name, c in v.sections().items()}
        return v

    return {f.name: plain(getattr(plan, f.name)) for f in dataclasses.fields(plan)}
