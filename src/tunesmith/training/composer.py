"""Training the Composer: next-token prediction over windows of the training split."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.config import ComposerConfig, TrainConfig, WindowConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.windows import Windows
from tunesmith.models.composer import Composer
from tunesmith.training.distributed import Runtime

Forward = Callable[..., tuple[torch.Tensor, Any]]

# Defaults of `tunesmith train composer`, chosen by measurement on the Bach chorales (bench/):
# one layer of 512 leaves the unigram plateau in a few dozen steps where two layers take
# hundreds, and small batches at a high learning rate make the most of a CPU's minutes.
MODEL = ComposerConfig()  # embedding 128, one LSTM layer of 512, dropout 0.2
WINDOWS = WindowConfig(length=256, stride=128, transpose=5, stretch=0.05)
TRAIN = TrainConfig(batch_size=16, lr=5e-3, epochs=60, max_minutes=10.0, patience=5)


class ComposerTask:
    """The :class:`~tunesmith.training.loop.Task` of the Composer.

    Training windows come from the train split, augmented as ``windows`` says; validation reads
    every validation piece whole (BOS ... EOS), so each token is scored exactly once, with all
    the context before it.
    """

    kind = "composer"
    metric = "valid_nll"
    unit = "tokens"

    def __init__(
        self,
        cache: TokenCache,
        model: ComposerConfig | None = None,
        windows: WindowConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.cache = cache
        self.codec = cache.codec
        self.model_config = model or MODEL
        self.windows = Windows(cache, "train", windows or WINDOWS)
        self.seed = seed
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed alone
            torch.manual_seed(seed)
            self.model = Composer(self.model_config, self.codec.vocab_size)
        self.valid = piece_sequences(cache, "valid")

    def num_train(self) -> int:
        return len(self.windows)

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        rows = [
            self.windows.get(int(i), np.random.default_rng([self.seed, epoch, int(i)]))
            for i in indices
        ]
        return {"tokens": torch.from_numpy(np.stack(rows))}

    def loss(self, model: Forward, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        tokens = batch["tokens"]
        logits, _ = model(tokens[:, :-1])
        target = tokens[:, 1:]
        loss = F.cross_entropy(
            logits.float().flatten(0, 1),
            target.flatten(),
            ignore_index=self.codec.pad,
            reduction="sum",
        )
        return loss, int((target != self.codec.pad).sum())

    def evaluate(self, model: Forward, rt: Runtime) -> dict[str, float]:
        nll, count = sequence_nll(model, self.valid[rt.rank :: rt.world], self.codec.pad, rt.device)
        nll, count = rt.sum([nll, count])
        return {"valid_nll": nll / count, "valid_ppl": math.exp(nll / count)}

    def step_stats(self) -> dict[str, float]:
        return {}

    def meta(self) -> dict[str, Any]:
        return {
            "model": self.model_config.to_dict(),
            "codec": self.codec.config.to_dict(),
            "windows": self.windows.config.to_dict(),
            "data": data_meta(self.cache),
        }


def data_meta(cache: TokenCache) -> dict[str, Any]:
    """What a checkpoint records of its training data: the cache key (checked on resume), the
    source, and where the cache was (so a resumed run can find it again)."""
    m = cache.manifest
    return {"key": m["key"], "source": m["source"], "cache": str(cache.path)}


def piece_sequences(cache: TokenCache, split: str) -> list[np.ndarray]:
    """Every piece of a split as ``BOS tokens EOS`` (int64)."""
    c = cache.codec
    return [
        np.concatenate([[c.bos], cache.piece_tokens(p).astype(np.int64), [c.eos]])
        for p in cache.split(split)
    ]


@torch.no_grad()
def sequence_nll(
    model: Forward,
    sequences: Sequence[np.ndarray],
    pad: int,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    chunk: int = 512,
) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) of every token after the first, and their count.

    Sequences are read whole: batched by length, in chunks of ``chunk`` tokens with the LSTM
    state carried from chunk to chunk, so each token is predicted once with its full context.
    ``model(tokens, state) -> (logits, state)``.
    """
    order = np.argsort([-len(s) for s in sequences], kind="stable")
    total, count = 0.0, 0
    for b in range(0, len(order), batch_size):
        group = [sequences[i] for i in order[b : b + batch_size]]
        width = max(len(s) for s in group)
        x = torch.full((len(group), width), pad, dtype=torch.int64)
        for r, s in enumerate(group):
            x[r, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.int64))
        x = x.to(device)
        state = None
        for c in range(0, width - 1, chunk):
            inp = x[:, c : c + chunk]
            target = x[:, c + 1 : c + chunk + 1]
            logits, state = model(inp[:, : target.shape[1]], state)
            total += F.cross_entropy(
                logits.float().flatten(0, 1), target.flatten(), ignore_index=pad, reduction="sum"
            ).item()
            count += int((target != pad).sum())
    return total, count
