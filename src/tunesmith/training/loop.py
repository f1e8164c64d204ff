"""The one training loop, shared by the Composer and the Critic.

A :class:`Task` says what to train (model, batches, loss, validation); :func:`train` does the
rest: AdamW, warm-up then cosine or plateau decay, gradient clipping, bf16 autocast where the
hardware has it (``train.precision``), DDP under ``torchrun``, validation and early stopping,
checkpoints and resume, a JSONL log.

Determinism: batch order is a permutation drawn from ``(seed, epoch)``, augmentation of each
example from ``(seed, epoch, index)`` and the dropout RNG is re-seeded from ``(seed, step, rank)``
before every step. So the whole random state is a function of the step counter, and a resumed
run (from a checkpoint at any step) takes exactly the steps an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tunesmith.checkpoint import (
    DataRecord,
    Record,
    TrainState,
    load_optimizer,
    load_weights,
    read_record,
    save_checkpoint,
)
from tunesmith.config import TrainConfig
from tunesmith.errors import CheckpointError, ConfigError
from tunesmith.progress import Progress, Silent
from tunesmith.runtime import Runtime, pick_precision
from tunesmith.runtime import autocast as precision_autocast
from tunesmith.training.log import RunLog, write_run_json

# Settings a resumed run may change: they move no weight (the budget only decides when to stop).
RESUMABLE_CHANGES = ("max_minutes", "device", "precision", "save_every", "patience")


class Task(Protocol):
    """What the loop trains. Batches are dicts of CPU tensors; the loop moves them."""

    kind: str  # "composer" or "critic"; also the checkpoint kind

    @property
    def model(self) -> nn.Module:
        """The model it trains."""
        ...

    metric: str  # validation metric to minimise, e.g. "valid_nll"
    unit: str  # what the loss averages over, for progress: "tokens" or "windows"

    def num_train(self) -> int:
        """Number of training examples (windows)."""
        ...

    def batch(self, indices: np.ndarray, epoch: int) -> dict[str, torch.Tensor]:
        """The examples at ``indices``, augmented deterministically from (seed, epoch, index)."""
        ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Sum of per-item losses over the batch, and the number of items summed."""
        ...

    def evaluate(self, model: nn.Module, rt: Runtime) -> dict[str, float]:
        """Validation metrics (must include ``metric``), the same on every rank; no augmentation.
        Under DDP each rank may take a share of the data and combine sums with ``rt.sum``."""
        ...

    def meta(self) -> dict[str, Any]:
        """The fields of the checkpoint :class:`~tunesmith.checkpoint.Record` that describe the
        model and its data (``model``, ``codec``, ...). Each must match when a run is resumed,
        but for where the data's cache lives."""
        ...

    def step_stats(self) -> dict[str, float]:
        """Figures of the last step (this rank's) shown and logged beside the loss; may be {}."""
        ...


@dataclass
class TrainResult:
    out: Path
    state: TrainState
    stop: str  # "epochs", "early stop", "step budget", "time budget", "interrupted"

    @property
    def best(self) -> Path:
        return self.out / "best"


def lr_at(config: TrainConfig, step: int, progress: float, lr_scale: float) -> float:
    """Learning rate for ``step``: linear warm-up, then cosine over ``progress`` in [0, 1]
    (the share of the steps done; without ``max_steps`` the larger of that and the share of the
    time budget spent), or the plateau schedule's scale."""
    base = config.lr
    if step < config.warmup_steps:
        return base * (step + 1) / config.warmup_steps
    if config.schedule == "plateau":
        return base * lr_scale
    low = base * config.min_lr_ratio
    return low + (base - low) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def step_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


class StopFlag:
    """Set by SIGINT/SIGTERM so the loop stops between steps and saves; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for number, old in self._old.items():
                signal.signal(number, old)


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device):
    """AdamW; no weight decay on embeddings, biases and norms."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "embed" in n]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.99),
        fused=device.type == "cuda",
    )


