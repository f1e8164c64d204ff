"""A Composer's likelihood of any piece (``tunesmith score``) and pieces that open with a chosen
note (``compose --start-note``), on real chorales read back by an independent parser."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest
import torch

from helpers import tunesmith
from tunesmith.compose import load_composer, opening
from tunesmith.config import ComposerConfig, TrainConfig, WindowConfig
from tunesmith.data.midi import read_midi, write_midi
from tunesmith.data.notes import Notes, pitch_number
from tunesmith.errors import ConfigError
from tunesmith.judging.likelihood import surprising_passages, token_times
from tunesmith.models.composer import sequence_nll
from tunesmith.runtime import Runtime, pick_precision
from tunesmith.training.composer import ComposerTask
from tunesmith.training.loop import train


@pytest.fixture(scope="module")
def composer(bach_cache, tmp_path_factory):
    """A small Composer trained on six real chorales (a real run directory)."""
    config = ComposerConfig(embedding=32, hidden=64, layers=1, dropout=0.0)
    task = ComposerTask(bach_cache, config, WindowConfig(length=128, stride=64), seed=1)
    out = tmp_path_factory.mktemp("likelihood") / "composer"
    runtime = Runtime(0, 1, torch.device("cpu"))
    train(task, TrainConfig(batch_size=8, lr=1e-2, epochs=25, patience=0), out, runtime)
    return out


def with_noise(notes: Notes, start: float, end: float, seed: int = 0) -> Notes:
    """The piece with the notes struck in [start, end) given random pitches."""
    rng = np.random.default_rng(seed)
    inside = (notes.start >= start) & (notes.start < end)
    pitch = np.where(inside, rng.integers(30, 100, len(notes)), notes.pitch)
    return Notes.from_arrays(notes.start, notes.end, pitch, notes.velocity).sorted()


# -- score -------------------------------------------------------------------------------------


def test_a_files_likelihood_is_the_models_nll_of_its_tokens(composer, bach_midi_files):
    out = tunesmith("score", *bach_midi_files[:3], "--composer", composer, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["files"]
    lc = load_composer(composer)
    c = lc.codec
    for path, row in zip(bach_midi_files[:3], rows):
        notes = read_midi(path)
        tokens = c.encode(notes.shifted(-float(notes.start.min())))
        total, count = sequence_nll(lc.model, [np.r_[c.bos, tokens, c.eos]], c.pad)
        assert row["tokens"] == count == len(tokens) + 1
        assert row["nll"] == pytest.approx(total, abs=1e-2)
        # notes as an independent parser counts them, seconds as the decoded piece lasts
        midi = mido.MidiFile(path)
        ons = sum(m.type == "note_on" and m.velocity > 0 for t in midi.tracks for m in t)
        assert row["notes"] == ons
        assert row["nll_per_note"] == pytest.approx(total / ons, rel=1e-3)
        assert row["nll_per_second"] == pytest.approx(total / row["seconds"], rel=1e-3)


def test_a_noisy_passage_is_found_where_it_was_put(composer, bach_midi_files, tmp_path):
    notes = read_midi(bach_midi_files[0])
    notes = notes.shifted(-float(notes.start.min()))
    assert notes.duration > 24
    noisy = write_midi(with_noise(notes, 12.0, 16.0), tmp_path / "noisy.mid")
    clean = write_midi(notes, tmp_path / "clean.mid")
    out = tunesmith("score", clean, noisy, "--composer", composer, "--json", "--passages", "2")
    assert out.returncode == 0, out.stderr
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(out.stdout)["files"]}
    assert by_name["noisy.mid"]["nll_per_note"] > by_name["clean.mid"]["nll_per_note"]
    worst = by_name["noisy.mid"]["surprising"][0]
    assert worst["start"] < 16.0
    assert worst["end"] > 12.0
    assert len(by_name["noisy.mid"]["surprising"]) == 2


def test_the_table_names_skipped_files_and_nothing_scorable_is_one_line(
    composer, bach_midi_files, tmp_path
):
    bad = tmp_path / "corrupt.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff")
    table = tunesmith("score", bach_midi_files[0], bad, "--composer", composer)
    assert table.returncode == 0, table.stderr
    assert "scored 1 file(s), skipped 1" in table.stdout
    assert "corrupt.mid" in table.stdout
    for args in ([bad], [tmp_path / "nowhere.mid"], [bach_midi_files[0], "--passages", "-1"]):
        out = tunesmith("score", *args, "--composer", composer)
        assert out.returncode == 2
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_passages_are_the_windows_with_most_nats_per_note_none_overlapping():
    # 10 s, one note a second; each token one nat, but the notes in [6, 8) cost 5 nats each.
    times = np.repeat(np.arange(10.0), 2) + np.tile([0.0, 0.5], 10)  # a note, then a shift
    notes = np.tile([1, 0], 10)
    nll = np.where((times >= 6) & (times < 8) & (notes == 1), 5.0, 1.0)
    found = surprising_passages(nll, times, notes, 10.0, passage_seconds=2.0, top=3)
    assert found[0] == {"start": 6.0, "end": 8.0, "nll_per_note": 6.0, "notes": 2}
    # the next ones come from the rest of the piece, and no two overlap
    for a in found:
        for b in found:
            assert a is b or a["end"] <= b["start"] or b["end"] <= a["start"]
    assert [f["nll_per_note"] for f in found] == sorted(f["nll_per_note"] for f in found)[::-1]
    # a window needs two notes
    assert surprising_passages(nll[:2], times[:2], notes[:2], 1.0, 2.0) == []


def test_token_times_count_shifts_where_they_start(bach_cache):
    c = bach_cache.codec
    notes = Notes.from_rows([(60, 0.0, 0.5, 80), (64, 0.5, 1.0, 80), (67, 2.0, 2.5, 80)])
    tokens = c.encode(notes)
    times = token_times(tokens, c)
    ons = tokens < 128
    np.testing.assert_allclose(times[ons], [0.0, 0.5, 2.0])
    assert np.all(np.diff(times) >= 0)


# -- start note --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "number"),
    [("C4", 60), ("A4", 69), ("F#3", 54), ("Bb2", 46), ("c-1", 0), ("G9", 127), ("61", 61)],
)
def test_pitch_names_are_scientific_pitch_notation(name, number):
    assert pitch_number(name) == number


@pytest.mark.parametrize("bad", ["H4", "C", "", "Ab9", "128", "4C", "C#x"])
def test_a_pitch_that_is_not_one_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="pitch"):
        pitch_number(bad)


def test_start_note_opens_every_piece_with_that_note(composer, tmp_path):
    out = tmp_path / "pieces"
    result = tunesmith(
        "compose", "--checkpoint", composer, "--start-note", "F#3", "--n", "4", "--length",
        "120", "--out", out, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["precision"] == pick_precision("auto", torch.device("cpu"))
    files = [f["file"] for f in payload["files"]]
    assert len(files) == 4
    openings = set()
    for f in files:
        midi = mido.MidiFile(f)
        ons, t = [], 0
        for m in mido.merge_tracks(midi.tracks):
            t += m.time
            if m.type == "note_on" and m.velocity > 0:
                ons.append((t, m.note))
        assert (0, 54) in ons  # struck at the very start
        openings.add(tuple(ons[:8]))
    assert len(openings) > 1  # the pieces go on their own ways


def test_the_opening_is_a_velocity_then_the_note(composer):
    lc = load_composer(composer)
    c = lc.codec
    tokens = opening(lc.model, c, 60)
    assert c.describe(int(tokens[0])).startswith("velocity(")
    assert c.describe(int(tokens[1])) == "note_on(60)"


def test_start_note_errors_are_one_line_and_leave_nothing(composer, bach_midi_files, tmp_path):
    out = tmp_path / "pieces"
    for more in (["--start-note", "H2"], ["--start-note", "C4", "--primer", bach_midi_files[0]]):
        result = tunesmith("compose", "--checkpoint", composer, "--out", out, *more)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
        assert not out.exists()
