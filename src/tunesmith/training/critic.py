"""Training the Critic: real windows against as many negative windows, from the same split.

Example ``i < n`` is the ``i``-th real window of the split; example ``n + i`` is its negative,
of kind ``kinds[i % len(kinds)]``, cut at the same place from a bad version of the same piece
(a corruption of it, random notes of its length, or a Composer's piece). So the two classes are
balanced, every kind is equally common, and nothing from another split is ever used.
Corruptions are drawn afresh each epoch from ``(seed, split, epoch, piece, kind)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith.config import CriticConfig, NegativeConfig, SampleConfig, TrainConfig, WindowConfig
from tunesmith.data.cache import TokenCache
from tunesmith.data.codec import Codec
from tunesmith.data.negatives import corrupt
from tunesmith.data.split import SPLITS
from tunesmith.data.windows import window_index
from tunesmith.evaluation.classification import binary_metrics
from tunesmith.models.critic import Critic
from tunesmith.progress import Progress, Silent
from tunesmith.training.checkpoint import load_weights
from tunesmith.training.composer import data_meta
from tunesmith.training.distributed import Runtime

# Defaults of `tunesmith train critic`, chosen by measurement on the Bach chorales (bench/): a
# small LSTM (128 units) takes twice the steps of one of 256 in the same minutes and learns the
# hard negatives (wrong notes, shuffled segments) sooner; so does a higher learning rate.
MODEL = CriticConfig()  # embedding 64, one LSTM layer of 128, dropout 0.1, no velocity
WINDOWS = WindowConfig(length=256, stride=128, transpose=5)
# Patience is long: on the hard negatives validation loss wanders for a while (the Critic grows
# overconfident on a few windows, which calibration later undoes) as accuracy still climbs.
TRAIN = TrainConfig(batch_size=32, lr=5e-3, epochs=60, max_minutes=5.0, patience=10)
NEGATIVES = NegativeConfig()


def critic_view(tokens: np.ndarray, codec: Codec, velocity: bool) -> np.ndarray:
    """What the Critic reads of a piece's event tokens: all of them, or all but velocity."""
    if velocity:
        return tokens
    return tokens[(tokens < codec.velocity) | (tokens >= codec.num_events)]