def train(
    task: Task,
    config: TrainConfig,
    out: str | Path,
    rt: Runtime,
    resume: bool = False,
    progress: Progress | None = None,
    echo: Callable[[str], None] = print,
    ahead: bool | None = None,
) -> TrainResult:
    """Train ``task.model`` into the run directory ``out`` (``best/``, ``last/``, logs).

    ``ahead``: make the next batch in a thread while a step trains; by default on an
    accelerator only. The Critic's examples (negatives and piece state made from whole pieces)
    take a fifth of its step on a 2-core CPU, and an accelerator would wait on them at every
    step; on a CPU the thread takes the cores the model's own threads use (2 cores: 526 against
    549 windows/s with it)."""
    out = Path(out)
    progress = progress or Silent()
    say = echo if rt.main else (lambda s: None)
    model = task.model.to(rt.device)
    optimizer = make_optimizer(model, config, rt.device)
    state = TrainState()
    if resume:
        state = _resume(task, config, out, model, optimizer, rt)
        say(f"resumed {out} at epoch {state.epoch + 1}, step {state.step}")
    elif (out / "last").exists() or (out / "best").exists():
        raise CheckpointError(f"{out}: already holds a run; use --resume to continue it")

    n, B = task.num_train(), config.batch_size
    if rt.world > B:
        raise ConfigError(
            f"train.batch_size ({B}) is smaller than the number of ranks ({rt.world})"
        )
    steps_per_epoch = n // B
    if steps_per_epoch == 0:
        raise ConfigError(f"train.batch_size ({B}) exceeds the {n} training examples")
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    budget = config.max_minutes * 60.0
    eval_every = config.eval_every or long_epoch_interval(steps_per_epoch, total_steps)
    if eval_every and not config.eval_every:
        say(
            f"validating every {eval_every} steps: an epoch ({steps_per_epoch:,} steps) is "
            f"longer than a quarter of the run's {total_steps:,}"
        )
    ddp = DistributedDataParallel(model) if rt.distributed else model
    precision = pick_precision(config.precision, rt.device)
    autocast = precision_autocast(precision, rt.device)
    say(f"training in {precision}" + (" autocast" if precision == "bf16" else ""))
    log = RunLog(out, keep_until=state.step if resume else None) if rt.main else None
    if rt.main:
        write_run_json(out, task, config, rt, precision)

    def checkpoint(name: str, with_optimizer: bool) -> None:
        if rt.main:
            record = Record(
                kind=task.kind, **task.meta(), train=config, state=state, world=rt.world
            )
            save_checkpoint(out / name, model, record, optimizer if with_optimizer else None)

    def validate() -> bool:
        """Evaluate, keep the best, save, decide on early stopping (True: stop)."""
        model.eval()
        with torch.no_grad(), autocast:
            metrics = task.evaluate(model, rt)
        model.train()
        value = metrics[task.metric]
        improved = value < state.best
        if improved:
            state.best, state.best_step, state.bad_evals = value, state.step, 0
        else:
            state.bad_evals += 1
            if config.schedule == "plateau":
                state.lr_scale *= 0.5
        record = {
            "epoch": round(state.epoch + state.batch_in_epoch / steps_per_epoch, 3),
            "step": state.step,
            "elapsed": round(state.elapsed, 2),
            "train_loss": round(state.loss_sum / state.loss_steps, 5) if state.loss_steps else None,
            **{k: round(v, 5) for k, v in metrics.items()},
            "best": improved,
        }
        state.history.append(record)
        state.loss_sum, state.loss_steps = 0.0, 0
        if log:
            log.eval(record)
        say(_eval_line(record, task.metric))
        if improved:
            checkpoint("best", with_optimizer=False)
        checkpoint("last", with_optimizer=True)
        return bool(config.patience and state.bad_evals >= config.patience)

    flag = StopFlag()
    stop = ""
    evaluated_at = state.step if resume else -1
    advance = progress.task(f"training {task.kind}", total_steps)
    advance(state.step)
    model.train()
    orders: dict[int, np.ndarray] = {}

    def batch_at(epoch: int, b: int) -> dict[str, torch.Tensor]:
        if epoch not in orders:  # once an epoch: a large corpus has millions
            orders.clear()
            orders[epoch] = np.random.default_rng([config.seed, epoch]).permutation(n)
        return task.batch(orders[epoch][b * B : (b + 1) * B][rt.rank :: rt.world], epoch)

    def after(epoch: int, b: int) -> tuple[int, int] | None:
        epoch, b = (epoch + 1, 0) if b + 1 == steps_per_epoch else (epoch, b + 1)
        return (epoch, b) if epoch < config.epochs else None

    batches = Ahead(batch_at, rt.device.type != "cpu" if ahead is None else ahead)
    with flag.installed(), batches:
        while state.epoch < config.epochs and not stop:
            t0 = time.perf_counter()
            here = (state.epoch, state.batch_in_epoch)
            batch = {k: v.to(rt.device) for k, v in batches.take(here, after(*here)).items()}
            torch.manual_seed(step_seed(config.seed, state.step, rt.rank))
            with autocast:
                loss_sum, count = task.loss(ddp, batch)
            # Every rank scales its loss to the mean over the global batch, so DDP's gradient
            # average equals one process's gradient on the whole batch.
            total_loss, global_count, stop_asked = rt.sum([loss_sum.item(), count, flag.set])
            (loss_sum * (rt.world / global_count)).backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            frac = state.step / total_steps
            if budget and not config.max_steps:  # the clock is the budget: the schedule follows it
                frac = max(frac, state.elapsed / budget)
            lr = lr_at(config, state.step, frac, state.lr_scale)
            for g in optimizer.param_groups:
                g["lr"] = lr
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            # Every rank adds the same step time, so budgets and schedules agree across ranks.
            dt = rt.max(time.perf_counter() - t0)
            loss = total_loss / global_count
            state.step += 1
            state.batch_in_epoch += 1
            state.items += int(global_count)
            state.elapsed += dt
            state.loss_sum += loss
            state.loss_steps += 1
            rate = global_count / dt
            extra = task.step_stats()
            shown = "".join(f"  {k} {v:.3f}" for k, v in extra.items())
            advance(
                1, f"epoch {state.epoch + 1}  loss {loss:.3f}{shown}  {rate:,.0f} {task.unit}/s"
            )
            if log:
                log.step(state.epoch + 1, state.step, state.elapsed, loss, lr, rate, extra)
            if stop_asked:
                stop = "interrupted"
            elif config.max_steps and state.step >= config.max_steps:
                stop = "step budget"
            elif budget and state.elapsed >= budget:
                stop = "time budget"
            epoch_end = state.batch_in_epoch == steps_per_epoch
            if epoch_end:
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            if (epoch_end and not eval_every) or (eval_every and state.step % eval_every == 0):
                evaluated_at = state.step
                batches.settle()
                if validate() and not stop:
                    stop = "early stop"
            elif config.save_every and state.step % config.save_every == 0:
                checkpoint("last", with_optimizer=True)
        if stop == "interrupted":
            if evaluated_at != state.step:
                checkpoint("last", with_optimizer=True)
            say(f"interrupted at step {state.step}; continue with --resume")
        elif evaluated_at != state.step:
            validate()  # the run ended between evaluations (time budget, eval_every)
    if log:
        log.close()
    rt.barrier()
    return TrainResult(out, state, stop or "epochs")


