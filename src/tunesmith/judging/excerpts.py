"""Real pieces cut to about the length of composed ones.

A MAESTRO performance lasts minutes where a composed piece lasts seconds: compared whole, one
test performance is one point against hundreds of composed pieces, and statistics that grow with
length (pitch range, pitches used) differ for that reason alone. So where a split's median piece
is longer than two excerpts (performances, not chorales or songs), judging cuts its pieces into
excerpts of :data:`EXCERPT_SECONDS` first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunesmith.data.cache import Piece, TokenCache
from tunesmith.data.notes import Notes

EXCERPT_SECONDS = 30.0


def excerpts(notes: Notes, seconds: float) -> list[Notes]:
    """``notes`` cut by onset into excerpts of ``seconds`` (each from 0 s), or whole if short;
    excerpts of fewer than 8 notes are dropped."""
    if notes.duration < 2 * seconds:
        return [notes]
    part = ((notes.start - notes.start.min()) // seconds).astype(np.int64)
    out = []
    for k in np.unique(part):
        take = notes.take(np.flatnonzero(part == k))
        out.append(take.shifted(-float(take.start.min())))
    return [e for e in out if len(e) >= 8]


def performances(pieces: list[Piece]) -> bool:
    """Whether the median of ``pieces`` is longer than two excerpts: pieces to judge by excerpt."""
    return bool(pieces) and float(np.median([p.seconds for p in pieces])) > 2 * EXCERPT_SECONDS


def judged_pieces(cache: TokenCache, pieces: list[Piece]) -> list[tuple[str, np.ndarray]]:
    """``pieces`` as (id, event tokens) to judge: as cached, or, for :func:`performances`, each
    cut into excerpts (ids ``NAME_001.mid`` and so on)."""
    if not performances(pieces):
        return [(p.id, cache.piece_tokens(p).astype(np.int64)) for p in pieces]
    codec = cache.codec
    out = []
    for p in pieces:
        name = Path(p.id)
        for k, e in enumerate(excerpts(codec.decode(cache.piece_tokens(p)), EXCERPT_SECONDS), 1):
            out.append((str(name.with_name(f"{name.stem}_{k:03d}{name.suffix}")), codec.encode(e)))
    return out
