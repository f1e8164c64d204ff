"""Conditioning: the signals computed from the music, a Composer trained with them on real
chorales in two style folders, composing with controls, and what is asked checked afterwards."""

from __future__ import annotations

import dataclasses
import json
import shutil

import mido
import numpy as np
import pytest
import torch

from helpers import tunesmith
from tunesmith.compose import (
    Rules,
    Stepper,
    allowed_masks,
    guide,
    load_composer,
    requested_controls,
    sample,
    sample_tokens,
)
from tunesmith.config import (
    CodecConfig,
    ComposerConfig,
    CriticConfig,
    NegativeConfig,
    SampleConfig,
    TrainConfig,
    WindowConfig,
)
from tunesmith.data import controls
from tunesmith.data.codec import Codec
from tunesmith.data.midi import read_midi
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import prepare
from tunesmith.errors import ConfigError
from tunesmith.judging.evaluate import evaluate
from tunesmith.judging.requested import density_by_quarter
from tunesmith.judging.style import StyleClassifier, labelled_excerpts
from tunesmith.report.html import write_html
from tunesmith.runtime import Runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import train

SIGNALS = ("density", "pitch-classes", "style")
CPU = Runtime(0, 1, torch.device("cpu"))


def hand_made() -> Notes:
    """Notes at known times: a chord, single notes, a gap, a late note."""
    rows = [
        (60, 0.0, 0.5, 80),
        (64, 0.0, 0.5, 80),
        (67, 1.0, 1.5, 80),
        (72, 2.5, 3.0, 80),
        (62, 4.0, 6.0, 80),
        (62, 9.0, 9.5, 80),
    ]
    return Notes.from_rows(rows)


@pytest.mark.parametrize("ended", [False, True])
@pytest.mark.parametrize("encoding", ["note-off", "duration"])
def test_density_and_pitch_classes_are_the_notes_ahead_of_each_event(encoding, ended):
    codec = Codec(CodecConfig(encoding=encoding))
    notes = hand_made()
    tokens = np.r_[codec.bos, codec.encode(notes), [codec.eos] * ended]
    dens = controls.density(tokens, codec)
    pcs = controls.pitch_classes(tokens, codec)
    W = controls.DENSITY_SECONDS
    last = notes.start.max()

    def rate(count: int, t: float) -> float:
        """Per second over the window, or where the piece ends sooner over the time left to its
        last onset (at least a second)."""
        return count / (min(max(last - t, 1.0), W) if ended else W)

    # At the start (BOS, 0 s): the notes struck in [0, 3) s: the chord, 67 and 72.
    assert dens[0] == pytest.approx(4 / W)
    # ... and in [0, 5) s for pitch classes: C twice, E, G, D.
    expect = np.zeros(12)
    expect[[0, 4, 7, 2]] = [2, 1, 1, 1]
    np.testing.assert_allclose(pcs[0], expect / 5, atol=1e-6)
    # After every time shift the clock stands at a time t; ahead are the notes with onsets in
    # [t, t + window): checked against the notes themselves at every such token.
    clock = np.cumsum(codec.shift_steps(tokens)) * codec.config.time_step
    shifts = np.flatnonzero(codec.shift_steps(tokens) > 0)
    for i in shifts:
        t = clock[i]
        ahead = (notes.start >= t - 1e-9) & (notes.start < t + controls.DENSITY_SECONDS - 1e-9)
        assert dens[i] == pytest.approx(rate(ahead.sum(), t)), i
        ahead = (notes.start >= t - 1e-9) & (notes.start < t + controls.PITCH_SECONDS - 1e-9)
        want = np.bincount(notes.pitch[ahead] % 12, minlength=12) / max(ahead.sum(), 1)
        np.testing.assert_allclose(pcs[i], want, atol=1e-6)
    # A note struck counts no longer once it has been said: after the chord's first note-on,
    # three notes are ahead within 3 s.
    first_on = np.flatnonzero(tokens < 128)[0]
    assert dens[first_on] == pytest.approx(3 / W)
    # After the last note nothing is ahead.
    assert dens[-1] == 0
    assert pcs[-1].sum() == 0


def test_a_request_is_what_training_feeds_for_music_that_does_it():
    """Notes every 0.25 s on the C major scale: density 4 and the scale's shares, fed in
    training exactly as a request for density 4 and that profile is fed in composing."""
    codec = Codec()
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    rows = [(scale[i % 8], i * 0.25, i * 0.25 + 0.2, 80) for i in range(80)]
    tokens = np.r_[codec.bos, codec.encode(Notes.from_rows(rows))]
    signals = ("density", "pitch-classes")
    fed = controls.features(tokens, codec, signals)[0]
    shares = np.bincount(np.array([scale[i % 8] for i in range(20)]) % 12, minlength=12) / 20
    asked = controls.request(signals, density=4.0, profile=shares)
    np.testing.assert_allclose(fed, asked, atol=1e-6)
    # Left out, a signal is all zeros, its flag included: what composing feeds unasked.
    np.testing.assert_array_equal(controls.features(tokens, codec, signals, given=()), 0)
    np.testing.assert_array_equal(controls.request(signals), 0)
    only = controls.features(tokens, codec, signals, given=("pitch-classes",))
    d = controls.WIDTHS["density"]
    assert (only[:, :d] == 0).all()
    assert (only[:, d] == 1).all()


