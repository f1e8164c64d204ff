"""Critic benchmark: what the default Critic hears, on the Bach chorales and on real piano
performances (the ten MAESTRO performances in miditok's source archive, scripts/maestro.py).
Prints a table per corpus and JSON at the end.

    python bench/critic.py                                  # both corpora, as below
    python bench/critic.py --corpus bach --steps 300 --composer-steps 0 --no-seed-task  # a look

Per corpus, one Critic with the CRITIC preset (its negatives, velocity chosen from the data, the
sounding state), trained for ``--steps`` optimizer steps, calibrated on the validation split:
1. Windows of the test split: accuracy, ROC AUC and the share taken for real (score > 0.5) of
   each negative kind alone and of the mix; the share of real windows taken for real.
2. Whole pieces, scored as ``critique`` scores them: real test pieces (piano performances cut
   into excerpts of ``--excerpt-seconds``, a test split holds one or two) and a negative of each
   kind made from each of them.
3. Drones from a real Composer the Critic has never seen: a Composer trained for
   ``--composer-steps`` composes pieces; those whose polyphony or mean note length lies beyond
   every real train-split excerpt's are drones; the share of them taken for real.
4. The seed's task (real vs random) on the chorales: our Critic on that task alone against the
   seed-style critic (a window's ids as raw floats in one LSTM step, 3 x 100), same steps of data.
5. Scoring throughput: windows per second, whole pieces in large batches.
6. Degenerate pieces (one held note, a held chord, one note repeated, long silence): scores.
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
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from maestro import fetch

from seed import SeedCritic
from tunesmith.compose import load_composer, sample
from tunesmith.config import (
    COMPOSER,
    CRITIC,
    ComposerConfig,
    CriticConfig,
    NegativeConfig,
    SampleConfig,
    WindowConfig,
)
from tunesmith.data.cache import TokenCache
from tunesmith.data.examples import Examples
from tunesmith.data.negatives import corrupt
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import prepare
from tunesmith.judging.critic_report import calibrate, critic_report
from tunesmith.judging.excerpts import excerpts
from tunesmith.judging.scoring import LoadedCritic, load_critic
from tunesmith.judging.stats import mean_duration, polyphony
from tunesmith.metrics import binary_metrics
from tunesmith.runtime import Runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))


def say(line: str) -> None:
    print("  ", line, flush=True)


def corpus(name: str) -> TokenCache:
    if name == "bach":
        return prepare().cache
    return prepare(midi_dir=fetch()).cache


def train_critic(
    cache: TokenCache, steps: int, minutes: float, run: Path, kinds: tuple[str, ...] | None = None
) -> tuple[LoadedCritic, int]:
    """The CRITIC preset trained for ``steps`` (``minutes`` a cap), calibrated."""
    assert isinstance(CRITIC.model, CriticConfig)
    assert CRITIC.negatives is not None
    assert CRITIC.train is not None
    negatives = CRITIC.negatives if kinds is None else NegativeConfig(kinds=kinds)
    task = CriticTask(cache, CRITIC.model, CRITIC.windows, negatives, seed=0)
    for note in task.notes:
        say(note)
    config = dataclasses.replace(CRITIC.train, max_steps=steps, max_minutes=minutes)
    result = train(task, config, run, CPU, echo=say)
    critic = load_critic(run)
    calibrate(critic, cache)
    return critic, result.state.step


def real_pieces(cache: TokenCache, split: str, seconds: float) -> list[Notes]:
    return [
        e
        for p in cache.split(split)
        for e in excerpts(cache.codec.decode(cache.piece_tokens(p)), seconds)
    ]


def piece_verdicts(critic: LoadedCritic, cache: TokenCache, seconds: float) -> dict:
    """Real test pieces and a negative of each kind made from each, scored as whole pieces."""
    codec = cache.codec
    real = [codec.encode(n) for n in real_pieces(cache, "test", seconds)]
    negatives = critic.record.negatives or NegativeConfig()
    out = {"real": _verdict(critic.piece_scores(real))}
    for i, kind in enumerate(k for k in negatives.kinds if k != "composer"):
        rng = np.random.default_rng([0, i])
        bad = [corrupt(kind, t, codec, rng, negatives) for t in real]
        out[kind] = _verdict(critic.piece_scores(bad))
    return out


# What a broken Composer writes and no real piece is (the hardening issue's degenerate pieces).
DEGENERATE = {
    "held note (10 min)": [(60, 0.0, 600.0, 80)],
    "held chord (5 min)": [(p, 0.0, 300.0, 80) for p in (48, 52, 55, 60, 64, 67)],
    "one note x 2000": [(60, 0.25 * i, 0.25 * i + 0.2, 80) for i in range(2000)],
    "10 min of silence": [(60, 0.0, 0.5, 80), (64, 600.0, 600.5, 80)],
}


def degenerate(critic: LoadedCritic) -> dict:
    """Each degenerate piece's score (taken for real above 0.5)."""
    pieces = [critic.codec.encode(Notes.from_rows(rows)) for rows in DEGENERATE.values()]
    return dict(zip(DEGENERATE, np.round(critic.piece_scores(pieces), 4).tolist()))


