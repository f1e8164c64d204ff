"""``tunesmith critique``: score any MIDI files with a trained Critic."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.atomic import json_text
from tunesmith.cli.common import add_device_arg


def add_parser(verbs) -> None:
    q = verbs.add_parser(
        "critique",
        help="score MIDI files or folders with a trained Critic",
        description="Score every MIDI file given (folders are searched recursively): per file "
        "its score in [0, 1] (1 = like real music: the mean of its worst quarter of window "
        "scores), the mean and the minimum of its window scores and the number of windows. "
        "Unreadable files are skipped with their reason.",
    )
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="MIDI files or folders")
    q.add_argument("--critic", type=Path, default=Path("runs/critic"), help="run or checkpoint")
    add_device_arg(q)
    q.add_argument("--json", action="store_true", help="print the scores as JSON")
    q.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.judging.scoring import critique
    from tunesmith.report.console import print_critique

    scores = critique(args.paths, args.critic, args.device)
    if args.json:
        print(json_text(scores))
    else:
        print_critique(scores)
    return 0