@pytest.mark.parametrize("key", [f"{n} {m}" for n in controls.NAMES for m in ("major", "minor")])
def test_a_key_profile_is_found_again_as_that_key(key):
    profile = controls.key_profile(key)
    assert profile.sum() == pytest.approx(1)
    assert profile.argmax() == controls.parse_key(key)[0]
    assert controls.estimate_key(profile) == controls.parse_key(key)


@pytest.mark.parametrize(
    ("text", "tonic", "minor"),
    [("D minor", 2, True), ("f# major", 6, False), ("Bb", 10, False), ("Ebm", 3, True)],
)
def test_key_names(text, tonic, minor):
    assert controls.parse_key(text) == (tonic, minor)


@pytest.fixture(scope="module")
def styled_dir(bach_midi_files, tmp_path_factory):
    """The eight chorales in two style folders, ``early/`` and ``late/``."""
    root = tmp_path_factory.mktemp("styled")
    for i, f in enumerate(bach_midi_files):
        folder = root / ("early" if i % 2 else "late")
        folder.mkdir(exist_ok=True)
        shutil.copy(f, folder / f.name)
    return root


@pytest.fixture(scope="module")
def styled_cache(styled_dir, tmp_path_factory):
    return prepare(midi_dir=styled_dir, cache_dir=tmp_path_factory.mktemp("scache")).cache


@pytest.fixture(scope="module")
def conditioned(styled_cache, tmp_path_factory):
    """A small Composer conditioned on all three signals (a real run directory)."""
    config = ComposerConfig(embedding=32, hidden=64, dropout=0.0, condition=SIGNALS)
    task = ComposerTask(styled_cache, config, WindowConfig(length=128, stride=64), seed=1)
    out = tmp_path_factory.mktemp("conditioned") / "composer"
    train(task, TrainConfig(batch_size=8, lr=1e-2, epochs=3, patience=0), out, CPU)
    return out


