"""The Composer on real chorales: the model and its one-step twin, training that learns,
checkpoints that round-trip and refuse damage, and sampling that keeps sequences well formed."""

from __future__ import annotations

import dataclasses
import json

import mido
import numpy as np
import pytest
import torch

from tunesmith.checkpoint import MODEL, read_record, save_checkpoint
from tunesmith.compose import Rules, Stepper, encode_primer, load_composer, sample, write_pieces
from tunesmith.config import CodecConfig, ComposerConfig, SampleConfig, TrainConfig, WindowConfig
from tunesmith.data.codec import NUM_PITCHES
from tunesmith.errors import CheckpointError
from tunesmith.models.composer import Composer
from tunesmith.runtime import Runtime, cpu_has_bf16, pick_precision
from tunesmith.training.composer import ComposerTask
from tunesmith.training.loop import train

CPU = Runtime(0, 1, torch.device("cpu"))
VOCAB = 385
# bf16 sampling is exercised only where the CPU computes bf16 natively (AVX512-BF16, AMX).
PRECISIONS = ["fp32"] + (["bf16"] if cpu_has_bf16() else [])
# The stated tolerance of the bf16 step: its gates are bf16 products (8-bit mantissa), so a
# logit may move by a few hundredths (0.04 at most measured on the demo's trained Composer).
BF16_LOGITS = 0.1


def tiny(**kw) -> ComposerConfig:
    return ComposerConfig(**{"embedding": 16, "hidden": 32, "layers": 2, "dropout": 0.0, **kw})


# One layer: it leaves the unigram plateau much sooner than two (bench/ and the closing notes).
TRAINED = ComposerConfig(embedding=16, hidden=64, layers=1, dropout=0.0)


@pytest.fixture(scope="module")
def trained(bach_cache, tmp_path_factory):
    """A tiny Composer trained on six real chorales (a real run directory)."""
    task = ComposerTask(bach_cache, TRAINED, WindowConfig(length=64, stride=32), seed=0)
    config = TrainConfig(batch_size=16, lr=1e-2, epochs=20, warmup_steps=5, patience=0)
    out = tmp_path_factory.mktemp("run") / "composer"
    result = train(task, config, out, CPU, echo=lambda s: None)
    return result


# -- the model and the stepper ----------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        tiny(),
        tiny(layers=1),
        tiny(layers=3, tie_weights=True),
        tiny(embedding=32, tie_weights=True),
    ],
    ids=["2 layers", "1 layer", "3 layers tied, projected", "tied, same size"],
)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_the_stepper_gives_the_models_logits_one_token_at_a_time(config, precision):
    torch.manual_seed(0)
    model = Composer(config, VOCAB).eval()
    x = torch.randint(0, VOCAB, (5, 40))
    with torch.no_grad():
        whole, _ = model(x)
        stepper = Stepper(model, torch.bfloat16 if precision == "bf16" else torch.float32)
        h = [torch.zeros(5, config.hidden) for _ in range(config.layers)]
        c = [torch.zeros(5, config.hidden) for _ in range(config.layers)]
        stepped = torch.stack([stepper.step(x[:, t], h, c) for t in range(40)], dim=1)
    assert stepped.dtype == torch.float32
    if precision == "fp32":
        torch.testing.assert_close(stepped, whole, rtol=1e-4, atol=1e-5)
    else:
        torch.testing.assert_close(stepped, whole, rtol=0.0, atol=BF16_LOGITS)
        assert not torch.equal(stepped, whole)  # the bf16 path really ran


def test_reading_in_chunks_with_the_state_carried_equals_reading_whole():
    model = Composer(tiny(), VOCAB).eval()
    x = torch.randint(0, VOCAB, (3, 50))
    with torch.no_grad():
        whole, _ = model(x)
        a, state = model(x[:, :20])
        b, _ = model(x[:, 20:], state)
    torch.testing.assert_close(torch.cat([a, b], dim=1), whole, rtol=1e-4, atol=1e-5)


def test_tied_weights_share_one_tensor():
    model = Composer(tiny(embedding=32, hidden=32, tie_weights=True), VOCAB)
    assert model.head.weight.data_ptr() == model.embed.weight.data_ptr()
    untied = Composer(tiny(embedding=32, hidden=32), VOCAB)
    assert model.num_parameters() == untied.num_parameters() - 32 * VOCAB


# -- training ---------------------------------------------------------------------------------


def test_a_tiny_composer_learns_real_chorales(trained):
    history = trained.state.history
    assert trained.stop == "epochs"
    # From uniform guessing (ln 385 = 5.95 nats) far below the corpus's unigram entropy (~4.2).
    assert history[0]["valid_nll"] < np.log(VOCAB)
    assert history[-1]["valid_nll"] < 3.5
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 1.5
    assert trained.state.best == pytest.approx(min(r["valid_nll"] for r in history), abs=1e-5)


