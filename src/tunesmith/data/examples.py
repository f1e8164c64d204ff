"""The Critic's view of music: real windows against as many negative windows, from the same split.

Example ``i < n`` is the ``i``-th real window of the split; example ``n + i`` is its negative,
in epoch ``e`` of kind ``kinds[(i + e) % len(kinds)]``, cut at the same place from a bad version
of the same piece (a corruption of it, random notes of its length, or a Composer's piece). So the
two classes are balanced, every kind is equally common, each window meets every kind in turn
over the epochs, and nothing from another split is ever used.
Corruptions are drawn afresh each epoch from ``(seed, split, epoch, piece, kind)``. With
``state`` each window also carries the piece state at each of its events, from its whole piece
(:mod:`tunesmith.data.state`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from tunesmith.config import NegativeConfig, WindowConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.codec import Codec
from tunesmith.data.negatives import corrupt
from tunesmith.data.split import SPLITS
from tunesmith.data.state import FEATURES, piece_state
from tunesmith.data.windows import window_index

# Tokens of whole sequences (with their piece state) kept for the windows that reuse them: all
# of the chorales' in an epoch (about 3M), a few dozen long performances of a large corpus.
MADE_TOKENS = 1 << 22


def critic_view(tokens: np.ndarray, codec: Codec, velocity: bool) -> np.ndarray:
    """What the Critic reads of a piece's event tokens: all of them, or all but velocity."""
    if velocity:
        return tokens
    return tokens[(tokens < codec.velocity) | (tokens >= codec.num_events)]


class Examples:
    """Real and negative windows of one split (see the module docstring), built on demand."""

    def __init__(
        self,
        cache: TokenCache,
        split: str,
        windows: WindowConfig,
        negatives: NegativeConfig,
        velocity: bool,
        seed: int,
        composed: list[np.ndarray] | None = None,
        augment: bool = False,
        state: bool = False,
        max_tokens: int = 0,
    ) -> None:
        self.codec = cache.codec
        self.split = split
        self.windows = windows
        self.negatives = negatives
        self.velocity = velocity
        self.seed = seed
        self.augment = augment
        self.state = state
        self.composed = composed or []
        if "composer" in negatives.kinds and not self.composed:
            raise ValueError("composer negatives need composed pieces")
        self.cache = cache
        # Read when used, not held: a split may be larger than memory.
        self.pieces = cache.sample(split, max_tokens)
        if velocity:
            lengths = [p.length + 2 for p in self.pieces]
        else:
            lengths = [len(self._view(cache.piece_tokens(p))) + 2 for p in self.pieces]
        self.index = window_index(lengths, windows.length, windows.stride)
        self._made: OrderedDict[tuple[int, int, str], tuple[np.ndarray, np.ndarray | None]] = (
            OrderedDict()
        )
        self._made_tokens = 0

    def __len__(self) -> int:
        return 2 * len(self.index)

    def kind(self, i: int, epoch: int = 0) -> str:
        """``real`` or the negative kind of example ``i`` in ``epoch``."""
        n = len(self.index)
        kinds = self.negatives.kinds
        return "real" if i < n else kinds[(i - n + epoch) % len(kinds)]

    def labels(self) -> np.ndarray:
        n = len(self.index)
        return np.r_[np.ones(n), np.zeros(n)]

    def kinds(self, epoch: int = 0) -> np.ndarray:
        return np.array([self.kind(i, epoch) for i in range(len(self))])

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        L = self.windows.length
        tokens = np.full((len(indices), L), self.codec.pad, dtype=np.int64)
        lengths = np.empty(len(indices), dtype=np.int64)
        labels = np.empty(len(indices), dtype=np.float32)
        state = np.zeros((len(indices), L, FEATURES), dtype=np.float32) if self.state else None
        n = len(self.index)
        for row, i in enumerate(int(i) for i in indices):
            p, start = (int(v) for v in self.index[i % n])
            kind = self.kind(i, epoch)
            seq, context = self._sequence(p, kind, epoch)
            if kind == "composer" and len(seq) > L:
                # A composed piece is no longer than most real ones: wrap instead of clipping,
                # or long pieces' windows would all be its last one (and its EOS a giveaway).
                start %= len(seq) - L + 1
            else:
                start = min(start, max(len(seq) - L, 0))
            window = seq[start : start + L]
            tokens[row, : len(window)] = window
            if state is not None and context is not None:
                state[row, : len(window)] = context[start : start + L]
            lengths[row] = len(window)
            labels[row] = kind == "real"
        out = {
            "tokens": torch.from_numpy(tokens),
            "lengths": torch.from_numpy(lengths),
            "labels": torch.from_numpy(labels),
        }
        if state is not None:
            out["state"] = torch.from_numpy(state)
        return out

    def _view(self, tokens: np.ndarray) -> np.ndarray:
        return critic_view(tokens, self.codec, self.velocity)

    def _sequence(self, p: int, kind: str, epoch: int) -> tuple[np.ndarray, np.ndarray | None]:
        """BOS + the view of piece ``p`` (or its negative of ``kind``) + EOS, and with ``state``
        the piece state at each of its tokens; the latest ones kept (``MADE_TOKENS``)."""
        key = (epoch, p, kind)
        if key in self._made:
            self._made.move_to_end(key)
        else:
            while self._made and self._made_tokens >= MADE_TOKENS:  # oldest first
                self._made_tokens -= len(self._made.popitem(last=False)[1][0])
            if kind == "composer":
                view = self._view(self.composed[p % len(self.composed)])
            else:
                tokens = self._piece(p, epoch)
                view = self._view(tokens)
                if kind != "real":
                    rng = self._rng(epoch, p, 1 + self.negatives.kinds.index(kind))
                    bad = self._view(corrupt(kind, tokens, self.codec, rng, self.negatives))
                    # Random notes change velocity at every note: cut their view to the real
                    # one's length, or the end of the piece (EOS) would tell them apart.
                    view = bad[: len(view)] if kind == "random" else bad
            c = self.codec
            seq = np.r_[c.bos, view, c.eos]
            self._made[key] = (seq, piece_state(seq, c) if self.state else None)
            self._made_tokens += len(seq)
        return self._made[key]

    def _piece(self, p: int, epoch: int) -> np.ndarray:
        tokens = self.cache.piece_tokens(self.pieces[p]).astype(np.int64)
        t = self.windows.transpose
        if not (self.augment and t):
            return tokens
        # The real window and its negatives share the piece's transposition, so the shift in
        # key cannot tell them apart.
        span = self.codec.pitch_range(tokens)
        if span is None:
            return tokens
        low, high = max(-t, -span[0]), min(t, 127 - span[1])
        return self.codec.transpose(tokens, int(self._rng(epoch, p, 0).integers(low, high + 1)))

    def _rng(self, epoch: int, p: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLITS.index(self.split), epoch, p, stream])
