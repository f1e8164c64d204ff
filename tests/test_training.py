"""The shared training loop as users run it: real processes interrupted by real signals, resumed
to the same result, DDP across two real gloo processes, budgets, early stopping, and the logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import TINY_COMPOSER, env, popen, tunesmith
from tunesmith.config import COMPOSER, ComposerConfig, CriticConfig, TrainConfig, WindowConfig
from tunesmith.errors import CheckpointError, ConfigError
from tunesmith.runtime import Runtime, cpu_has_bf16, pick_precision
from tunesmith.training.composer import ComposerTask
from tunesmith.training.critic import CriticTask
from tunesmith.training.log import read_log
from tunesmith.training.loop import lr_at, train

CPU = Runtime(0, 1, torch.device("cpu"))


def train_args(data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "composer",
        "--midi-dir",
        str(data),
        "--cache-dir",
        str(cache),
        "--out",
        str(out),
        *TINY_COMPOSER,
        "--window",
        "64",
        "--stride",
        "32",
        "--transpose",
        "2",
        "--stretch",
        "0.05",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--warmup-steps",
        "5",
        "--patience",
        "0",
        *extra,
    ]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "last" / "model.safetensors"))


def steps_of(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_log(run) if r["event"] == "step"]


def evals_of(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["valid_nll"]) for r in read_log(run) if r["event"] == "eval"]


def wait_for_step(run: Path, proc: subprocess.Popen, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"training ended before step {step}: {proc.communicate()}"
        if (run / "log.jsonl").exists() and any(s >= step for s, _ in steps_of(run)):
            return
        time.sleep(0.01)
    raise AssertionError(f"no step {step} within {timeout} s")


@pytest.fixture(scope="module")
def uninterrupted(bach_midi_dir, tmp_path_factory):
    """The reference: one run of 12 epochs, never stopped."""
    root = tmp_path_factory.mktemp("ref")
    out = tunesmith(*train_args(bach_midi_dir, root / "cache", root / "run", "--epochs", "12"))
    assert out.returncode == 0, out.stderr
    return root


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_an_interrupted_run_resumes_to_the_same_result(uninterrupted, bach_midi_dir, tmp_path, how):
    args = train_args(bach_midi_dir, uninterrupted / "cache", tmp_path / "run", "--epochs", "12")
    args += ["--save-every", "7"]
    proc = popen(*args)
    wait_for_step(tmp_path / "run", proc, 40)
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert "continue with --resume" in stdout
    else:
        proc.kill()
        proc.communicate(timeout=60)
    stopped_at = json.loads((tmp_path / "run" / "last" / "checkpoint.json").read_text())["state"]
    assert 0 < stopped_at["step"] < 12 * 16
    resumed = tunesmith(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout

    ref, run = uninterrupted / "run", tmp_path / "run"
    a, b = weights(ref), weights(run)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # The logs read as one run: every step once, with the same losses, and the same evaluations.
    assert steps_of(run) == steps_of(ref)
    assert evals_of(run) == evals_of(ref)
    assert (run / "metrics.csv").read_text().splitlines()[1:] != []
    ref_rows = [r.split(",")[:2] for r in (ref / "metrics.csv").read_text().splitlines()]
    run_rows = [r.split(",")[:2] for r in (run / "metrics.csv").read_text().splitlines()]
    assert run_rows == ref_rows


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_same_global_batch(
    uninterrupted, bach_midi_dir, tmp_path
):
    one = tmp_path / "one"
    # fp32 on every CPU: under bf16 autocast half a batch rounds differently from a whole one
    # (8-bit mantissas), and the runs drift apart by more than the summation order explains.
    extra = ("--epochs", "3", "--precision", "fp32")
    args = train_args(bach_midi_dir, uninterrupted / "cache", one, *extra)
    single = tunesmith(*args)
    assert single.returncode == 0, single.stderr
    two = tmp_path / "two"
    args[args.index(str(one))] = str(two)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    ddp = subprocess.run(
        [*cmd, "-m", "tunesmith", *args], capture_output=True, text=True, env=env(), timeout=300
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "x 2 processes" in ddp.stdout
    assert ddp.stdout.count("*best*") == single.stdout.count("*best*")  # rank 0 alone prints
    run_json = json.loads((two / "run.json").read_text())
    assert run_json["world"] == 2
    a, b = weights(one), weights(two)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=2e-5)
    for (s1, nll1), (s2, nll2) in zip(evals_of(one), evals_of(two), strict=True):
        assert s1 == s2
        assert nll2 == pytest.approx(nll1, abs=1e-4)


# -- in-process: the loop's own rules -----------------------------------------------------------


def tiny_task(cache) -> ComposerTask:
    model = ComposerConfig(embedding=16, hidden=32, layers=1, dropout=0.0)
    return ComposerTask(cache, model, WindowConfig(length=64, stride=32), seed=0)


def test_early_stopping_after_patience_evaluations_without_improvement(bach_cache, tmp_path):
    # A learning rate too small to move anything: validation never improves after the first.
    config = TrainConfig(
        batch_size=8, lr=1e-12, warmup_steps=0, epochs=50, eval_every=2, patience=3
    )
    result = train(tiny_task(bach_cache), config, tmp_path / "run", CPU, echo=lambda s: None)
    assert result.stop == "early stop"
    assert [r["step"] for r in result.state.history] == [2, 4, 6, 8]
    assert [r["best"] for r in result.state.history] == [True, False, False, False]
    assert result.state.best_step == 2


def test_a_time_budget_stops_the_run_and_still_validates_and_saves(bach_cache, tmp_path):
    config = TrainConfig(batch_size=8, epochs=1000, max_minutes=0.02, patience=0)
    result = train(tiny_task(bach_cache), config, tmp_path / "run", CPU, echo=lambda s: None)
    assert result.stop == "time budget"
    assert 1.2 <= result.state.elapsed < 10
    assert result.state.history[-1]["step"] == result.state.step
    saved = json.loads((tmp_path / "run" / "last" / "checkpoint.json").read_text())
    assert saved["state"]["step"] == result.state.step
    assert (tmp_path / "run" / "best" / "model.safetensors").exists()


def test_a_step_budget_ends_the_same_run_however_slow_the_steps(bach_cache, tmp_path):
    # A generous clock cap that does not bind: the run is the steps, and so is its schedule.
    config = TrainConfig(batch_size=8, epochs=1000, max_steps=9, max_minutes=5.0, patience=0)
    runs = []
    for name in ("a", "b"):
        result = train(tiny_task(bach_cache), config, tmp_path / name, CPU, echo=lambda s: None)
        assert result.stop == "step budget"
        assert result.state.step == 9
        assert result.state.history[-1]["step"] == 9  # validated at the end
        runs.append([r for r in read_log(tmp_path / name) if r["event"] == "step"])
    a, b = runs
    assert [r["lr"] for r in a] == [r["lr"] for r in b]
    assert a[-1]["lr"] == pytest.approx(lr_at(config, 8, 8 / 9, 1.0))
    assert weights(tmp_path / "a").keys() == weights(tmp_path / "b").keys()
    for name, w in weights(tmp_path / "a").items():
        assert torch.equal(w, weights(tmp_path / "b")[name]), name


def test_batches_made_ahead_in_a_thread_train_exactly_as_batches_made_in_line(bach_cache, tmp_path):
    # The Critic's batches (negatives and piece state made from whole pieces) are the ones worth
    # making ahead; validating mid-epoch and crossing epochs meet a batch still being made.
    def task() -> CriticTask:
        return CriticTask(
            bach_cache,
            CriticConfig(embedding=16, hidden=32, dropout=0.0, state=True),
            WindowConfig(length=64, stride=32),
            seed=0,
        )

    config = TrainConfig(batch_size=16, epochs=2, eval_every=5, patience=0)
    runs = {
        ahead: train(task(), config, tmp_path / str(ahead), CPU, echo=lambda s: None, ahead=ahead)
        for ahead in (False, True)
    }
    assert runs[True].state.step == runs[False].state.step > 10
    assert [h["valid_loss"] for h in runs[True].state.history] == [
        h["valid_loss"] for h in runs[False].state.history
    ]
    for name, w in weights(tmp_path / "False").items():
        assert torch.equal(w, weights(tmp_path / "True")[name]), name


def test_precision_is_bf16_only_where_the_cpu_computes_it_natively(bach_cache, tmp_path):
    cpu = torch.device("cpu")
    flags = (
        set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    )
    native = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert pick_precision("fp32", cpu) == "fp32"
    assert pick_precision("auto", cpu) == ("bf16" if native else "fp32")
    if not native:
        with pytest.raises(ConfigError, match="bf16"):
            pick_precision("bf16", cpu)
    config = TrainConfig(batch_size=8, epochs=1, patience=0)
    train(tiny_task(bach_cache), config, tmp_path / "run", CPU, echo=lambda s: None)
    settings = json.loads((tmp_path / "run" / "run.json").read_text())
    assert settings["precision"] == ("bf16" if native else "fp32")
    assert settings["train"]["precision"] == "auto"


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16 (AVX512-BF16, AMX)")
def test_bf16_training_follows_fp32_on_a_cpu_that_has_it(bach_cache, tmp_path):
    losses = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(batch_size=8, epochs=2, patience=0, precision=precision)
        result = train(tiny_task(bach_cache), config, tmp_path / precision, CPU, echo=print)
        losses[precision] = [h["valid_nll"] for h in result.state.history]
    assert losses["bf16"][-1] < losses["bf16"][0]  # it learns
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)


def test_the_schedule_warms_up_then_decays_to_its_floor():
    config = TrainConfig(lr=1e-2, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(config, 0, 0.0, 1.0) == pytest.approx(1e-3)
    assert lr_at(config, 9, 0.0, 1.0) == pytest.approx(1e-2)
    assert lr_at(config, 10, 0.5, 1.0) == pytest.approx(0.55e-2)
    assert lr_at(config, 500, 1.0, 1.0) == pytest.approx(1e-3)
    plateau = TrainConfig(lr=1e-2, warmup_steps=0, schedule="plateau")
    assert lr_at(plateau, 100, 0.9, 0.25) == pytest.approx(0.25e-2)


def test_a_new_run_never_overwrites_an_old_one(bach_cache, tmp_path):
    config = TrainConfig(batch_size=8, epochs=1, patience=0)
    train(tiny_task(bach_cache), config, tmp_path / "run", CPU, echo=lambda s: None)
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(tiny_task(bach_cache), config, tmp_path / "run", CPU, echo=lambda s: None)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_task(bach_cache), config, tmp_path / "new", CPU, resume=True)


def test_a_batch_larger_than_the_data_is_a_config_error(bach_cache, tmp_path):
    with pytest.raises(ConfigError, match="exceeds the"):
        train(tiny_task(bach_cache), TrainConfig(batch_size=10**6), tmp_path / "run", CPU)


# -- the CLI -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--lr", "0.02"], "training settings differ from the saved run: ['lr']"),
        (["--hidden", "48"], "was trained with model"),
        (["--window", "32"], "was trained with windows"),
    ],
)
def test_resuming_with_other_settings_is_refused_in_one_line(
    uninterrupted, bach_midi_dir, tmp_path, change, message
):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(uninterrupted / "run", run)
    args = train_args(bach_midi_dir, uninterrupted / "cache", run, "--epochs", "12")
    out = tunesmith(*args, *change, "--resume")
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    # A longer budget, though, is a change a resumed run may make.
    out = tunesmith(*args, "--max-minutes", "5", "--epochs", "12", "--resume")
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_resume_finds_its_data_and_settings_from_the_run_alone(uninterrupted, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(uninterrupted / "run", run)
    out = tunesmith("train", "composer", "--out", run, "--resume")
    assert out.returncode == 0, out.stderr
    assert "resumed" in out.stdout
    assert "stopped: epochs" in out.stdout  # all 12 epochs were already done


@pytest.mark.slow
def test_the_cli_trains_logs_and_composes_real_midi(uninterrupted, tmp_path):
    import mido

    run = uninterrupted / "run"
    for name in ("best/model.safetensors", "last/optimizer.safetensors", "log.jsonl", "run.json"):
        assert (run / name).exists(), name
    # run.json names the code that made the run: the commit of a git checkout, else None.
    import tunesmith.config as package

    git = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=Path(package.__file__).parent, capture_output=True
    )
    commit = git.stdout.decode().strip() if git.returncode == 0 else None
    settings = json.loads((run / "run.json").read_text())
    assert settings["commit"] == commit
    assert settings["kind"] == "composer"
    # The flags given win; what they did not set comes from the Composer's preset.
    assert (settings["train"]["epochs"], settings["train"]["lr"]) == (12, 0.01)
    for name in ("weight_decay", "min_lr_ratio", "grad_clip", "schedule", "save_every"):
        assert settings["train"][name] == getattr(COMPOSER.train, name), name
    assert settings["model"]["dropout"] == 0  # --dropout 0, where the preset has 0.2
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["epoch", "step", "elapsed", "train_loss"]
    assert {"valid_nll", "valid_ppl"} <= set(header)
    assert len(evals_of(run)) == 12

    out = tunesmith(
        "compose",
        "--checkpoint",
        run,
        "--n",
        "6",
        "--length",
        "120",
        "--out",
        tmp_path / "p",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert len(files) == 6
    for f in files:
        midi = mido.MidiFile(f["file"])
        ons = [m for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
        assert len(ons) == f["notes"] >= 1


@pytest.mark.slow
def test_compose_continues_a_primer_and_reports_bad_inputs_in_one_line(
    uninterrupted, bach_midi_files, tmp_path
):
    run = uninterrupted / "run"
    args = ["--checkpoint", run, "--n", "2", "--seconds", "20", "--out", tmp_path / "a", "--json"]
    primed = tunesmith("compose", *args, "--primer", bach_midi_files[0], "--primer-seconds", "4")
    assert primed.returncode == 0, primed.stderr
    for f in json.loads(primed.stdout)["files"]:
        assert 20 <= f["seconds"] <= 4 + 20 + 1  # primer, 20 s, the last shift's overshoot
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    cases = [
        (["--checkpoint", tmp_path / "nowhere"], "no such checkpoint"),
        (["--checkpoint", run, "--primer", bad], str(bad)),
        (["--checkpoint", run, "--temperature", "-1"], "sample.temperature"),
    ]
    for args, message in cases:
        out = tunesmith("compose", *args, "--out", tmp_path / "b")
        assert out.returncode == 2, out.stderr
        assert message in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
