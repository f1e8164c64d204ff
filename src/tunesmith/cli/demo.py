"""``tunesmith demo``: the README's main command, the whole story on the embedded corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.cli.common import add_data_args, add_device_arg, data_source, seed_arg


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "demo",
        help="prepare, train both models, tune the Composer, judge both (about 16 min)",
        description="End to end on the embedded corpus (or --midi-dir): prepare the data, train "
        "a Critic, train a Composer, extend the Critic with the Composer's own pieces as "
        "negatives (twice, with two seeds: a reward and a judge), tune the Composer against the "
        "first, then compose 50 pieces with the base and the tuned Composer and let the judge, "
        "which neither was tuned against, score them beside real and random music. Sized in "
        "steps: about 16 minutes on a 2-core CPU with bf16; --quick takes about a minute.",
    )
    add_data_args(p, codec_flags=True)
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder (demo)")
    p.add_argument("--quick", action="store_true", help="tiny models and budgets: a smoke run")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of every stage (0)")
    add_device_arg(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.config import DEMO, DEMO_QUICK
    from tunesmith.demo import run_demo
    from tunesmith.report.console import print_demo

    plan = DEMO_QUICK if args.quick else DEMO
    summary = run_demo(data_source(args), args.out, plan, args.seed, args.device, args.overwrite)
    print_demo(summary, args.out)
    return 0
