"""Settings and checkpoint records: presets are the defaults every command shows and uses,
flags come from config fields, and checkpoints written before the typed record still load."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tunesmith.checkpoint import Record, read_record, update_record
from tunesmith.cli import build_parser
from tunesmith.cli.common import flag_tables
from tunesmith.compose import load_composer
from tunesmith.config import (
    ADVERSARIAL,
    COMPOSE,
    COMPOSER,
    CRITIC,
    EVALUATE,
    TUNE,
    SampleConfig,
)
from tunesmith.errors import CheckpointError, ConfigError
from tunesmith.judging.scoring import load_critic

OLD = Path(__file__).parent / "data" / "checkpoints_v0.1"  # written by tunesmith before records

VERBS = {
    ("train", "composer"): COMPOSER,
    ("train", "critic"): CRITIC,
    ("tune",): TUNE,
    ("adversarial",): ADVERSARIAL,
    ("compose",): COMPOSE,
    ("evaluate",): EVALUATE,
}


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def flag_of(field: dataclasses.Field) -> str:
    return "--" + (field.metadata.get("flag") or field.name.replace("_", "-"))


@pytest.mark.parametrize("verb", list(VERBS), ids=" ".join)
def test_every_setting_of_a_verbs_preset_is_a_flag_with_its_default_in_the_help(verb, capsys):
    preset = VERBS[verb]
    with pytest.raises(SystemExit):
        parse(*verb, "--help")
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for config in preset.sections().values():
        for f in dataclasses.fields(config):
            assert flag_of(f) in text, f"{' '.join(verb)}: no {flag_of(f)}"
    # The defaults shown are the preset's, not the dataclass's.
    if preset.train is not None:
        assert f"({preset.train.lr:g})" in text
    if preset.sample is not None:
        assert f"pieces, all sampled together in one batch ({preset.sample.n})" in text


def test_flags_given_become_tables_and_win_over_the_preset_and_the_file():
    args = parse("train", "composer", "--lr", "0.01", "--window", "64", "--no-tie-weights")
    tables = flag_tables(args)
    assert tables == {
        "train": {"lr": 0.01},
        "windows": {"length": 64},
        "composer": {"tie_weights": False},
    }
    file = {"train": {"lr": 0.5, "epochs": 3}}
    settings = COMPOSER.with_tables(file, tables)
    assert settings.train.lr == 0.01  # the flag wins
    assert settings.train.epochs == 3  # the file's own setting stays
    assert settings.train.batch_size == COMPOSER.train.batch_size  # the preset elsewhere
    assert settings.windows.length == 64


def test_a_bad_value_in_any_table_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"train\.lr"):
        COMPOSER.with_tables({"train": {"lr": -1.0}})
    with pytest.raises(ConfigError, match="unknown key"):
        COMPOSER.with_tables({"windows": {"lenght": 64}})


def test_checkpoints_written_before_the_typed_record_still_load_and_work(tmp_path):
    composer = load_composer(OLD / "composer")
    assert composer.record.kind == "composer"
    assert composer.record.state.step == 7
    assert composer.record.data.cache == "/nonexistent/cache"
    pieces = composer.compose(SampleConfig(n=2, length=40, seed=0))
    assert all(len(p) for p in pieces)
    critic = load_critic(OLD / "critic")
    assert critic.temperature == 1.25
    scores = critic.piece_scores([np.array([60, 300, 188], dtype=np.int64)])
    assert 0.0 <= scores[0] <= 1.0


def test_a_record_round_trips_through_its_json_and_updates_in_place(tmp_path):
    ckpt = tmp_path / "critic"
    shutil.copytree(OLD / "critic", ckpt)
    before = read_record(ckpt)
    saved = json.loads((ckpt / "checkpoint.json").read_text())
    assert Record.from_json(before.to_json(), ckpt / "checkpoint.json") == before
    # The old writer's keys and values survive (velocity's true/false now reads on/off); the
    # settings added since read as their dataclass defaults.
    assert before.model.velocity == "off"
    new = before.to_json()
    assert set(saved) <= set(new)
    for key, old in saved.items():
        if not isinstance(old, dict) or key in ("data", "state"):
            assert new[key] == old, key
            continue
        config = getattr(before, key)
        for name, value in new[key].items():
            if name == "velocity":
                assert value == "off"
                assert old[name] is False
            elif name in old:
                assert value == old[name], (key, name)
            else:
                field = next(f for f in dataclasses.fields(config) if f.name == name)
                assert value == field.default, (key, name)
    after = update_record(ckpt, temperature=2.0)
    assert after.temperature == 2.0
    assert read_record(ckpt) == after
    assert dataclasses.replace(after, temperature=before.temperature) == before


def test_a_record_with_a_malformed_section_names_the_file_and_the_section(tmp_path):
    ckpt = tmp_path / "critic"
    shutil.copytree(OLD / "critic", ckpt)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    (ckpt / "checkpoint.json").write_text(json.dumps({**meta, "windows": {"length": "long"}}))
    with pytest.raises(CheckpointError, match="malformed windows settings") as e:
        read_record(ckpt)
    assert str(ckpt) in str(e.value)
