"""Closing the loop on the embedded Bach chorales: base vs tuned vs each adversarial round, judged
by a held-out Critic, in one table from one run. Prints JSON (and leaves every run in --out).

    python bench/tune.py --composer demo/composer --critic demo/critic-composer

1. A judging Critic that no Composer is tuned against: default negatives plus the base
   Composer's pieces, its own seed (``judge/``).
2. ``tunesmith tune``: the base tuned against ``--critic`` (``tuned/``).
3. ``tunesmith adversarial``: rounds of Critic extension and tuning from the base (``rounds/``).
4. ``tunesmith evaluate`` of all of them with the judge (``evaluation/``): mean score, share taken
   for real, validation NLL, diversity, statistics, and the reward-hacking flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from tunesmith.compose import load_composer
from tunesmith.config import CRITIC, TUNE, AdversarialConfig, NegativeConfig, SampleConfig
from tunesmith.data.cache import cache_of
from tunesmith.judging.critic_report import calibrate
from tunesmith.judging.evaluate import evaluate
from tunesmith.judging.scoring import load_critic
from tunesmith.runtime import Runtime
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import train
from tunesmith.tuning.adversarial import adversarial
from tunesmith.tuning.tune import TuneTask, critic_reward

CPU = Runtime(0, 1, torch.device("cpu"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--composer", type=Path, required=True, help="the base Composer")
    ap.add_argument("--critic", type=Path, required=True, help="the Critic to tune against")
    ap.add_argument("--out", type=Path, default=Path("bench-tune"))
    ap.add_argument("--judge-steps", type=int, default=CRITIC.train.max_steps)
    ap.add_argument("--tune-steps", type=int, default=TUNE.train.max_steps)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--round-critic-steps", type=int, default=AdversarialConfig.critic_steps)
    ap.add_argument("--round-tune-steps", type=int, default=AdversarialConfig.tune_steps)
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    times = {}
    base = load_composer(args.composer)
    cache = cache_of(base.record)

    t = time.perf_counter()
    negatives = NegativeConfig(kinds=(*NegativeConfig().kinds, "composer"), composer=str(base.path))
    task = CriticTask(cache, CRITIC.model, CRITIC.windows, negatives, seed=101)
    config = dataclasses.replace(CRITIC.train, max_steps=args.judge_steps, seed=101)
    train(task, config, args.out / "judge", CPU, echo=lambda s: None)
    judge = load_critic(args.out / "judge")
    calibrate(judge, cache)
    times["judge"] = time.perf_counter() - t

    t = time.perf_counter()
    critic = load_critic(args.critic)
    reward = critic_reward(critic, critic.codec, TUNE.tune.stuck_penalty)
    task = TuneTask(base, reward, seed=0, cache=cache, reward_meta={"critic": str(critic.path)})
    config = dataclasses.replace(TUNE.train, max_steps=args.tune_steps)
    train(task, config, args.out / "tuned", CPU, echo=lambda s: print(" ", s, flush=True))
    times["tune"] = time.perf_counter() - t

    t = time.perf_counter()
    settings = AdversarialConfig(args.rounds, args.round_critic_steps, args.round_tune_steps)
    rounds = adversarial(base.path, critic.path, args.out / "rounds", cache, CPU, settings)
    times["adversarial"] = time.perf_counter() - t

    t = time.perf_counter()
    composers = [("base", str(base.path)), ("tuned", str(args.out / "tuned"))]
    composers += [(f"round {r['round']}", r["composer"]) for r in rounds]
    report = evaluate(
        composers, judge, args.out / "evaluation", SampleConfig(n=args.n), cache=cache
    )
    times["evaluate"] = time.perf_counter() - t
    out = {
        "seconds": {k: round(v) for k, v in times.items()},
        "judge": str(judge.path),
        "rounds": rounds,
        "composers": report["composers"],
        "real": {k: report["sets"]["real"][k] for k in ("mean", "called_real")},
        "random": {k: report["sets"]["random"][k] for k in ("mean", "called_real")},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
