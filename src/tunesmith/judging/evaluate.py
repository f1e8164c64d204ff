"""The Critic judges the Composer: compose N pieces, score them beside held-out real pieces and
random-note pieces, compare objective statistics, and write it all to an output folder.

The folder holds the MIDI of the three sets (``composed/``, ``real/``, ``random/``) and
``report.json`` with every figure, from which ``report/`` draws ``report.html``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith import __version__
from tunesmith.atomic import atomic_write_json, finite
from tunesmith.compose import LoadedComposer, load_composer, sample, write_pieces
from tunesmith.config import EVALUATE, SampleConfig
from tunesmith.data.cache import TokenCache, cache_of
from tunesmith.data.negatives import random_piece
from tunesmith.errors import ConfigError
from tunesmith.judging.composers import Judged, composer_entry, flag
from tunesmith.judging.copying import TrainingRuns, copying, summary
from tunesmith.judging.excerpts import judged_pieces
from tunesmith.judging.requested import requested_report
from tunesmith.judging.scoring import LoadedCritic, load_critic
from tunesmith.judging.stats import STATISTICS, compare_sets, set_statistics
from tunesmith.progress import Progress, Silent
from tunesmith.runtime import pick_precision

REPORT = "report.json"
SETS = ("composed", "real", "random")


def score_summary(scores: np.ndarray) -> dict[str, Any]:
    """Mean, median, spread and the share taken for real (score > 0.5) of piece scores."""
    s = np.asarray(scores, dtype=np.float64)
    return {
        "scores": [round(float(v), 5) for v in s],
        "mean": float(s.mean()),
        "median": float(np.median(s)),
        "std": float(s.std()),
        "q25": float(np.percentile(s, 25)),
        "q75": float(np.percentile(s, 75)),
        "called_real": float(np.mean(s > 0.5)),
    }


def real_pieces(cache: TokenCache, n: int, seed: int) -> tuple[list[str], list[np.ndarray]]:
    """Up to ``n`` pieces of the test split (all of them if it holds fewer), chosen by ``seed``;
    performances as excerpts (:mod:`tunesmith.judging.excerpts`)."""
    pieces = judged_pieces(cache, cache.split("test"))
    order = np.random.default_rng(seed).permutation(len(pieces))[:n]
    chosen = [pieces[i] for i in sorted(order)]
    return [piece_id for piece_id, _ in chosen], [tokens for _, tokens in chosen]


def compose_best_of(
    critic: LoadedCritic,
    composer_path: str | os.PathLike,
    config: SampleConfig,
    best_of: int,
    progress: Progress,
    own_nucleus: bool = False,
) -> tuple[list[np.ndarray], dict[str, Any] | None, LoadedComposer]:
    """``config.n`` pieces in one batched pass (with ``own_nucleus``, from the Composer's fitted
    nucleus where it has one); with ``best_of`` K > 1, K candidates each, of which the Critic
    keeps the highest scored. Also returns the figures before and after the choice (None
    without one) and the loaded Composer."""
    composer = load_composer(composer_path, critic.device, codec=critic.codec.config)
    if own_nucleus:
        config = composer.own(config)
    n = config.n
    batch = SampleConfig(**{**config.to_dict(), "n": n * best_of})
    pieces = sample(composer.model, composer.codec, batch, progress=progress)
    if best_of == 1:
        return pieces, None, composer
    scores = critic.piece_scores(pieces).reshape(n, best_of)
    pick = scores.argmax(axis=1)
    chosen = [pieces[i * best_of + k] for i, k in enumerate(pick)]
    first = scores[:, 0]  # what one sample per piece would have given
    best = scores[np.arange(n), pick]
    figures = {
        "k": best_of,
        "mean_before": float(first.mean()),
        "mean_after": float(best.mean()),
        "called_real_before": float(np.mean(first > 0.5)),
        "called_real_after": float(np.mean(best > 0.5)),
    }
    return chosen, figures, composer


def evaluate(
    composer: str | os.PathLike | list[tuple[str, str | os.PathLike]],
    critic: str | os.PathLike | LoadedCritic,
    out: str | os.PathLike,
    config: SampleConfig | None = None,
    best_of: int = 1,
    cache: TokenCache | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
    match_length: bool = True,
    also: dict[str, LoadedCritic] | None = None,
    own_nucleus: bool = False,
) -> dict[str, Any]:
    """Compose, judge and compare; write MIDI and ``report.json`` to ``out`` and return the
    report (:func:`tunesmith.report.html.write_html` draws the page from it).

    ``composer`` is one checkpoint, or ``(label, checkpoint)`` pairs to compare side by side
    (``composers`` in the report, flags against the first; the first is also "composed").
    With ``match_length`` the pieces are composed as long (in tokens) as the median real test
    piece, instead of ``config.length``, so statistics that grow with length compare like with
    like. Critics in ``also`` score the same three sets too (``also_judged`` in the report).
    With ``own_nucleus`` each Composer samples from its fitted nucleus where it has one, in
    place of ``config.top_p`` (``top_p`` of each in ``composers``).
    """
    if not 1 <= best_of <= 64:
        raise ConfigError(f"--best-of must be in [1, 64], got {best_of}")
    t0 = time.perf_counter()
    out = Path(out)
    progress = progress or Silent()
    config = config or EVALUATE.sample
    assert config is not None
    if not isinstance(critic, LoadedCritic):
        critic = load_critic(critic, device)
    cache = cache or cache_of(critic.record)
    cache.check_codec(critic.codec.config, f"the Critic {critic.path}")
    codec = critic.codec

    real_ids, real = real_pieces(cache, config.n, config.seed)
    if match_length:
        config = SampleConfig(
            **{**config.to_dict(), "length": int(np.median([len(t) for t in real]))}
        )
    composers = composer if isinstance(composer, list) else [("composer", composer)]
    first_label, first_path = composers[0]
    composed, best, first_composer = compose_best_of(
        critic, first_path, config, best_of, progress, own_nucleus
    )
    rng = np.random.default_rng(config.seed)
    random = [random_piece(rng, codec, len(t)) for t in real]
    pieces = {"composed": composed, "real": real, "random": random}

    files = {
        "composed": write_pieces(composed, codec, out / "composed"),
        "real": write_pieces(real, codec, out / "real", names=[_safe_stem(i) for i in real_ids]),
        "random": write_pieces(random, codec, out / "random", stem="random"),
    }
    sets: dict[str, Any] = {}
    notes = {}
    for name in SETS:
        sets[name] = {
            "files": [str(f.relative_to(out)) for f in files[name]],
            **score_summary(critic.piece_scores(pieces[name])),
        }
        notes[name] = _decode(codec, pieces[name])
    stats = {name: set_statistics(notes[name]) for name in SETS}
    comparison = {name: compare_sets(stats["real"], stats[name]) for name in ("composed", "random")}

    def nucleus(composer: LoadedComposer) -> float:
        return (composer.own(config) if own_nucleus else config).top_p

    first = Judged(
        first_label,
        first_composer,
        composed,
        np.array(sets["composed"]["scores"]),
        notes["composed"],
        nucleus(first_composer),
    )

    training = TrainingRuns.of(cache)
    real_copying = summary(copying(training, notes["real"]))
    entries = [composer_entry(first, cache, comparison["composed"], training)]
    judged = [first]
    for label, path in composers[1:]:
        tokens, _, loaded = compose_best_of(critic, path, config, best_of, progress, own_nucleus)
        write_pieces(tokens, codec, out / f"composed_{_safe_stem(label)}")
        scores = critic.piece_scores(tokens)
        other = Judged(label, loaded, tokens, scores, _decode(codec, tokens), nucleus(loaded))
        judged.append(other)
        other_stats = set_statistics(other.notes)
        comparison_other = compare_sets(stats["real"], other_stats)
        entries.append(composer_entry(other, cache, comparison_other, training))
    flag(entries, judged, critic, real_copying)
    also_judged = {
        label: {
            "path": str(extra.path),
            **{name: _brief(score_summary(extra.piece_scores(pieces[name]))) for name in SETS},
        }
        for label, extra in (also or {}).items()
    }

    composed_scores = np.array(sets["composed"]["scores"])
    real_scores = np.array(sets["real"]["scores"])
    median_real = int(np.argsort(real_scores)[len(real_scores) // 2])
    shown = [
        _shown("composed", "best", sets, int(composed_scores.argmax())),
        _shown("composed", "worst", sets, int(composed_scores.argmin())),
        _shown("real", "real", sets, median_real),
    ]
    report = {
        "tunesmith": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {
            **config.to_dict(),
            "best_of": best_of,
            "own_nucleus": own_nucleus,
            # what precision "auto" became on this machine: figures compare within one kind
            "sampling_precision": pick_precision(
                config.precision, next(first_composer.model.parameters()).device
            ),
        },
        "composer": {
            "path": str(first_composer.path.resolve()),
            "run": str(first_composer.path.resolve().parent),
            "valid_nll": entries[0]["valid_nll"],
        },
        "critic": {
            "path": str(critic.path.resolve()),
            "run": str(critic.path.resolve().parent),
            "temperature": critic.temperature,
            "precision": critic.precision,
            "test": _critic_test(critic),
        },
        "sets": sets,
        "also_judged": also_judged,
        "statistics": {
            "labels": {k: {"label": s.label, "unit": s.unit} for k, s in STATISTICS.items()},
            "per_set": {name: {k: v.tolist() for k, v in stats[name].items()} for name in SETS},
            "comparison": comparison,
        },
        "composers": entries,
        "copying": {"composed": entries[0]["copying"], "real": real_copying},
        "requested": requested_report(
            config, notes["composed"], notes["real"], cache, first_composer.model.config.styles
        ),
        "best_of": best,
        "shown": shown,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    report = finite(report)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / REPORT, report)
    return report


def _decode(codec, pieces: list[np.ndarray]) -> list:
    return [codec.decode(t) for t in pieces]


def farthest_statistics(report: dict[str, Any], k: int = 5) -> list[tuple[str, dict]]:
    """The ``k`` statistics where composed music is farthest from real (lowest overlap)."""
    comparison = report["statistics"]["comparison"]["composed"]
    ranked = sorted(comparison.items(), key=lambda kv: _or(kv[1]["overlap"], 2.0))
    return ranked[:k]


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "scores"}


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _shown(set_name: str, role: str, sets: dict, i: int) -> dict[str, Any]:
    return {
        "set": set_name,
        "role": role,
        "file": sets[set_name]["files"][i],
        "score": sets[set_name]["scores"][i],
    }


def _critic_test(critic: LoadedCritic) -> dict[str, Any] | None:
    """The Critic's own test report, if ``tunesmith test critic`` (or training) wrote one."""
    import json

    path = critic.path.parent / "test_report.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _safe_stem(piece_id: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(piece_id).stem)