def test_styles_are_the_first_level_folders_and_prepare_lists_them(styled_dir, tmp_path):
    result = tunesmith("prepare", "--midi-dir", styled_dir, "--cache-dir", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["styles"] == {"early": 4, "late": 4}
    result = tunesmith("prepare", "--midi-dir", styled_dir, "--cache-dir", tmp_path)
    assert "styles (pieces): early 4, late 4" in result.stdout


def test_a_maestro_csv_names_each_pieces_composer(bach_midi_files, tmp_path):
    root = tmp_path / "maestro"
    root.mkdir()
    lines = ["canonical_composer,canonical_title,split,midi_filename"]
    for i, f in enumerate(bach_midi_files[:4]):
        shutil.copy(f, root / f.name)
        lines.append(f"{'Frédéric Chopin' if i < 3 else 'J. S. Bach'},x,train,{f.name}")
    (root / "maestro-v3.0.0.csv").write_text("\n".join(lines) + "\n")
    cache = prepare(midi_dir=root, cache_dir=tmp_path / "cache").cache
    assert cache.styles() == {"Frédéric Chopin": 3, "J. S. Bach": 1}


def test_named_styles_keep_their_ids_and_must_cover_the_train_split(styled_cache):
    named = ComposerConfig(
        embedding=8, hidden=16, condition=("style",), styles=("late", "early", "x")
    )
    task = ComposerTask(styled_cache, named, WindowConfig(length=64, stride=32))
    assert task.model_config.styles == ("late", "early", "x")
    short = dataclasses.replace(named, styles=("late",))
    with pytest.raises(ConfigError, match=r"styles \['early'\] that the Composer's styles"):
        ComposerTask(styled_cache, short, WindowConfig(length=64, stride=32))


def test_training_drops_each_signal_to_zeros_in_some_windows(styled_cache):
    config = ComposerConfig(embedding=8, hidden=16, condition=SIGNALS, condition_dropout=0.5)
    task = ComposerTask(styled_cache, config, WindowConfig(length=64, stride=32), seed=0)
    assert task.model_config.styles == ("early", "late")
    batch = task.batch(np.arange(len(task.windows)), epoch=0)
    given = batch["controls"]
    d, p = controls.WIDTHS["density"], controls.WIDTHS["pitch-classes"]
    for col, width in ((0, d), (d, p)):
        flag = given[:, :, col]
        kept = (flag == 1).all(dim=1)
        dropped = (given[:, :, col : col + width] == 0).flatten(1).all(dim=1)
        assert (kept | dropped).all()
        assert kept.any()
        assert dropped.any()
    assert (batch["style"] == 0).any()
    assert (batch["style"] > 0).any()


def test_the_step_matches_the_model_with_controls_and_style(conditioned):
    composer = load_composer(conditioned)
    model = composer.model
    torch.manual_seed(0)
    tokens = torch.randint(0, composer.codec.num_events, (3, 40))
    given = torch.rand(3, 40, model.num_controls)
    style = torch.tensor([0, 1, 2])
    want, _ = model(tokens, controls=given, style=style)
    stepper = Stepper(model)
    h = [torch.zeros(3, model.config.hidden)]
    c = [torch.zeros(3, model.config.hidden)]
    for t in range(40):
        logits = stepper.step(tokens[:, t], h, c, stepper.given(given[:, t], style))
        torch.testing.assert_close(logits, want[:, t], atol=1e-4, rtol=1e-4)


def test_composing_unasked_is_the_model_with_every_signal_dropped(conditioned):
    """Greedy pieces composed without controls are the greedy continuation of the whole model
    fed zeros (the dropped signals) and style 0, token by token."""
    composer = load_composer(conditioned)
    codec, model = composer.codec, composer.model
    config = SampleConfig(n=2, length=30, temperature=0, precision="fp32")
    tokens = sample_tokens(model, codec, config)
    masks = allowed_masks(codec, tokens)
    seq = torch.cat([torch.full((2, 1), codec.bos), tokens], dim=1)
    fed = np.stack([controls.features(row.numpy(), codec, SIGNALS, given=()) for row in seq])
    with torch.no_grad():
        logits, _ = model(seq, controls=torch.from_numpy(fed), style=torch.zeros(2).long())
    for r in range(2):
        for t in range(tokens.shape[1]):
            if tokens[r, t] == codec.pad:
                break
            allowed = logits[r, t].masked_fill(~masks[r, t], -torch.inf)
            assert allowed.argmax() == tokens[r, t], (r, t)


def test_controls_reach_the_pieces_and_files_read_back(conditioned, tmp_path):
    composer = load_composer(conditioned)
    base = SampleConfig(n=4, length=200, seed=3)
    free = sample(composer.model, composer.codec, base)
    for asked in ({"density": "12"}, {"key": "F# major"}, {"style": "late"}):
        pieces = sample(composer.model, composer.codec, dataclasses.replace(base, **asked))
        assert any(not np.array_equal(a, b) for a, b in zip(pieces, free)), asked
    out = tmp_path / "pieces"
    result = tunesmith(
        "compose", "--checkpoint", conditioned, "--out", out, "--n", "3", "--length", "120",
        "--density", "3:9", "--key", "D minor", "--style", "early", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout)
    assert done["asked"] == {"density": "3:9", "key": "D minor", "style": "early"}
    for f in done["files"]:
        assert sum(m.type == "note_on" and m.velocity > 0 for m in mido.MidiFile(f["file"])) > 0


@pytest.mark.parametrize("encoding", ["note-off", "duration"])
def test_no_piece_ends_before_min_seconds(encoding):
    codec = Codec(CodecConfig(encoding=encoding))
    played = codec.encode(Notes.from_rows([(60, 0.0, 0.3, 80)]))  # a note, released at 0.3 s
    rest = torch.tensor([[codec.shift + 49]])  # then 0.5 s of silence: 0.8 s in all
    for least, allowed in ((0.0, True), (0.5, True), (1.0, False)):
        rules = Rules(codec, 1, torch.device("cpu"), SampleConfig(min_seconds=least))
        rules.replay(torch.from_numpy(played)[None])
        rules.replay(rest)
        assert bool(rules.allowed(left=10)[0, codec.eos]) is allowed, least
    rules.replay(rest)  # 1.3 s
    assert bool(rules.allowed(left=10)[0, codec.eos])
    with pytest.raises(ConfigError, match="min_seconds must be at most seconds"):
        SampleConfig(seconds=5, min_seconds=6)


def test_guidance_zero_composes_as_if_nothing_were_asked(conditioned):
    composer = load_composer(conditioned)
    base = SampleConfig(n=3, length=80, temperature=0, precision="fp32")
    free = sample(composer.model, composer.codec, base)
    for changed in ({"density": "12", "guidance": 0.0}, {"guidance": 3.0}):
        pieces = sample(composer.model, composer.codec, dataclasses.replace(base, **changed))
        assert all(np.array_equal(a, b) for a, b in zip(pieces, free)), changed
    cond, free_logits = torch.randn(2, 4, 9)
    guided = guide(torch.cat([cond, free_logits]), 2.5)
    torch.testing.assert_close(guided, free_logits + 2.5 * (cond - free_logits))


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--density", "0"], "--density '0'"),
        (["--density", "fast"], "--density 'fast'"),
        (["--density", "3:500"], "--density '3:500'"),
        (["--key", "H minor"], "--key 'H minor'"),
        (["--key", "1,2,3"], "twelve"),
        (["--style", "chopin"], "choose from early, late"),
        (["--guidance", "-1"], "guidance"),
    ],
)
def test_out_of_range_controls_are_one_line_errors(conditioned, tmp_path, flags, words):
    out = tmp_path / "pieces"
    result = tunesmith("compose", "--checkpoint", conditioned, "--out", out, *flags)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert words in result.stderr
    assert not out.exists()