class Ahead:
    """Makes the next step's batch in a thread while this step trains (``thread``), or each
    batch when it is due. ``make(epoch, b)`` depends on nothing else, so a batch is the same
    whenever it is made."""

    def __init__(self, make: Callable[[int, int], dict[str, torch.Tensor]], thread: bool) -> None:
        self.make = make
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batches") if thread else None
        self.pending: tuple[tuple[int, int], Future] | None = None

    def take(
        self, here: tuple[int, int], upcoming: tuple[int, int] | None
    ) -> dict[str, torch.Tensor]:
        """The batch at ``here``; with a thread, ``upcoming`` is made meanwhile."""
        if self.pending and self.pending[0] == here:
            batch = self.pending[1].result()
        else:
            self.settle()
            batch = self.make(*here)
        self.pending = None
        if self.pool and upcoming:
            self.pending = (upcoming, self.pool.submit(self.make, *upcoming))
        return batch

    def settle(self) -> None:
        """Wait for the batch being made (validation reads the same data files); its error,
        if any, is raised when it is taken."""
        if self.pending:
            self.pending[1].exception()

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)


MIN_EVAL_EVERY = 50


def long_epoch_interval(steps_per_epoch: int, total_steps: int) -> int:
    """Steps between validations when an epoch is too long to wait for (a large corpus under a
    step budget): an eighth of the run once an epoch exceeds a quarter of it, else 0 (once per
    epoch). Short runs (tests, first looks) keep once per epoch: validations at least
    ``MIN_EVAL_EVERY`` steps apart."""
    every = total_steps // 8
    return every if steps_per_epoch > total_steps / 4 and every >= MIN_EVAL_EVERY else 0


def _resume(task, config, out, model, optimizer, rt) -> TrainState:
    last = out / "last"
    if not (last / "checkpoint.json").exists():
        raise CheckpointError(f"{out}: nothing to resume (no last/ checkpoint)")
    record = read_record(last, kind=task.kind)
    for key, value in task.meta().items():
        saved = getattr(record, key)
        same = value.same_data(saved) if isinstance(value, DataRecord) else saved == value
        if not same:
            raise CheckpointError(f"{last}: was trained with {key} {saved}, this run asks {value}")
    saved_train = record.train.to_dict() if record.train else {}
    changed = sorted(
        k
        for k, v in config.to_dict().items()
        if k not in RESUMABLE_CHANGES and saved_train.get(k) != v
    )
    if changed:
        raise CheckpointError(f"{last}: training settings differ from the saved run: {changed}")
    if record.state is None:
        raise CheckpointError(f"{last}: no training state to resume from")
    load_weights(model, last, rt.device)
    load_optimizer(optimizer, record)
    return copy.deepcopy(record.state)


def _eval_line(record: dict[str, Any], metric: str) -> str:
    parts = [f"epoch {record['epoch']:>6.2f}", f"step {record['step']:>6}"]
    if record["train_loss"] is not None:
        parts.append(f"train {record['train_loss']:.4f}")
    parts += [f"{k} {v:.4f}" for k, v in record.items() if k.startswith("valid")]
    parts.append(f"{record['elapsed']:.0f}s")
    if record["best"]:
        parts.append("*best*")
    return "  ".join(parts)
