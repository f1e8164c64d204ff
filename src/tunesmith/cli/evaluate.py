"""``tunesmith evaluate``: the Critic judges the Composer, beside real and random music."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.atomic import json_text
from tunesmith.cli.common import add_config_args, add_device_arg, flag_tables, integer_in
from tunesmith.config import EVALUATE


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "evaluate",
        help="compose N pieces and judge them beside real and random music",
        description="Compose N pieces in one batched pass, score them with the Critic beside "
        "held-out real pieces (test split) and random-note pieces, compare objective music "
        "statistics with real music, and write MIDI, report.json and report.html.",
    )
    p.add_argument(
        "--composer",
        nargs="+",
        default=["runs/composer"],
        metavar="[LABEL=]PATH",
        help="Composer run(s) or checkpoint(s); several are compared side by side, the first "
        "as the base (e.g. base=runs/composer tuned=runs/tuned)",
    )
    p.add_argument("--critic", type=Path, default=Path("runs/critic"), help="run or checkpoint")
    add_config_args(p, EVALUATE.sections()["sample"], "sampling")
    p.add_argument(
        "--best-of",
        type=integer_in(1, 64),
        default=1,
        help="compose K candidates per piece and keep the one the Critic scores highest",
    )
    p.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print report.json's figures as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.report.console import print_verdict
    from tunesmith.report.html import evaluate_to_page

    flags = flag_tables(args)
    config = EVALUATE.with_tables(flags).sample
    assert config is not None
    report = evaluate_to_page(
        [composer_label(c) for c in args.composer],
        args.critic,
        args.out,
        config,
        best_of=args.best_of,
        device=args.device,
        # Unless a length is asked for, pieces are as long as the median real piece.
        match_length="length" not in flags.get("sample", {}),
        overwrite=args.overwrite,
        # Each Composer's own nucleus (fitted after training) unless one is asked for.
        own_nucleus="top_p" not in flags.get("sample", {}),
    )
    if args.json:
        print(json_text({k: v for k, v in report.items() if k != "statistics"}))
    else:
        print_verdict(report, args.out)
    return 0


def composer_label(item: str) -> tuple[str, str]:
    """``LABEL=PATH`` or ``PATH`` (labelled by its run folder) -> (label, path)."""
    label, sep, path = item.partition("=")
    if sep and label and "/" not in label:
        return label, path
    p = Path(item)
    return (p.parent.name if p.name in ("best", "last") else p.name) or item, item
