"""Training windows on real chorales: coverage, BOS/EOS/PAD placement, and augmentation that
does what it claims (transpose keeps rhythm; stretch keeps pitches)."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.config import WindowConfig
from tunesmith.data.prepare import prepare
from tunesmith.data.windows import Windows
from tunesmith.errors import ConfigError


@pytest.fixture(scope="module")
def cache(bach_midi_dir, tmp_path_factory):
    return prepare(midi_dir=bach_midi_dir, cache_dir=tmp_path_factory.mktemp("c")).cache


def test_windows_cover_every_token_of_the_split_once_or_more(cache):
    w = Windows(cache, "train", WindowConfig(length=64, stride=48))
    for p, piece in enumerate(w.pieces):
        seq_len = piece.length + 2
        starts = w.index[w.index[:, 0] == p, 1]
        covered = np.zeros(seq_len, bool)
        for s in starts:
            covered[s : s + 64] = True
        assert covered.all()
        assert starts.max() + 64 == seq_len  # the last window ends with the piece


def test_windows_hold_bos_tokens_eos_and_nothing_from_other_pieces(cache):
    w = Windows(cache, "train", WindowConfig(length=64, stride=64))
    codec = cache.codec
    for i, (p, start) in enumerate(w.index):
        window = w.get(i)
        body = cache.piece_tokens(w.pieces[p])
        expected = np.r_[codec.bos, body, codec.eos][start : start + 64]
        assert np.array_equal(window, expected)
        assert (window[0] == codec.bos) == (start == 0)


def test_a_piece_shorter_than_a_window_is_padded(cache):
    w = Windows(cache, "test", WindowConfig(length=4096, stride=4096))
    codec = cache.codec
    assert len(w) == len(w.pieces)
    for i, piece in enumerate(w.pieces):
        window = w.get(i)
        n = piece.length + 2
        assert window[0] == codec.bos
        assert window[n - 1] == codec.eos
        assert (window[n:] == codec.pad).all()


def test_no_augmentation_without_rng_and_determinism_with_one(cache):
    w = Windows(cache, "train", WindowConfig(length=128, stride=64, transpose=4, stretch=0.05))
    idx = np.arange(min(len(w), 16))
    plain = np.stack([w.sequence(*map(int, w.index[i]), 128) for i in idx])
    assert np.array_equal(w.batch(idx), plain)
    a = w.batch(idx, np.random.default_rng(3))
    b = w.batch(idx, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, plain)
    assert a.shape == (len(idx), 128)


def test_transpose_moves_pitches_and_keeps_rhythm(cache):
    w = Windows(cache, "train", WindowConfig(length=200, stride=200, transpose=3))
    codec = cache.codec
    rng = np.random.default_rng(0)
    shifts = set()
    for i in range(len(w)):
        plain, moved = w.get(i), w.get(i, rng)
        a, b = codec.decode(plain), codec.decode(moved)
        assert len(a) == len(b)
        assert np.array_equal(a.start, b.start)
        assert np.array_equal(a.end, b.end)
        k = set((b.pitch - a.pitch).tolist())
        assert len(k) <= 1
        shifts |= k
    assert shifts <= set(range(-3, 4))
    assert len(shifts) > 2  # it really varies


def test_stretch_scales_time_and_keeps_pitches(cache):
    w = Windows(cache, "train", WindowConfig(length=300, stride=300, stretch=0.1))
    codec = cache.codec
    rng = np.random.default_rng(1)
    ratios = []
    for i in range(len(w)):
        plain = w.get(i)
        state = rng.bit_generator.state
        factor = 1.0 + rng.uniform(-0.1, 0.1)  # what get() draws first
        rng.bit_generator.state = state
        stretched = w.get(i, rng)
        whole = codec.stretch(w.sequence(*map(int, w.index[i]), 300), factor)
        assert np.array_equal(stretched, whole[:300])
        a, b = codec.decode(plain), codec.decode(whole)
        assert np.array_equal(np.sort(a.pitch), np.sort(b.pitch))
        if a.start.max() > 1:
            ratios.append(b.start.max() / a.start.max() / factor)
    assert np.allclose(ratios, 1.0, atol=0.02)


def test_bad_window_config_names_the_field():
    with pytest.raises(ConfigError, match=r"windows\.stride"):
        WindowConfig(stride=0)
    with pytest.raises(ConfigError, match=r"windows\.length"):
        WindowConfig.from_dict({"length": 1})
    with pytest.raises(ConfigError, match="unknown key"):
        WindowConfig.from_dict({"lenght": 64})
