"""Which style a piece sounds like: a classifier trained on real pieces, to check whether a
Composer asked for a style composes in it.

Multinomial logistic regression on every piece statistic of :mod:`tunesmith.judging.stats` plus
the mean pitch and velocity, standardised on the training pieces: small and deterministic, and
blind to the tokens, so it judges a style-conditioned Composer by what its music does rather than
by what the Composer was told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tunesmith.data.cache import TokenCache
from tunesmith.data.notes import Notes
from tunesmith.judging.excerpts import excerpts
from tunesmith.judging.stats import piece_statistics


def labelled_excerpts(
    cache: TokenCache, splits: tuple[str, ...], seconds: float
) -> tuple[list[Notes], list[str]]:
    """The pieces of ``splits`` cut into excerpts of ``seconds``, and each excerpt's style."""
    pieces, labels = [], []
    for p in (p for split in splits for p in cache.split(split)):
        cut = excerpts(cache.codec.decode(cache.piece_tokens(p)), seconds)
        pieces += cut
        labels += [cache.style(p)] * len(cut)
    return pieces, labels


def style_features(pieces: Sequence[Notes]) -> np.ndarray:
    """``(len(pieces), features)`` float64: the statistics, mean pitch and mean velocity; an
    undefined statistic (NaN) is 0."""
    rows = [
        [*piece_statistics(n).values(), float(np.mean(n.pitch)), float(np.mean(n.velocity))]
        for n in pieces
    ]
    return np.nan_to_num(np.array(rows, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


@dataclass(frozen=True)
class StyleClassifier:
    styles: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray  # (features, styles)
    bias: np.ndarray

    @classmethod
    def fit(
        cls, pieces: Sequence[Notes], labels: Sequence[str], l2: float = 1e-2
    ) -> StyleClassifier:
        """Fit on real pieces and their style labels (at least two styles)."""
        styles = tuple(sorted(set(labels)))
        if len(styles) < 2:
            raise ValueError(f"a style classifier needs two styles or more, got {list(styles)}")
        x = style_features(pieces)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        xt = torch.from_numpy((x - mean) / scale)
        y = torch.tensor([styles.index(s) for s in labels])
        # Each style weighs the same however many pieces it has.
        counts = torch.bincount(y, minlength=len(styles)).double()
        w = torch.zeros(x.shape[1], len(styles), dtype=torch.float64, requires_grad=True)
        b = torch.zeros(len(styles), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, y, weight=1.0 / counts)
            loss = loss + l2 * (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return cls(styles, mean, scale, w.detach().numpy(), b.detach().numpy())

    def predict(self, pieces: Sequence[Notes]) -> list[str]:
        if not len(pieces):
            return []
        logits = (style_features(pieces) - self.mean) / self.scale @ self.weight + self.bias
        return [self.styles[i] for i in logits.argmax(axis=1)]

    def accuracy(self, pieces: Sequence[Notes], labels: Sequence[str]) -> float:
        return float(np.mean([p == s for p, s in zip(self.predict(pieces), labels)]))
