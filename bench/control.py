"""Control: a Composer conditioned on density, pitch classes and style against an unconditioned
one of the same size and steps, on the Bach chorales and real piano performances prepared
together (the ten MAESTRO performances of miditok's source archive, scripts/maestro.py), each
folder one style. Prints a table and JSON.

    python bench/control.py                        # the COMPOSER preset's size, 1,500 steps each
    python bench/control.py --steps 200 --critic-steps 200 --n 10   # a look

1. The corpus: a folder with ``bach/`` (the chorales as converted by ``prepare``) and ``piano/``
   (the performances), prepared with ``--midi-dir``; its styles are the two subfolders.
2. Two Composers (the COMPOSER preset, ``--steps``, ``--seed``): one with ``condition``
   density, pitch-classes and style, one without. Validation NLL per token of each, the
   conditioned one with every signal given and with none.
3. A judging Critic (the CRITIC preset, ``--critic-steps``, calibrated) scores ``--n`` pieces of
   each Composer composed without controls (as below): the share taken for real.
4. Controllability, ``--n`` pieces per figure, ``--seconds`` long (none ends sooner), sampled
   as ``compose`` samples (the nucleus of 0.9):
   - density: ``--n`` / 5 pieces at each of :data:`DENSITIES` notes/s; the correlation between
     requested and achieved density (notes over the span from the first onset to the last
     end) and the mean absolute error as a share of the request; and a density schedule
     (3 to 12 notes/s) read in quarters;
   - key: ``--n`` / 5 pieces in each of :data:`KEYS`; the total-variation distance between each
     piece's pitch-class histogram and the requested key's profile, against the same distance
     of the unconditioned Composer's pieces to the same keys; the share whose estimated key
     (Krumhansl-Schmuckler) is the one requested;
   - style: ``--n`` / 2 pieces in each style; the share a style classifier (trained on
     ``--excerpt-seconds`` excerpts of real training pieces, checked on real valid and test
     excerpts) assigns to the requested style, against its verdict on unconditioned pieces.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from maestro import fetch

from critic import train_critic
from tunesmith.compose import LoadedComposer, load_composer, sample
from tunesmith.config import COMPOSE, COMPOSER, ComposerConfig
from tunesmith.data import controls
from tunesmith.data.cache import TokenCache
from tunesmith.data.corpus import corpus_source
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import default_cache_dir, prepare
from tunesmith.judging.critic_report import calibrate
from tunesmith.judging.requested import key_report
from tunesmith.judging.scoring import load_critic
from tunesmith.judging.stats import note_density
from tunesmith.judging.style import StyleClassifier, labelled_excerpts
from tunesmith.runtime import Runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))
SIGNALS = ("density", "pitch-classes", "style")
# Inside what the training pieces do: the density ahead of their events is 4 to 27 notes/s
# (5th to 95th percentile; chorales 4 to 18); a request far outside it is asking for music the
# Composer never heard (at 2 notes/s it wrote 5.6).
DENSITIES = (4.0, 6.0, 9.0, 13.0, 18.0)
KEYS = ("C major", "D minor", "F# major", "Bb minor", "A major")
SCHEDULE = "3:12"


def say(line: str) -> None:
    print("  ", line, flush=True)


def corpus(root: Path) -> TokenCache:
    """Chorales in ``bach/`` and performances in ``piano/``, prepared together."""
    prepare()  # converts the chorales to MIDI, once
    mix = root / "mix"
    for style, files in (
        ("bach", [f.path for f in corpus_source("bach", default_cache_dir()).files]),
        ("piano", sorted(fetch().glob("*.mid"))),
    ):
        (mix / style).mkdir(parents=True, exist_ok=True)
        for f in files:
            link = mix / style / f.name
            if not link.exists():
                os.symlink(f, link)
    return prepare(midi_dir=mix).cache


def train_composer(cache: TokenCache, signals: tuple[str, ...], args, run: Path) -> None:
    if (run / "best").exists():
        return
    assert isinstance(COMPOSER.model, ComposerConfig)
    assert COMPOSER.train is not None
    model = dataclasses.replace(COMPOSER.model, condition=signals)
    task = ComposerTask(cache, model, COMPOSER.windows, seed=args.seed)
    config = dataclasses.replace(COMPOSER.train, max_steps=args.steps, seed=args.seed)
    train(task, config, run, CPU, echo=say)


def valid_nll(cache: TokenCache, composer: LoadedComposer) -> dict[str, float]:
    task = ComposerTask(cache, composer.model.config, COMPOSER.windows)
    out = task.evaluate(composer.model, CPU)
    return {k: round(v, 4) for k, v in out.items() if k != "valid_ppl"}


def compose(composer: LoadedComposer, args, seed: int, n: int, **asked) -> list[Notes]:
    """``n`` pieces of ``args.seconds`` seconds each (none ending sooner), sampled as
    ``compose`` does; those asked for something are also kept in ``args.made`` (for the
    judge)."""
    assert COMPOSE.sample is not None
    length, seconds = args.seconds * 100, args.seconds
    config = dataclasses.replace(
        COMPOSE.sample, n=n, length=length, seconds=seconds, min_seconds=seconds, seed=seed, **asked
    )
    pieces = [composer.codec.decode(t) for t in sample(composer.model, composer.codec, config)]
    if asked:
        args.made += pieces
    return pieces


def training_density(cache: TokenCache) -> list[float]:
    """The 5th, 50th and 95th percentiles of the density ahead of each training event."""
    ahead = [controls.density(cache.piece_tokens(p), cache.codec) for p in cache.split("train")]
    return [round(float(v), 2) for v in np.percentile(np.concatenate(ahead), [5, 50, 95])]


def density_figures(composer: LoadedComposer, cache: TokenCache, args) -> dict:
    per = max(2, args.n // len(DENSITIES))
    asked, got = [], []
    for k, d in enumerate(DENSITIES):
        pieces = compose(composer, args, 100 + k, per, density=f"{d:g}", guidance=args.g)
        asked += [d] * len(pieces)
        got += [note_density(p) for p in pieces]
    a, g = np.array(asked), np.array(got)
    by_value = {f"{d:g}": round(float(np.nanmedian(g[a == d])), 2) for d in DENSITIES}
    # The schedule: achieved density in each quarter of the piece against the request there.
    start, end = controls.parse_density(SCHEDULE)
    quarters = []
    for p in compose(composer, args, 200, per, density=SCHEDULE, guidance=args.g):
        q = np.minimum((p.start / args.seconds * 4).astype(int), 3)
        quarters.append(np.bincount(q, minlength=4) / (args.seconds / 4))
    asked_q = [start + (end - start) * (k + 0.5) / 4 for k in range(4)]
    return {
        "pieces": len(a),
        "training_5_50_95": training_density(cache),
        "correlation": round(float(np.corrcoef(a, np.nan_to_num(g))[0, 1]), 3),
        "mean_abs_error": round(float(np.nanmean(np.abs(g - a) / a)), 3),
        "median_by_request": by_value,
        "schedule": {
            "requested": SCHEDULE,
            "requested_by_quarter": [round(v, 2) for v in asked_q],
            "achieved_by_quarter": [round(float(v), 2) for v in np.mean(quarters, axis=0)],
        },
    }


def key_figures(composer: LoadedComposer, free: list[Notes], args) -> dict:
    """``evaluate``'s key figures per requested key, the unconditioned pieces in place of the
    real ones, averaged over the keys (as many pieces each)."""
    per = max(2, args.n // len(KEYS))
    reports = [
        key_report(key, compose(composer, args, 300 + k, per, key=key, guidance=args.g), free)
        for k, key in enumerate(KEYS)
    ]

    def mean(side: str, figure: str) -> float:
        return float(np.mean([r[side][figure] for r in reports]))

    return {
        "pieces": per * len(KEYS),
        "distance": round(mean("composed", "distance"), 3),
        "distance_unconditioned": round(mean("real", "distance"), 3),
        "ratio": round(mean("composed", "distance") / mean("real", "distance"), 3),
        "in_requested_key": round(mean("composed", "in_key"), 3),
        "in_requested_key_unconditioned": round(mean("real", "in_key"), 3),
    }


def style_figures(composer: LoadedComposer, cache: TokenCache, free: list[Notes], args) -> dict:
    train_set = labelled_excerpts(cache, ("train",), args.excerpt_seconds)
    classifier = StyleClassifier.fit(*train_set)
    held, held_labels = labelled_excerpts(cache, ("valid", "test"), args.excerpt_seconds)
    styles = composer.model.config.styles
    per = max(2, args.n // len(styles))
    hits, by_style = [], {}
    for k, style in enumerate(styles):
        verdicts = classifier.predict(
            compose(composer, args, 400 + k, per, style=style, guidance=args.g)
        )
        by_style[style] = round(float(np.mean([v == style for v in verdicts])), 3)
        hits += [v == style for v in verdicts]
    free_verdicts = classifier.predict(free)
    return {
        "classifier_accuracy_on_real": round(classifier.accuracy(held, held_labels), 3),
        "real_held_out_excerpts": dict(zip(*np.unique(held_labels, return_counts=True))),
        "assigned_to_requested": round(float(np.mean(hits)), 3),
        "by_style": by_style,
        "unconditioned_assigned": {
            s: round(float(np.mean([v == s for v in free_verdicts])), 3) for s in styles
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500, help="Composer steps (the demo's)")
    ap.add_argument("--critic-steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=50, help="pieces per figure")
    ap.add_argument("--seconds", type=int, default=20, help="seconds per composed piece")
    ap.add_argument("--excerpt-seconds", type=float, default=20.0)
    ap.add_argument(
        "--guidance",
        type=lambda t: [float(v) for v in t.split(",")],
        default=[1.0, 2.0],
        help="guidance weights to measure controls at (comma-separated)",
    )
    ap.add_argument("--out", type=Path, help="where runs go (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        cache = corpus(root)
        say(f"corpus: {cache.path}; styles {cache.styles()}, train {cache.styles('train')}")
        runs = {"conditioned": SIGNALS, "unconditioned": ()}
        composers = {}
        for name, signals in runs.items():
            say(f"Composer, {name}: {args.steps} steps")
            train_composer(cache, signals, args, root / name)
            composers[name] = load_composer(root / name)
        say(f"judge: {args.critic_steps} steps")
        if (root / "judge" / "best").exists():  # a finished run is kept, as the Composers are
            judge = load_critic(root / "judge")
            calibrate(judge, cache)
        else:
            judge, _ = train_critic(cache, args.critic_steps, 0.0, root / "judge")
        figures: dict = {"corpus": cache.styles(), "steps": args.steps}
        free = {}
        for name, composer in composers.items():
            free[name] = compose(composer, args, 1, args.n)
            scores = judge.piece_scores([judge.codec.encode(p) for p in free[name]])
            figures[name] = {
                "valid_nll": valid_nll(cache, composer),
                "judge_taken_for_real": round(float(np.mean(scores > 0.5)), 3),
                "judge_mean_score": round(float(np.mean(scores)), 3),
            }
        conditioned = composers["conditioned"]
        figures["controls"] = {}
        for g in args.guidance:
            say(f"controllability, guidance {g:g}")
            args.g, args.made = g, []
            figures["controls"][f"{g:g}"] = {
                "density": density_figures(conditioned, cache, args),
                "key": key_figures(conditioned, free["unconditioned"], args),
                "style": style_figures(conditioned, cache, free["unconditioned"], args),
            }
            scores = judge.piece_scores([judge.codec.encode(p) for p in args.made])
            figures["controls"][f"{g:g}"]["judge_taken_for_real"] = round(
                float(np.mean(scores > 0.5)), 3
            )
    table(figures)
    print(json.dumps(figures, indent=2, default=int))


def table(f: dict) -> None:
    c, u = f["conditioned"], f["unconditioned"]
    print(f"\ncorpus {f['corpus']}, {f['steps']} steps each")
    print("| | conditioned | unconditioned |\n| --- | --- | --- |")
    print(
        f"| validation NLL, nats/token | {c['valid_nll']['valid_nll']:.4f} with the signals, "
        f"{c['valid_nll']['valid_nll_free']:.4f} without | {u['valid_nll']['valid_nll']:.4f} |"
    )
    print(
        f"| judge: taken for real (no controls) | {c['judge_taken_for_real']:.0%} | "
        f"{u['judge_taken_for_real']:.0%} |"
    )
    print("\n| control | guidance | figure | goal |\n| --- | --- | --- | --- |")
    for g, figures in f["controls"].items():
        d, k, s = figures["density"], figures["key"], figures["style"]
        print(
            f"| density, {d['pieces']} pieces at {', '.join(d['median_by_request'])} notes/s "
            f"(training events: {d['training_5_50_95']}, 5th/50th/95th percentile) | {g} | "
            f"correlation {d['correlation']:.2f}, mean error {d['mean_abs_error']:.0%}; medians "
            f"{', '.join(map(str, d['median_by_request'].values()))} | >= 0.9, < 15% |"
        )
        sch = d["schedule"]
        print(
            f"| density {sch['requested']}, by quarter | {g} | asked "
            f"{sch['requested_by_quarter']}, got {sch['achieved_by_quarter']} | |"
        )
        print(
            f"| key, {k['pieces']} pieces in {len(KEYS)} keys | {g} | distance "
            f"{k['distance']:.3f} against {k['distance_unconditioned']:.3f} unconditioned "
            f"(x{k['ratio']:.2f}); in the key {k['in_requested_key']:.0%} against "
            f"{k['in_requested_key_unconditioned']:.0%} | at most x0.5 |"
        )
        print(
            f"| style | {g} | {s['assigned_to_requested']:.0%} assigned to the requested style "
            f"({s['by_style']}); unconditioned pieces {s['unconditioned_assigned']}; "
            f"classifier {s['classifier_accuracy_on_real']:.0%} right on real held-out "
            "excerpts | |"
        )
        print(
            f"| judge, all these pieces | {g} | {figures['judge_taken_for_real']:.0%} taken for "
            "real | |"
        )


if __name__ == "__main__":
    main()
