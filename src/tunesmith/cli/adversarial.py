"""``tunesmith adversarial``: rounds of Critic and Composer training."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.cli.common import add_config_args, add_device_arg, flag_tables, seed_arg
from tunesmith.config import ADVERSARIAL


def add_parser(verbs) -> None:
    a = verbs.add_parser(
        "adversarial",
        help="alternate Critic and Composer training for R rounds",
        description="Each round extends the Critic with the Composer's latest pieces as "
        "negatives, then tunes the Composer against that Critic (KL anchored to the original "
        "Composer). Logs per round the Critic's accuracy on held-out composed pieces and the "
        "Composer's validation NLL on real music. Finished rounds are skipped when run again.",
    )
    a.add_argument("--composer", type=Path, default=Path("runs/composer"), help="the start")
    a.add_argument("--critic", type=Path, default=Path("runs/critic"), help="the first Critic")
    for config in ADVERSARIAL.sections().values():
        add_config_args(a, config, "tuning" if config is ADVERSARIAL.tune else "rounds")
    a.add_argument("--out", type=Path, default=Path("runs/adversarial"), help="output folder")
    a.add_argument("--seed", type=seed_arg, default=0, help="seed (0)")
    add_device_arg(a)
    a.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.tuning.adversarial import run_adversarial

    run_adversarial(
        args.composer, args.critic, args.out, [flag_tables(args)], args.seed, args.device
    )
    return 0
