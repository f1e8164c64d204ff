"""The CLI as a user runs it: real processes, real files, exit codes and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def tunesmith(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tunesmith.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture
def midi_dir(tmp_path, bach_midi_files) -> Path:
    d = tmp_path / "midis"
    d.mkdir()
    for p in bach_midi_files[:4]:
        shutil.copy(p, d / p.name)
    (d / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    return d


@pytest.mark.slow
def test_prepare_prints_the_table_and_the_skipped_file(midi_dir, tmp_path):
    out = tunesmith("prepare", "--midi-dir", str(midi_dir), "--cache-dir", str(tmp_path / "c"))
    assert out.returncode == 0, out.stderr
    for word in ("split", "pieces", "notes", "tokens", "train", "valid", "test", "total"):
        assert word in out.stdout
    assert "skipped 1 file(s)" in out.stdout
    assert "broken.mid" in out.stdout
    again = tunesmith("prepare", "--midi-dir", str(midi_dir), "--cache-dir", str(tmp_path / "c"))
    assert "reused cache" in again.stdout


@pytest.mark.slow
def test_prepare_json_and_settings_from_a_toml_file(midi_dir, tmp_path):
    cfg = tmp_path / "settings.toml"
    cfg.write_text('[codec]\ntime_step = 0.02\nencoding = "duration"\n\n[split]\nseed = 3\n')
    args = ["prepare", "--midi-dir", str(midi_dir), "--cache-dir", str(tmp_path / "c"), "--json"]
    out = tunesmith(*args, "--config", str(cfg), "--velocity-bin-width", "4")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    manifest = json.loads((Path(summary["cache"]) / "manifest.json").read_text())
    assert manifest["codec"] == {
        "encoding": "duration",
        "time_step": 0.02,
        "max_shift_steps": 100,
        "velocity_bin_width": 4,
        "max_duration": 8.0,
    }
    assert manifest["split"]["seed"] == 3
    assert summary["splits"][-1]["pieces"] == 4
    assert [s["file"] for s in summary["skipped"]] == [str(midi_dir / "broken.mid")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--midi-dir", "{tmp}/nowhere"], None, "not a directory"),
        (["--time-step", "-1"], None, "codec.time_step"),
        (["--config", "{tmp}/s.toml"], "[codec\n", "not valid TOML"),
        (["--config", "{tmp}/s.toml"], "[codec]\nstep = 1\n", "unknown key"),
        (["--config", "{tmp}/s.toml"], "[model]\nx = 1\n", "unknown table"),
        (["--config", "{tmp}/missing.toml"], None, "cannot read config"),
    ],
    ids=["no_dir", "bad_flag", "bad_toml", "unknown_key", "unknown_table", "missing_config"],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, config, message):
    if config is not None:
        (tmp_path / "s.toml").write_text(config)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = tunesmith("prepare", "--cache-dir", str(tmp_path / "c"), *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_folder_with_nothing_usable_exits_non_zero(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.mid").write_text("not midi")
    out = tunesmith("prepare", "--midi-dir", str(d), "--cache-dir", str(tmp_path / "c"))
    assert out.returncode == 2
    assert "none of 1 files is usable" in out.stderr
    assert str(d / "a.mid") in out.stderr


@pytest.mark.slow
def test_help_and_version():
    assert tunesmith("--version").stdout.startswith("tunesmith ")
    out = tunesmith("prepare", "--help")
    assert out.returncode == 0
    assert "--midi-dir" in out.stdout
