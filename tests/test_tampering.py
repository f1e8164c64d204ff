"""Tampered checkpoints and caches, and abusive options: each is answered by a one-line error
that names the file or the option (exit status 2 from the CLI), before anything large is
allocated or any output is written."""

from __future__ import annotations

import json
import math
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from helpers import all_tokens, env
from tunesmith.checkpoint import MODEL, Record, save_checkpoint
from tunesmith.compose import load_composer
from tunesmith.config import CodecConfig, ComposerConfig, CriticConfig, WindowConfig
from tunesmith.data.cache import MANIFEST, TokenCache
from tunesmith.data.codec import Codec
from tunesmith.data.prepare import prepare
from tunesmith.errors import CacheCorruptError, CheckpointError
from tunesmith.judging.scoring import load_critic
from tunesmith.models.composer import Composer
from tunesmith.models.critic import Critic

LOADERS = {"composer": load_composer, "critic": load_critic}
MEMORY_LIMIT = 6 << 30  # address space of a CLI child: a model of the allowed maximum is 34 GB


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A small Composer and Critic checkpoint, written by tunesmith itself (untrained weights:
    loading is what is tested)."""
    root = tmp_path_factory.mktemp("checkpoints")
    codec = Codec(CodecConfig())
    windows = WindowConfig(length=64, stride=32)
    torch.manual_seed(0)
    composer = ComposerConfig(embedding=16, hidden=32, layers=1, dropout=0.0)
    save_checkpoint(
        root / "composer",
        Composer(composer, codec.vocab_size),
        Record("composer", composer, codec.config, windows),
        None,
    )
    critic = CriticConfig(embedding=8, hidden=16, velocity="off", state=True, peak=True)
    save_checkpoint(
        root / "critic",
        Critic(critic, codec.vocab_size, codec.pad),
        Record("critic", critic, codec.config, windows, temperature=1.5),
        None,
    )
    return {"composer": root / "composer", "critic": root / "critic"}


def edit_json(ckpt: Path, change) -> None:
    meta_path = ckpt / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    change(meta)
    meta_path.write_text(json.dumps(meta))


def rewrite_weights(ckpt: Path, change) -> None:
    """Write model.safetensors again with ``change`` applied to its tensors (a dict)."""
    from safetensors.torch import load_file

    tensors = load_file(str(ckpt / MODEL))
    change(tensors)
    save_file(tensors, str(ckpt / MODEL))


def raw_header(ckpt: Path, header: bytes, claimed: int | None = None) -> None:
    body = (ckpt / MODEL).read_bytes()
    n = int.from_bytes(body[:8], "little")
    size = len(header) if claimed is None else claimed
    (ckpt / MODEL).write_bytes(struct.pack("<Q", size) + header + body[8 + n :])


def largest(meta):
    meta["model"].update(embedding=4096, hidden=4096, layers=8)


TAMPERED = {
    "largest model": (largest, r"tensor \S+ is F32 \(\d+, \d+\), the model needs F32"),
    "huge window": (
        lambda m: m["windows"].update(length=10**8),
        "windows.length must be an integer in",
    ),
    "huge temperature": (lambda m: m.update(temperature=10**400), "temperature"),
    "infinite temperature": (lambda m: m.update(temperature=math.inf), "temperature"),
    "time step edited": (
        lambda m: m["codec"].update(time_step=0.02),
        "codec settings differ from those the weights",
    ),
    "model edited, same shapes": (
        lambda m: m["model"].update(dropout=0.5),
        "model settings differ from those the weights",
    ),
    "kind edited": (lambda m: m.update(kind="other"), "a 'other' checkpoint"),
}

WEIGHTS = {
    "NaN weights": (
        lambda t: t[next(iter(t))].fill_(float("nan")),
        "holds NaN or infinite weights",
    ),
    "infinite weights": (lambda t: t[sorted(t)[-1]].fill_(float("inf")), "NaN or infinite"),
    "integer weights": (
        lambda t: t.update({k: v.to(torch.int64) for k, v in t.items()}),
        r"is I64 \(.*\), the model needs F32",
    ),
    "a tensor missing": (lambda t: t.pop(sorted(t)[0]), "is missing"),
    "an extra tensor": (
        lambda t: t.update(extra=torch.zeros(3)),
        r"tensor\(s\) the model does not have: \['extra'\]",
    ),
}


@pytest.mark.parametrize("kind", ["composer", "critic"])
@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_record_is_a_one_line_error_naming_the_file(checkpoints, tmp_path, kind, case):
    change, message = TAMPERED[case]
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints[kind], ckpt)
    edit_json(ckpt, change)
    with pytest.raises(CheckpointError, match=message) as e:
        LOADERS[kind](ckpt)
    assert str(ckpt) in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["composer", "critic"])
@pytest.mark.parametrize("case", list(WEIGHTS))
def test_tampered_weights_are_a_one_line_error_naming_the_tensor(checkpoints, tmp_path, kind, case):
    change, message = WEIGHTS[case]
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints[kind], ckpt)
    rewrite_weights(ckpt, change)
    with pytest.raises(CheckpointError, match=message) as e:
        LOADERS[kind](ckpt)
    assert str(ckpt / MODEL) in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("header", "claimed", "message"),
    [
        (b"{}", 2**62, "not a safetensors file"),
        (b"{not json", None, "not a safetensors file"),
        (b"[1, 2]", None, "not a safetensors file"),
        (
            b'{"embed.weight": {"dtype": "F32", "shape": [385, 16], '
            b'"data_offsets": [0, 1000000000]}}',
            None,
            "does not fit the file",
        ),
        (
            b'{"embed.weight": {"dtype": "F32", "shape": [-1, 16], "data_offsets": [0, 64]}}',
            None,
            "does not fit the file",
        ),
    ],
    ids=["huge header length", "garbage header", "not a mapping", "past the end", "negative"],
)
def test_a_forged_weights_header_is_refused_before_reading(
    checkpoints, tmp_path, header, claimed, message
):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints["composer"], ckpt)
    raw_header(ckpt, header, claimed)
    with pytest.raises(CheckpointError, match=message):
        load_composer(ckpt)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    """The CLI in a child whose address space is capped, so a 34 GB allocation fails loudly."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "tunesmith", *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        preexec_fn=cap,
    )


