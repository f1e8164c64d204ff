"""The Composer: an LSTM language model over performance-event tokens, and the likelihood it
gives whole sequences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.config import ComposerConfig
from tunesmith.data import controls

State = tuple[torch.Tensor, torch.Tensor]
Forward = Callable[..., tuple[torch.Tensor, Any]]
Condition = tuple[np.ndarray, int]  # a sequence's controls (len, width) and style id


STYLE_EMBEDDING = 16


class Composer(nn.Module):
    """Token embedding -> ``nn.LSTM`` (cuDNN / oneDNN kernels) -> linear over the vocabulary.

    ``forward(tokens, state)`` maps ``(B, T)`` token ids to ``(B, T, vocab)`` logits and the LSTM
    state after the last step, so long sequences can be read in chunks and sampling can advance
    one token at a time. A Composer trained with ``condition`` also reads, beside each token,
    ``controls`` ``(B, T, controls.width)`` (:mod:`tunesmith.data.controls`) and a ``style`` id
    per sequence ``(B,)``; either left out is the signal not given (zeros, style 0).
    """

    def __init__(self, config: ComposerConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        c = config
        self.embed = nn.Embedding(vocab_size, c.embedding)
        self.num_controls = controls.width(c.condition)
        self.style = None
        if "style" in c.condition:
            self.style = nn.Embedding(len(c.styles) + 1, STYLE_EMBEDDING)
        inputs = c.embedding + self.num_controls + (STYLE_EMBEDDING if self.style else 0)
        self.lstm = nn.LSTM(
            inputs,
            c.hidden,
            num_layers=c.layers,
            dropout=c.dropout if c.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(c.dropout)
        out = c.hidden
        self.proj = None
        if c.tie_weights and c.hidden != c.embedding:
            self.proj = nn.Linear(c.hidden, c.embedding, bias=False)
            out = c.embedding
        self.head = nn.Linear(out, vocab_size)
        if c.tie_weights:
            self.head.weight = self.embed.weight

    def forward(
        self,
        tokens: torch.Tensor,
        state: State | None = None,
        controls: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        x = self.drop(self.embed(tokens))
        B, T = tokens.shape
        if self.num_controls:
            if controls is None:
                controls = x.new_zeros(B, T, self.num_controls)
            x = torch.cat([x, controls.to(x.dtype)], dim=2)
        if self.style is not None:
            if style is None:
                style = tokens.new_zeros(B)
            x = torch.cat([x, self.style(style)[:, None].expand(B, T, -1).to(x.dtype)], dim=2)
        y, state = self.lstm(x, state)
        y = self.drop(y)
        if self.proj is not None:
            y = self.proj(y)
        return self.head(y), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def token_nll(
    model: Forward,
    sequences: Sequence[np.ndarray],
    pad: int,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    chunk: int = 512,
    conditions: Sequence[Condition] | None = None,
) -> list[np.ndarray]:
    """Negative log-likelihood (nats, float64) of every token after the first, per sequence.

    Sequences are read whole: batched by length, in chunks of ``chunk`` tokens with the LSTM
    state carried from chunk to chunk, so each token is predicted once with its full context.
    ``model(tokens, state) -> (logits, state)``; with ``conditions`` (each sequence's controls,
    ``(len, width)``, and style id) also ``controls=`` and ``style=``.
    """
    out: list[np.ndarray] = [np.empty(0)] * len(sequences)
    order = np.argsort([-len(s) for s in sequences], kind="stable")
    for b in range(0, len(order), batch_size):
        rows = order[b : b + batch_size]
        width = max(len(sequences[i]) for i in rows)
        x = torch.full((len(rows), width), pad, dtype=torch.int64)
        for r, i in enumerate(rows):
            x[r, : len(sequences[i])] = torch.from_numpy(np.asarray(sequences[i], dtype=np.int64))
        x = x.to(device)
        given: dict[str, torch.Tensor] = {}
        if conditions is not None:
            given = _stack_conditions([conditions[i] for i in rows], width, device)
        state, parts = None, []
        for c in range(0, width - 1, chunk):
            inp = x[:, c : c + chunk]
            target = x[:, c + 1 : c + chunk + 1]
            now = {k: v[:, c : c + target.shape[1]] if v.dim() > 1 else v for k, v in given.items()}
            logits, state = model(inp[:, : target.shape[1]], state, **now)
            nll = F.cross_entropy(
                logits.float().flatten(0, 1), target.flatten(), ignore_index=pad, reduction="none"
            )
            parts.append(nll.view(target.shape).double().cpu())
        table = torch.cat(parts, dim=1).numpy() if parts else np.zeros((len(rows), 0))
        for r, i in enumerate(rows):
            out[i] = table[r, : max(len(sequences[i]) - 1, 0)]
    return out


def _stack_conditions(
    conditions: list[Condition], length: int, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """Per-sequence conditions as ``controls`` (rows padded with zeros to ``length``) and
    ``style`` tensors."""
    given = np.zeros((len(conditions), length, conditions[0][0].shape[1]), dtype=np.float32)
    for r, (c, _) in enumerate(conditions):
        given[r, : len(c)] = c
    style = torch.tensor([s for _, s in conditions], dtype=torch.int64, device=device)
    return {"controls": torch.from_numpy(given).to(device), "style": style}


def sequence_nll(
    model: Forward,
    sequences: Sequence[np.ndarray],
    pad: int,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    chunk: int = 512,
    conditions: Sequence[Condition] | None = None,
) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) of every token after the first (read as
    :func:`token_nll` reads them), and their count."""
    nll = token_nll(model, sequences, pad, device, batch_size, chunk, conditions)
    return float(sum(n.sum() for n in nll)), sum(len(n) for n in nll)