def _verdict(scores: np.ndarray) -> dict:
    return {
        "pieces": len(scores),
        "taken_for_real": round(float(np.mean(scores > 0.5)), 4),
        "mean_score": round(float(np.mean(scores)), 4),
    }


def drones(critic: LoadedCritic, cache: TokenCache, steps: int, seconds: float, run: Path) -> dict:
    """A young Composer's pieces beyond the real range of polyphony or note length, judged."""
    assert isinstance(COMPOSER.model, ComposerConfig)
    assert COMPOSER.train is not None
    task = ComposerTask(cache, COMPOSER.model, COMPOSER.windows, seed=0)
    config = dataclasses.replace(COMPOSER.train, max_steps=steps, max_minutes=0.0)
    train(task, config, run, CPU, echo=say)
    pieces = sample(load_composer(run).model, cache.codec, SampleConfig(n=64, length=1024))
    real = real_pieces(cache, "train", seconds)
    most_poly = max(polyphony(n) for n in real)
    longest = max(mean_duration(n) for n in real)
    notes = [cache.codec.decode(t) for t in pieces]
    poly = np.array([polyphony(n) for n in notes])
    length = np.array([mean_duration(n) for n in notes])
    drone = (poly > most_poly) | (length > longest)
    scores = critic.piece_scores([t for t, d in zip(pieces, drone) if d]) if drone.any() else []
    return {
        "composer_steps": steps,
        "composed": len(pieces),
        "real_max_polyphony": round(most_poly, 2),
        "real_max_mean_note_seconds": round(longest, 2),
        "composed_median_polyphony": round(float(np.nanmedian(poly)), 2),
        "composed_median_note_seconds": round(float(np.nanmedian(length)), 2),
        "drones": int(drone.sum()),
        "drones_taken_for_real": round(float(np.mean(np.asarray(scores) > 0.5)), 4)
        if len(scores)
        else None,
    }


