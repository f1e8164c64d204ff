"""``tunesmith score``: how likely a trained Composer finds any MIDI files."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.atomic import json_text
from tunesmith.cli.common import add_device_arg


def add_parser(verbs) -> None:
    q = verbs.add_parser(
        "score",
        help="a Composer's likelihood of MIDI files or folders, and their surprising passages",
        description="Read every MIDI file given (folders are searched recursively) with a "
        "trained Composer: per file its negative log-likelihood per note and per second of "
        "music (lower = more typical of what the Composer learned; both compare across "
        "encodings) and its most surprising passages (time ranges with the most nats per "
        "note). Unreadable files are skipped with their reason.",
    )
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="MIDI files or folders")
    q.add_argument("--composer", type=Path, default=Path("runs/composer"), help="run or checkpoint")
    q.add_argument(
        "--passage-seconds", type=float, default=4.0, help="length of a passage in seconds (4)"
    )
    q.add_argument("--passages", type=int, default=3, help="surprising passages per file (3)")
    add_device_arg(q)
    q.add_argument("--json", action="store_true", help="print the figures as JSON")
    q.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.judging.likelihood import score_files
    from tunesmith.report.console import print_likelihood

    figures = score_files(
        args.paths, args.composer, args.device, args.passage_seconds, args.passages
    )
    if args.json:
        print(json_text(figures))
    else:
        print_likelihood(figures)
    return 0
