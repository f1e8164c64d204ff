"""One loader for both models: a checkpoint's record says what to build, then its weights."""

from __future__ import annotations

import os

import torch
from torch import nn

from tunesmith.checkpoint import MODEL, Record, check_weights, load_weights, read_record, resolve
from tunesmith.config import CodecConfig, ComposerConfig, CriticConfig
from tunesmith.data.codec import Codec
from tunesmith.errors import CheckpointError
from tunesmith.models.composer import Composer
from tunesmith.models.critic import Critic


def build_model(record: Record) -> nn.Module:
    """An untrained model of the record's kind and size."""
    codec = Codec(record.codec)
    if isinstance(record.model, ComposerConfig):
        return Composer(record.model, codec.vocab_size)
    assert isinstance(record.model, CriticConfig)  # Record.from_json types it by kind
    return Critic(record.model, codec.vocab_size, codec.pad)


def load_model(
    path: str | os.PathLike,
    kind: str,
    device: str | torch.device = "cpu",
    codec: CodecConfig | None = None,
) -> tuple[nn.Module, Record]:
    """The model of the checkpoint (or run directory's ``best/``) at ``path``, in eval mode on
    ``device``, and its record. With ``codec``, a checkpoint trained on another vocabulary is a
    :class:`CheckpointError`."""
    record = read_record(path, kind=kind)
    if codec is not None and codec != record.codec:
        raise CheckpointError(
            f"{record.path}: trained with {record.codec}, but the request uses {codec}"
        )
    with torch.device("meta"):  # a tampered size allocates nothing: the file is checked first
        check_weights(resolve(record.path or path) / MODEL, build_model(record))
    model = build_model(record)
    load_weights(model, record.path or path, device)
    return model.to(device).eval(), record