def seed_style(cache: TokenCache, steps: int) -> dict:
    """The seed's critic on the seed's task: every token of a window (velocity included, as the
    seed read them) as one float vector; Adam 1e-3, batch 64, ``steps`` steps; best validation
    accuracy (checked every 50 steps) on test."""
    windows = WindowConfig(length=151, stride=75)
    kinds = NegativeConfig(kinds=("random",))

    def data(split: str):
        ex = Examples(cache, split, windows, kinds, velocity=True, seed=0)
        batch = ex.batch(np.arange(len(ex)), epoch=0)
        return batch["tokens"], batch["labels"]

    (x, y), (vx, vy), (tx, ty) = data("train"), data("valid"), data("test")
    torch.manual_seed(0)
    model = SeedCritic(151)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    best: tuple[float, dict] = (-1.0, {})
    for step in range(steps):
        b = rng.choice(len(x), 64, replace=False)
        loss = F.binary_cross_entropy_with_logits(model(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 50 == 0 or step == steps - 1:
            with torch.no_grad():
                acc = binary_metrics(vy.numpy(), model(vx).numpy())["accuracy"]
            if acc > best[0]:
                best = (acc, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[1])
    with torch.no_grad():
        m = binary_metrics(ty.numpy(), model(tx).numpy())
    return {"steps": steps, "test_accuracy": m["accuracy"], "test_auc": m["auc"]}


def throughput(critic: LoadedCritic, cache: TokenCache, repeat: int = 3) -> dict:
    pieces = [cache.piece_tokens(p).astype(np.int64) for p in cache.pieces]
    critic.score_tokens(pieces[:8])  # warm-up
    windows = sum(len(s) for s in critic.logits(pieces))
    best = min(_timed(lambda: critic.score_tokens(pieces)) for _ in range(repeat))
    return {"pieces": len(pieces), "windows": windows, "windows_per_second": round(windows / best)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table(name: str, figures: dict) -> None:
    """The per-kind table: windows (accuracy, AUC, taken for real) and whole pieces."""
    report, pieces = figures["windows"], figures["pieces"]
    print(f"\n{name}: {figures['steps']} steps, velocity {figures['velocity']}")
    print(f"{'kind':<18} {'acc':>6} {'AUC':>6} {'real?':>6} | {'pieces':>6} {'real?':>6}")
    real_p = pieces["real"]
    print(
        f"{'real':<18} {'':>6} {'':>6} {report['real_called_real']:>6.1%} | "
        f"{real_p['pieces']:>6} {real_p['taken_for_real']:>6.1%}"
    )
    for kind, k in report["kinds"].items():
        p = pieces.get(kind, {})
        print(
            f"{kind:<18} {k['accuracy']:>6.3f} {k['auc']:>6.3f} {k['called_real']:>6.1%} | "
            f"{p.get('pieces', ''):>6} {p.get('taken_for_real', float('nan')):>6.1%}"
        )
    mix = report["mix"]
    print(f"{'mix':<18} {mix['accuracy']:>6.3f} {mix['auc']:>6.3f}")
    scores = ", ".join(f"{k} {v:.3f}" for k, v in figures["degenerate"].items())
    print(f"degenerate pieces: {scores}")
    if figures.get("drones"):
        d = figures["drones"]
        print(
            f"a young Composer ({d['composer_steps']} steps): {d['drones']} of {d['composed']} "
            f"pieces are drones; taken for real: {d['drones_taken_for_real']}"
        )
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=("bach", "piano", "both"), default="both")
    ap.add_argument("--steps", type=int, default=1500, help="optimizer steps of each Critic")
    ap.add_argument("--minutes", type=float, default=0.0, help="a cap per Critic; 0 = none")
    ap.add_argument("--composer-steps", type=int, default=400, help="0: no drone check")
    ap.add_argument("--excerpt-seconds", type=float, default=30.0)
    ap.add_argument("--seed-task", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    out: dict = {"threads": torch.get_num_threads(), "steps": args.steps}
    names = ("bach", "piano") if args.corpus == "both" else (args.corpus,)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"{name}: preparing", flush=True)
            cache = corpus(name)
            critic, steps = train_critic(cache, args.steps, args.minutes, Path(tmp) / name)
            figures: dict = {
                "steps": steps,
                "velocity": critic.model.config.velocity,
                "windows": critic_report(critic, cache, "test"),
                "pieces": piece_verdicts(critic, cache, args.excerpt_seconds),
                "degenerate": degenerate(critic),
            }
            if args.composer_steps:
                run = Path(tmp) / f"{name}-composer"
                figures["drones"] = drones(
                    critic, cache, args.composer_steps, args.excerpt_seconds, run
                )
            figures["scoring"] = throughput(critic, cache)
            table(name, figures)
            out[name] = figures
            if name == "bach" and args.seed_task:
                ours, ours_steps = train_critic(
                    cache, args.steps, args.minutes, Path(tmp) / "random", ("random",)
                )
                mix = critic_report(ours, cache, "test")["mix"]
                out["seed_task"] = {
                    "ours": {
                        "steps": ours_steps,
                        "test_accuracy": mix["accuracy"],
                        "test_auc": mix["auc"],
                    },
                    "seed_style": seed_style(cache, args.steps),
                }
                print(json.dumps(out["seed_task"]), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
