"""Note-off against duration encoding, at equal training steps, on the Bach chorales and on real
piano performances (the ten MAESTRO performances of miditok's source archive, scripts/maestro.py).
Prints a table per corpus and JSON at the end.

    python bench/encoding.py                                        # both corpora
    python bench/encoding.py --corpus bach --steps 300 --critic-steps 300 --n 20   # a look

Per corpus:
1. A judging Critic (the CRITIC preset on note-off tokens, ``--critic-steps``, calibrated). It
   never hears a composed piece, so it judges both Composers alike: their pieces are decoded to
   notes and encoded in its own tokens.
2. Per encoding, the corpus prepared in it and a Composer (the COMPOSER preset) trained for
   ``--steps`` steps with ``--seed`` (a finished run in ``--out`` is kept, as is the judge); the
   note-off Composer is also sampled within the train split's bounds (``--max-note-seconds``
   and ``--max-polyphony`` at its 99.9th percentiles); then
   - validation NLL in nats per note and per second of music: the whole valid split's nats over
     its notes or its seconds, comparable across encodings (nats per token are not);
   - ``--n`` pieces composed, as long as the median real test piece: the share the judge takes
     for real; median polyphony and mean note length against the real test pieces' interquartile
     range; the share of pieces with a note longer than the train split's 99.9th-percentile
     note, and of stuck notes; the mean overlap of every statistic with the real test pieces'.
Real test pieces of the piano corpus are cut into excerpts of ``--excerpt-seconds`` (its test
split holds one or two performances).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from maestro import fetch

from critic import train_critic
from tunesmith.compose import load_composer, sample
from tunesmith.config import COMPOSER, CodecConfig, ComposerConfig, SampleConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import prepare
from tunesmith.data.windows import piece_sequences
from tunesmith.judging.critic_report import calibrate
from tunesmith.judging.excerpts import excerpts
from tunesmith.judging.scoring import LoadedCritic, load_critic
from tunesmith.judging.stats import compare_sets, note_length_quantile, set_statistics
from tunesmith.models.composer import sequence_nll
from tunesmith.runtime import Runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))
ENCODINGS = ("note-off", "duration")
BOUNDED = "note-off, bounded"
COLUMNS = ("note-off", BOUNDED, "duration")


def say(line: str) -> None:
    print("  ", line, flush=True)


def corpus(name: str, encoding: str) -> TokenCache:
    codec = CodecConfig(encoding=encoding)
    if name == "bach":
        return prepare(codec=codec).cache
    return prepare(midi_dir=fetch(), codec=codec).cache


def notes_of(cache: TokenCache, split: str) -> list[Notes]:
    return [cache.codec.decode(cache.piece_tokens(p)) for p in cache.split(split)]


def long_note(notes: list[Notes], seconds: float) -> float:
    """Share of pieces holding a note longer than ``seconds`` (by more than float noise: a note
    held exactly as long, as under a bound, is not longer)."""
    return float(np.mean([(n.end - n.start).max() > seconds + 1e-6 for n in notes]))


def valid_nll(run: Path, cache: TokenCache) -> dict:
    """The valid split's nats per token, per note and per second of music."""
    model = load_composer(run).model
    nats, tokens = sequence_nll(model, piece_sequences(cache, "valid"), cache.codec.pad)
    pieces = notes_of(cache, "valid")
    notes = sum(len(n) for n in pieces)
    seconds = sum(float(n.end.max() - n.start.min()) for n in pieces)
    return {
        "per_token": nats / tokens,
        "per_note": nats / notes,
        "per_second": nats / seconds,
    }


def train_composer(cache: TokenCache, args: argparse.Namespace, run: Path) -> None:
    """The COMPOSER preset for ``--steps`` into ``run`` (a finished run is kept)."""
    if (run / "best").exists():
        return
    assert isinstance(COMPOSER.model, ComposerConfig)
    assert COMPOSER.train is not None
    task = ComposerTask(cache, COMPOSER.model, COMPOSER.windows, seed=args.seed)
    config = dataclasses.replace(COMPOSER.train, max_steps=args.steps, seed=args.seed)
    train(task, config, run, CPU, echo=say)


def bounds(notes: list[Notes]) -> tuple[float, int]:
    """The 99.9th percentile of note length (s) and of the notes sounding at an onset."""
    sounding = np.concatenate(
        [
            np.searchsorted(np.sort(n.start), n.start, side="right")
            - np.searchsorted(np.sort(n.end), n.start, side="right")
            for n in notes
        ]
    )
    return note_length_quantile(notes, 99.9), int(np.ceil(np.percentile(sounding, 99.9)))


