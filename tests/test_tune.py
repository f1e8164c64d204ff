"""Policy-gradient tuning on a tiny Composer trained on real chorales: the log-probabilities and
KL it optimises are the sampler's own, a toy reward rises while KL stays under its bound, and an
interrupted run resumes to the same weights."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tunesmith.compose import Rules, Stepper, load_composer, sample_tokens
from tunesmith.config import ComposerConfig, SampleConfig, TrainConfig, TuneConfig, WindowConfig
from tunesmith.runtime import Runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.loop import train
from tunesmith.tuning.tune import TuneTask

CPU = Runtime(0, 1, torch.device("cpu"))
MIDDLE_C = 60


def high_notes(pieces: list[np.ndarray]) -> np.ndarray:
    """Toy reward: the share of a piece's note-ons above middle C."""
    out = []
    for tokens in pieces:
        ons = tokens[tokens < 128]
        out.append(float(np.mean(ons > MIDDLE_C)) if len(ons) else 0.0)
    return np.array(out)


@pytest.fixture(scope="module")
def base(bach_cache, tmp_path_factory):
    """A tiny Composer trained briefly on real chorales."""
    model = ComposerConfig(embedding=16, hidden=48, layers=1, dropout=0.1)
    task = ComposerTask(bach_cache, model, WindowConfig(length=64, stride=32), seed=0)
    out = tmp_path_factory.mktemp("base") / "run"
    config = TrainConfig(batch_size=8, lr=1e-2, epochs=6, warmup_steps=5, patience=0)
    train(task, config, out, CPU, echo=lambda s: None)
    return load_composer(out)


TUNE = TuneConfig(length=48, kl_coef=0.05, pieces_per_epoch=32, valid_pieces=24)


def test_log_probabilities_are_those_the_sampler_drew_from(base, bach_cache):
    task = TuneTask(base, high_notes, TUNE, seed=0, cache=bach_cache)
    tokens = sample_tokens(task.model, base.codec, SampleConfig(n=4, length=48, seed=3))
    with torch.no_grad():
        logp, kl = task.terms(task.model, tokens)
    # At the start the tuned copy is the original: no divergence yet.
    assert kl.abs().max() < 1e-4
    # Step through the sampler's own machinery: the same masked distribution, token by token.
    codec, stepper = base.codec, Stepper(task.model)
    rules = Rules(codec, 4, torch.device("cpu"))
    h = [torch.zeros(4, 48)]
    c = [torch.zeros(4, 48)]
    logits = stepper.step(torch.full((4,), codec.bos), h, c)
    expected = torch.zeros(4)
    for t in range(48):
        mask = rules.allowed(left=48 - t)
        lp = torch.log_softmax(logits.masked_fill(~mask, -torch.inf), dim=1)
        tok = tokens[:, t]
        real = tok != codec.pad
        expected += torch.where(real, lp.gather(1, tok[:, None]).squeeze(1), 0.0)
        rules.update(tok)
        logits = stepper.step(tok, h, c)
    torch.testing.assert_close(logp, expected, rtol=1e-4, atol=1e-3)


def test_tuning_raises_a_toy_reward_and_keeps_kl_under_its_bound(base, bach_cache, tmp_path):
    task = TuneTask(base, high_notes, TUNE, seed=0, cache=bach_cache)
    before = task.evaluate(task.model, CPU)  # the same validation pieces, untuned
    assert before["valid_kl"] == pytest.approx(0.0, abs=1e-4)
    config = TrainConfig(batch_size=16, lr=3e-3, epochs=12, warmup_steps=2, patience=0)
    result = train(task, config, tmp_path / "tuned", CPU, echo=lambda s: None)
    history = result.state.history
    last = history[-1]
    assert last["valid_reward"] > before["valid_reward"] + 0.1
    bound = 1 / TUNE.kl_coef  # rewards lie in [0, 1]
    assert 0 < last["valid_kl"] < bound
    assert all(h["valid_kl"] < bound for h in history)
    # NLL on real music is watched: the tuned model is still a model of chorales.
    assert last["valid_nll"] < 1.1 * before["valid_nll"]
    tuned = load_composer(tmp_path / "tuned")  # a Composer checkpoint like any other
    assert tuned.record.tune == TUNE
    assert tuned.record.base == str(base.path)


@pytest.mark.slow
def test_an_interrupted_tuning_resumes_to_the_same_weights(base, bach_cache, tmp_path):
    config = TrainConfig(batch_size=8, lr=3e-3, epochs=3, warmup_steps=2, patience=0)
    train(TuneTask(base, high_notes, TUNE, cache=bach_cache), config, tmp_path / "a", CPU)

    calls = 0

    def interrupting(pieces):  # a real Ctrl-C, sent to this process in the fifth step
        nonlocal calls
        calls += 1
        if calls == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return high_notes(pieces)

    task = TuneTask(base, interrupting, TUNE, cache=bach_cache)
    stopped = train(task, config, tmp_path / "b", CPU, echo=lambda s: None)
    assert stopped.stop == "interrupted"
    assert stopped.state.step < 3 * 4
    task = TuneTask(base, high_notes, TUNE, cache=bach_cache)
    resumed = train(task, config, tmp_path / "b", CPU, resume=True, echo=lambda s: None)
    assert resumed.stop == "epochs"
    a = load_file(str(tmp_path / "a" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "last" / "model.safetensors"))
    for name in a:
        assert torch.equal(a[name], b[name]), name
