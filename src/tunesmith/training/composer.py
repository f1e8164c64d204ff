"""Training the Composer: next-token prediction over windows of the training split."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.config import COMPOSER, ComposerConfig, WindowConfig
from tunesmith.data import controls
from tunesmith.data.cache import TokenCache
from tunesmith.data.windows import Windows, sequences_of, valid_note
from tunesmith.errors import ConfigError
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
        config = model or ComposerConfig()
        if "style" in config.condition:
            config = dataclasses.replace(config, styles=training_styles(cache, config))
        self.model_config = config
        self.signals = config.condition
        self.windows = Windows(cache, "train", windows or COMPOSER.windows or WindowConfig())
        self.seed = seed
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed alone
            torch.manual_seed(seed)
            self.model = Composer(self.model_config, self.codec.vocab_size)
        pieces = cache.sample("valid", valid_tokens)
        self.valid = sequences_of(cache, pieces)
        self.valid_note = valid_note(cache, len(self.valid), sum(len(s) - 2 for s in self.valid))
        # A conditioned Composer's inputs: each training piece's style id (0: a style the model
        # has no id for, or none), each validation piece's signals and style id.
        self.style_ids = np.zeros(0, dtype=np.int64)
        self.valid_conditions: list[tuple[np.ndarray, int]] = []
        if self.signals:
            ids = {name: i for i, name in enumerate(config.styles, start=1)}
            self.style_ids = np.array([ids.get(cache.style(p), 0) for p in self.windows.pieces])
            self.valid_conditions = [
                (controls.features(seq, self.codec, self.signals), ids.get(cache.style(p), 0))
                for seq, p in zip(self.valid, pieces)
            ]

    def num_train(self) -> int:
        return len(self.windows)

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        if not self.signals:
            rows = [
                self.windows.get(int(i), np.random.default_rng([self.seed, epoch, int(i)]))
                for i in indices
            ]
            return {"tokens": torch.from_numpy(np.stack(rows))}
        L = self.windows.config.length
        rows, given, styles = [], [], []
        for i in indices:
            rng = np.random.default_rng([self.seed, epoch, int(i)])
            window = self.windows.get(int(i), rng, ahead=controls.PITCH_SECONDS)
            # Each signal left out of the window at random, so the model composes without it.
            kept = tuple(
                s for s in self.signals if rng.random() >= self.model_config.condition_dropout
            )
            rows.append(window[:L])
            given.append(controls.features(window, self.codec, self.signals, kept)[:L])
            piece = int(self.windows.index[int(i)][0])
            styles.append(self.style_ids[piece] if "style" in kept else 0)
        return {
            "tokens": torch.from_numpy(np.stack(rows)),
            "controls": torch.from_numpy(np.stack(given)),
            "style": torch.tensor(styles, dtype=torch.int64),
        }

    def loss(self, model: Forward, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        tokens = batch["tokens"]
        if "controls" in batch:
            logits, _ = model(
                tokens[:, :-1], controls=batch["controls"][:, :-1], style=batch["style"]
            )
        else:
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
        """Validation NLL per token; for a conditioned Composer with every signal given, and
        also with none (``valid_nll_free``)."""
        mine = slice(rt.rank, None, rt.world)
        conditions = self.valid_conditions[mine] if self.signals else None
        nll, count = sequence_nll(
            model, self.valid[mine], self.codec.pad, rt.device, conditions=conditions
        )
        total, tokens = rt.sum([nll, count])
        out = {"valid_nll": total / tokens, "valid_ppl": math.exp(total / tokens)}
        if self.signals:
            free, _ = sequence_nll(model, self.valid[mine], self.codec.pad, rt.device)
            out["valid_nll_free"] = rt.sum([free])[0] / tokens
        return out

    def step_stats(self) -> dict[str, float]:
        return {}

    def meta(self) -> dict[str, Any]:
        return {
            "model": self.model_config,
            "codec": self.codec.config,
            "windows": self.windows.config,
            "data": self.cache.record(),
        }


def training_styles(cache: TokenCache, config: ComposerConfig) -> tuple[str, ...]:
    """The style labels a Composer conditioned on style learns: those named already (by
    ``--styles``, or a resumed run's), which must hold every style of the train split, else
    the train split's."""
    found = tuple(sorted(cache.styles("train")))
    unknown = sorted(set(found) - set(config.styles))
    if config.styles and unknown:
        raise ConfigError(
            f"{cache.path}: the train split has styles {unknown} that the Composer's styles "
            f"{list(config.styles)} lack; name them all with --styles, or train a new Composer"
        )
    return config.styles or found