def composer_figures(
    cache: TokenCache,
    judge: LoadedCritic,
    real: list[Notes],
    longest: float,
    args: argparse.Namespace,
    run: Path,
    limits: dict | None = None,
) -> dict:
    """The figures of the Composer in ``run``, sampling with ``limits`` (SampleConfig fields)."""
    lc = load_composer(run)
    length = args.length or int(np.median([len(cache.codec.encode(n)) for n in real]))
    config = SampleConfig(n=args.n, length=length, seed=1, top_p=args.top_p, **(limits or {}))
    pieces = sample(lc.model, cache.codec, config)
    notes = [cache.codec.decode(t) for t in pieces]
    scores = judge.piece_scores(
        [judge.codec.encode(n.shifted(-float(n.start.min()))) for n in notes]
    )
    stats, real_stats = set_statistics(notes), set_statistics(real)
    overlap = compare_sets(real_stats, stats)
    out = {
        "steps": lc.record.state.step if lc.record.state else None,
        "limits": limits,
        "valid_nll": valid_nll(run, cache),
        "taken_for_real": float(np.mean(scores > 0.5)),
        "mean_score": float(np.mean(scores)),
        "long_note_pieces": long_note(notes, longest),
        "stuck_notes": float(np.nanmean(stats["stuck_notes"])),
        "mean_overlap": float(np.mean([v["overlap"] for v in overlap.values()])),
    }
    for key in ("polyphony", "mean_duration"):
        lo, hi = np.nanpercentile(real_stats[key], [25, 75])
        median = float(np.nanmedian(stats[key]))
        out[key] = {
            "median": median,
            "real_iqr": [float(lo), float(hi)],
            "inside": bool(lo <= median <= hi),
        }
    return out


def run_corpus(name: str, args: argparse.Namespace, root: Path) -> dict:
    print(f"== {name}", flush=True)
    judge_cache = corpus(name, "note-off")
    say(f"judge: {args.critic_steps} steps")
    if (root / name / "judge" / "best").exists():
        judge = load_critic(root / name / "judge")
        calibrate(judge, judge_cache)
    else:
        judge, _ = train_critic(judge_cache, args.critic_steps, 0.0, root / name / "judge")
    test = notes_of(judge_cache, "test")
    real = [e for n in test for e in excerpts(n, args.excerpt_seconds)] if name != "bach" else test
    longest, polyphony = bounds(notes_of(judge_cache, "train"))
    real_scores = judge.piece_scores([judge.codec.encode(n) for n in real])
    figures = {
        "real": {
            "pieces": len(real),
            "taken_for_real": float(np.mean(real_scores > 0.5)),
            "long_note_pieces": long_note(real, longest),
            "train_99.9th_note_seconds": longest,
            "train_99.9th_polyphony": polyphony,
        }
    }
    for encoding in ENCODINGS:
        say(f"Composer, {encoding}: {args.steps} steps")
        cache = corpus(name, encoding)
        run = root / name / encoding
        train_composer(cache, args, run)
        figures[encoding] = composer_figures(cache, judge, real, longest, args, run)
        if encoding == "note-off":
            limits = {"max_note_seconds": longest, "max_polyphony": polyphony}
            say(f"the same, sampled within the train split's bounds: {limits}")
            figures[BOUNDED] = composer_figures(cache, judge, real, longest, args, run, limits)
    table(name, figures)
    return figures


def table(name: str, f: dict) -> None:
    rows = [
        ("valid NLL, nats/note", lambda e: f"{e['valid_nll']['per_note']:.3f}"),
        ("valid NLL, nats/second", lambda e: f"{e['valid_nll']['per_second']:.2f}"),
        ("judge: taken for real", lambda e: f"{e['taken_for_real']:.0%}"),
        ("polyphony, median", lambda e: _inside(e["polyphony"])),
        ("mean note length s, median", lambda e: _inside(e["mean_duration"])),
        ("pieces with an over-long note", lambda e: f"{e['long_note_pieces']:.0%}"),
        ("stuck notes", lambda e: f"{e['stuck_notes']:.2%}"),
        ("mean statistics overlap", lambda e: f"{e['mean_overlap']:.3f}"),
    ]
    real = f["real"]
    print(
        f"\n{name}: real test pieces taken for real {real['taken_for_real']:.0%}, "
        f"with an over-long note (> {real['train_99.9th_note_seconds']:.2f} s) "
        f"{real['long_note_pieces']:.0%}"
    )
    print(f"| {'':32} | " + " | ".join(f"{e:>18}" for e in COLUMNS) + " |")
    for label, show in rows:
        print(f"| {label:32} | " + " | ".join(f"{show(f[e]):>18}" for e in COLUMNS) + " |")
    print(flush=True)


def _inside(figure: dict) -> str:
    lo, hi = figure["real_iqr"]
    return f"{figure['median']:.2f} ({lo:.2f}-{hi:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=("bach", "piano", "both"), default="both")
    ap.add_argument("--steps", type=int, default=1500, help="Composer steps (the demo's)")
    ap.add_argument("--critic-steps", type=int, default=2500, help="judge steps (the demo's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=50, help="pieces composed per encoding")
    ap.add_argument(
        "--top-p", type=float, default=1.0, help="nucleus; 1 = the whole distribution (the table)"
    )
    ap.add_argument("--length", type=int, help="tokens a piece (default: the real ones' median)")
    ap.add_argument("--excerpt-seconds", type=float, default=30.0)
    ap.add_argument("--out", type=Path, help="where runs go (default: a temporary folder)")
    args = ap.parse_args()
    names = ("bach", "piano") if args.corpus == "both" else (args.corpus,)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        figures = {name: run_corpus(name, args, root) for name in names}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
