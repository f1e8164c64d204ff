"""Checkpoints: weights in safetensors, everything else in a typed JSON record; never a pickle.

A checkpoint is a directory::

    model.safetensors      the model's weights
    optimizer.safetensors  the optimiser's tensors (only in a run's "last" checkpoint)
    checkpoint.json        a :class:`Record`: kind, configs, data, training state, versions

It is written to a temporary directory and renamed into place, so a killed run keeps the
previous checkpoint intact. A run directory holds ``best/`` and ``last/`` checkpoints and the log.
Every stage reads and writes checkpoints through this module, and through :class:`Record` only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from tunesmith import __version__
from tunesmith.atomic import atomic_write_json, publish_dir, temp_dir_beside
from tunesmith.config import (
    CodecConfig,
    ComposerConfig,
    Config,
    CriticConfig,
    NegativeConfig,
    Tables,
    TrainConfig,
    TuneConfig,
    WindowConfig,
)
from tunesmith.errors import CheckpointError, ConfigError

FORMAT = "tunesmith-checkpoint/1"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
META = "checkpoint.json"
MODEL_CONFIGS: dict[str, type[ComposerConfig] | type[CriticConfig]] = {
    "composer": ComposerConfig,
    "critic": CriticConfig,
}


@dataclass(frozen=True)
class DataRecord:
    """What a checkpoint records of its training data: the cache key (checked on resume), the
    source, and where the cache was (so a resumed run can find it again)."""

    key: str
    source: dict[str, Any]
    cache: str

    def same_data(self, other: DataRecord | None) -> bool:
        """The same tokens, wherever the cache lives now."""
        return other is not None and (self.key, self.source) == (other.key, other.source)


@dataclass
class TrainState:
    """Everything about a run's position, saved in each checkpoint."""

    epoch: int = 0
    batch_in_epoch: int = 0  # batches of ``epoch`` already taken
    step: int = 0
    elapsed: float = 0.0  # seconds of training steps so far, over all sessions
    items: int = 0  # items (tokens or windows) trained on
    best: float = math.inf
    best_step: int = -1
    bad_evals: int = 0
    lr_scale: float = 1.0  # the plateau schedule's decay so far
    loss_sum: float = 0.0  # training loss since the last evaluation, for its mean
    loss_steps: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Record:
    """The JSON half of a checkpoint. ``model`` is a :class:`ComposerConfig` or a
    :class:`CriticConfig` as ``kind`` says; the Critic's and the tuned Composer's own fields are
    None elsewhere. ``path`` is where it was read from (not saved)."""

    kind: str
    model: ComposerConfig | CriticConfig
    codec: CodecConfig
    windows: WindowConfig | None = None
    train: TrainConfig | None = None
    data: DataRecord | None = None
    state: TrainState | None = None
    world: int = 1
    version: str = __version__
    # The Critic's.
    negatives: NegativeConfig | None = None
    init: str | None = None  # the Critic it was extended from
    temperature: float | None = None  # fitted on the validation split; None before calibration
    # A tuned Composer's.
    tune: TuneConfig | None = None
    base: str | None = None  # the Composer it started from
    reference: str | None = None  # the Composer its KL is anchored to
    reward: dict[str, str] | None = None  # {"critic": the Critic it was tuned against}
    optimizer: dict[str, Any] | None = None  # param groups of optimizer.safetensors
    path: Path | None = field(default=None, compare=False)

    @property
    def tuned_against(self) -> str | None:
        return (self.reward or {}).get("critic")

    @property
    def seed(self) -> int:
        return self.train.seed if self.train else 0

    def tables(self) -> Tables:
        """Its configs as settings tables (section -> values), to lay over a preset."""
        configs = (getattr(self, f.name) for f in dataclasses.fields(self))
        return {c.section: c.to_dict() for c in configs if isinstance(c, Config)}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "path" or (value is None and f.name not in ("data", "init")):
                continue
            if isinstance(value, Config):
                value = value.to_dict()
            elif isinstance(value, DataRecord | TrainState):
                value = dataclasses.asdict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, meta: Any, where: Path) -> Record:
        """Parse the JSON of ``where``; anything malformed is a one-line CheckpointError."""
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise CheckpointError(f"{where}: format {found!r}, expected {FORMAT!r}")
        kind = meta.get("kind")
        if kind not in MODEL_CONFIGS:
            raise CheckpointError(f"{where}: kind {kind!r}, expected one of {list(MODEL_CONFIGS)}")
        typed: dict[str, type[Config]] = {
            "model": MODEL_CONFIGS[kind],
            "codec": CodecConfig,
            "windows": WindowConfig,
            "train": TrainConfig,
            "negatives": NegativeConfig,
            "tune": TuneConfig,
        }
        values: dict[str, Any] = {"kind": kind, "path": where.parent}
        name = "record"
        try:
            for name, value in meta.items():
                if name in ("format", "kind") or value is None:
                    continue
                if name in typed:
                    values[name] = typed[name].from_dict(value)
                elif name == "data":
                    values[name] = DataRecord(**value)
                elif name == "state":
                    values[name] = TrainState(**value)
                elif name in ("world", "version", "init", "temperature", "base", "reference"):
                    values[name] = value
                elif name in ("reward", "optimizer"):
                    values[name] = dict(value)
                # Other keys (a later version's additions) are kept out of the typed record.
            name = "record"
            record = cls(**values)
        except (TypeError, ValueError, ConfigError) as e:
            raise CheckpointError(f"{where}: malformed {name} settings ({e})") from e
        t = record.temperature
        if t is not None and not (isinstance(t, int | float) and 0.0 < t < 1e6):
            raise CheckpointError(f"{where}: temperature {t} is not a positive number")
        return record


