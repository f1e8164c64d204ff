"""The Composer: an LSTM language model over performance-event tokens."""

from __future__ import annotations

import torch
from torch import nn

from tunesmith.config import ComposerConfig

State = tuple[torch.Tensor, torch.Tensor]


class Composer(nn.Module):
    """Token embedding -> ``nn.LSTM`` (cuDNN / oneDNN kernels) -> linear over the vocabulary.

    ``forward(tokens, state)`` maps ``(B, T)`` token ids to ``(B, T, vocab)`` logits and the LSTM
    state after the last step, so long sequences can be read in chunks and sampling can advance
    one token at a time.
    """

    def __init__(self, config: ComposerConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        c = config
        self.embed = nn.Embedding(vocab_size, c.embedding)
        self.lstm = nn.LSTM(
            c.embedding,
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
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        x = self.drop(self.embed(tokens))
        y, state = self.lstm(x, state)
        y = self.drop(y)
        if self.proj is not None:
            y = self.proj(y)
        return self.head(y), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
