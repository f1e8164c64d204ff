"""``tunesmith test critic``: the Critic's report on held-out music."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.atomic import json_text
from tunesmith.cli.common import add_data_args, add_device_arg, data_source
from tunesmith.config import NEGATIVE_KINDS


def add_parser(verbs) -> None:
    t = verbs.add_parser("test", help="report on a trained model with held-out music")
    models = t.add_subparsers(title="model", required=True, metavar="MODEL")
    c = models.add_parser(
        "critic",
        help="accuracy, AUC, F1, confusion and calibration on the test split",
        description="Score the real windows of a held-out split against one negative each "
        "(the kinds the Critic was trained on, or --negatives), and report accuracy at 0.5, "
        "ROC AUC, F1, the confusion matrix, accuracy per negative kind and the expected "
        "calibration error after temperature scaling (fitted on the validation split).",
    )
    c.add_argument("--critic", type=Path, default=Path("runs/critic"), help="run or checkpoint")
    add_data_args(c)
    c.add_argument(
        "--negatives",
        type=lambda s: tuple(k.strip() for k in s.split(",") if k.strip()),
        help=f"kinds to test against, from {','.join(NEGATIVE_KINDS)}",
    )
    c.add_argument("--split", choices=("test", "valid"), default="test", help="(test)")
    add_device_arg(c)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.judging.critic_report import write_test_report
    from tunesmith.report.console import print_critic_report

    source = data_source(args)
    report = write_test_report(
        args.critic,
        source.prepare() if source.given else None,
        args.split,
        args.negatives,
        device=args.device,
    )
    if args.json:
        print(json_text(report))
    else:
        print_critic_report(report)
    return 0
