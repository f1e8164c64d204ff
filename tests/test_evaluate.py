"""The end-to-end story: `tunesmith demo --quick` on real chorales, then `evaluate` on its models
(best-of-K, codec checks), with every figure of report.json checked against the files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mido
import numpy as np
import pytest

from helpers import tunesmith
from tunesmith.evaluation.stats import STATISTICS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(bach_midi_dir, tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("demo")
    data = ["--midi-dir", bach_midi_dir, "--cache-dir", root / "cache"]
    out = tunesmith("demo", "--quick", *data, "--out", root / "demo", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return root / "demo", out.stdout


def test_the_demo_runs_every_stage_and_says_where_the_report_is(demo):
    out, stdout = demo
    for stage in ("[0/4]", "[1/4]", "[2/4]", "[3/4]", "[4/4]", "Wall time per stage"):
        assert stage in stdout
    assert str(out / "evaluation" / "report.html") in stdout.replace("\n", "")
    for path in (
        "critic/best/model.safetensors",
        "critic/test_report.json",
        "composer/best/model.safetensors",
        "critic-composer/best/model.safetensors",
        "critic-composer/test_report.json",
        "evaluation/report.json",
        "evaluation/report.html",
        "demo.json",
    ):
        assert (out / path).exists(), path
    extended = json.loads((out / "critic-composer" / "best" / "checkpoint.json").read_text())
    assert "composer" in extended["negatives"]["kinds"]
    assert extended["init"] == str(out / "critic" / "best")
    summary = json.loads((out / "demo.json").read_text())
    assert set(summary["seconds"]) == {"critic", "composer", "critic_composer", "evaluation"}


def test_the_report_agrees_with_its_files(demo):
    out, _ = demo
    report = json.loads((out / "evaluation" / "report.json").read_text())
    assert report["settings"]["n"] == 8
    for name in ("composed", "real", "random"):
        s = report["sets"][name]
        scores = np.array(s["scores"])
        assert len(s["files"]) == len(scores) >= 1
        assert ((scores >= 0) & (scores <= 1)).all()
        assert s["mean"] == pytest.approx(scores.mean(), abs=1e-4)
        assert s["called_real"] == pytest.approx(np.mean(scores > 0.5))
        for f in s["files"]:
            midi = mido.MidiFile(out / "evaluation" / f)  # an independent parser reads each
            assert any(m.type == "note_on" and m.velocity > 0 for t in midi.tracks for m in t)
        per_set = report["statistics"]["per_set"][name]
        assert set(per_set) == set(STATISTICS)
        assert all(len(v) == len(scores) for v in per_set.values())
    assert len(report["sets"]["composed"]["files"]) == 8
    comparison = report["statistics"]["comparison"]["composed"]
    assert set(comparison) == set(STATISTICS)
    shown = {s["role"]: s for s in report["shown"]}
    composed = report["sets"]["composed"]
    assert shown["best"]["score"] == max(composed["scores"])
    assert shown["worst"]["score"] == min(composed["scores"])
    judged = report["also_judged"]["critic without Composer negatives"]
    assert set(judged) >= {"composed", "real", "random"}


def test_best_of_k_keeps_the_candidates_the_critic_likes_best(demo, tmp_path):
    out, _ = demo
    args = ["--composer", out / "composer", "--critic", out / "critic-composer", "--n", "6"]
    result = tunesmith("evaluate", *args, "--best-of", "3", "--out", tmp_path / "e", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    best = report["best_of"]
    assert best["k"] == 3
    assert best["mean_after"] >= best["mean_before"]
    assert report["sets"]["composed"]["mean"] == pytest.approx(best["mean_after"], abs=1e-4)
    table = tunesmith("evaluate", *args, "--out", tmp_path / "f")
    assert table.returncode == 0, table.stderr
    assert "taken for real" in table.stdout
    assert "farthest from real" in table.stdout


def test_a_composer_of_another_vocabulary_cannot_be_judged(demo, tmp_path):
    out, _ = demo
    composer = tmp_path / "composer"
    shutil.copytree(out / "composer" / "best", composer)
    meta = json.loads((composer / "checkpoint.json").read_text())
    meta["codec"]["time_step"] = 0.02  # same vocabulary size, other meaning
    (composer / "checkpoint.json").write_text(json.dumps(meta))
    result = tunesmith(
        "evaluate", "--composer", composer, "--critic", out / "critic", "--out", tmp_path / "e"
    )
    assert result.returncode == 2
    assert "trained with" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e" / "report.json").exists()


def test_the_demo_refuses_to_overwrite_without_being_asked(demo, bach_midi_dir):
    out, _ = demo
    result = tunesmith("demo", "--quick", "--midi-dir", bach_midi_dir, "--out", out)
    assert result.returncode == 2
    assert "--overwrite" in result.stderr
