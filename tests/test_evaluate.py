"""The end-to-end story: `tunesmith demo --quick` on real chorales, then `evaluate` on its models
(best-of-K, codec checks), with every figure of report.json checked against the files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from helpers import env, tunesmith
from tunesmith.judging.stats import STATISTICS
from tunesmith.runtime import pick_precision

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
    for stage in (*(f"[{i}/6]" for i in range(7)), "Wall time per stage"):
        assert stage in stdout
    assert str(out / "evaluation" / "report.html") in stdout.replace("\n", "")
    for path in (
        "critic/best/model.safetensors",
        "critic/test_report.json",
        "composer/best/model.safetensors",
        "critic-composer/best/model.safetensors",
        "critic-composer/test_report.json",
        "judge/best/model.safetensors",
        "judge/test_report.json",
        "tuned/best/model.safetensors",
        "evaluation/report.json",
        "evaluation/report.html",
        "demo.json",
    ):
        assert (out / path).exists(), path
    for critic in ("critic-composer", "judge"):
        extended = json.loads((out / critic / "best" / "checkpoint.json").read_text())
        assert "composer" in extended["negatives"]["kinds"]
        assert extended["init"] == str(out / "critic" / "best")
    seeds = [json.loads((out / c / "run.json").read_text()) for c in ("critic-composer", "judge")]
    assert seeds[0]["train"]["seed"] != seeds[1]["train"]["seed"]
    tuned = json.loads((out / "tuned" / "best" / "checkpoint.json").read_text())
    assert tuned["reward"]["critic"] == str(out / "critic-composer" / "best")
    assert tuned["base"] == str(out / "composer" / "best")
    summary = json.loads((out / "demo.json").read_text())
    stages = {"critic", "composer", "critic_composer", "judge", "tuned", "evaluation"}
    assert set(summary["seconds"]) == stages
    # Base and tuned side by side under the judge, which neither was tuned against.
    report = json.loads((out / "evaluation" / "report.json").read_text())
    assert report["critic"]["path"] == str(out / "judge" / "best")
    assert [c["label"] for c in report["composers"]] == ["base", "tuned"]
    assert report["composers"][1]["tuned_against"] == str(out / "critic-composer" / "best")
    assert not any("not held out" in f for c in report["composers"] for f in c["flags"])
    assert set(report["copying"]) == {"composed", "real"}
    # Both composed from the nucleus fitted to the base, which each checkpoint holds.
    assert report["settings"]["own_nucleus"]
    fitted = json.loads((out / "composer" / "nucleus.json").read_text())["top_p"]
    assert f"nucleus {fitted:g}: statistics overlap" in stdout
    for entry, run in zip(report["composers"], ("composer", "tuned")):
        record = json.loads((out / run / "best" / "checkpoint.json").read_text())
        assert entry["top_p"] == record["top_p"] == fitted == summary[run]["top_p"]


def test_the_report_agrees_with_its_files(demo):
    out, _ = demo
    report = json.loads((out / "evaluation" / "report.json").read_text())
    assert report["settings"]["n"] == 8
    # what "auto" became here is on record: sampling and scoring figures compare within a kind
    chosen = pick_precision("auto", torch.device("cpu"))
    assert report["settings"]["precision"] == "auto"
    assert report["settings"]["sampling_precision"] == report["critic"]["precision"] == chosen
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
    copying = report["copying"]
    assert copying["composed"] == report["composers"][0]["copying"]
    for name in ("composed", "real"):
        pieces = copying[name]["pieces"]
        assert len(pieces) == len(report["sets"][name]["files"])
        shares = [p["share"] for p in pieces if p["share"] is not None]
        assert all(0.0 <= v <= 1.0 for v in shares)
        assert copying[name]["share"] == pytest.approx(np.mean(shares))
        assert copying[name]["longest_max"] == max(p["longest"] for p in pieces)
    page = (out / "evaluation" / "report.html").read_text()
    assert "Copied from the training pieces?" in page


def test_degenerate_pieces_are_never_taken_for_real(demo, tmp_path):
    """One held note, a held chord, one note repeated for minutes, a long silence between two
    notes, and a file that is all silence: what a broken Composer writes and no real piece is."""
    from tunesmith.data.midi import write_midi
    from tunesmith.data.notes import Notes

    pieces = {
        "held_note": [(60, 0.0, 600.0, 80)],
        "held_chord": [(p, 0.0, 300.0, 80) for p in (48, 52, 55, 60, 64, 67)],
        "repeated_note": [(60, 0.25 * i, 0.25 * i + 0.2, 80) for i in range(2000)],
        "long_silence": [(60, 0.0, 0.5, 80), (64, 600.0, 600.5, 80)],
    }
    for name, rows in pieces.items():
        write_midi(Notes.from_rows(rows), tmp_path / f"{name}.mid")
    silent = mido.MidiFile()
    silent.tracks.append(mido.MidiTrack([mido.MetaMessage("end_of_track", time=480 * 600)]))
    silent.save(tmp_path / "silence.mid")
    out, _ = demo
    for critic in ("critic", "critic-composer"):
        result = tunesmith("critique", tmp_path, "--critic", out / critic, "--json")
        assert result.returncode == 0, result.stderr
        scores = {Path(f["file"]).stem: f["score"] for f in json.loads(result.stdout)["files"]}
        assert set(scores) == set(pieces)
        assert all(score < 0.5 for score in scores.values()), (critic, scores)
        skipped = json.loads(result.stdout)["skipped"]
        assert [(Path(s["file"]).stem, s["reason"]) for s in skipped] == [("silence", "no notes")]


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


def one_small_round(demo_out: Path, out: Path) -> list:
    models = ["--composer", demo_out / "composer", "--critic", demo_out / "critic"]
    budgets = ["--rounds", "1", "--critic-steps", "20", "--tune-steps", "3"]
    small = ["--composer-pieces", "8", "--length", "48", "--pieces-per-epoch", "16"]
    return ["adversarial", *models, *budgets, *small, "--valid-pieces", "4", "--out", out]


def test_an_adversarial_round_runs_end_to_end_and_is_skipped_when_done(demo, tmp_path):
    out, _ = demo
    args = one_small_round(out, tmp_path / "adv")
    first = tunesmith(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    rounds = json.loads((tmp_path / "adv" / "adversarial.json").read_text())["rounds"]
    assert len(rounds) == 1
    r = rounds[0]
    assert 0.0 <= r["critic_accuracy_on_composed"] <= 1.0
    assert r["composer_valid_nll"] > 0
    critic_meta = json.loads(
        (tmp_path / "adv" / "round_1" / "critic" / "best" / "checkpoint.json").read_text()
    )
    assert "composer" in critic_meta["negatives"]["kinds"]
    assert critic_meta["negatives"]["composer"] == str(out / "composer" / "best")
    tuned_meta = json.loads(
        (tmp_path / "adv" / "round_1" / "composer" / "best" / "checkpoint.json").read_text()
    )
    assert tuned_meta["reward"]["critic"] == r["critic"]
    assert tuned_meta["reference"] == str(out / "composer" / "best")
    base = json.loads((out / "composer" / "best" / "checkpoint.json").read_text())
    assert tuned_meta["top_p"] == base["top_p"]  # it composes from the original's nucleus
    again = tunesmith(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "done before, skipped" in again.stdout

    # Base and the round's Composer side by side, judged by a Critic neither was tuned against.
    both = [f"base={out / 'composer'}", f"round1={tmp_path / 'adv' / 'round_1' / 'composer'}"]
    judge = ["--critic", out / "critic-composer"]
    result = tunesmith(
        "evaluate", "--composer", *both, *judge, "--n", "4", "--out", tmp_path / "e", "--json"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    composers = json.loads(result.stdout)["composers"]
    assert [c["label"] for c in composers] == ["base", "round1"]
    assert composers[1]["top_p"] == composers[0]["top_p"]
    for c in composers:
        assert 0 <= c["mean"] <= 1
        assert 0 < c["distinct_4grams"] <= 1
        assert c["valid_nll"] > 0
    assert composers[1]["own_critic"]["path"] == r["critic"]
    assert "Composers compared" in (tmp_path / "e" / "report.html").read_text()
    assert (tmp_path / "e" / "composed_round1").is_dir()


def test_an_adversarial_round_runs_under_torchrun_with_rank_0_alone_writing(demo, tmp_path):
    out, _ = demo
    args = one_small_round(out, tmp_path / "adv")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    ddp = subprocess.run(
        [*cmd, "-m", "tunesmith", *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("round 1: Critic tells real") == 1  # rank 0 alone speaks
    assert ddp.stdout.count("1 rounds in") == 1
    round_dir = tmp_path / "adv" / "round_1"
    for run in ("critic", "composer"):
        assert json.loads((round_dir / run / "run.json").read_text())["world"] == 2
    record = json.loads((round_dir / "round.json").read_text())
    assert record["critic"] == str(round_dir / "critic" / "best")
    assert json.loads((tmp_path / "adv" / "adversarial.json").read_text())["rounds"] == [record]
    leftovers = [p.name for p in (tmp_path / "adv").rglob("*.tmp")]
    assert leftovers == []


def test_flags_name_what_collapsed():
    from tunesmith.judging.composers import flag

    class Judge:
        path = Path("/runs/judge/best")

    base = {"valid_nll": 1.0, "distinct_4grams": 0.5, "pitch_class_distance": 0.3, "mean": 0.4}
    real_copying = {"share": 0.05, "longest_max": 12}
    base |= {"tuned_against": None, "flags": [], "copying": real_copying}
    fine = {**base, "valid_nll": 1.04, "distinct_4grams": 0.45, "flags": []}
    worse = {**base, "valid_nll": 1.2, "distinct_4grams": 0.2, "pitch_class_distance": 0.1}
    worse["flags"] = []
    own = {**base, "tuned_against": "/runs/judge/best", "flags": []}
    copier = {**base, "copying": {"share": 0.4, "longest_max": 90}, "flags": []}
    flag([base, fine, worse, own, copier], [None] * 5, Judge(), real_copying)
    assert base["flags"] == []
    assert fine["flags"] == []
    assert "validation NLL 20% above" in worse["flags"][0]
    assert sum("diversity collapsed" in f for f in worse["flags"]) == 2
    assert "not held out" in own["flags"][0]
    (copied,) = copier["flags"]
    assert copied.startswith("copying: 40% of its")
    assert "(real test pieces: 5%)" in copied
    assert "longest copied run 90 notes (real: 12)" in copied


def test_tune_from_the_cli_writes_a_composer_that_composes(demo, tmp_path):
    out, _ = demo
    small = ["--length", "32", "--pieces-per-epoch", "16", "--valid-pieces", "4"]
    args = ["--composer", out / "composer", "--critic", out / "critic-composer", *small]
    result = tunesmith("tune", *args, "--max-steps", "4", "--out", tmp_path / "tuned")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "KL <= 20 nats a piece" in result.stdout
    assert "valid_reward" in result.stdout
    records = [json.loads(line) for line in (tmp_path / "tuned" / "log.jsonl").open()]
    steps = [r for r in records if r["event"] == "step"]
    assert steps
    assert all({"reward", "kl"} <= set(r) for r in steps)
    tuned = json.loads((tmp_path / "tuned" / "best" / "checkpoint.json").read_text())
    base = json.loads((out / "composer" / "best" / "checkpoint.json").read_text())
    assert tuned["top_p"] == base["top_p"] is not None
    sample = ["--n", "2", "--length", "40", "--out", tmp_path / "c"]
    composed = tunesmith("compose", "--checkpoint", tmp_path / "tuned", *sample)
    assert composed.returncode == 0, composed.stderr
    assert len(list((tmp_path / "c").glob("*.mid"))) == 2
