"""Critic benchmark on the embedded Bach chorales, on one piece-level split, in one run. Prints
JSON.

    python bench/critic.py                  # 5 minutes per Critic, as below
    python bench/critic.py --minutes 1      # a quick look

1. The seed's task, real windows against random notes: test accuracy and ROC AUC of our Critic
   (trained on that task alone) against the seed-style critic (a window's ids as raw floats in
   one LSTM step, 3 x 100), trained for the same wall-clock time on windows of the same split.
2. Hard negatives: our Critic trained on the default mix (random notes, wrong notes, shuffled
   segments, jittered rhythm); accuracy and AUC against each kind alone and against the mix.
3. Scoring throughput on this CPU: windows per second, whole pieces scored in large batches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from seed import SeedCritic
from tunesmith.config import CRITIC, NegativeConfig, WindowConfig
from tunesmith.data.examples import Examples
from tunesmith.data.prepare import prepare
from tunesmith.judging.critic_report import calibrate, critic_report
from tunesmith.judging.scoring import load_critic
from tunesmith.metrics import binary_metrics
from tunesmith.runtime import Runtime
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))


def ours(cache, kinds: tuple[str, ...], minutes: float, tmp: Path) -> tuple[dict, object]:
    """Train our Critic on ``kinds`` for ``minutes``; its test report and the loaded Critic."""
    negatives = NegativeConfig(kinds=kinds)
    task = CriticTask(cache, negatives=negatives)
    config = dataclasses.replace(CRITIC.train, max_minutes=minutes)
    run = tmp / "-".join(kinds)
    result = train(task, config, run, CPU, echo=lambda s: print("  ", s, flush=True))
    critic = load_critic(run)
    calibrate(critic, cache)
    report = critic_report(critic, cache, "test")
    report["steps"] = result.state.step
    report["parameters"] = critic.model.num_parameters()
    return report, critic


def seed_style(cache, minutes: float) -> dict:
    """The seed's critic on the seed's task: every token of a window (velocity included, as the
    seed read them) as one float vector; Adam 1e-3, batch 64; best validation epoch on test."""
    windows = WindowConfig(length=151, stride=75)
    kinds = NegativeConfig(kinds=("random",))

    def data(split: str):
        ex = Examples(cache, split, windows, kinds, velocity=True, seed=0)
        batch = ex.batch(np.arange(len(ex)), epoch=0)
        return batch["tokens"], batch["labels"]

    (x, y), (vx, vy), (tx, ty) = data("train"), data("valid"), data("test")
    model = SeedCritic(151)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    spent, epochs, best = 0.0, 0, (-1.0, None)
    while spent < minutes * 60:
        t0 = time.perf_counter()
        model.train()
        for b in np.array_split(rng.permutation(len(x)), max(1, len(x) // 64)):
            loss = F.binary_cross_entropy_with_logits(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        spent += time.perf_counter() - t0
        epochs += 1
        model.eval()
        with torch.no_grad():
            acc = binary_metrics(vy.numpy(), model(vx).numpy())["accuracy"]
            if acc > best[0]:
                best = (acc, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[1])
    with torch.no_grad():
        m = binary_metrics(ty.numpy(), model(tx).numpy())
    return {"epochs": epochs, "test_accuracy": m["accuracy"], "test_auc": m["auc"]}


def throughput(critic, cache, repeat: int = 3) -> dict:
    pieces = [cache.piece_tokens(p).astype(np.int64) for p in cache.pieces]
    critic.score_tokens(pieces[:8])  # warm-up
    windows = sum(len(s) for s in critic.logits(pieces))
    best = min(_timed(lambda: critic.score_tokens(pieces)) for _ in range(repeat))
    rate = round(windows / best)
    return {"pieces": len(pieces), "windows": windows, "seconds": round(best, 3), "rate": rate}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget of each Critic")
    args = ap.parse_args()
    cache = prepare().cache
    out: dict = {"threads": torch.get_num_threads(), "minutes": args.minutes}
    with tempfile.TemporaryDirectory() as tmp:
        random_report, _ = ours(cache, ("random",), args.minutes, Path(tmp))
        out["seed_task"] = {
            "ours": {
                "test_accuracy": random_report["mix"]["accuracy"],
                "test_auc": random_report["mix"]["auc"],
                "steps": random_report["steps"],
                "reads_velocity": False,
            },
            "seed_style": seed_style(cache, args.minutes),
        }
        print(json.dumps(out["seed_task"]), flush=True)
        report, critic = ours(cache, NegativeConfig().kinds, args.minutes, Path(tmp))
        out["hard_negatives"] = {
            "kinds": report["kinds"],
            "mix": {k: report["mix"][k] for k in ("accuracy", "auc", "f1", "ece", "confusion")},
            "ece_uncalibrated": report["mix"]["ece_uncalibrated"],
            "temperature": report["temperature"],
            "steps": report["steps"],
            "parameters": report["parameters"],
        }
        out["scoring"] = throughput(critic, cache)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
