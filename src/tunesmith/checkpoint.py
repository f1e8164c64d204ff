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
from collections.abc import Callable
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
    # A Composer's: the nucleus it samples from unless asked otherwise (judging/nucleus.py; a
    # tuned Composer keeps its base's).
    top_p: float | None = None
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
        typed: dict[str, Callable[[Any], Config]] = {
            "model": MODEL_CONFIGS[kind].from_dict,
            "codec": CodecConfig.saved,
            "windows": WindowConfig.from_dict,
            "train": TrainConfig.from_dict,
            "negatives": NegativeConfig.from_dict,
            "tune": TuneConfig.from_dict,
        }
        values: dict[str, Any] = {"kind": kind, "path": where.parent}
        name = "record"
        try:
            for name, value in meta.items():
                if name in ("format", "kind") or value is None:
                    continue
                if name in typed:
                    values[name] = typed[name](value)
                elif name == "data":
                    values[name] = DataRecord(**value)
                elif name == "state":
                    values[name] = TrainState(**value)
                elif name in (
                    "world",
                    "version",
                    "init",
                    "temperature",
                    "top_p",
                    "base",
                    "reference",
                ):
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
        p = record.top_p
        if p is not None and not (isinstance(p, int | float) and 0.0 < p <= 1.0):
            raise CheckpointError(f"{where}: top_p {p} is not a fraction in (0, 1]")
        return record


def save_checkpoint(
    path: Path, model: nn.Module, record: Record, optimizer: torch.optim.Optimizer | None
) -> None:
    """Write a complete checkpoint directory at ``path`` atomically."""
    tmp = temp_dir_beside(path)
    try:
        save_model(model, str(tmp / MODEL), metadata=fingerprint(record))
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
    """Load ``model.safetensors`` into ``model``. The file's header is checked against the
    model and the checkpoint's settings first; then every weight must be finite. Errors name
    the file and, for a mismatch, the tensor and both shapes."""
    file = resolve(path) / MODEL
    header = check_weights(file, model)
    check_fingerprint(file, header, read_record(file.parent))
    try:
        load_model(model, str(file), strict=True, device=str(device))
    except (OSError, SafetensorError, RuntimeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{file}: cannot load weights ({reason})") from e
    for name, t in model.state_dict().items():
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{file}: tensor {name} holds NaN or infinite weights")


DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1}
MAX_HEADER = 100_000_000  # bytes of JSON before the tensors: far above any model of ours


def safetensors_header(file: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, checked to describe the file's own bytes."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if size < 8 or n > min(size - 8, MAX_HEADER):
                raise CheckpointError(f"{file}: not a safetensors file (header of {n} bytes)")
            header = json.loads(f.read(n))
    except OSError as e:
        raise CheckpointError(f"{file}: cannot read weights ({e.strerror or e})") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: not a safetensors file (unreadable header)") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{file}: not a safetensors file (header is not a mapping)")
    body = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shape, (begin, end) = [int(d) for d in entry["shape"]], entry["data_offsets"]
            need = math.prod(shape) * ITEMSIZE[entry["dtype"]]
            ok = min(shape, default=0) >= 0 and 0 <= begin <= end <= body and end - begin == need
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"{file}: tensor {name} does not fit the file ({entry})")
    return header


def check_weights(file: Path, model: nn.Module) -> dict[str, Any]:
    """Every tensor of ``model`` in the file's header with its shape and dtype (shared tensors,
    such as tied embeddings, stored once), and nothing else. Returns the header."""
    header = safetensors_header(file)
    stored = {k: v for k, v in header.items() if k != "__metadata__"}
    groups: dict[int, list[tuple[str, torch.Tensor]]] = {}
    for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]:
        groups.setdefault(id(t), []).append((name, t))
    expected = set()
    for group in groups.values():
        names = [name for name, _ in group]
        present = [name for name in names if name in stored] or names[:1]
        expected.update(present)
        t = group[0][1]
        for name in present:
            entry = stored.get(name)
            if entry is None:
                raise CheckpointError(f"{file}: tensor {name} is missing")
            want = (list(t.shape), DTYPES.get(t.dtype, str(t.dtype)))
            if [entry["shape"], entry["dtype"]] != list(want):
                raise CheckpointError(
                    f"{file}: tensor {name} is {entry['dtype']} {tuple(entry['shape'])}, "
                    f"the model needs {want[1]} {tuple(want[0])}"
                )
    extra = sorted(set(stored) - expected)
    if extra:
        raise CheckpointError(f"{file}: tensor(s) the model does not have: {extra[:5]}")
    return header


# The settings that say how the weights are read: saved inside the weights file too, so that an
# edited checkpoint.json (say another time step) is caught rather than silently misread.
FINGERPRINT = ("model", "codec", "windows")


def fingerprint(record: Record) -> dict[str, str]:
    """Safetensors metadata (string values) of the record's weight-reading settings."""
    sections = {name: getattr(record, name) for name in FINGERPRINT}
    return {
        "tunesmith": json.dumps(
            {"kind": record.kind}
            | {name: c.to_dict() for name, c in sections.items() if c is not None},
            sort_keys=True,
        )
    }


def check_fingerprint(file: Path, header: dict[str, Any], record: Record) -> None:
    """The record's weight-reading settings equal those the weights were saved with (weights
    saved before fingerprints existed pass)."""
    meta = header.get("__metadata__") or {}
    if "tunesmith" not in meta:
        return
    try:
        saved = json.loads(meta["tunesmith"])
        read = {
            "model": MODEL_CONFIGS[saved["kind"]].from_dict,
            "codec": CodecConfig.saved,
            "windows": WindowConfig.from_dict,
        }
        changed = [
            name
            for name in FINGERPRINT
            if (read[name](saved[name]) if name in saved else None) != getattr(record, name)
        ]
    except (TypeError, ValueError, KeyError, ConfigError) as e:
        raise CheckpointError(f"{file}: unreadable settings in its metadata ({e})") from e
    if saved["kind"] != record.kind:
        changed.insert(0, "kind")
    if changed:
        raise CheckpointError(
            f"{file.parent / META}: its {', '.join(changed)} settings differ from those the "
            f"weights in {file.name} were trained with; the file was edited"
        )


def load_optimizer(optimizer: torch.optim.Optimizer, record: Record) -> None:
    """Restore an optimiser saved by :func:`save_checkpoint` into one over the same parameters."""
    file = resolve(record.path or ".") / OPTIMIZER
    try:
        tensors = load_file(str(file))
        groups = (record.optimizer or {})["param_groups"]
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, t in tensors.items():
            index, slot = key.split(".", 1)
            state.setdefault(int(index), {})[slot] = t
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        params = [p for g in optimizer.param_groups for p in g["params"]]
        for n, slots in state.items():
            for slot, t in slots.items():
                if t.dim() and (n >= len(params) or t.shape != params[n].shape):
                    raise ValueError(f"tensor {n}.{slot} of shape {tuple(t.shape)} fits no weight")
                if not torch.isfinite(t).all():
                    raise ValueError(f"tensor {n}.{slot} holds NaN or infinite values")
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (OSError, SafetensorError, KeyError, TypeError, ValueError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{file}: cannot restore the optimiser ({reason})") from e


def update_record(path: str | os.PathLike, **changes: Any) -> Record:
    """Replace fields of a checkpoint's record, atomically (weights are untouched)."""
    record = dataclasses.replace(read_record(path), **changes)
    atomic_write_json(resolve(path) / META, record.to_json())
    return record
