"""Training the Critic: real windows against as many negative windows, from the same split
(:class:`~tunesmith.data.examples.Examples`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.checkpoint import load_weights
from tunesmith.compose import compose_negatives
from tunesmith.config import CRITIC, CriticConfig, NegativeConfig, WindowConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.examples import Examples
from tunesmith.metrics import binary_metrics
from tunesmith.models.critic import Critic, critic_logits
from tunesmith.progress import Progress, Silent
from tunesmith.runtime import Runtime


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
    ) -> None:
        self.cache = cache
        self.codec = cache.codec
        self.model_config = model or CriticConfig()
        self.window_config = windows or CRITIC.windows or WindowConfig()
        self.negatives = negatives or NegativeConfig()
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
        self.valid_set = self.examples("valid", composed.get("valid"))
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed alone
            torch.manual_seed(seed)
            self.model = Critic(self.model_config, self.codec.vocab_size, self.codec.pad)
        self.init = str(init) if init else None
        if self.init:  # extend a trained Critic (say, with Composer negatives)
            load_weights(self.model, self.init)

    def examples(
        self, split: str, composed: list[np.ndarray] | None = None, augment: bool = False
    ) -> Examples:
        return Examples(
            self.cache,
            split,
            self.window_config,
            self.negatives,
            self.model_config.velocity,
            self.seed,
            composed,
            augment,
        )

    def num_train(self) -> int:
        return len(self.train_set)

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        return self.train_set.batch(indices, epoch)

    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        logits = model(batch["tokens"], batch["lengths"])
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
