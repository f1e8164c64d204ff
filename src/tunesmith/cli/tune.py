"""``tunesmith tune``: policy-gradient fine-tuning of the Composer with the Critic's verdict."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.cli.common import add_config_args, option_tables
from tunesmith.config import TUNE


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "tune",
        help="fine-tune the Composer so the Critic takes its pieces for real",
        description="Policy gradient (REINFORCE, leave-one-out baseline) on a copy of the "
        "Composer: the reward is the Critic's score of each composed piece, minus a KL penalty "
        "to the original Composer (--kl-coef) so it cannot collapse onto a few pieces that fool "
        "the Critic. Progress shows mean reward and KL; checkpoints are Composer checkpoints.",
    )
    p.add_argument("--composer", type=Path, default=Path("runs/composer"), help="the start")
    p.add_argument("--critic", type=Path, default=Path("runs/critic"), help="gives the reward")
    for config in TUNE.sections().values():
        add_config_args(p, config, "tuning" if config is TUNE.tune else None)
    g = p.add_argument_group("run")
    g.add_argument("--out", type=Path, default=Path("runs/tuned"), help="run directory")
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--config", type=Path, help="TOML file with [tune], [train] tables")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.tuning.tune import tune_composer

    result = tune_composer(
        args.composer, args.critic, args.out, option_tables(TUNE, args), args.resume
    )
    return 130 if result.stop == "interrupted" else 0