@pytest.mark.slow
def test_a_tiny_composer_overfits_two_pieces(bach_cache):
    """Capacity check: with enough steps on two pieces the training loss collapses."""
    task = ComposerTask(
        bach_cache, tiny(layers=1, hidden=128), WindowConfig(length=64, stride=16), seed=1
    )
    task.windows.index = task.windows.index[task.windows.index[:, 0] < 2]
    model = task.model
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = task.batch(np.arange(task.num_train()), epoch=0)
    losses = []
    for _ in range(150):
        loss, count = task.loss(model, batch)
        (loss / count).backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item() / count)
    assert losses[0] > 5.0
    assert losses[-1] < 1.0


def test_validation_scores_every_token_of_every_piece_once(bach_cache):
    task = ComposerTask(bach_cache, tiny())
    valid = bach_cache.split("valid")
    metrics = task.evaluate(task.model.eval(), CPU)
    # An untrained model is near uniform: NLL close to ln(vocab), over length + 1 tokens each.
    assert abs(metrics["valid_nll"] - np.log(VOCAB)) < 0.1
    assert metrics["valid_ppl"] == pytest.approx(np.exp(metrics["valid_nll"]))
    assert len(task.valid) == len(valid)
    assert [len(s) for s in task.valid] == [p.length + 2 for p in valid]


# -- checkpoints ------------------------------------------------------------------------------


def test_save_and_load_give_identical_outputs(trained):
    loaded = load_composer(trained.out)  # a run directory resolves to its best checkpoint
    assert loaded.path == trained.out / "best"
    x = torch.randint(0, VOCAB, (2, 30))
    with torch.no_grad():
        a, _ = loaded.model(x)
        b, _ = load_composer(trained.out / "best").model(x)
    assert torch.equal(a, b)
    meta = json.loads((trained.out / "best" / "checkpoint.json").read_text())
    assert meta["kind"] == "composer"
    assert meta["model"] == TRAINED.to_dict()
    assert meta["codec"] == CodecConfig().to_dict()
    assert meta["state"]["best"] == pytest.approx(trained.state.best)


