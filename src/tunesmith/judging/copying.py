"""Is composed music copied from the training pieces? Runs of notes compared verbatim.

A piece is read as its notes in order (onset, then pitch), each note a pair: its pitch and the
time since the previous note's onset on the codec's grid (0 inside a chord). A run of ``n``
consecutive notes is found in the training split when some training piece holds the same ``n``
pairs in a row, the same transposition and tempo. Per piece:

- ``longest``: the most consecutive notes found as one run in one training piece;
- ``share``: the share of its runs of ``RUN`` (8) notes found in the training split;
- ``nearest``: the training piece that holds most of those runs.

Real test pieces against the same training split are the yardstick: a set of real pieces shares
some runs with others (cadences, scales), and a Composer that copies no more than they do is
not copying. Runs are compared by 64-bit hashes, so a run is found only if it is there (a false
match has odds of about one in 10^19 per pair).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunesmith.data.cache import TokenCache
from tunesmith.data.notes import Notes

RUN = 8  # notes per run for the share and the nearest piece
COPY_SLACK = 0.1  # composed pieces may share this much more of their runs than real ones do
_PRIME = np.uint64(0x100000001B3)


def note_keys(notes: Notes, step: float) -> np.ndarray:
    """Each note as one integer: its pitch and the grid steps since the previous onset."""
    order = np.lexsort((notes.pitch, notes.start))
    start, pitch = notes.start[order], notes.pitch[order].astype(np.int64)
    gap = np.rint(np.diff(start, prepend=start[:1]) / step).astype(np.int64)
    return pitch | (np.minimum(gap, (1 << 40) - 1) << 8)


def run_hashes(keys: np.ndarray, n: int) -> np.ndarray:
    """The hash of every run of ``n`` consecutive keys (``len(keys) - n + 1`` of them)."""
    count = len(keys) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    k = keys.astype(np.uint64)
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping is the hash
        for j in range(n):
            h = h * _PRIME + (k[j : j + count] ^ np.uint64(0x9E3779B97F4A7C15))
    return h


class TrainingRuns:
    """The runs of the training split, hashed, to look composed or real pieces up in."""

    @classmethod
    def of(cls, cache: TokenCache) -> TrainingRuns:
        """The training split of a token cache."""
        pieces = cache.split("train")
        notes = [cache.codec.decode(cache.piece_tokens(p)) for p in pieces]
        return cls(notes, [p.id for p in pieces], cache.codec.config.time_step)

    def __init__(self, pieces: Sequence[Notes], ids: Sequence[str], step: float) -> None:
        self.keys = [note_keys(n, step) for n in pieces]
        self.ids = list(ids)
        self.step = step
        self._sets: dict[int, np.ndarray] = {}
        # (hash, piece) pairs of the RUN-note runs, sorted by hash: which pieces hold a run.
        hashes = [run_hashes(k, RUN) for k in self.keys]
        owner = np.repeat(np.arange(len(hashes)), [len(h) for h in hashes])
        pairs = np.unique(np.stack([np.concatenate(hashes), owner.astype(np.uint64)]), axis=1)
        self._hash, self._owner = pairs[0], pairs[1].astype(np.int64)

    def runs(self, n: int) -> np.ndarray:
        """The sorted distinct hashes of all training runs of ``n`` notes."""
        if n not in self._sets:
            if len(self._sets) >= 16:  # a large corpus's sets are large: keep a few
                self._sets.pop(next(iter(self._sets)))
            self._sets[n] = np.unique(np.concatenate([run_hashes(k, n) for k in self.keys]))
        return self._sets[n]

    def found(self, keys: np.ndarray, n: int) -> np.ndarray:
        """For each run of ``n`` notes of a piece, whether the training split holds it."""
        runs = self.runs(n)
        h = run_hashes(keys, n)
        at = np.minimum(np.searchsorted(runs, h), max(len(runs) - 1, 0))
        return (runs[at] == h) if len(runs) else np.zeros(len(h), dtype=bool)

    def longest(self, keys: np.ndarray) -> int:
        """The most consecutive notes of the piece found as one run in one training piece
        (binary search: a found run's every part is found too). Runs of ``RUN`` notes or more
        are looked for only in the training pieces that hold one of the piece's ``RUN``-note
        runs (a longer run starts with one), so a large training split costs no more than a
        small one."""
        low = _longest(lambda n: self.found(keys, n).any(), 0, min(RUN, len(keys)))
        if low < RUN:
            return low
        h = np.unique(run_hashes(keys, RUN))
        lo, hi = np.searchsorted(self._hash, h), np.searchsorted(self._hash, h, side="right")
        owners = np.unique(np.concatenate([self._owner[a:b] for a, b in zip(lo, hi)]))

        def found(n: int) -> bool:
            runs = np.unique(np.concatenate([run_hashes(self.keys[o], n) for o in owners]))
            return bool(np.isin(run_hashes(keys, n), runs, assume_unique=False).any())

        return _longest(found, RUN, len(keys))

    def nearest(self, keys: np.ndarray) -> tuple[str | None, int]:
        """The training piece holding most of the piece's RUN-note runs, and how many."""
        h = np.unique(run_hashes(keys, RUN))
        lo, hi = np.searchsorted(self._hash, h), np.searchsorted(self._hash, h, side="right")
        if not (hi > lo).any():
            return None, 0
        owners = np.concatenate([self._owner[a:b] for a, b in zip(lo, hi) if b > a])
        counts = np.bincount(owners, minlength=len(self.ids))
        best = int(counts.argmax())
        return self.ids[best], int(counts[best])


def _longest(found, low: int, high: int) -> int:
    """The largest ``n`` in [low, high] with ``found(n)``, given ``found(low)`` and that
    ``found`` holds up to some ``n`` and not after."""
    while low < high:
        mid = (low + high + 1) // 2
        if found(mid):
            low = mid
        else:
            high = mid - 1
    return low


@dataclass
class Copying:
    """The copy check of one piece (see the module docstring)."""

    longest: int
    share: float  # NaN for a piece shorter than RUN notes
    nearest: str | None
    nearest_runs: int


def copying(training: TrainingRuns, pieces: Sequence[Notes]) -> list[Copying]:
    out = []
    for notes in pieces:
        keys = note_keys(notes, training.step)
        found = training.found(keys, RUN)
        nearest, runs = training.nearest(keys)
        share = float(found.mean()) if len(found) else float("nan")
        out.append(Copying(training.longest(keys), share, nearest, runs))
    return out


def summary(checks: Sequence[Copying]) -> dict[str, Any]:
    """A set's figures: mean share of runs found, median and largest longest run, per piece."""
    shares = np.array([c.share for c in checks], dtype=np.float64)
    longest = np.array([c.longest for c in checks])
    return {
        "run": RUN,
        "share": float(np.nanmean(shares)) if np.isfinite(shares).any() else float("nan"),
        "longest_median": float(np.median(longest)) if len(longest) else float("nan"),
        "longest_max": int(longest.max()) if len(longest) else 0,
        "pieces": [
            {"longest": c.longest, "share": c.share, "nearest": c.nearest, "runs": c.nearest_runs}
            for c in checks
        ],
    }


def copy_flag(composed: dict[str, Any], real: dict[str, Any]) -> str | None:
    """A warning when composed pieces share clearly more of their runs with the training split
    than real test pieces do, else None."""
    if not composed["share"] > real["share"] + COPY_SLACK:
        return None
    return (
        f"copying: {composed['share']:.0%} of its {RUN}-note runs are in the training split "
        f"(real test pieces: {real['share']:.0%}); longest copied run {composed['longest_max']} "
        f"notes (real: {real['longest_max']})"
    )