@pytest.mark.slow
def test_the_cli_answers_tampered_checkpoints_in_one_line(checkpoints, tmp_path, bach_midi_files):
    composer, critic = tmp_path / "composer", tmp_path / "critic"
    shutil.copytree(checkpoints["composer"], composer)
    shutil.copytree(checkpoints["critic"], critic)
    edit_json(composer, largest)
    rewrite_weights(critic, WEIGHTS["NaN weights"][0])
    cases = [
        (["compose", "--checkpoint", composer, "--out", tmp_path / "out"], "the model needs"),
        (["critique", bach_midi_files[0], "--critic", critic, "--json"], "NaN or infinite"),
    ]
    for args, message in cases:
        out = run_cli(*args)
        assert out.returncode == 2, out.stderr[-2000:]
        assert message in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_abusive_options_are_refused_in_one_line_before_work(checkpoints, tmp_path):
    composer = checkpoints["composer"]
    (tmp_path / "a_file").write_text("x")
    compose = ["compose", "--checkpoint", composer]
    cases = [
        ([*compose, "--seconds", "nan"], "sample.seconds"),
        ([*compose, "--temperature", "inf"], "sample.temperature"),
        ([*compose, "--seed", str(2**64)], "sample.seed must be an integer in [0, 4294967295]"),
        ([*compose, "--seed", "-1"], "sample.seed"),
        ([*compose, "--n", "100000", "--length", "1000000"], "tokens is more than"),
        ([*compose, "--primer-seconds", "-3"], "--primer-seconds must be in"),
        ([*compose, "--primer-seconds", "nan"], "--primer-seconds must be in"),
        ([*compose, "--n", "1e400"], "invalid int value"),
        ([*compose, "--out", tmp_path / "a_file"], "exists and is not a folder"),
        ([*compose, "--out", tmp_path / "a_file" / "sub"], "cannot write there"),
        (["demo", "--seed", "-1"], "must be an integer in [0, 4294967295]"),
        (["demo", "--out", tmp_path / "a_file"], "exists and is not a folder"),
        (["train", "composer", "--out", tmp_path / "a_file"], "exists and is not a folder"),
        (["train", "critic", "--out", tmp_path / "a_file" / "run"], "cannot write there"),
        (["prepare", "--cache-dir", tmp_path / "a_file"], "exists and is not a folder"),
        (["prepare", "--workers", "-2"], "must be an integer in [0, 1024]"),
        (["train", "composer", "--lr", "nan"], "train.lr"),
        (["train", "composer", "--batch-size", "0"], "train.batch_size"),
        (["train", "critic", "--window", str(10**8)], "windows.length"),
        (["train", "composer", "--max-minutes", "inf"], "train.max_minutes"),
        (["evaluate", "--best-of", "0"], "must be an integer in [1, 64]"),
    ]
    for args, message in cases:
        out_given = "--out" in args or args[0] == "prepare"
        out = run_cli(*args, *([] if out_given else ["--out", tmp_path / "out"]))
        assert out.returncode == 2, (args, out.stderr[-2000:])
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
        assert not (tmp_path / "out").exists(), args