def test_a_composer_trained_without_a_signal_refuses_it(styled_cache, tmp_path):
    config = ComposerConfig(embedding=8, hidden=16, condition=("density",))
    with pytest.raises(ConfigError, match="not trained to follow pitch-classes or style"):
        requested_controls(SampleConfig(key="D minor", style="early"), config)
    assert requested_controls(SampleConfig(density="4"), config).density == (4.0, 4.0)


@pytest.mark.parametrize("density", [0.0, 0.3, 0.5, 0.6, 1.0, 3.0, 4.0, 11.0, 64.0, 100.0])
def test_a_density_is_weights_on_the_two_bins_around_it(density):
    w = controls.density_bins(np.array([density]))[0]
    assert w.sum() == pytest.approx(1)
    assert (w > 0).sum() <= 2
    # the weighted mean of the bins' log densities is the density's (within the bins' range)
    inside = np.clip(density, controls.DENSITY_BINS[0], controls.DENSITY_BINS[-1])
    assert w @ np.log2(controls.DENSITY_BINS) == pytest.approx(np.log2(inside), abs=1e-5)


def test_density_by_quarter_counts_onsets_per_second():
    rows = [(60, t, t + 0.1, 80) for t in np.r_[np.arange(0, 5, 0.5), np.arange(5, 10, 0.125)]]
    rows.append((60, 10.0, 10.1, 80))
    got = density_by_quarter(Notes.from_rows(rows))
    np.testing.assert_allclose(got, [2.0, 2.0, 8.0, 8.4], atol=0.01)


def test_a_style_classifier_tells_chorales_from_piano_performances(bach_cache, maestro_cache):
    pieces, labels = [], []
    for cache, name in ((bach_cache, "bach"), (maestro_cache, "piano")):
        cut, _ = labelled_excerpts(cache, ("train", "valid", "test"), 20.0)
        pieces += cut
        labels += [name] * len(cut)
    order = np.random.default_rng(0).permutation(len(pieces))
    half = len(order) // 2
    fit = StyleClassifier.fit([pieces[i] for i in order[:half]], [labels[i] for i in order[:half]])
    held = order[half:]
    assert fit.accuracy([pieces[i] for i in held], [labels[i] for i in held]) > 0.9
    with pytest.raises(ValueError, match="two styles"):
        StyleClassifier.fit(pieces[:3], ["bach"] * 3)


def test_evaluate_reports_requested_against_achieved(styled_cache, conditioned, tmp_path):
    task = CriticTask(
        styled_cache,
        CriticConfig(embedding=8, hidden=16, dropout=0.0),
        WindowConfig(length=64, stride=32),
        NegativeConfig(kinds=("random",)),
        seed=0,
    )
    train(task, TrainConfig(batch_size=8, max_steps=10, patience=0), tmp_path / "critic", CPU)
    asked = SampleConfig(n=4, seed=2, density="2:8", key="D minor", style="late")
    out = tmp_path / "evaluation"
    report = evaluate(conditioned, tmp_path / "critic", out, asked, cache=styled_cache)
    saved = json.loads((out / "report.json").read_text())
    assert saved["requested"] == report["requested"]
    assert saved["settings"]["density"] == "2:8"
    density = report["requested"]["density"]
    assert density["requested_by_quarter"] == [2.75, 4.25, 5.75, 7.25]
    # achieved: from the composed files as written, read back
    files = sorted((out / "composed").glob("*.mid"))
    got = np.array([density_by_quarter(read_midi(f)) for f in files])
    np.testing.assert_allclose(density["achieved_by_quarter"], np.nanmean(got, axis=0), atol=1e-2)
    key = report["requested"]["key"]
    assert key["key"] == "D minor"
    assert 0 <= key["composed"]["distance"] <= 1
    assert 0 <= key["real"]["in_key"] <= 1
    style = report["requested"]["style"]
    assert style["styles"] == ["early", "late"]
    assert 0 <= style["assigned_to_requested"] <= 1
    html = write_html(out, report, audio=False).read_text()
    assert "Did the pieces do as asked?" in html
    assert '<a href="#requested">' in html
    assert "density 2:8 notes/s" in html
