"""Fixed-length training windows over the pieces of one split, augmented on the fly.

A piece is read as ``BOS tokens... EOS``. Windows of ``length`` tokens start every ``stride``
tokens, plus one aligned to the piece's end so its last tokens are seen; a piece shorter than a
window gives one window padded with PAD. Augmentation (training split only, by the caller's
choice) transposes by a few semitones and stretches time by a few percent.
"""

from __future__ import annotations

import numpy as np

from tunesmith.config import WindowConfig
from tunesmith.data.cache import Piece, TokenCache


def window_starts(n: int, length: int, stride: int) -> np.ndarray:
    """Starts of the windows over a sequence of ``n`` tokens: every ``stride``, plus one that
    ends with the sequence; a sequence shorter than a window gets one window at 0."""
    starts = np.arange(0, max(n - length, 0) + 1, stride)
    if starts[-1] + length < n:
        starts = np.r_[starts, n - length]
    return starts


def window_index(lengths: list[int], length: int, stride: int) -> np.ndarray:
    """``(windows, 2)`` rows of (sequence number, start) over sequences of ``lengths``."""
    index = [
        np.stack([np.full(len(s), i), s], axis=1)
        for i, n in enumerate(lengths)
        for s in [window_starts(n, length, stride)]
    ]
    return np.concatenate(index) if index else np.empty((0, 2), dtype=np.int64)


class Windows:
    """Windows of one split of a :class:`TokenCache`; ``batch(indices, rng)`` builds arrays."""

    def __init__(self, cache: TokenCache, split: str, config: WindowConfig | None = None) -> None:
        self.cache = cache
        self.codec = cache.codec
        self.config = config or WindowConfig()
        self.pieces = cache.split(split)
        lengths = [piece.length + 2 for piece in self.pieces]  # with BOS and EOS
        self.index = window_index(lengths, self.config.length, self.config.stride)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"Windows({len(self.pieces)} pieces, {len(self)} windows, {self.config})"

    def sequence(self, piece: int, start: int, length: int) -> np.ndarray:
        """Tokens ``[start, start + length)`` of a piece read as ``BOS tokens EOS``, PAD after."""
        piece_ = self.pieces[piece]
        body = self.cache.piece_tokens(piece_)
        out = np.full(length, self.codec.pad, dtype=np.int64)
        seq_len = piece_.length + 2
        stop = min(start + length, seq_len)
        # positions in BOS+body+EOS coordinates; body position k is sequence position k + 1
        lo, hi = max(start, 1), min(stop, seq_len - 1)
        if hi > lo:
            out[lo - start : hi - start] = body[lo - 1 : hi - 1]
        if start == 0:
            out[0] = self.codec.bos
        if start <= seq_len - 1 < stop:
            out[seq_len - 1 - start] = self.codec.eos
        return out

    def get(self, i: int, rng: np.random.Generator | None = None, ahead: float = 0.0) -> np.ndarray:
        """Window ``i`` (int64, length ``config.length``); augmented when ``rng`` is given.

        With ``ahead`` seconds the tokens after the window come too, as far as the piece goes
        and until ``ahead`` seconds past its last token, so that signals of the music ahead
        (:mod:`tunesmith.data.controls`) are whole at every position; the caller cuts to length.
        """
        p, start = (int(v) for v in self.index[i])
        L = self.config.length
        c = self.config
        augment = rng is not None and bool(c.transpose or c.stretch)
        # Compressing time can merge shift tokens, so read a little more and cut to length.
        extra = int(np.ceil(L * c.stretch)) + 8 if augment and c.stretch else 0
        more = self._ahead(p, start, L + extra, ahead / (1 - c.stretch)) if ahead else 0
        window = self.sequence(p, start, L + extra + more)
        if augment:
            assert rng is not None
            factor = 1.0 + rng.uniform(-c.stretch, c.stretch) if c.stretch else 1.0
            if c.transpose:
                span = self.codec.pitch_range(window)
                if span is not None:
                    low, high = max(-c.transpose, -span[0]), min(c.transpose, 127 - span[1])
                    window = self.codec.transpose(window, int(rng.integers(low, high + 1)))
            if factor != 1.0:
                window = self.codec.stretch(window, factor)
        if len(window) < L:
            window = np.r_[window, np.full(L - len(window), self.codec.pad)]
        return window if ahead else window[:L]

    def _ahead(self, piece: int, start: int, n: int, seconds: float) -> int:
        """How many tokens past the first ``n`` of a window reach ``seconds`` beyond them (or
        the piece's end)."""
        more = max(n, 64)
        end = self.pieces[piece].length + 2
        while start + n + more < end:
            clock = np.cumsum(self.codec.shift_steps(self.sequence(piece, start, n + more)))
            if (clock[-1] - clock[n - 1]) * self.codec.config.time_step >= seconds:
                break
            more *= 2
        return more

    def batch(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Stack windows into a ``(len(indices), length)`` int64 array."""
        return np.stack([self.get(int(i), rng) for i in indices])


def valid_note(cache: TokenCache, pieces: int, tokens: int) -> str:
    """What validation reads: all validation pieces, or how many of them."""
    total = len(cache.split("valid"))
    if pieces == total:
        return f"validating on all {total:,} validation pieces ({tokens:,} tokens)"
    return (
        f"validating on a fixed sample of {pieces:,} of {total:,} validation pieces "
        f"({tokens:,} tokens; --valid-tokens caps it)"
    )


def piece_sequences(cache: TokenCache, split: str, max_tokens: int = 0) -> list[np.ndarray]:
    """Every piece of a split (or a fixed sample up to ``max_tokens``, see
    :meth:`TokenCache.sample`) as ``BOS tokens EOS`` (int64)."""
    return sequences_of(cache, cache.sample(split, max_tokens))


def sequences_of(cache: TokenCache, pieces: list[Piece]) -> list[np.ndarray]:
    """Each of ``pieces`` (entries of ``cache``) as ``BOS tokens EOS`` (int64)."""
    c = cache.codec
    return [
        np.concatenate([[c.bos], cache.piece_tokens(p).astype(np.int64), [c.eos]]) for p in pieces
    ]
