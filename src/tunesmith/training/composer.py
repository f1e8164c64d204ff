"""Training the Composer: next-token prediction over windows of the training split."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.config import COMPOSER, ComposerConfig, WindowConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.windows import Windows, piece_sequences, valid_note
from tunesmith.models.composer import Composer, Forward, sequence_nll
from tunesmith.runtime import Runtime


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
        valid_tokens: int = 0,
    ) -> None:
        self.cache = cache
        self.codec = cache.codec
        self.model_config = model or ComposerConfig()
        self.windows = Windows(cache, "train", windows or COMPOSER.windows or WindowConfig())
        self.seed = seed
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed alone
            torch.manual_seed(seed)
            self.model = Composer(self.model_config, self.codec.vocab_size)
        self.valid = piece_sequences(cache, "valid", valid_tokens)
        self.valid_note = valid_note(cache, len(self.valid), sum(len(s) - 2 for s in self.valid))

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
        total, tokens = rt.sum([nll, count])
        return {"valid_nll": total / tokens, "valid_ppl": math.exp(total / tokens)}

    def step_stats(self) -> dict[str, float]:
        return {}

    def meta(self) -> dict[str, Any]:
        return {
            "model": self.model_config,
            "codec": self.codec.config,
            "windows": self.windows.config,
            "data": self.cache.record(),
        }
