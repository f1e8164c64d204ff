"""Each Composer's own nucleus, fitted on its validation split.

How much of the distribution to sample from is a property of the Composer and its music, not a
constant. On the chorales nuclei of 0.7-0.85 put composed statistics nearest real ones; on piano
performances 0.8 writes thin staccato and the whole distribution writes walls of held notes, the
real range lying between 0.9 and 0.95 (README, "The representation"). So after training, the
Composer writes pieces at each nucleus of :data:`CANDIDATES` and keeps the one whose pieces'
statistics (:mod:`tunesmith.judging.stats`) overlap most, on average, with those of real
validation pieces (averaged with its neighbours' overlap, against sampling noise). In a corpus of
long performances each counts as many excerpts of :data:`EXCERPT_SECONDS`, and composed pieces
are as long as the median real piece or excerpt, so the two are compared at one length.

The fit is stored in the checkpoint (``top_p``) and ``nucleus.json`` beside it; ``compose``,
``evaluate`` and the demo sample from it unless a ``--top-p`` is given, and a Composer tuned from
this one keeps it (:mod:`tunesmith.tuning.tune`). The critic's verdict is
not used: a nucleus chosen by the judge would pass what the judge likes, and the judge prefers
plain, in-key pieces to the variety real music has (README, "Set up and run").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith.atomic import atomic_write_json
from tunesmith.checkpoint import update_record
from tunesmith.compose import LoadedComposer, load_composer, sample
from tunesmith.config import EVALUATE, VALID_TOKENS, Preset, SampleConfig, Tables
from tunesmith.data.cache import TokenCache
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import DataSource
from tunesmith.judging.excerpts import judged_pieces
from tunesmith.judging.stats import compare_sets, mean_overlap, set_statistics
from tunesmith.progress import Progress, Silent, rich_progress
from tunesmith.training.loop import TrainResult
from tunesmith.training.run import train_model

CANDIDATES = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
PIECES = 128  # composed pieces per candidate
FIT = "nucleus.json"
SHOWN = ("polyphony", "mean_duration")  # the statistics the nucleus moves most, in the table


def validation_pieces(cache: TokenCache) -> list[Notes]:
    """The validation pieces (a fixed sample of a large split), performances as excerpts."""
    pieces = judged_pieces(cache, cache.sample("valid", VALID_TOKENS))
    return [cache.codec.decode(tokens) for _, tokens in pieces]


def fit_nucleus(
    composer: LoadedComposer,
    cache: TokenCache,
    base: SampleConfig | None = None,
    save: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compose :data:`PIECES` pieces as long as the median validation piece at each nucleus of
    :data:`CANDIDATES` (the other settings from ``base``, by default ``evaluate``'s; all in
    one batch) and choose the one whose statistics overlap the validation pieces' most.
    With ``save``, store it in the Composer's checkpoint and ``nucleus.json`` of its run.
    Returns the choice, the real pieces' quartiles and each candidate's figures (no choice,
    None, without validation pieces)."""
    progress = progress or Silent()
    base = base or EVALUATE.sample
    assert base is not None
    pieces = validation_pieces(cache)
    if not pieces:  # nothing to compare with: the Composer keeps the nucleus it is asked for
        return {"top_p": None, "real": {"pieces": 0}, "candidates": []}
    real = set_statistics(pieces)
    # as long as the median real piece: statistics such as pitch range grow with length
    seconds = round(float(np.median([n.duration for n in pieces])), 2)
    # All candidates in one batch, each piece with its own nucleus: one pass, not nine.
    nuclei = np.repeat(CANDIDATES, PIECES)
    config = dataclasses.replace(
        base,
        n=len(nuclei),
        seconds=seconds,
        # ample tokens for the densest music: the seconds end each piece first
        length=round(seconds / cache.codec.config.time_step * 1.5),
        min_seconds=0.0,
    )
    composed = sample(
        composer.model, composer.codec, config, progress=progress, top_p=torch.tensor(nuclei)
    )
    rows = []
    for top_p in CANDIDATES:
        mine = [composer.codec.decode(t) for t, p in zip(composed, nuclei) if p == top_p]
        stats = set_statistics(mine)
        rows.append(
            {
                "top_p": top_p,
                "overlap": mean_overlap(compare_sets(real, stats)),
                **{k: float(np.nanmedian(stats[k])) for k in SHOWN},
            }
        )
    # Overlap moves smoothly with the nucleus, the noise of 128 pieces does not: each candidate
    # is judged with its neighbours (one sampling seed against another, 64 pieces a candidate
    # chose 0.6, 0.85 or 0.8 for one chorale Composer, all within 0.02 of each other).
    overlap = np.array([np.nan if r["overlap"] is None else r["overlap"] for r in rows])
    for i, row in enumerate(rows):
        near = overlap[max(i - 1, 0) : i + 2]
        row["smoothed"] = float(np.nanmean(near)) if np.isfinite(near).any() else None
    # the first of equals: the smaller nucleus
    best = max(rows, key=lambda r: -1.0 if r["smoothed"] is None else r["smoothed"])
    fit = {
        "top_p": best["top_p"],
        "real": {"pieces": len(pieces), **{k: _quartiles(real[k]) for k in SHOWN}},
        "candidates": rows,
        "sampling": config.to_dict(),
    }
    if save:
        composer.record = update_record(composer.path, top_p=best["top_p"])
        atomic_write_json(composer.path.parent / FIT, fit)
    return fit


def describe(fit: dict[str, Any]) -> str:
    """One line: the chosen nucleus, its overlap and the statistics beside the real ones."""
    if fit["top_p"] is None:
        return "nucleus not fitted: no validation pieces to compare with"
    best = next(r for r in fit["candidates"] if r["top_p"] == fit["top_p"])
    real = fit["real"]
    return (
        f"nucleus {fit['top_p']:g}: statistics overlap {best['overlap']:.3f} with "
        f"{real['pieces']} validation pieces; polyphony {best['polyphony']:.1f} (real "
        f"{real['polyphony'][1]:.1f}), note length {best['mean_duration']:.2f} s (real "
        f"{real['mean_duration'][1]:.2f} s)"
    )


def _quartiles(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.nanpercentile(x, [25, 50, 75])]


def train_composer(
    preset: Preset,
    out: str | Path,
    tables: Sequence[Tables] = (),
    data: DataSource | None = None,
    resume: bool = False,
    say: Callable[[str], None] = print,
) -> tuple[TrainResult, dict[str, Any] | None]:
    """``train composer``: train (see :func:`~tunesmith.training.run.train_model`), then fit the
    best checkpoint's nucleus (None when interrupted, and on other ranks)."""
    result, cache, rt = train_model(preset, out, tables, data, resume, say=say)
    if result.stop == "interrupted" or not rt.main:
        return result, None
    with rich_progress(transient=True) as progress:
        fit = fit_nucleus(load_composer(result.best, rt.device), cache, progress=progress)
    say(describe(fit))
    return result, fit
