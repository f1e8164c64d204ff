"""Piece-level train / valid / test split: whole pieces, never windows, so nothing leaks."""

from __future__ import annotations

import hashlib

from tunesmith.config import SplitConfig

SPLITS = ("train", "valid", "test")


def assign_splits(ids: list[str], fixed: list[str | None], config: SplitConfig) -> list[str]:
    """Return a split name for every piece.

    Pieces whose source fixes a split (MAESTRO's CSV) keep it. The others are ranked by a hash
    of ``(seed, id)``, so the result depends only on the seed and the ids, not on listing order,
    and adding a piece moves at most a few others. The first ranks go to test, then valid, in
    the configured proportions (at least one each when there are three or more free pieces).
    """
    free = [i for i, f in enumerate(fixed) if f is None]
    ranked = sorted(free, key=lambda i: rank(config.seed, ids[i]))
    n = len(ranked)
    n_test = _share(n, config.test_fraction)
    n_valid = _share(n, config.valid_fraction)
    out = list(fixed)
    for k, i in enumerate(ranked):
        out[i] = "test" if k < n_test else "valid" if k < n_test + n_valid else "train"
    return out  # type: ignore[return-value]


def _share(n: int, fraction: float) -> int:
    if fraction <= 0 or n < 3:
        return 0
    return max(1, round(n * fraction))


def rank(seed: int, piece_id: str) -> bytes:
    """A piece's place in a seeded order that depends on nothing but the seed and its id."""
    return hashlib.blake2b(f"{seed}:{piece_id}".encode(), digest_size=8).digest()
