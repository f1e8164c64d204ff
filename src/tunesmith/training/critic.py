"""Training the Critic: real windows against as many negative windows, from the same split
(:class:`~tunesmith.data.examples.Examples`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.checkpoint import load_weights
from tunesmith.compose import compose_negatives
from tunesmith.config import (
    CRITIC,
    VELOCITY_BINS_FOR_DYNAMICS,
    VELOCITY_KINDS,
    CriticConfig,
    NegativeConfig,
    WindowConfig,
)
from tunesmith.data.cache import TokenCache
from tunesmith.data.examples import Examples
from tunesmith.data.windows import valid_note
from tunesmith.metrics import binary_metrics
from tunesmith.models.critic import Critic, critic_logits
from tunesmith.progress import Progress, Silent
from tunesmith.runtime import Runtime


def velocity_bins(cache: TokenCache, split: str = "train") -> int:
    """How many velocity bins the pieces of ``split`` use."""
    c = cache.codec
    used = np.zeros(c.velocity_bins, dtype=bool)
    for piece in cache.split(split):
        t = cache.piece_tokens(piece)
        used[np.unique(t[(t >= c.velocity) & (t < c.num_events)]) - c.velocity] = True
    return int(used.sum())


def resolve_settings(
    cache: TokenCache, model: CriticConfig, negatives: NegativeConfig
) -> tuple[CriticConfig, NegativeConfig, list[str]]:
    """The Critic's settings with ``velocity = auto`` decided from the train split, the velocity
    kinds left out of ``negatives`` when it does not read velocity, and a line on each choice."""
    notes = []
    # The train split is read only when a choice depends on its dynamics.
    wants_velocity = model.velocity == "on" and bool(set(negatives.kinds) & set(VELOCITY_KINDS))
    bins = velocity_bins(cache) if model.velocity == "auto" or wants_velocity else 0
    dynamics = bins > VELOCITY_BINS_FOR_DYNAMICS
    if model.velocity == "auto":
        model = dataclasses.replace(model, velocity="on" if dynamics else "off")
        notes.append(
            f"velocity: {model.velocity} (auto: the train split uses {bins} velocity bin(s); "
            f"on above {VELOCITY_BINS_FOR_DYNAMICS})"
        )
    # Without dynamics to flatten or scramble, a velocity negative is a copy of a real piece.
    kept = negatives.for_velocity(model.reads_velocity and dynamics)
    if kept != negatives:
        dropped = ",".join(k for k in negatives.kinds if k not in kept.kinds)
        why = "the Critic reads no velocity" if not model.reads_velocity else "no dynamics"
        notes.append(f"negatives: left out {dropped} ({why})")
    return model, kept, notes


class CriticTask:
    """The :class:`~tunesmith.training.loop.Task` of the Critic."""

    kind = "critic"
    metric = "valid_loss"
    unit = "windows"

    def __init__(
        self,
        cache: TokenCache,
        model: CriticConfig | None = None,
        windows: WindowConfig | None = None,
        negatives: NegativeConfig | None = None,
        seed: int = 0,
        device: torch.device | str = "cpu",
        progress: Progress | None = None,
        init: str | None = None,
        valid_tokens: int = 0,
    ) -> None:
        self.cache = cache
        self.codec = cache.codec
        self.model_config, self.negatives, self.notes = resolve_settings(
            cache, model or CriticConfig(), negatives or NegativeConfig()
        )
        self.window_config = windows or CRITIC.windows or WindowConfig()
        self.seed = seed
        composed: dict[str, list[np.ndarray]] = {}
        if "composer" in self.negatives.kinds:
            for split in ("train", "valid"):
                composed[split] = compose_negatives(
                    self.negatives.composer,
                    cache,
                    split,
                    self.negatives,
                    seed,
                    torch.device(device),
                    progress or Silent(),
                )
        self.train_set = self.examples("train", composed.get("train"), augment=True)
        self.valid_set = self.examples("valid", composed.get("valid"), max_tokens=valid_tokens)
        self.valid_note = valid_note(
            cache, len(self.valid_set.pieces), sum(p.length for p in self.valid_set.pieces)
        )
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed alone
            torch.manual_seed(seed)
            self.model = Critic(self.model_config, self.codec.vocab_size, self.codec.pad)
        self.init = str(init) if init else None
        if self.init:  # extend a trained Critic (say, with Composer negatives)
            load_weights(self.model, self.init)

    def examples(
        self,
        split: str,
        composed: list[np.ndarray] | None = None,
        augment: bool = False,
        max_tokens: int = 0,
    ) -> Examples:
        return Examples(
            self.cache,
            split,
            self.window_config,
            self.negatives,
            self.model_config.reads_velocity,
            self.seed,
            composed,
            augment,
            self.model_config.state,
            max_tokens,
        )

    def num_train(self) -> int:
        return len(self.train_set)

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        return self.train_set.batch(indices, epoch)

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        logits = model(batch["tokens"], batch["lengths"], batch.get("state"))
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch["labels"], reduction="sum")
        return loss, len(batch["labels"])

    def evaluate(self, model, rt: Runtime) -> dict[str, float]:
        # The validation set is small: every rank scores all of it, so all agree.
        logits = critic_logits(model, self.valid_set, rt.device)
        m = binary_metrics(self.valid_set.labels(), logits)
        return {"valid_loss": m["loss"], "valid_acc": m["accuracy"], "valid_auc": m["auc"]}

    def step_stats(self) -> dict[str, float]:
        return {}

    def meta(self) -> dict[str, Any]:
        return {
            "model": self.model_config,
            "codec": self.codec.config,
            "windows": self.window_config,
            "negatives": self.negatives,
            "data": self.cache.record(),
            "init": self.init,
        }
