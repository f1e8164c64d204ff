"""The seed's models, re-implemented as yardsticks for the benchmarks (never used by tunesmith).

As ../shared/design/SEED.md describes them: the Composer read one-hot vectors into a 2 x 512 LSTM,
trained with Adam at lr 0.01 on batches of 64 windows of 150 tokens, carrying the LSTM state from
one (unrelated) batch to the next, and sampled one token of one piece at a time. The Critic fed a
window's token ids as raw floats in ONE time step to a 3 x 100 LSTM.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.data.cache import TokenCache
from tunesmith.data.windows import window_index


class SeedComposer(nn.Module):
    def __init__(self, vocab_size: int, hidden: int = 512, layers: int = 2) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens: torch.Tensor, state=None):
        x = F.one_hot(tokens, self.vocab_size).float()
        y, state = self.lstm(x, state)
        return self.head(y), state


class SeedCritic(nn.Module):
    """A window's ids as one float vector, one LSTM step, one logit."""

    def __init__(self, window: int, hidden: int = 100, layers: int = 3) -> None:
        super().__init__()
        self.lstm = nn.LSTM(window, hidden, num_layers=layers, dropout=0.2, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(tokens.float()[:, None, :])
        return self.head(y[:, -1]).squeeze(1)


def seed_windows(cache: TokenCache, split: str, length: int = 151, stride: int = 75) -> np.ndarray:
    """The seed's windows: 151 tokens (150 in, 150 shifted out), every 75 tokens."""
    c = cache.codec
    seqs = [np.r_[c.bos, cache.piece_tokens(p), c.eos] for p in cache.split(split)]
    index = window_index([len(s) for s in seqs], length, stride)
    out = np.full((len(index), length), c.pad, dtype=np.int64)
    for row, (p, s) in enumerate(index):
        w = seqs[p][s : s + length]
        out[row, : len(w)] = w
    return out


def train_seed_composer(
    model: SeedComposer,
    windows: np.ndarray,
    pad: int,
    minutes: float,
    evaluate,
    batch_size: int = 64,
    lr: float = 0.01,
) -> dict:
    """The seed's training: Adam at ``lr``, state carried across shuffled batches, for a
    wall-clock budget; ``evaluate(model)`` after every epoch. Returns its history."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    history, tokens, spent = [], 0, 0.0
    budget = minutes * 60
    epoch = 0
    while spent < budget:
        order = rng.permutation(len(windows))
        state = None
        for b in range(0, len(order) - batch_size + 1, batch_size):
            t0 = time.perf_counter()
            x = torch.from_numpy(windows[order[b : b + batch_size]])
            logits, state = model(x[:, :-1], state)
            state = tuple(s.detach() for s in state)
            loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), ignore_index=pad)
            opt.zero_grad()
            loss.backward()
            opt.step()
            spent += time.perf_counter() - t0
            tokens += int((x[:, 1:] != pad).sum())
            if spent >= budget:
                break
        epoch += 1
        history.append({"epoch": epoch, "elapsed": round(spent, 1), "valid_nll": evaluate(model)})
        print(f"  seed-style epoch {epoch}: {history[-1]}", flush=True)
    return {"history": history, "tokens_per_s": tokens / spent, "seconds": spent}


@torch.no_grad()
def seed_sample(model: SeedComposer, bos: int, length: int, generator: torch.Generator):
    """The seed's compose(): one piece, one token at a time, batch 1, state carried."""
    token = torch.tensor([[bos]])
    state, out = None, []
    for _ in range(length):
        logits, state = model(token, state)
        token = torch.multinomial(torch.softmax(logits[0, -1], dim=0), 1, generator=generator)
        token = token[None]
        out.append(int(token))
    return out