def save_checkpoint(
    path: Path, model: nn.Module, record: Record, optimizer: torch.optim.Optimizer | None
) -> None:
    """Write a complete checkpoint directory at ``path`` atomically."""
    tmp = temp_dir_beside(path)
    try:
        save_model(model, str(tmp / MODEL))
        record = dataclasses.replace(record, version=__version__, optimizer=None)
        if optimizer is not None:
            state = optimizer.state_dict()
            tensors = {
                f"{i}.{name}": t.detach().cpu().contiguous()
                for i, slots in state["state"].items()
                for name, t in slots.items()
            }
            save_file(tensors, str(tmp / OPTIMIZER))
            record = dataclasses.replace(record, optimizer={"param_groups": state["param_groups"]})
        # Last: its presence marks a complete checkpoint.
        atomic_write_json(tmp / META, record.to_json())
        publish_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resolve(path: str | os.PathLike, prefer: str = "best") -> Path:
    """The checkpoint directory at ``path``, or in the run directory ``path`` (``prefer``, else
    ``last/``, else ``best/``)."""
    path = Path(path)
    if (path / META).is_file():
        return path
    for name in (prefer, "last", "best"):
        if (path / name / META).is_file():
            return path / name
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    raise CheckpointError(f"{path}: not a checkpoint (no {META}, best/ or last/)")


def read_record(path: str | os.PathLike, kind: str | None = None) -> Record:
    """The record of the checkpoint at (or in the run directory) ``path``, checked for format
    and, if given, kind."""
    file = resolve(path) / META
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: unreadable checkpoint metadata ({e})") from e
    if kind is not None and isinstance(meta, dict) and meta.get("kind") != kind:
        raise CheckpointError(f"{file}: a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    return Record.from_json(meta, file)


def load_weights(
    model: nn.Module, path: str | os.PathLike, device: str | torch.device = "cpu"
) -> None:
    """Load ``model.safetensors`` into ``model``; any damage or mismatch names the file."""
    file = resolve(path) / MODEL
    try:
        load_model(model, str(file), strict=True, device=str(device))
    except (OSError, SafetensorError, RuntimeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{file}: cannot load weights ({reason})") from e


def load_optimizer(optimizer: torch.optim.Optimizer, record: Record) -> None:
    """Restore an optimiser saved by :func:`save_checkpoint` into one over the same parameters."""
    file = resolve(record.path or ".") / OPTIMIZER
    try:
        tensors = load_file(str(file))
        groups = (record.optimizer or {})["param_groups"]
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, t in tensors.items():
            i, name = key.split(".", 1)
            state.setdefault(int(i), {})[name] = t
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (OSError, SafetensorError, KeyError, TypeError, ValueError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{file}: cannot restore the optimiser ({reason})") from e


def update_record(path: str | os.PathLike, **changes: Any) -> Record:
    """Replace fields of a checkpoint's record, atomically (weights are untouched)."""
    record = dataclasses.replace(read_record(path), **changes)
    atomic_write_json(resolve(path) / META, record.to_json())
    return record
