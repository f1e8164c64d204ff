"""Speed in fp32 and bf16, side by side in one process, on the embedded Bach chorales: training
(Composer and Critic), validation, scoring and sampling. Prints JSON, then a Markdown table.

    python bench/speed.py                                      # the demo's budgets, ~20 min
    python bench/speed.py --composer-steps 200 --critic-steps 60 --eval-every 100   # ~3 min

1. The matmul peak (2048 x 2048, fp32 and bf16), the yardstick for the shares below.
2. The Composer at the default size (the COMPOSER preset), ``--composer-steps`` steps in each
   precision from the same seed: tokens/s (training steps only, validation left out), the
   validation NLL at every ``--eval-every`` steps (the curves, equal steps side by side), the
   time each needs to reach ``--target`` nats/token (the demo Composer's NLL), and the share of
   the bf16 matmul peak (6 x parameters FLOPs per token).
3. The Critic (the CRITIC preset) for ``--critic-steps`` steps in each precision: windows/s.
   The share of a step spent building its batch (examples, negatives, piece state) is timed
   by building the same batches again.
4. Validation NLL of the trained Composer and scoring windows/s of the trained Critic on the
   test pieces (median of ``--repeat``), both precisions, with the largest score difference.
5. Sampling 50 pieces x 600 tokens in one batch, fp32 and bf16, against the seed's one-piece
   loop (batch 1, one token at a time), ``--repeat`` times, interleaved.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from composer import matmul_peak, timed
from seed import SeedComposer, seed_sample
from tunesmith.compose import load_composer, sample
from tunesmith.config import COMPOSER, CRITIC, SampleConfig
from tunesmith.data.prepare import prepare
from tunesmith.data.windows import piece_sequences
from tunesmith.judging.scoring import load_critic
from tunesmith.models.composer import sequence_nll
from tunesmith.runtime import Runtime, autocast, cpu_has_bf16
from tunesmith.training.composer import ComposerTask
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import train

CPU = torch.device("cpu")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def batch_seconds(task, steps: int, batch_size: int, seed: int) -> float:
    """Seconds a step spends building its batch: the first ``steps`` batches of an epoch, built
    by a fresh task (a Critic makes its examples afresh every epoch)."""
    n = task.num_train()
    order = np.random.default_rng([seed, 0]).permutation(n)
    t0 = time.perf_counter()
    for b in range(steps):
        task.batch(order[b * batch_size : (b + 1) * batch_size], 0)
    return (time.perf_counter() - t0) / steps


def train_both(make_task, preset, steps: int, eval_every: int, tmp: Path, name: str) -> dict:
    """Train a fresh task in each precision for ``steps`` steps; the runs' figures."""
    out = {}
    for precision in ("fp32", "bf16"):
        config = dataclasses.replace(
            preset.train,
            max_steps=steps,
            max_minutes=0,
            eval_every=eval_every,
            patience=0,
            precision=precision,
        )
        task = make_task()
        print(f"{name}: {steps} steps in {precision}", flush=True)
        result = train(task, config, tmp / f"{name}-{precision}", Runtime(0, 1, CPU))
        out[precision] = {
            "run": tmp / f"{name}-{precision}",
            "items_per_s": result.state.items / result.state.elapsed,
            "seconds": result.state.elapsed,
            "step_seconds": result.state.elapsed / max(result.state.step, 1),
            "history": [
                (h["step"], round(h["elapsed"], 1), round(h[task.metric], 4))
                for h in result.state.history
            ],
            "parameters": task.model.num_parameters(),
            "batch_size": config.batch_size,
        }
    return out


def time_to(history: list, target: float) -> float | None:
    """Training seconds at the first validation at or below ``target``."""
    return next((elapsed for _, elapsed, nll in history if nll <= target), None)


