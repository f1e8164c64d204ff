"""``tunesmith train composer|critic``: the shared training loop from the command line."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.cli.common import (
    DATA_TABLES,
    add_data_args,
    add_device_arg,
    load_config_file,
    load_data,
    make_config,
)
from tunesmith.config import (
    NEGATIVE_KINDS,
    ComposerConfig,
    CriticConfig,
    NegativeConfig,
    TrainConfig,
    WindowConfig,
)


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "train",
        help="train the Composer or the Critic",
        description="Train a model on the prepared corpus with the shared training loop.",
    )
    kinds = p.add_subparsers(title="model", required=True, metavar="MODEL")
    c = kinds.add_parser(
        "composer",
        help="the LSTM language model over performance events",
        description="Train the Composer: next-event prediction on windows of the train split, "
        "validated by NLL (nats/token) on whole validation pieces. Keeps the best checkpoint, "
        "stops early when validation stops improving, and resumes with --resume. Runs under "
        "torchrun as DDP.",
    )
    add_data_args(c)
    g = c.add_argument_group("model")
    g.add_argument("--embedding", type=int, help="token embedding size")
    g.add_argument("--hidden", type=int, help="LSTM units per layer")
    g.add_argument("--layers", type=int, help="LSTM layers")
    g.add_argument("--dropout", type=float, help="dropout between layers")
    g.add_argument(
        "--tie-weights", action="store_true", default=None, help="share embedding and output"
    )
    add_window_args(c)
    add_train_args(c, "composer")
    c.set_defaults(run=run_train_composer)

    k = kinds.add_parser(
        "critic",
        help="the LSTM judge of real versus bad music",
        description="Train the Critic on real windows of the train split against as many "
        "negatives (random notes, corruptions of real pieces, or a Composer's pieces) made from "
        "the same split. Afterwards it fits a temperature on the validation split and reports "
        "on the test split. Resumes with --resume; runs under torchrun as DDP.",
    )
    add_data_args(k)
    g = k.add_argument_group("model")
    g.add_argument("--embedding", type=int, help="token embedding size")
    g.add_argument("--hidden", type=int, help="LSTM units per layer (and direction)")
    g.add_argument("--layers", type=int, help="LSTM layers")
    g.add_argument("--dropout", type=float, help="dropout")
    g.add_argument("--bidirectional", action="store_true", default=None, help="read both ways")
    g.add_argument(
        "--velocity",
        action="store_true",
        default=None,
        help="let the Critic read velocity events (off: no velocity shortcut)",
    )
    g.add_argument("--init", type=Path, help="start from this Critic's weights (to extend it)")
    add_window_args(k)
    add_negative_args(k)
    add_train_args(k, "critic")
    k.set_defaults(run=run_train_critic)


def add_negative_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("negatives")
    g.add_argument(
        "--negatives",
        type=lambda s: [k.strip() for k in s.split(",") if k.strip()],
        help=f"comma-separated kinds from {','.join(NEGATIVE_KINDS)} "
        "(default: random,wrong_notes,shuffle,jitter)",
    )
    g.add_argument("--composer", help="Composer checkpoint for composer negatives")
    g.add_argument("--composer-pieces", type=int, help="composer pieces sampled for training")
    g.add_argument("--wrong-fraction", type=float, help="wrong_notes: share of notes moved (0.3)")
    g.add_argument("--wrong-semitones", type=int, help="wrong_notes: largest move (3)")
    g.add_argument("--segment-seconds", type=float, help="shuffle: segment length (1.0)")
    g.add_argument("--jitter-seconds", type=float, help="jitter: onset std in seconds (0.05)")


def negative_config(
    args: argparse.Namespace, file: dict, defaults: NegativeConfig, saved: dict
) -> NegativeConfig:
    kinds = args.negatives
    if args.composer and kinds is None:
        kinds = [*defaults.kinds, "composer"]
    composer = str(args.composer) if args.composer else None
    return make_config(
        NegativeConfig,
        file,
        {**defaults.to_dict(), **saved.get("negatives", {})},
        kinds=kinds,
        composer=composer,
        composer_pieces=args.composer_pieces,
        wrong_fraction=args.wrong_fraction,
        wrong_semitones=args.wrong_semitones,
        segment_seconds=args.segment_seconds,
        jitter_seconds=args.jitter_seconds,
    )


def add_window_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("windows")
    g.add_argument("--window", type=int, help="tokens per training window")
    g.add_argument("--stride", type=int, help="tokens between window starts")
    g.add_argument("--transpose", type=int, help="augment: random transposition up to N semitones")
    g.add_argument("--stretch", type=float, help="augment: random time stretch up to this fraction")


def add_train_args(p: argparse.ArgumentParser, kind: str) -> None:
    g = p.add_argument_group("training")
    g.add_argument(
        "--out", type=Path, default=Path("runs") / kind, help=f"run directory (runs/{kind})"
    )
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--config", type=Path, help="TOML file with settings tables; flags win")
    g.add_argument("--batch-size", type=int, help="global batch (split across DDP ranks)")
    g.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    g.add_argument("--epochs", type=int, help="most epochs")
    g.add_argument("--max-minutes", type=float, help="wall-clock budget of training; 0 = none")
    g.add_argument("--patience", type=int, help="evaluations without improvement before stopping")
    g.add_argument("--warmup-steps", type=int, help="linear warm-up steps")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay")
    g.add_argument("--grad-clip", type=float, help="max gradient norm; 0 = off")
    g.add_argument("--schedule", choices=("cosine", "plateau"), help="learning-rate decay")
    g.add_argument("--eval-every", type=int, help="steps between validations; 0 = each epoch")
    g.add_argument("--save-every", type=int, help="steps between resumable checkpoints")
    g.add_argument("--seed", type=int, help="seed of batch order, augmentation and dropout")
    add_device_arg(g)


def saved_settings(out: Path, resume: bool, kind: str) -> dict[str, Any]:
    """A resumed run starts from its own saved settings; flags given now override them."""
    if not resume:
        return {}
    from tunesmith.training.checkpoint import read_meta

    return read_meta(out / "last", kind=kind) if (out / "last").exists() else {}


def train_config(
    args: argparse.Namespace, file: dict, defaults: TrainConfig, saved: dict
) -> TrainConfig:
    return make_config(
        TrainConfig,
        file,
        {**defaults.to_dict(), **saved.get("train", {})},
        batch_size=args.batch_size,
        lr=args.lr,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        patience=args.patience,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        schedule=args.schedule,
        eval_every=args.eval_every,
        save_every=args.save_every,
        seed=args.seed,
        device=args.device,
    )


def window_config(
    args: argparse.Namespace, file: dict, defaults: WindowConfig, saved: dict
) -> WindowConfig:
    return make_config(
        WindowConfig,
        file,
        {**defaults.to_dict(), **saved.get("windows", {})},
        length=args.window,
        stride=args.stride,
        transpose=args.transpose,
        stretch=args.stretch,
    )


def run_train_composer(args: argparse.Namespace) -> int:
    from tunesmith.training import composer as defaults

    file = load_config_file(args.config, DATA_TABLES | {"composer", "windows", "train"})
    saved = saved_settings(args.out, args.resume, "composer")
    model = make_config(
        ComposerConfig,
        file,
        {**defaults.MODEL.to_dict(), **saved.get("model", {})},
        embedding=args.embedding,
        hidden=args.hidden,
        layers=args.layers,
        dropout=args.dropout,
        tie_weights=args.tie_weights,
    )
    windows = window_config(args, file, defaults.WINDOWS, saved)
    config = train_config(args, file, defaults.TRAIN, saved)

    def make_task(cache, seed, device, progress):
        return defaults.ComposerTask(cache, model, windows, seed=seed)

    return run_training(args, file, saved, config, make_task)


def run_train_critic(args: argparse.Namespace) -> int:
    from tunesmith.training import critic as defaults
    from tunesmith.training.checkpoint import resolve

    tables = DATA_TABLES | {"critic", "windows", "train", "negatives"}
    file = load_config_file(args.config, tables)
    saved = saved_settings(args.out, args.resume, "critic")
    model = make_config(
        CriticConfig,
        file,
        {**defaults.MODEL.to_dict(), **saved.get("model", {})},
        embedding=args.embedding,
        hidden=args.hidden,
        layers=args.layers,
        dropout=args.dropout,
        bidirectional=args.bidirectional,
        velocity=args.velocity,
    )
    windows = window_config(args, file, defaults.WINDOWS, saved)
    negatives = negative_config(args, file, defaults.NEGATIVES, saved)
    config = train_config(args, file, defaults.TRAIN, saved)

    init = saved.get("init") or (str(resolve(args.init)) if args.init else None)

    def make_task(cache, seed, device, progress):
        return defaults.CriticTask(cache, model, windows, negatives, seed, device, progress, init)

    code = run_training(args, file, saved, config, make_task)
    if code == 0 and int(os.environ.get("RANK", "0")) == 0:
        from tunesmith.cli.judge import report_critic

        report_critic(args.out, config.device, calibrate_first=True)
    return code


def run_training(
    args: argparse.Namespace,
    file: dict,
    saved: dict,
    config: TrainConfig,
    make_task: Callable[..., Any],
) -> int:
    """Prepare the data (each machine's first process first), build the task, train, report."""
    import contextlib

    from tunesmith.data.cache import TokenCache
    from tunesmith.errors import TunesmithError
    from tunesmith.progress import rich_progress
    from tunesmith.training.distributed import runtime
    from tunesmith.training.loop import train

    with runtime(config.device) as rt:
        bars = rich_progress(transient=True) if rt.main else contextlib.nullcontext(None)
        with bars as progress:
            with rt.local_main_first():
                cache = None
                recorded = saved.get("data", {}).get("cache")
                if recorded and not (args.corpus or args.midi_dir):
                    with contextlib.suppress(TunesmithError):
                        cache = TokenCache.load(recorded)
                if cache is None:
                    cache = load_data(args, file, progress if rt.main else None)
            task = make_task(cache, config.seed, rt.device, progress)
            say = print if rt.main else (lambda s: None)
            params = sum(p.numel() for p in task.model.parameters())
            say(
                f"{task.kind}: {params:,} parameters on {rt.device}"
                + (f" x {rt.world} processes" if rt.distributed else "")
                + f"; {task.num_train():,} training windows from {cache.path}"
            )
            result = train(task, config, args.out, rt, args.resume, progress, echo=say)
    if rt.main:
        s = result.state
        print(
            f"stopped: {result.stop} after {s.epoch} epochs + {s.batch_in_epoch} steps "
            f"({s.step} steps, {s.elapsed / 60:.1f} min); best {task.metric} {s.best:.4f} "
            f"at step {s.best_step}"
        )
        print(f"checkpoints: {result.best} (best), {result.out / 'last'} (resume)")
    return 130 if result.stop == "interrupted" else 0
