"""The Critic on real chorales: its model, the classification figures, training that learns,
calibration, and scoring any MIDI a user has (one note, long, corrupt, folders)."""

from __future__ import annotations

import json
import shutil

import mido
import numpy as np
import pytest
import torch

from helpers import tunesmith
from tunesmith.config import CriticConfig, NegativeConfig, TrainConfig, WindowConfig
from tunesmith.data.midi import read_midi, write_midi
from tunesmith.data.negatives import drone
from tunesmith.data.notes import Notes
from tunesmith.data.state import HELD_SECONDS, piece_state
from tunesmith.errors import CheckpointError, ConfigError
from tunesmith.judging.critic_report import calibrate, critic_report
from tunesmith.judging.scoring import PieceScore, load_critic
from tunesmith.metrics import (
    binary_metrics,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    sigmoid,
)
from tunesmith.models.critic import Critic
from tunesmith.runtime import Runtime, cpu_has_bf16
from tunesmith.training.critic import CriticTask, resolve_settings
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))
VOCAB, PAD = 385, 382


@pytest.fixture(scope="module")
def trained(bach_cache, tmp_path_factory):
    """A tiny Critic trained on real chorales against random notes, calibrated."""
    task = CriticTask(
        bach_cache,
        CriticConfig(embedding=16, hidden=32, dropout=0.0),
        WindowConfig(length=64, stride=32),
        NegativeConfig(kinds=("random",)),
        seed=0,
    )
    config = TrainConfig(batch_size=16, lr=5e-3, epochs=4, warmup_steps=5, patience=0)
    out = tmp_path_factory.mktemp("critic") / "run"
    result = train(task, config, out, CPU, echo=lambda s: None)
    critic = load_critic(out)
    calibrate(critic, bach_cache)
    return result


