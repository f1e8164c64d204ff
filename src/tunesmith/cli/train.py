"""``tunesmith train composer|critic``: the shared training loop from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.cli.common import add_config_args, add_data_args, data_source, option_tables
from tunesmith.config import COMPOSER, CRITIC, Preset


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
        "stops early when validation stops improving, and resumes with --resume. Afterwards it "
        "fits the nucleus that compose and evaluate sample from: the one whose pieces' "
        "statistics come nearest the validation pieces'. Runs under torchrun as DDP.",
    )
    add_preset_args(c, COMPOSER, "composer")
    c.set_defaults(run=run_composer)

    k = kinds.add_parser(
        "critic",
        help="the LSTM judge of real versus bad music",
        description="Train the Critic on real windows of the train split against as many "
        "negatives (random notes, corruptions of real pieces, or a Composer's pieces) made from "
        "the same split. Afterwards it fits a temperature on the validation split and reports "
        "on the test split. Resumes with --resume; runs under torchrun as DDP.",
    )
    add_preset_args(k, CRITIC, "critic")
    k.add_argument("--init", type=Path, help="start from this Critic's weights (to extend it)")
    k.set_defaults(run=run_critic)


def add_preset_args(p: argparse.ArgumentParser, preset: Preset, kind: str) -> None:
    add_data_args(p)
    for config in preset.sections().values():
        add_config_args(p, config, "model" if config is preset.model else None)
    g = p.add_argument_group("run")
    g.add_argument(
        "--out", type=Path, default=Path("runs") / kind, help=f"run directory (runs/{kind})"
    )
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--config", type=Path, help="TOML file with settings tables; flags win")


def run_composer(args: argparse.Namespace) -> int:
    from tunesmith.judging.nucleus import train_composer

    tables = option_tables(COMPOSER, args)
    result, _ = train_composer(
        COMPOSER, args.out, tables, data_source(args, tables[0]), args.resume
    )
    return 130 if result.stop == "interrupted" else 0


def run_critic(args: argparse.Namespace) -> int:
    from tunesmith.judging.critic_report import train_critic
    from tunesmith.report.console import print_critic_report

    tables = option_tables(CRITIC, args)
    negatives = tables[-1].get("negatives", {})
    if negatives.get("composer") and "kinds" not in negatives:  # --composer alone adds the kind
        kinds = CRITIC.negatives.kinds if CRITIC.negatives else ()
        tables[-1]["negatives"]["kinds"] = [*kinds, "composer"]
    result, report = train_critic(
        CRITIC, args.out, tables, data_source(args, tables[0]), args.resume, args.init
    )
    if report is not None:
        print_critic_report(report)
    return 130 if result.stop == "interrupted" else 0