class Examples:
    """Real and negative windows of one split (see the module docstring), built on demand."""

    def __init__(
        self,
        cache: TokenCache,
        split: str,
        windows: WindowConfig,
        negatives: NegativeConfig,
        velocity: bool,
        seed: int,
        composed: list[np.ndarray] | None = None,
        augment: bool = False,
    ) -> None:
        self.codec = cache.codec
        self.split = split
        self.windows = windows
        self.negatives = negatives
        self.velocity = velocity
        self.seed = seed
        self.augment = augment
        self.composed = composed or []
        if "composer" in negatives.kinds and not self.composed:
            raise ValueError("composer negatives need composed pieces")
        self.pieces = [cache.piece_tokens(p).astype(np.int64) for p in cache.split(split)]
        lengths = [len(self._view(t)) + 2 for t in self.pieces]
        self.index = window_index(lengths, windows.length, windows.stride)
        self._made: dict[tuple[int, int, str], np.ndarray] = {}

    def __len__(self) -> int:
        return 2 * len(self.index)

    def kind(self, i: int) -> str:
        """``real`` or the negative kind of example ``i``."""
        n = len(self.index)
        return "real" if i < n else self.negatives.kinds[(i - n) % len(self.negatives.kinds)]

    def labels(self) -> np.ndarray:
        n = len(self.index)
        return np.r_[np.ones(n), np.zeros(n)]

    def kinds(self) -> np.ndarray:
        return np.array([self.kind(i) for i in range(len(self))])

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        L = self.windows.length
        tokens = np.full((len(indices), L), self.codec.pad, dtype=np.int64)
        lengths = np.empty(len(indices), dtype=np.int64)
        labels = np.empty(len(indices), dtype=np.float32)
        n = len(self.index)
        for row, i in enumerate(int(i) for i in indices):
            p, start = (int(v) for v in self.index[i % n])
            kind = self.kind(i)
            seq = self._sequence(p, kind, epoch)
            if kind == "composer" and len(seq) > L:
                # A composed piece is no longer than most real ones: wrap instead of clipping,
                # or long pieces' windows would all be its last one (and its EOS a giveaway).
                start %= len(seq) - L + 1
            else:
                start = min(start, max(len(seq) - L, 0))
            window = seq[start : start + L]
            tokens[row, : len(window)] = window
            lengths[row] = len(window)
            labels[row] = kind == "real"
        return {
            "tokens": torch.from_numpy(tokens),
            "lengths": torch.from_numpy(lengths),
            "labels": torch.from_numpy(labels),
        }

    def _view(self, tokens: np.ndarray) -> np.ndarray:
        return critic_view(tokens, self.codec, self.velocity)

    def _sequence(self, p: int, kind: str, epoch: int) -> np.ndarray:
        """BOS + the view of piece ``p`` (or its negative of ``kind``) + EOS, kept per epoch."""
        key = (epoch, p, kind)
        if key not in self._made:
            if self._made and next(iter(self._made))[0] != epoch:
                self._made.clear()  # a new epoch draws new corruptions
            if kind == "composer":
                view = self._view(self.composed[p % len(self.composed)])
            else:
                tokens = self._piece(p, epoch)
                view = self._view(tokens)
                if kind != "real":
                    rng = self._rng(epoch, p, 1 + self.negatives.kinds.index(kind))
                    bad = self._view(corrupt(kind, tokens, self.codec, rng, self.negatives))
                    # Random notes change velocity at every note: cut their view to the real
                    # one's length, or the end of the piece (EOS) would tell them apart.
                    view = bad[: len(view)] if kind == "random" else bad
            c = self.codec
            self._made[key] = np.r_[c.bos, view, c.eos]
        return self._made[key]

    def _piece(self, p: int, epoch: int) -> np.ndarray:
        tokens = self.pieces[p]
        t = self.windows.transpose
        if not (self.augment and t):
            return tokens
        # The real window and its negatives share the piece's transposition, so the shift in
        # key cannot tell them apart.
        span = self.codec.pitch_range(tokens)
        if span is None:
            return tokens
        low, high = max(-t, -span[0]), min(t, 127 - span[1])
        return self.codec.transpose(tokens, int(self._rng(epoch, p, 0).integers(low, high + 1)))

    def _rng(self, epoch: int, p: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLITS.index(self.split), epoch, p, stream])


def compose_negatives(
    composer_path: str,
    cache: TokenCache,
    split: str,
    config: NegativeConfig,
    seed: int,
    device: torch.device,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """Pieces sampled from a Composer as negatives of one split: ``composer_pieces`` for train,
    a quarter as many (at least 16) for valid and test, each split from its own seed."""
    from tunesmith.compose import load_composer, sample

    composer = load_composer(composer_path, device, codec=cache.codec.config)
    lengths = sorted(p.length for p in cache.split(split))
    n = config.composer_pieces if split == "train" else max(16, config.composer_pieces // 4)
    sample_config = SampleConfig(
        n=n,
        length=min(2048, lengths[int(0.9 * (len(lengths) - 1))]),
        temperature=config.composer_temperature,
        seed=seed * 3 + SPLITS.index(split),
    )
    return sample(composer.model, composer.codec, sample_config, progress=progress)


@torch.no_grad()
def critic_logits(
    model: Critic,
    examples: Examples,
    device: torch.device | str,
    epoch: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """The Critic's logit for every example (real first, then negatives)."""
    out = []
    for b in range(0, len(examples), batch_size):
        batch = examples.batch(np.arange(b, min(b + batch_size, len(examples))), epoch)
        out.append(model(batch["tokens"].to(device), batch["lengths"].to(device)).float().cpu())
    return torch.cat(out).numpy() if out else np.empty(0)


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
        self.model_config = model or MODEL
        self.window_config = windows or WINDOWS
        self.negatives = negatives or NEGATIVES
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
            "model": self.model_config.to_dict(),
            "codec": self.codec.config.to_dict(),
            "windows": self.window_config.to_dict(),
            "negatives": self.negatives.to_dict(),
            "data": data_meta(self.cache),
            "init": self.init,
        }
