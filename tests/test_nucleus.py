"""Each Composer's own nucleus: fitted on the validation chorales after training, stored in the
checkpoint, and what compose and evaluate sample from unless a --top-p is given. Also the real
pieces judging compares with: chorales whole, performances by excerpt."""

from __future__ import annotations

import json
import shutil

import mido
import numpy as np
import pytest
import torch

from helpers import tunesmith
from tunesmith.checkpoint import read_record
from tunesmith.compose import compose_files, load_composer
from tunesmith.config import ComposerConfig, SampleConfig, TrainConfig, WindowConfig
from tunesmith.errors import CheckpointError
from tunesmith.judging.excerpts import EXCERPT_SECONDS, judged_pieces
from tunesmith.judging.nucleus import CANDIDATES, FIT, fit_nucleus
from tunesmith.runtime import Runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))


@pytest.fixture(scope="module")
def fitted(bach_cache, tmp_path_factory):
    """A tiny Composer trained on six real chorales, its nucleus fitted: (run folder, fit)."""
    model = ComposerConfig(embedding=16, hidden=64, layers=1, dropout=0.0)
    task = ComposerTask(bach_cache, model, WindowConfig(length=64, stride=32), seed=0)
    config = TrainConfig(batch_size=16, lr=1e-2, epochs=10, warmup_steps=5, patience=0)
    out = tmp_path_factory.mktemp("run") / "composer"
    result = train(task, config, out, CPU, echo=lambda s: None)
    return out, fit_nucleus(load_composer(result.best), bach_cache)


def test_the_nucleus_whose_pieces_overlap_real_ones_most_is_stored(fitted, bach_cache):
    out, fit = fitted
    rows = fit["candidates"]
    assert [r["top_p"] for r in rows] == list(CANDIDATES)
    assert all(0.0 <= r["overlap"] <= 1.0 for r in rows)
    # the best overlap, each candidate averaged with its neighbours
    smoothed = [np.mean([r["overlap"] for r in rows[max(i - 1, 0) : i + 2]]) for i in range(9)]
    assert [r["smoothed"] for r in rows] == pytest.approx(smoothed)
    assert fit["top_p"] == CANDIDATES[int(np.argmax(smoothed))]
    # The nucleus moves the music: the whole distribution and the smallest nucleus differ.
    assert rows[0]["overlap"] != rows[-1]["overlap"]
    assert read_record(out / "best").top_p == fit["top_p"]
    assert json.loads((out / FIT).read_text()) == json.loads(json.dumps(fit))
    again = fit_nucleus(load_composer(out), bach_cache, save=False)
    assert again == fit  # the same pieces, the same figures


def test_compose_samples_from_the_fitted_nucleus_unless_asked(fitted, tmp_path):
    out, fit = fitted
    other = next(p for p in CANDIDATES if p != fit["top_p"])
    config = SampleConfig(n=3, length=120, seed=2, top_p=other)
    own = compose_files(out, config, tmp_path / "own", own_nucleus=True)
    asked = compose_files(out, config, tmp_path / "asked")
    same = compose_files(
        out, SampleConfig(**{**config.to_dict(), "top_p": fit["top_p"]}), tmp_path / "same"
    )
    assert (own["top_p"], own["fitted"]) == (fit["top_p"], True)
    assert (asked["top_p"], asked["fitted"]) == (other, False)

    def notes(run):
        return [
            [
                (m.note, m.time)
                for t in mido.MidiFile(f["file"]).tracks
                for m in t
                if m.type == "note_on"
            ]
            for f in run["files"]
        ]

    assert notes(own) == notes(same) != notes(asked)


def test_the_cli_says_which_nucleus_it_composed_from(fitted, tmp_path):
    out, fit = fitted
    args = ["compose", "--checkpoint", out, "--n", "2", "--length", "40"]
    own = tunesmith(*args, "--out", tmp_path / "own")
    assert own.returncode == 0, own.stderr
    assert f"nucleus {fit['top_p']:g} (fitted to this Composer)" in own.stdout
    asked = tunesmith(*args, "--top-p", "0.55", "--out", tmp_path / "asked")
    assert asked.returncode == 0, asked.stderr
    assert "nucleus 0.55)" in asked.stdout


@pytest.mark.parametrize("top_p", [0, 1.5, "0.8", None])
def test_a_stored_nucleus_outside_0_1_is_a_clear_error(fitted, tmp_path, top_p):
    out, _ = fitted
    ckpt = tmp_path / "ckpt"
    shutil.copytree(out / "best", ckpt)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    (ckpt / "checkpoint.json").write_text(json.dumps({**meta, "top_p": top_p}))
    if top_p is None:  # as written before nuclei were fitted: sample from the one asked
        assert load_composer(ckpt).record.top_p is None
        return
    with pytest.raises(CheckpointError, match=rf"{ckpt}.*top_p"):
        load_composer(ckpt)


def test_performances_are_judged_by_excerpt_and_chorales_whole(bach_cache, maestro_cache):
    chorales = bach_cache.split("test")
    whole = judged_pieces(bach_cache, chorales)
    assert [i for i, _ in whole] == [p.id for p in chorales]
    assert all(np.array_equal(t, bach_cache.piece_tokens(p)) for (_, t), p in zip(whole, chorales))

    (performance,) = maestro_cache.split("test")
    codec = maestro_cache.codec
    played = codec.decode(maestro_cache.piece_tokens(performance))
    cut = judged_pieces(maestro_cache, [performance])
    assert len(cut) >= played.duration // EXCERPT_SECONDS - 1
    assert len({i for i, _ in cut}) == len(cut)  # one file name each
    # Excerpt k holds the notes struck in [30 k, 30 (k + 1)) s of the performance, from 0 s.
    start = played.start - played.start.min()
    for k, (_, tokens) in enumerate(cut):
        notes = codec.decode(tokens)
        mine = (start >= k * EXCERPT_SECONDS) & (start < (k + 1) * EXCERPT_SECONDS)
        assert sorted(notes.pitch.tolist()) == sorted(played.pitch[mine].tolist())
        assert notes.start.min() == 0.0
