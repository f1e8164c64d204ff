"""Where training runs: one process, or one of several under ``torchrun`` (DDP)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from tunesmith.errors import ConfigError


@dataclass(frozen=True)
class Runtime:
    rank: int
    world: int
    device: torch.device
    local_rank: int = 0  # rank on this machine

    @property
    def main(self) -> bool:
        """Only the main process writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @contextmanager
    def local_main_first(self) -> Iterator[None]:
        """Run the body on each machine's first process, then on the others: for work that
        writes shared files, such as preparing the token cache."""
        if self.local_rank == 0:
            yield
            self.barrier()
        else:
            self.barrier()
            yield

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (float64)."""
        if not self.distributed:
            return [float(v) for v in values]
        t = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def max(self, value: float) -> float:
        """The largest ``value`` of any rank."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for CUDA without one is an error."""
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if requested == "cuda":
        raise ConfigError("device is 'cuda' but PyTorch sees no CUDA device")
    return torch.device("cpu")


@functools.cache  # the CPU does not change; sampling asks at every call
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays.
    Without it oneDNN has no bf16 LSTM at all (measured: an AVX2-only EPYC refuses it)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux: assume not, and keep fp32
        return False
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def pick_precision(requested: str, device: torch.device) -> str:
    """``auto``: bf16 autocast where the hardware computes bf16 natively (a CUDA GPU that
    supports it, or a CPU with AVX512-BF16 or AMX), else fp32. Asking for bf16 without it is an
    error."""
    if requested == "fp32":
        return "fp32"
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    if requested == "bf16" and not native:
        raise ConfigError(
            f"precision 'bf16' asks for bf16 autocast, but this {device.type} does not compute "
            "bf16 natively (CPUs need AVX512-BF16 or AMX); use --precision fp32 or auto"
        )
    return "bf16" if native else "fp32"


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """bf16 autocast for ``precision`` bf16; weights and optimiser state stay fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def runtime(device: str = "auto") -> Iterator[Runtime]:
    """Join the process group when started by ``torchrun`` (NCCL on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world == 1:
        yield Runtime(0, 1, dev)
        return
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        yield Runtime(rank, world, dev, local_rank)
    finally:
        dist.destroy_process_group()