# -- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one way", "both ways"])
def test_a_padded_window_scores_as_itself(bidirectional):
    torch.manual_seed(0)
    config = CriticConfig(embedding=8, hidden=16, bidirectional=bidirectional, peak=True)
    model = Critic(config, VOCAB, PAD)
    model.eval()
    short = torch.randint(0, 300, (1, 20))
    padded = torch.full((1, 50), PAD)
    padded[0, :20] = short
    other = torch.randint(0, 300, (1, 50))  # a full-length neighbour in the same batch
    with torch.no_grad():
        alone = model(short, torch.tensor([20]))
        batched = model(torch.cat([padded, other]), torch.tensor([20, 50]))
        other_alone = model(other, torch.tensor([50]))
    torch.testing.assert_close(batched[0], alone[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched[1], other_alone[0], rtol=1e-5, atol=1e-6)


# -- classification figures --------------------------------------------------------------------


def test_auc_matches_counting_pairs():
    r = np.random.default_rng(0)
    labels = r.integers(0, 2, 300)
    scores = np.round(r.normal(labels * 0.8, 1.0), 1)  # rounding makes ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert roc_auc(labels, scores) == pytest.approx(pairs)
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert np.isnan(roc_auc([1, 1], [0.3, 0.4]))


def test_calibration_error_and_temperature_fit():
    r = np.random.default_rng(1)
    true_logits = r.normal(0, 3, 20_000)
    labels = r.random(20_000) < sigmoid(true_logits)
    # A judge twice as confident as it should be: temperature scaling finds T = 2.
    T = fit_temperature(labels, 2 * true_logits)
    assert pytest.approx(2.0, rel=0.05) == T
    over = expected_calibration_error(labels, sigmoid(2 * true_logits))
    fixed = expected_calibration_error(labels, sigmoid(2 * true_logits / T))
    assert fixed < 0.02 < over
    m = binary_metrics(labels, true_logits)
    assert m["accuracy"] == pytest.approx(np.mean(labels == (true_logits > 0)))
    assert 0 < m["f1"] <= 1


# -- training, calibration, the report ------------------------------------------------------------


def test_a_tiny_critic_learns_real_from_random_quickly(trained):
    history = trained.state.history
    assert history[-1]["valid_acc"] >= 0.95
    assert history[-1]["valid_auc"] >= 0.99
    assert history[-1]["valid_loss"] < history[0]["valid_loss"]


def test_calibration_is_saved_and_used(trained, bach_cache):
    meta = json.loads((trained.out / "best" / "checkpoint.json").read_text())
    critic = load_critic(trained.out)
    assert critic.temperature == meta["temperature"]
    assert 0.05 < critic.temperature < 20


def test_the_tuning_reward_costs_each_stuck_note(trained, bach_cache):
    from tunesmith.tuning.tune import count_stuck, critic_reward

    critic = load_critic(trained.out)
    codec = bach_cache.codec
    real = bach_cache.piece_tokens(bach_cache.split("test")[0])
    notes = codec.decode(real)
    assert count_stuck(notes) == 0
    # Two notes held for the decoder's full 5 s cap: the mark of a note-on never released.
    stuck = Notes.from_arrays(
        np.append(notes.start, [0.0, 0.5]),
        np.append(notes.end, [5.0, 5.5]),
        np.append(notes.pitch, [30, 31]),
        np.append(notes.velocity, notes.velocity[:2]),
    ).sorted()
    assert count_stuck(codec.decode(codec.encode(stuck))) == 2
    pieces = [real, codec.encode(stuck)]
    plain = critic_reward(critic, codec, 0.0)(pieces)
    penalised = critic_reward(critic, codec, 0.25)(pieces)
    assert ((plain >= 0) & (plain <= 1)).all()
    np.testing.assert_allclose(penalised, plain - [0.0, 0.5], atol=1e-6)


def test_the_report_is_consistent(trained, bach_cache):
    critic = load_critic(trained.out)
    report = critic_report(critic, bach_cache, "test", kinds=("random", "wrong_notes"))
    mix = report["mix"]
    (tn, fp), (fn, tp) = mix["confusion"]
    n = report["real_windows"]
    assert tn + fp == fn + tp == n
    assert mix["accuracy"] == pytest.approx((tn + tp) / (2 * n))
    assert report["kinds"]["random"]["accuracy"] >= 0.95
    # Trained on random notes only, it cannot tell wrong notes from real music (FINDINGS.md).
    assert report["kinds"]["wrong_notes"]["auc"] < 0.8
    assert report["real_called_real"] == pytest.approx(tp / n)


# -- scoring files ---------------------------------------------------------------------------------


def test_scoring_in_one_batch_equals_scoring_one_by_one(trained, bach_midi_files):
    critic = load_critic(trained.out)
    pieces = [critic.codec.encode(read_midi(p)) for p in bach_midi_files[:3]]
    together = critic.score_tokens(pieces)
    for piece, score in zip(pieces, together):
        (alone,) = critic.score_tokens([piece])
        np.testing.assert_allclose(score.scores, alone.scores, rtol=1e-5, atol=1e-6)
        assert score.windows == len(alone.scores) > 1


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16 (AVX512-BF16, AMX)")
def test_bf16_scoring_stays_within_its_stated_tolerance_of_fp32(trained, bach_midi_files):
    fp32 = load_critic(trained.out, precision="fp32")
    auto = load_critic(trained.out)
    assert auto.precision == "bf16"
    pieces = [fp32.codec.encode(read_midi(p)) for p in bach_midi_files[:4]]
    exact, fast = fp32.score_tokens(pieces), auto.score_tokens(pieces)
    for x, y in zip(exact, fast):
        # the stated tolerance: bf16 moved trained Critics' window scores by 0.005-0.018
        np.testing.assert_allclose(y.scores, x.scores, rtol=0, atol=0.02)
    assert any(not np.array_equal(x.scores, y.scores) for x, y in zip(exact, fast))


@pytest.fixture
def midi_zoo(tmp_path, bach_midi_files):
    """A one-note file, a long file (four chorales end to end), a corrupt file, in a folder."""
    zoo = tmp_path / "zoo"
    (zoo / "sub").mkdir(parents=True)
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    track += [mido.Message("note_on", note=60, velocity=90, time=0)]
    track += [mido.Message("note_off", note=60, velocity=0, time=480)]
    midi.tracks.append(track)
    midi.save(zoo / "one_note.mid")
    parts, t = [], 0.0
    for p in bach_midi_files[:4]:
        notes = read_midi(p)
        parts.append(notes.shifted(t))
        t += notes.duration + 1.0
    fields = ("start", "end", "pitch", "velocity")
    long = Notes(*(np.concatenate([getattr(n, f) for n in parts]) for f in fields))
    write_midi(long, zoo / "sub" / "long.mid")
    (zoo / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff")
    shutil.copy(bach_midi_files[0], zoo / "sub" / "chorale.MID")
    return zoo


@pytest.mark.slow
def test_critique_scores_short_long_and_foldered_files_and_skips_bad_ones(trained, midi_zoo):
    out = tunesmith("critique", midi_zoo, "--critic", trained.out, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in result["files"]}
    assert set(by_name) == {"one_note.mid", "long.mid", "chorale.MID"}
    assert by_name["one_note.mid"]["windows"] == 1
    assert by_name["long.mid"]["windows"] > 4 * by_name["one_note.mid"]["windows"]
    for r in by_name.values():
        assert 0.0 <= r["min"] <= r["score"] <= r["mean"] <= 1.0
    assert [s["file"].rsplit("/", 1)[-1] for s in result["skipped"]] == ["corrupt.mid"]
    assert "corrupt" in result["skipped"][0]["reason"]
    # The table says the same, and names the skipped file with its reason.
    table = tunesmith("critique", midi_zoo, "--critic", trained.out)
    assert "scored 3 file(s), skipped 1" in table.stdout
    assert "corrupt.mid" in table.stdout


@pytest.mark.slow
def test_critique_with_nothing_scorable_fails_in_one_line(trained, midi_zoo, tmp_path):
    for args in ([midi_zoo / "corrupt.mid"], [tmp_path / "nowhere.mid"], [tmp_path / "empty"]):
        (tmp_path / "empty").mkdir(exist_ok=True)
        out = tunesmith("critique", *args, "--critic", trained.out)
        assert out.returncode == 2
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        assert str(args[0]) in out.stderr


def test_a_composer_checkpoint_is_not_a_critic(trained, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained.out / "best", ckpt)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    (ckpt / "checkpoint.json").write_text(json.dumps({**meta, "kind": "composer"}))
    with pytest.raises(CheckpointError, match="expected 'critic'"):
        load_critic(ckpt)
    (ckpt / "checkpoint.json").write_text(json.dumps({**meta, "temperature": -1}))
    with pytest.raises(CheckpointError, match="temperature"):
        load_critic(ckpt)


@pytest.mark.slow
def test_the_cli_trains_a_critic_with_composer_negatives_and_reports(
    bach_cache, bach_midi_dir, tmp_path
):
    from tunesmith.config import ComposerConfig
    from tunesmith.training.composer import ComposerTask

    composer = ComposerTask(bach_cache, ComposerConfig(embedding=8, hidden=16, layers=1))
    config = TrainConfig(batch_size=16, epochs=1, patience=0)
    train(composer, config, tmp_path / "composer", CPU, echo=lambda s: None)
    tiny = ["--embedding", "8", "--hidden", "16", "--window", "64", "--stride", "32"]
    data = ["--midi-dir", bach_midi_dir, "--cache-dir", bach_cache.path.parent.parent]
    negatives = ["--negatives", "random,composer", "--composer", tmp_path / "composer"]
    settings = ["--epochs", "2", "--batch-size", "16", "--composer-pieces", "8"]
    out = tunesmith(
        "train", "critic", *data, *tiny, *negatives, *settings, "--out", tmp_path / "critic"
    )
    assert out.returncode == 0, out.stderr
    for word in ("random", "composer", "accuracy", "AUC", "ECE", "temperature"):
        assert word in out.stdout
    report = json.loads((tmp_path / "critic" / "test_report.json").read_text())
    assert set(report["kinds"]) == {"random", "composer"}
    meta = json.loads((tmp_path / "critic" / "best" / "checkpoint.json").read_text())
    assert meta["negatives"]["composer"] == str(tmp_path / "composer")
    assert "temperature" in meta
    again = tunesmith("test", "critic", "--critic", tmp_path / "critic", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["mix"]["accuracy"] == report["mix"]["accuracy"]


# -- hearing what is wrong: dynamics, what sounds, whole pieces ------------------------------------


def test_velocity_is_read_exactly_when_the_train_split_has_dynamics(bach_cache, maestro_cache):
    mix = NegativeConfig()
    assert {"flat_velocity", "scramble_velocity"} <= set(mix.kinds)
    chorales, kept, notes = resolve_settings(bach_cache, CriticConfig(), mix)
    assert chorales.velocity == "off"  # every chorale note has velocity 90: one bin
    assert not {"flat_velocity", "scramble_velocity"} & set(kept.kinds)
    assert "1 velocity bin" in notes[0]
    piano, kept, notes = resolve_settings(maestro_cache, CriticConfig(), mix)
    assert piano.velocity == "on"
    assert kept == mix
    # A choice given is kept; velocity kinds need dynamics to change and a Critic that hears them.
    forced, kept, notes = resolve_settings(bach_cache, CriticConfig(velocity="on"), mix)
    assert forced.velocity == "on"
    assert not {"flat_velocity", "scramble_velocity"} & set(kept.kinds)
    assert "no dynamics" in notes[-1]
    with pytest.raises(ConfigError, match="does not hear"):
        resolve_settings(
            maestro_cache, CriticConfig(velocity="off"), NegativeConfig(kinds=("flat_velocity",))
        )


def test_the_piece_state_says_what_sounds_and_which_pitch_classes_came_before(bach_cache):
    codec = bach_cache.codec
    # A note held 10 s, and three short ones struck while it sounds (the last an octave of C).
    notes = Notes.from_rows(
        [(60, 0.0, 10.0, 80), (64, 0.5, 1.0, 80), (67, 6.0, 6.5, 80), (72, 7.0, 7.5, 80)]
    )
    tokens = codec.encode(notes)
    state = piece_state(tokens, codec)
    sounding, share = np.expm1(state[:, :3]), state[:, 3]
    names = [codec.describe(t) for t in tokens]
    at = {n: names.index(f"note_on({n})") for n in (60, 64, 67, 72)}
    assert sounding[at[64]].tolist() == [2, 0, 0]
    assert sounding[at[67]].tolist() == [2, 1, 1]  # 60 has sounded 6 s: longer than 1 s and 4 s
    assert sounding[-1].tolist() == [0, 0, 0]  # the last token releases 60
    assert HELD_SECONDS == (1.0, 4.0)
    # The share of earlier notes with the struck note's pitch class: C, E, G, then C again.
    assert [share[at[n]] for n in (60, 64, 67, 72)] == [0.0, 0.0, 0.0, pytest.approx(1 / 3)]
    assert share[names.index("note_off(64)")] == 0.0
    # Only the past counts: a window cut from the piece sees what its whole piece says.
    real = bach_cache.piece_tokens(bach_cache.split("test")[0]).astype(np.int64)
    full = piece_state(real, codec)
    cut = piece_state(real[:300], codec)
    clock = np.cumsum((real >= codec.shift) & (real < codec.velocity))  # any shift moves time
    before_end = clock[:300] < clock[299]
    np.testing.assert_array_equal(cut[before_end], full[:300][before_end])


def test_a_drone_made_from_a_real_piece_sounds_far_more(bach_cache):
    codec = bach_cache.codec
    piece = codec.decode(bach_cache.piece_tokens(bach_cache.split("test")[0]))
    bad = drone(piece, np.random.default_rng(0), 0.15)
    real_state = np.expm1(piece_state(codec.encode(piece), codec)[:, :3])
    drone_state = np.expm1(piece_state(codec.encode(bad), codec)[:, :3])
    assert drone_state[:, 0].mean() > 3 * real_state[:, 0].mean()
    assert drone_state[:, 2].mean() > 10 * max(real_state[:, 2].mean(), 0.1)


def test_a_piece_scores_its_worst_quarter():
    scores = np.array([0.9, 0.1, 0.8, 0.95, 0.3, 0.85, 0.9, 0.92])
    piece = PieceScore(scores)
    assert piece.score == pytest.approx(np.mean([0.1, 0.3]))
    assert piece.min <= piece.score <= piece.mean
    assert PieceScore(np.array([0.7])).score == pytest.approx(0.7)


@pytest.fixture(scope="module")
def hearing(bach_cache, tmp_path_factory):
    """A tiny Critic that reads the sounding state, trained on the default mix of negatives."""
    task = CriticTask(
        bach_cache,
        CriticConfig(embedding=16, hidden=32, dropout=0.0, state=True, peak=True),
        WindowConfig(length=64, stride=32),
        NegativeConfig(),
        seed=0,
    )
    config = TrainConfig(batch_size=16, lr=5e-3, epochs=4, warmup_steps=5, patience=0)
    out = tmp_path_factory.mktemp("hearing") / "run"
    train(task, config, out, CPU, echo=lambda s: None)
    critic = load_critic(out)
    calibrate(critic, bach_cache)
    return critic


def test_a_critic_hears_a_drone_the_real_piece_does_not_have(hearing, bach_cache):
    record = hearing.record
    assert record.model.velocity == "off"  # resolved, and saved
    assert record.model.state
    assert record.negatives is not None
    assert "drone" in record.negatives.kinds
    assert "flat_velocity" not in record.negatives.kinds
    codec = bach_cache.codec
    pieces = [
        bach_cache.piece_tokens(p) for p in bach_cache.split("test") + bach_cache.split("valid")
    ]
    rng = np.random.default_rng(1)
    drones = [codec.encode(drone(codec.decode(t), rng, 0.15)) for t in pieces]
    real, bad = hearing.piece_scores(pieces), hearing.piece_scores(drones)
    # A tiny Critic after 4 epochs is unsure of real pieces, but sure of the drones.
    assert (bad < real / 4).all(), (real, bad)
