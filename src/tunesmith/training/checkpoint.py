"""Checkpoints: weights in safetensors, everything else in JSON; never a pickle.

A checkpoint is a directory::

    model.safetensors      the model's weights
    optimizer.safetensors  the optimiser's tensors (only in a run's "last" checkpoint)
    checkpoint.json        format, kind, library version, configs, training state, metrics

It is written to a temporary directory and renamed into place, so a killed run keeps the
previous checkpoint intact. A run directory holds ``best/`` and ``last/`` checkpoints and the log.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from tunesmith import __version__
from tunesmith.atomic import atomic_write_json, publish_dir, temp_dir_beside
from tunesmith.errors import CheckpointError

FORMAT = "tunesmith-checkpoint/1"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
META = "checkpoint.json"


def save_checkpoint(
    path: Path, model: nn.Module, meta: dict[str, Any], optimizer: torch.optim.Optimizer | None
) -> None:
    """Write a complete checkpoint directory at ``path`` atomically."""
    tmp = temp_dir_beside(path)
    try:
        save_model(model, str(tmp / MODEL))
        meta = {"format": FORMAT, "version": __version__, **meta}
        if optimizer is not None:
            state = optimizer.state_dict()
            tensors = {
                f"{i}.{name}": t.detach().cpu().contiguous()
                for i, slots in state["state"].items()
                for name, t in slots.items()
            }
            save_file(tensors, str(tmp / OPTIMIZER))
            meta["optimizer"] = {"param_groups": state["param_groups"]}
        atomic_write_json(tmp / META, meta)  # last: its presence marks a complete checkpoint
        publish_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resolve(path: str | Path, prefer: str = "best") -> Path:
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


def read_meta(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """The JSON half of a checkpoint, checked for format and (if given) kind."""
    path = resolve(path)
    file = path / META
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: unreadable checkpoint metadata ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{file}: format {found!r}, expected {FORMAT!r}")
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{file}: a {meta.get('kind')!r} checkpoint, expected {kind!r}")
    meta["path"] = str(path)
    return meta


def load_weights(model: nn.Module, path: str | Path, device: str | torch.device = "cpu") -> None:
    """Load ``model.safetensors`` into ``model``; any damage or mismatch names the file."""
    file = resolve(path) / MODEL
    try:
        load_model(model, str(file), strict=True, device=str(device))
    except (OSError, SafetensorError, RuntimeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{file}: cannot load weights ({reason})") from e


def load_optimizer(optimizer: torch.optim.Optimizer, path: str | Path, meta: dict) -> None:
    """Restore an optimiser saved by :func:`save_checkpoint` into one over the same parameters."""
    file = resolve(path) / OPTIMIZER
    try:
        tensors = load_file(str(file))
        groups = meta["optimizer"]["param_groups"]
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


def update_meta(path: str | Path, **fields: Any) -> None:
    """Add or replace fields of a checkpoint's JSON, atomically (weights are untouched)."""
    meta = read_meta(path)
    where = Path(meta.pop("path"))
    atomic_write_json(where / META, {**meta, **fields})