def sampling(composer, codec, pieces: int, tokens: int, seed_pieces: int, repeat: int) -> dict:
    """Our batched sampler in each precision against the seed's batch-1 loop, interleaved."""
    config = SampleConfig(n=pieces, length=tokens, seed=0)
    seed_model = SeedComposer(codec.vocab_size).eval()
    g = torch.Generator().manual_seed(0)
    seed_sample(seed_model, codec.bos, 20, g)  # warm-up
    rows: dict[str, list[float]] = {"fp32": [], "bf16": [], "seed": []}
    for _ in range(repeat):
        for precision in ("fp32", "bf16"):
            c = dataclasses.replace(config, precision=precision)
            sample(composer, codec, dataclasses.replace(c, n=2, length=20))  # warm-up
            written = []
            t = timed(lambda: written.extend(sample(composer, codec, c)))  # noqa: B023
            rows[precision].append(sum(len(w) for w in written) / t)
        t = timed(
            lambda: [seed_sample(seed_model, codec.bos, tokens, g) for _ in range(seed_pieces)]
        )
        rows["seed"].append(seed_pieces * tokens / t)
    out: dict = {"pieces": pieces, "tokens_each": tokens, "repeats": repeat}
    for k, v in rows.items():
        out[f"{k}_tokens_per_s"] = [round(x) for x in v]
    for p in ("fp32", "bf16"):
        out[f"{p}_speedup"] = [round(a / b, 1) for a, b in zip(rows[p], rows["seed"])]
        out[f"{p}_seconds"] = round(pieces * tokens / float(np.median(rows[p])), 3)
    out["seed_seconds_for_all"] = round(pieces * tokens / float(np.median(rows["seed"])), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--composer-steps", type=int, default=1500, help="the demo Composer's")
    ap.add_argument("--critic-steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--target", type=float, default=0.86, help="validation NLL to reach")
    ap.add_argument("--pieces", type=int, default=50)
    ap.add_argument("--tokens", type=int, default=600)
    ap.add_argument("--seed-pieces", type=int, default=3, help="pieces timed for the seed loop")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not cpu_has_bf16():
        sys.exit("bench/speed.py compares fp32 with bf16: this CPU has no native bf16")
    cache = prepare().cache
    codec = cache.codec
    out: dict = {
        "machine": {
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "matmul_gflops": {
                "fp32": round(matmul_peak(2048, 5, torch.float32), 1),
                "bf16": round(matmul_peak(2048, 5, torch.bfloat16), 1),
            },
        }
    }
    peak = out["machine"]["matmul_gflops"]
    print(json.dumps(out["machine"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        comp = train_both(
            lambda: ComposerTask(cache, seed=0),
            COMPOSER,
            args.composer_steps,
            args.eval_every,
            tmp,
            "composer",
        )

        def make_critic() -> CriticTask:
            return CriticTask(cache, CRITIC.model, CRITIC.windows, CRITIC.negatives, seed=0)

        crit = train_both(
            make_critic,
            CRITIC,
            args.critic_steps,
            max(args.critic_steps // 2, 1),
            tmp,
            "critic",
        )
        composer = {}
        for p, r in comp.items():
            composer[p] = {
                "tokens_per_s": round(r["items_per_s"]),
                "share_of_bf16_peak": round(
                    6 * r["parameters"] * r["items_per_s"] / (peak["bf16"] * 1e9), 3
                ),
                "share_of_fp32_peak": round(
                    6 * r["parameters"] * r["items_per_s"] / (peak["fp32"] * 1e9), 3
                ),
                "curve": r["history"],
                f"seconds_to_{args.target}": time_to(r["history"], args.target),
            }
        f32, b16 = comp["fp32"], comp["bf16"]
        composer["speedup"] = round(b16["items_per_s"] / f32["items_per_s"], 2)
        composer["nll_bf16_over_fp32"] = [
            round(b[2] / a[2], 4) for a, b in zip(f32["history"], b16["history"])
        ]
        reach = [composer[p][f"seconds_to_{args.target}"] for p in ("fp32", "bf16")]
        composer["time_to_target_ratio"] = round(reach[1] / reach[0], 3) if all(reach) else None
        composer["batch_building_share"] = round(
            batch_seconds(ComposerTask(cache, seed=0), 50, b16["batch_size"], 0)
            / b16["step_seconds"],
            3,
        )
        out["composer"] = composer

        critic = {
            p: {"windows_per_s": round(r["items_per_s"]), "curve": r["history"]}
            for p, r in crit.items()
        }
        critic["speedup"] = round(crit["bf16"]["items_per_s"] / crit["fp32"]["items_per_s"], 2)
        critic["batch_building_share"] = round(
            batch_seconds(make_critic(), 100, crit["bf16"]["batch_size"], 0)
            / crit["bf16"]["step_seconds"],
            3,
        )
        out["critic"] = critic

        # -- validation and scoring with the trained models -----------------------------------
        model = load_composer(b16["run"]).model
        valid = piece_sequences(cache, "valid")
        validation = {}
        for p in ("fp32", "bf16"):
            with autocast(p, CPU):
                t0 = time.perf_counter()
                total, count = sequence_nll(model, valid, codec.pad)
                validation[p] = {
                    "nll": round(total / count, 5),
                    "tokens_per_s": round(count / (time.perf_counter() - t0)),
                }
        out["validation"] = validation

        # Four passes over the test pieces (1,060 windows), three times, interleaved: one pass
        # is a fifth of a second, too short to time on a shared machine.
        pieces = [cache.piece_tokens(p) for p in cache.split("test")] * 4
        judges = {p: load_critic(crit["bf16"]["run"], precision=p) for p in ("fp32", "bf16")}
        rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
        scores = {}
        for _ in range(args.repeat):
            for p, judge in judges.items():
                judge.logits(pieces[:2])  # warm-up
                t0 = time.perf_counter()
                logits = np.concatenate(judge.logits(pieces))
                rates[p].append(len(logits) / (time.perf_counter() - t0))
                scores[p] = 1 / (1 + np.exp(-logits / judge.temperature))
        scoring: dict = {
            p: {"windows_per_s": round(float(np.median(r))), "windows": len(scores[p])}
            for p, r in rates.items()
        }
        difference = float(np.abs(scores["fp32"] - scores["bf16"]).max())
        scoring["max_score_difference"] = round(difference, 4)
        out["scoring"] = scoring

        out["sampling"] = sampling(
            model, codec, args.pieces, args.tokens, args.seed_pieces, args.repeat
        )
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    print(table(out, args))


def table(out: dict, args) -> str:
    c, k, v, s, m = (
        out["composer"],
        out["critic"],
        out["validation"],
        out["scoring"],
        out["sampling"],
    )
    peak = out["machine"]["matmul_gflops"]
    t = f"seconds_to_{args.target}"

    def reach(p: str) -> str:
        return "not reached" if c[p][t] is None else f"{c[p][t]:.0f} s"

    rows = [
        ("matmul 2048 x 2048", f"{peak['fp32']:.0f} GFLOP/s", f"{peak['bf16']:.0f} GFLOP/s", ""),
        (
            "Composer training, tokens/s",
            f"{c['fp32']['tokens_per_s']:,} ({c['fp32']['share_of_fp32_peak']:.0%} of fp32 peak)",
            f"{c['bf16']['tokens_per_s']:,} ({c['bf16']['share_of_bf16_peak']:.0%} of bf16 peak)",
            f"{c['speedup']}x",
        ),
        (
            f"Composer: validation NLL after {c['fp32']['curve'][-1][0]} steps",
            f"{c['fp32']['curve'][-1][2]:.4f}",
            f"{c['bf16']['curve'][-1][2]:.4f}",
            "bf16/fp32 at each validation: "
            f"{min(c['nll_bf16_over_fp32']):.4f}-{max(c['nll_bf16_over_fp32']):.4f}",
        ),
        (
            f"Composer: training time to NLL {args.target}",
            reach("fp32"),
            reach("bf16"),
            ""
            if c["time_to_target_ratio"] is None
            else f"{c['time_to_target_ratio']:.2f}x the time",
        ),
        (
            "Critic training, windows/s",
            f"{k['fp32']['windows_per_s']:,}",
            f"{k['bf16']['windows_per_s']:,}",
            f"{k['speedup']}x",
        ),
        (
            "validation (Composer NLL), tokens/s",
            f"{v['fp32']['tokens_per_s']:,} (NLL {v['fp32']['nll']})",
            f"{v['bf16']['tokens_per_s']:,} (NLL {v['bf16']['nll']})",
            f"{v['bf16']['tokens_per_s'] / v['fp32']['tokens_per_s']:.2f}x",
        ),
        (
            "Critic scoring, windows/s",
            f"{s['fp32']['windows_per_s']:,}",
            f"{s['bf16']['windows_per_s']:,}",
            f"{s['bf16']['windows_per_s'] / s['fp32']['windows_per_s']:.2f}x; "
            f"scores within {s['max_score_difference']}",
        ),
        (
            f"sampling {m['pieces']} x {m['tokens_each']} tokens "
            f"(the seed's loop: {m['seed_seconds_for_all']} s)",
            f"{m['fp32_seconds']} s, {min(m['fp32_speedup'])}-{max(m['fp32_speedup'])}x the seed's",
            f"{m['bf16_seconds']} s, {min(m['bf16_speedup'])}-{max(m['bf16_speedup'])}x the seed's",
            "",
        ),
    ]
    lines = ["| | fp32 | bf16 | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c_} | {d} |" for a, b, c_, d in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