# -- caches -----------------------------------------------------------------------------------


@pytest.fixture
def cache_dir(tmp_path, bach_midi_files) -> tuple[Path, Path]:
    midi = tmp_path / "midi"
    midi.mkdir()
    for p in bach_midi_files[:4]:
        shutil.copy(p, midi)
    return midi, tmp_path / "cache"


def _lengths_moved(path: Path) -> None:
    """Two pieces' lengths edited, the total kept: the token array still fits the manifest."""
    manifest = json.loads((path / MANIFEST).read_text())
    a, b = manifest["pieces"][:2]
    a["length"] += 5
    b["length"] -= 5
    b["offset"] += 5
    (path / MANIFEST).write_text(json.dumps(manifest))


def _offsets_swapped(path: Path) -> None:
    manifest = json.loads((path / MANIFEST).read_text())
    a, b = manifest["pieces"][:2]
    a["offset"], b["offset"] = b["offset"], a["offset"]
    (path / MANIFEST).write_text(json.dumps(manifest))


def _token_flipped(path: Path) -> None:
    file = TokenCache.load(path).token_files[0]
    with open(file, "r+b") as f:
        f.seek(file.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 1]))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_lengths_moved, "piece table was edited"),
        (_offsets_swapped, "piece table was edited|is not where it belongs"),
        (_token_flipped, "digest differs"),
    ],
    ids=["lengths moved", "offsets swapped", "a token flipped"],
)
def test_an_edited_cache_is_refused_then_rebuilt(cache_dir, damage, message):
    midi, root = cache_dir
    first = prepare(midi_dir=midi, cache_dir=root).cache
    tokens = all_tokens(first)
    damage(first.path)
    with pytest.raises(CacheCorruptError, match=message) as e:
        TokenCache.load(first.path)
    assert str(first.path) in str(e.value)
    again = prepare(midi_dir=midi, cache_dir=root)
    assert not again.reused
    assert np.array_equal(all_tokens(again.cache), tokens)
    assert [p.length for p in again.cache.pieces] == [p.length for p in first.pieces]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t.update({k: torch.zeros(3) for k in t if k.endswith("exp_avg")}), "fits no"),
        (lambda t: t[sorted(t)[-1]].fill_(float("nan")), "NaN or infinite"),
    ],
    ids=["wrong shapes", "NaN"],
)
def test_a_tampered_optimizer_is_refused_on_resume(bach_cache, tmp_path, damage, message):
    from safetensors.torch import load_file

    from tunesmith.checkpoint import OPTIMIZER
    from tunesmith.config import TrainConfig
    from tunesmith.runtime import Runtime
    from tunesmith.training.composer import ComposerTask
    from tunesmith.training.loop import train

    def task() -> ComposerTask:
        config = ComposerConfig(embedding=8, hidden=16, layers=1, dropout=0.0)
        return ComposerTask(bach_cache, config, WindowConfig(length=32, stride=32), seed=0)

    cpu = Runtime(0, 1, torch.device("cpu"))
    config = TrainConfig(batch_size=8, max_steps=3, warmup_steps=1, save_every=1, patience=0)
    train(task(), config, tmp_path / "run", cpu, echo=lambda s: None)
    file = tmp_path / "run" / "last" / OPTIMIZER
    tensors = load_file(str(file))
    damage(tensors)
    save_file(tensors, str(file))
    with pytest.raises(CheckpointError, match=message) as e:
        train(task(), config, tmp_path / "run", cpu, resume=True, echo=lambda s: None)
    assert str(file) in str(e.value)
