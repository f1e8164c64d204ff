"""The Critic: an LSTM that reads a window of events in order (and, with ``state``, the piece
state at each of them) and gives one logit (real vs bad)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tunesmith.config import CriticConfig
from tunesmith.data.examples import Examples
from tunesmith.data.state import FEATURES
from tunesmith.runtime import autocast


class Critic(nn.Module):
    """Token embedding (+ a linear map of the piece state) -> ``nn.LSTM`` -> [state at the last
    real token, mean over real tokens, and with ``peak`` the maximum over them] -> dropout ->
    linear -> one logit per window.

    ``forward(tokens, lengths, state)``: ``(B, T)`` ids, PAD after each window's ``lengths``
    tokens; ``state`` ``(B, T, FEATURES)``, needed exactly when the config's ``state`` is on.
    Pooling looks only at real tokens, so a padded short window scores as itself.
    """

    def __init__(self, config: CriticConfig, vocab_size: int, pad: int) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(vocab_size, c.embedding, padding_idx=pad)
        self.state_in = nn.Linear(FEATURES, c.embedding) if c.state else None
        self.lstm = nn.LSTM(
            c.embedding,
            c.hidden,
            num_layers=c.layers,
            dropout=c.dropout if c.layers > 1 else 0.0,
            batch_first=True,
            bidirectional=c.bidirectional,
        )
        width = c.hidden * (2 if c.bidirectional else 1)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear((3 if c.peak else 2) * width, 1)

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, state: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, T = tokens.shape
        x = self.embed(tokens)
        if self.state_in is not None:
            if state is None:
                raise ValueError("this Critic reads the piece state: pass state")
            x = x + self.state_in(state)
        x = self.drop(x)
        padded = bool((lengths < T).any())
        if self.config.bidirectional and padded:
            # The backward direction must start at each window's last real token, not at PAD.
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            y, (h, _) = self.lstm(packed)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=T)
            last = torch.cat([h[-2], h[-1]], dim=1)
        else:
            # One direction reads PAD only after the real tokens, so their outputs are exact.
            y, _ = self.lstm(x)
            rows = torch.arange(B, device=tokens.device)
            last = y[rows, lengths - 1]
            if self.config.bidirectional:  # unpadded: the backward state is at position 0
                H = self.config.hidden
                last = torch.cat([last[:, :H], y[:, 0, H:]], dim=1)
        mask = (torch.arange(T, device=tokens.device)[None] < lengths[:, None]).to(y.dtype)
        mean = (y * mask[..., None]).sum(dim=1) / lengths[:, None].to(y.dtype)
        pooled = [last, mean]
        if self.config.peak:  # a mean over hundreds of events drowns one wrong note; a max does not
            pooled.append(y.masked_fill(mask[..., None] == 0, float("-inf")).amax(dim=1))
        features = self.drop(torch.cat(pooled, dim=1))
        return self.head(features).squeeze(1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def critic_logits(
    model: Critic,
    examples: Examples,
    device: torch.device | str,
    epoch: int = 0,
    batch_size: int = 256,
    precision: str = "fp32",
) -> np.ndarray:
    """The Critic's logit for every example (real first, then negatives), in ``precision``
    (``fp32`` or ``bf16`` autocast)."""
    out = []
    for b in range(0, len(examples), batch_size):
        batch = examples.batch(np.arange(b, min(b + batch_size, len(examples))), epoch)
        state = batch["state"].to(device) if "state" in batch else None
        with autocast(precision, torch.device(device)):
            logits = model(batch["tokens"].to(device), batch["lengths"].to(device), state)
        out.append(logits.float().cpu())
    return torch.cat(out).numpy() if out else np.empty(0)
