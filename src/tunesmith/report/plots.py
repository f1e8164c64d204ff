"""The report's figures as PNG bytes: training curves, score histograms and piano rolls.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, so no global state and no
display needed). Every function only draws the numbers it is given; none computes a figure
that the report shows as a number.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunesmith.data.notes import Notes
from tunesmith.report.format import finite

DPI = 100
SET_COLORS = {"composed": "#d95f02", "real": "#1b9e77", "random": "#7570b3"}
_CURVE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _series(records: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``key`` over the records that have both as finite numbers."""
    points = [(finite(r.get("step")), finite(r.get(key))) for r in records]
    kept = [(s, v) for s, v in points if s is not None and v is not None]
    return [s for s, _ in kept], [v for _, v in kept]


def curves_png(
    records: Sequence[Mapping[str, Any]],
    left: Sequence[tuple[str, str]],
    left_label: str,
    right: Sequence[tuple[str, str]] = (),
    right_label: str = "",
    title: str = "",
) -> bytes | None:
    """Evaluation records' metrics against step: ``left`` and ``right`` are (key, legend label)
    pairs for the left axis and a second, right axis (e.g. accuracy in [0, 1]). Returns None when
    no record holds any of the keys, so the caller can say so instead of showing empty axes."""
    lines = [
        (side, key, label) for side, keys in (("l", left), ("r", right)) for key, label in keys
    ]
    data = {key: _series(records, key) for _, key, _ in lines}
    if not any(steps for steps, _ in data.values()):
        return None
    # Constrained layout leaves room for the legend below the axes, where it hides no line.
    fig = Figure(figsize=(5.6, 3.8), layout="constrained")
    ax = fig.add_subplot()
    twin = ax.twinx() if right else None
    handles = []
    for color, (side, key, label) in zip(_CURVE_COLORS, lines):
        steps, values = data[key]
        if not steps:
            continue
        axis = ax if side == "l" else twin
        assert axis is not None  # a right-hand curve has its twin axis
        style = "-" if side == "l" else "--"
        (line,) = axis.plot(steps, values, style, color=color, marker=".", label=label)
        handles.append(line)
    ax.set_xlabel("step")
    ax.set_ylabel(left_label)
    ax.grid(alpha=0.3)
    if twin is not None:
        twin.set_ylabel(right_label)
        twin.set_ylim(0, 1.02)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=min(len(handles), 4),
        fontsize="small",
        frameon=False,
    )
    ax.set_title(title)
    return _png(fig)


def composer_curves_png(records: Sequence[Mapping[str, Any]]) -> bytes | None:
    """The Composer's training loss and validation NLL (nats/token) against step."""
    return curves_png(
        records,
        [("train_loss", "train loss"), ("valid_nll", "valid NLL")],
        "nats / token",
        title="Composer",
    )


def critic_curves_png(records: Sequence[Mapping[str, Any]]) -> bytes | None:
    """The Critic's training and validation loss (left) and validation accuracy and AUC (right)."""
    return curves_png(
        records,
        [("train_loss", "train loss"), ("valid_loss", "valid loss")],
        "binary cross-entropy (nats)",
        [("valid_acc", "valid accuracy"), ("valid_auc", "valid AUC")],
        "accuracy, AUC",
        title="Critic",
    )


def score_histograms_png(scores: Mapping[str, Sequence[float | None]], bins: int = 20) -> bytes:
    """Histograms of Critic scores over [0, 1], one per set, as the share of that set's pieces
    in each bin (sets of different sizes compare directly); a line marks the 0.5 threshold."""
    fig = Figure(figsize=(8, 3.4))
    ax = fig.add_subplot()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for name, values in scores.items():
        v = np.array([x for x in map(finite, values) if x is not None], dtype=np.float64)
        if not len(v):
            continue
        ax.hist(
            np.clip(v, 0.0, 1.0),
            bins=edges.tolist(),
            weights=np.full(len(v), 1.0 / len(v)),
            histtype="stepfilled",
            alpha=0.35,
            edgecolor=SET_COLORS.get(name, "black"),
            facecolor=SET_COLORS.get(name, "grey"),
            linewidth=1.6,
            label=f"{name} ({len(v)})",
        )
    ax.axvline(0.5, color="black", linestyle=":", linewidth=1)
    ax.text(0.5, 0.98, " taken for real \u2192", transform=ax.get_xaxis_transform(), va="top")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Critic score (1 = like real music)")
    ax.set_ylabel("share of the set's pieces")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return _png(fig)


def piano_roll_png(notes: Notes, title: str = "", mark_seconds: float | None = None) -> bytes:
    """Pitch against time (seconds), each note a bar from its start to its end, shaded by
    velocity. ``mark_seconds`` draws a dashed line there (where the audio player stops)."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.add_subplot()
    if len(notes):
        shade = 0.35 + 0.65 * np.clip(notes.velocity, 1, 127) / 127.0
        ax.barh(
            notes.pitch,
            notes.end - notes.start,
            left=notes.start,
            height=0.85,
            color=[(0.12, 0.32, 0.62, a) for a in shade],
            linewidth=0,
        )
        lo, hi = int(notes.pitch.min()), int(notes.pitch.max())
        ax.set_ylim(lo - 2, hi + 2)
        ax.set_xlim(0, max(notes.duration, 1e-3))
        if mark_seconds is not None and notes.duration > mark_seconds:
            ax.axvline(mark_seconds, color="#d62728", linestyle="--", linewidth=1)
            ax.text(mark_seconds, hi + 1.5, " audio ends", color="#d62728", va="top", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no notes", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.grid(alpha=0.25)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)