def test_a_checkpoint_holds_no_pickle(trained):
    for path in (trained.out / "last").iterdir():
        data = path.read_bytes()
        assert not data.startswith(b"\x80"), f"{path} looks like a pickle"
        assert b"torch._utils" not in data


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate_weights", "does not fit the file"),
        ("garbage_json", "unreadable checkpoint metadata"),
        ("wrong_format", "format"),
        ("wrong_kind", "expected 'composer'"),
        ("missing", "no such checkpoint"),
        (
            "wrong_shape",
            r"tensor lstm\.weight_ih_l0 is F32 \(256, 16\), the model needs F32 \(192, 16\)",
        ),
        ("bad_model_config", "malformed model settings"),
    ],
)
def test_a_damaged_checkpoint_is_a_clear_error_naming_the_file(trained, tmp_path, damage, message):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained.out / "best", ckpt)
    meta_path = ckpt / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    if damage == "truncate_weights":
        data = (ckpt / MODEL).read_bytes()
        (ckpt / MODEL).write_bytes(data[: len(data) // 2])
    elif damage == "garbage_json":
        meta_path.write_text("{not json")
    elif damage == "wrong_format":
        meta_path.write_text(json.dumps({**meta, "format": "other/9"}))
    elif damage == "wrong_kind":
        meta_path.write_text(json.dumps({**meta, "kind": "critic"}))
    elif damage == "missing":
        ckpt = tmp_path / "nowhere"
    elif damage == "wrong_shape":
        meta_path.write_text(json.dumps({**meta, "model": tiny(layers=1, hidden=48).to_dict()}))
    elif damage == "bad_model_config":
        meta_path.write_text(json.dumps({**meta, "model": {"hidden": -1}}))
    with pytest.raises(CheckpointError, match=message) as e:
        load_composer(ckpt)
    assert str(ckpt) in str(e.value)
    assert "\n" not in str(e.value)


def test_a_checkpoint_for_another_vocabulary_is_refused(trained):
    with pytest.raises(CheckpointError, match="trained with"):
        load_composer(trained.out, codec=CodecConfig(time_step=0.02))


def test_an_interrupted_save_keeps_the_previous_checkpoint(trained, tmp_path):
    import shutil

    ckpt = tmp_path / "best"
    shutil.copytree(trained.out / "best", ckpt)
    before = (ckpt / MODEL).read_bytes()

    class Boom(torch.nn.Module):
        def state_dict(self, *a, **k):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(ckpt, Boom(), read_record(ckpt), None)
    assert (ckpt / MODEL).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # no temp dir left behind


# -- sampling ---------------------------------------------------------------------------------


def replay_is_well_formed(tokens: np.ndarray, codec) -> None:
    """Every note-off closes a sounding note; nothing follows the end; some note is played."""
    sounding = np.zeros(NUM_PITCHES, int)
    for t in tokens:
        assert t < codec.num_events, f"special token {codec.describe(t)} inside a piece"
        if t < codec.note_off:
            sounding[t] += 1
        elif t < codec.shift:
            p = t - codec.note_off
            assert sounding[p] > 0, f"note_off({p}) while it is not sounding"
            sounding[p] -= 1
    assert (tokens < codec.note_off).any()


def test_sampling_from_an_untrained_model_is_still_well_formed(bach_cache):
    """Masks, not training, keep sequences valid: a random model must obey them too."""
    torch.manual_seed(0)
    codec = bach_cache.codec
    model = Composer(tiny(), codec.vocab_size)
    pieces = sample(model, codec, SampleConfig(n=40, length=300, seed=1))
    assert len(pieces) == 40
    for tokens in pieces:
        replay_is_well_formed(tokens, codec)
        assert len(codec.decode(tokens)) >= 1


def test_bounded_sampling_keeps_every_note_and_chord_within_the_bounds(bach_cache):
    """An untrained model holds notes at random: the bounds, not training, must stop it."""
    torch.manual_seed(0)
    codec = bach_cache.codec
    model = Composer(tiny(), codec.vocab_size)
    config = SampleConfig(n=40, length=400, seed=1, max_note_seconds=0.6, max_polyphony=3)
    unbounded = [
        codec.decode(t, 1e6) for t in sample(model, codec, SampleConfig(n=40, length=400, seed=1))
    ]
    assert max((n.end - n.start).max() for n in unbounded) > 0.6  # the bound has work to do
    for tokens in sample(model, codec, config):
        replay_is_well_formed(tokens, codec)
        notes = codec.decode(tokens, max_note_seconds=1e6)
        assert (notes.end - notes.start).max() <= 0.6 + 1e-9
        for t in notes.start:  # notes sounding at each onset
            assert ((notes.start <= t) & (notes.end > t)).sum() <= 3


def test_a_note_at_its_longest_is_released_before_time_moves_on():
    from tunesmith.data.codec import Codec

    codec = Codec()
    bounds = SampleConfig(max_note_seconds=0.6, max_polyphony=2)
    rules = Rules(codec, 1, torch.device("cpu"), bounds)
    shifts = lambda m: (m[0, codec.shift : codec.velocity].nonzero().squeeze(1) + 1).tolist()  # noqa: E731
    rules.update(torch.tensor([60]))
    rules.update(torch.tensor([codec.shift + 49]))  # 50 steps later
    assert shifts(rules.allowed(left=9)) == list(range(1, 11))  # 10 steps to go
    rules.update(torch.tensor([64]))
    allowed = rules.allowed(left=9)
    assert not allowed[0, : codec.note_off].any()  # two sound: no third
    rules.update(torch.tensor([codec.shift + 9]))
    allowed = rules.allowed(left=9)
    assert allowed[0].nonzero().squeeze(1).tolist() == [codec.note_off + 60]  # only its release
    rules.update(torch.tensor([codec.note_off + 60]))
    assert shifts(rules.allowed(left=9)) == list(range(1, 51))  # E4 has sounded 10 steps
    # A primer's notes keep their age when the clock restarts after it.
    primed = Rules(codec, 1, torch.device("cpu"), bounds)
    primed.replay(torch.tensor([[60, codec.shift + 49]]))
    primed.restart_clock()
    assert shifts(primed.allowed(left=9)) == list(range(1, 11))
    assert primed.allowed(left=9)[0, codec.note_off + 60]


def test_end_of_piece_only_comes_when_all_notes_are_released():
    from tunesmith.data.codec import Codec

    codec = Codec()
    rules = Rules(codec, 3, torch.device("cpu"))
    assert not rules.allowed(left=2)[:, codec.eos].any()  # no note yet
    rules.update(torch.tensor([60, 60, codec.shift]))
    allowed = rules.allowed(left=2)
    assert not allowed[:2, codec.eos].any()  # C4 still sounds
    assert allowed[0, codec.note_off + 60]
    assert not allowed[0, codec.note_off + 61]
    rules.update(torch.tensor([codec.note_off + 60, codec.shift, codec.shift]))
    allowed = rules.allowed(left=1)
    assert allowed[0, codec.eos]
    assert not allowed[1, codec.eos]
    assert not allowed[:, [codec.pad, codec.bos]].any()
    # The third sequence has no note and this is its last token: only a note-on will do.
    assert allowed[2].nonzero().squeeze(1).tolist() == list(range(NUM_PITCHES))
    assert rules.clock.tolist() == [0, 1, 2]  # one step per shift(1) token


def test_sampling_is_reproducible_under_a_seed(trained):
    lc = load_composer(trained.out)
    a = sample(lc.model, lc.codec, SampleConfig(n=4, length=100, seed=7))
    b = sample(lc.model, lc.codec, SampleConfig(n=4, length=100, seed=7))
    c = sample(lc.model, lc.codec, SampleConfig(n=4, length=100, seed=8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert len({x.tobytes() for x in a}) == 4  # the pieces of one batch differ from each other


@pytest.mark.parametrize("precision", PRECISIONS)
def test_greedy_top_k_1_and_tiny_top_p_agree(trained, precision):
    lc = load_composer(trained.out)
    config = SampleConfig(n=2, length=60, precision=precision)
    greedy = sample(lc.model, lc.codec, dataclasses.replace(config, temperature=0))
    k1 = sample(lc.model, lc.codec, dataclasses.replace(config, top_k=1, seed=3))
    p0 = sample(lc.model, lc.codec, dataclasses.replace(config, top_p=1e-6, seed=4))
    for g, k, p in zip(greedy, k1, p0):
        assert np.array_equal(g, k)
        assert np.array_equal(g, p)


def test_sampling_precision_auto_is_the_hardwares_choice(trained):
    lc = load_composer(trained.out)
    config = SampleConfig(n=3, length=50, seed=1)
    chosen = pick_precision("auto", torch.device("cpu"))
    auto = sample(lc.model, lc.codec, config)
    explicit = sample(lc.model, lc.codec, dataclasses.replace(config, precision=chosen))
    assert all(np.array_equal(a, b) for a, b in zip(auto, explicit))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_sampled_tokens_follow_the_models_own_distribution(trained, precision):
    """Top-k restricts every sampled token to the k likeliest under the whole-sequence model,
    which checks that the batched, state-carrying sampler conditions on the right context. In
    bf16 a token may be one whose fp32 logit is within the stated tolerance of the k-th."""
    lc = load_composer(trained.out)
    codec = lc.codec
    config = SampleConfig(n=6, length=80, top_k=3, seed=2, precision=precision)
    pieces = sample(lc.model, codec, config)
    slack = BF16_LOGITS if precision == "bf16" else 0.0
    for tokens in pieces:
        x = torch.tensor(np.r_[codec.bos, tokens])[None]
        with torch.no_grad():
            logits, _ = lc.model(x)
        rules = Rules(codec, 1, torch.device("cpu"))
        for t, tok in enumerate(tokens):
            allowed = rules.allowed(left=80 - t)[0]
            third = logits[0, t].masked_fill(~allowed, -torch.inf).topk(3).values[-1]
            assert allowed[tok]
            assert logits[0, t, tok] >= third - slack
            rules.update(torch.tensor([tok]))


def test_a_seconds_limit_stops_each_piece(trained):
    lc = load_composer(trained.out)
    pieces = sample(lc.model, lc.codec, SampleConfig(n=5, length=5000, seconds=4.0, seed=1))
    for tokens in pieces:
        shifts = tokens[(tokens >= lc.codec.shift) & (tokens < lc.codec.velocity)]
        seconds = (shifts - lc.codec.shift + 1).sum() * lc.codec.config.time_step
        assert 4.0 <= seconds < 4.0 + 1.01  # the last shift may overshoot by up to 1 s
        assert len(tokens) < 5000


def test_a_primer_opens_every_piece(trained, bach_midi_files):
    lc = load_composer(trained.out)
    primer = encode_primer(bach_midi_files[0], lc.codec, seconds=3.0)
    notes = lc.codec.decode(primer)
    assert notes.duration <= 3.0 + 1e-9
    assert len(notes) > 3
    pieces = sample(lc.model, lc.codec, SampleConfig(n=3, length=50), primer=primer)
    for tokens in pieces:
        assert np.array_equal(tokens[: len(primer)], primer)
        assert len(tokens) > len(primer)
        replay_is_well_formed(tokens, lc.codec)


def test_composed_midi_reads_back_with_an_independent_parser(trained, tmp_path):
    lc = load_composer(trained.out)
    pieces = sample(lc.model, lc.codec, SampleConfig(n=8, length=200, seed=5))
    paths = write_pieces(pieces, lc.codec, tmp_path)
    assert [p.name for p in paths] == [f"piece_{i:03d}.mid" for i in range(1, 9)]
    for path, tokens in zip(paths, pieces):
        notes = lc.codec.decode(tokens)
        midi = mido.MidiFile(path)
        ons = [m for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
        assert len(ons) == len(notes) >= 1
        assert sorted(m.note for m in ons) == sorted(notes.pitch.tolist())
        assert midi.length == pytest.approx(notes.end.max(), abs=0.002)
