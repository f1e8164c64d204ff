"""The one entry point: ``tunesmith <verb>``. Each verb lives in a module of this package that
parses its options, calls one library function and shows its result (``report.console``);
nothing here computes anything itself."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from tunesmith import __version__
from tunesmith.errors import TunesmithError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except TunesmithError as e:
        print(f"tunesmith: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system said no: a path that is a file, no permission, full
        where = f"{e.filename}: " if e.filename else ""
        print(f"tunesmith: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tunesmith: interrupted", file=sys.stderr)
        return 130


class Parser(argparse.ArgumentParser):
    """Usage errors on one line with exit status 2, like every other user error (the verbs'
    parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from tunesmith.cli import (
        adversarial,
        compose,
        critique,
        demo,
        evaluate,
        prepare,
        score,
        test,
        train,
        tune,
    )

    parser = Parser(
        prog="tunesmith",
        description="Train an LSTM Composer and an LSTM Critic on MIDI, compose, and judge.",
    )
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    verbs = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for module in (
        demo,
        prepare,
        train,
        compose,
        test,
        critique,
        score,
        evaluate,
        tune,
        adversarial,
    ):
        module.add_parser(verbs)
    return parser
