"""How likely a trained Composer finds a piece: ``tunesmith score``.

Each file is encoded with the Composer's own codec and read whole (``BOS events EOS``, the LSTM
state carried), so every token is predicted once with its full context. A piece's figures are
its negative log-likelihood per note and per second of music: unlike nats per token, both
compare across codecs and encodings (a dense or a finely timed piece has more tokens per note).

The most surprising passages are found by sliding a window of ``passage_seconds`` over the piece
in half-window steps: each window's nats per note (the tokens whose event falls in it, over the
notes struck in it), the highest ones reported, no two overlapping. A token's time is the music's
time when it is read (a time shift counts where it starts).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunesmith.compose import LoadedComposer, load_composer
from tunesmith.data.codec import NUM_PITCHES, Codec
from tunesmith.errors import ConfigError, NoDataError
from tunesmith.judging.scoring import encode_files, midi_files
from tunesmith.models.composer import token_nll
from tunesmith.runtime import pick_device

PASSAGE_SECONDS = 4.0
PASSAGES = 3
MIN_PASSAGE_NOTES = 2  # a window with fewer notes says more about silence than about music


def token_times(tokens: np.ndarray, codec: Codec) -> np.ndarray:
    """Seconds into the piece at which each event token is read."""
    steps = codec.shift_steps(tokens)
    return (np.cumsum(steps) - steps) * codec.config.time_step


def surprising_passages(
    nll: np.ndarray,
    times: np.ndarray,
    notes: np.ndarray,
    seconds: float,
    passage_seconds: float = PASSAGE_SECONDS,
    top: int = PASSAGES,
) -> list[dict[str, float]]:
    """The ``top`` windows of ``passage_seconds`` with the most nats per note, none
    overlapping: ``[{"start", "end", "nll_per_note", "notes"}]``, most surprising first.
    ``nll``, ``times`` and ``notes`` (1 at a note-on) run over the same tokens."""
    step = passage_seconds / 2
    starts = np.arange(0.0, max(seconds - step, 0.0) + 1e-9, step)
    lo = np.searchsorted(times, starts, side="left")
    hi = np.searchsorted(times, starts + passage_seconds, side="left")
    nll_sum = np.r_[0.0, np.cumsum(nll)]
    note_sum = np.r_[0, np.cumsum(notes)]
    count = note_sum[hi] - note_sum[lo]
    per_note = np.where(
        count >= MIN_PASSAGE_NOTES, (nll_sum[hi] - nll_sum[lo]) / np.maximum(count, 1), -np.inf
    )
    chosen: list[dict[str, float]] = []
    for k in np.argsort(-per_note, kind="stable"):
        if len(chosen) == top or per_note[k] == -np.inf:
            break
        a, b = float(starts[k]), float(starts[k] + passage_seconds)
        if all(b <= c["start"] or a >= c["end"] for c in chosen):
            chosen.append(
                {
                    "start": round(a, 3),
                    "end": round(min(b, seconds), 3),
                    "nll_per_note": round(float(per_note[k]), 4),
                    "notes": int(count[k]),
                }
            )
    return chosen


def piece_likelihood(
    composer: LoadedComposer,
    pieces: Sequence[np.ndarray],
    passage_seconds: float = PASSAGE_SECONDS,
    top: int = PASSAGES,
) -> list[dict[str, Any]]:
    """Figures of event-token sequences (each with at least one note) under ``composer``: notes,
    seconds, nats in all, per token, per note and per second, and the surprising passages."""
    codec = composer.codec
    sequences = [np.r_[codec.bos, p, codec.eos] for p in pieces]
    device = next(composer.model.parameters()).device
    out = []
    for tokens, nll in zip(pieces, token_nll(composer.model, sequences, codec.pad, device)):
        notes = codec.decode(tokens)
        seconds = max(notes.duration, codec.config.time_step)
        is_note = (tokens < codec.note_on + NUM_PITCHES).astype(np.int64)
        times = np.r_[token_times(tokens, codec), seconds]  # the EOS comes at the end
        total = float(nll.sum())
        out.append(
            {
                "notes": len(notes),
                "seconds": round(notes.duration, 3),
                "tokens": len(nll),
                "nll": round(total, 3),
                "nll_per_token": round(total / len(nll), 4),
                "nll_per_note": round(total / len(notes), 4),
                "nll_per_second": round(total / seconds, 4),
                "surprising": surprising_passages(
                    nll, times, np.r_[is_note, 0], seconds, passage_seconds, top
                ),
            }
        )
    return out


def score_files(
    paths: list[str | os.PathLike],
    composer: str | os.PathLike,
    device: str = "auto",
    passage_seconds: float = PASSAGE_SECONDS,
    top: int = PASSAGES,
) -> dict[str, Any]:
    """``score``: the Composer at ``composer``'s likelihood of MIDI files and folders (see the
    module docstring). Returns the Composer's path, per file its figures, and the files skipped
    with their reasons; :class:`NoDataError` when no file could be scored."""
    if not (np.isfinite(passage_seconds) and 0 < passage_seconds <= 3600):
        raise ConfigError(f"--passage-seconds must be in (0, 3600], got {passage_seconds}")
    if not 0 <= top <= 1000:
        raise ConfigError(f"--passages must be in [0, 1000], got {top}")
    loaded = load_composer(composer, pick_device(device))
    files, skipped = midi_files(paths)
    kept, pieces, bad = encode_files(files, loaded.codec)
    skipped += bad
    if not kept:
        first = skipped[0]
        raise NoDataError(
            f"none of {len(files)} file(s) could be scored ({first['file']}: {first['reason']})"
        )
    figures = piece_likelihood(loaded, pieces, passage_seconds, top)
    rows = [{"file": str(p), **f} for p, f in zip(kept, figures)]
    return {"composer": str(loaded.path), "files": rows, "skipped": skipped}
