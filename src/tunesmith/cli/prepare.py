"""``tunesmith prepare``: real music -> cached performance-event tokens, split by piece."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith.atomic import json_text
from tunesmith.cli.common import (
    DATA_TABLES,
    add_data_args,
    data_source,
    integer_in,
    load_config_file,
    number_in,
    seed_arg,
)
from tunesmith.data.prepare import READ_TIMEOUT


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "prepare",
        help="convert a corpus or a MIDI folder to cached token sequences",
        description="Convert real music to performance-event tokens, split by piece, and "
        "cache them. A second run with the same inputs and settings reuses the cache.",
    )
    add_data_args(p, codec_flags=True)
    p.add_argument("--seed", dest="split.seed", type=seed_arg, help="= --split-seed")
    p.add_argument("--config", type=Path, help="TOML file with [codec], [read], [split] tables")
    p.add_argument(
        "--workers",
        type=integer_in(0, 1024),
        default=0,
        help="processes that read files (and convert scores); 0 = one per core",
    )
    p.add_argument(
        "--read-timeout",
        type=number_in(0.1, 86400.0),
        default=READ_TIMEOUT,
        metavar="SECONDS",
        help=f"skip a file still being read after this long (default {READ_TIMEOUT:g})",
    )
    p.add_argument("--rebuild", action="store_true", help="rebuild even if a cache matches")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.data.prepare import prepare
    from tunesmith.progress import rich_progress
    from tunesmith.report.console import print_prepared

    source = data_source(args, load_config_file(args.config, DATA_TABLES))
    with rich_progress(transient=True) as progress:
        result = prepare(
            corpus=source.corpus or "bach",
            midi_dir=source.midi_dir,
            cache_dir=source.cache_dir,
            codec=source.codec,
            read=source.read,
            split=source.split,
            workers=args.workers,
            rebuild=args.rebuild,
            progress=progress,
            timeout=args.read_timeout,
        )
    if args.json:
        summary = {
            "cache": str(result.cache.path),
            "reused": result.reused,
            "read": result.read,
            "seconds": round(result.seconds, 3),
            "splits": result.cache.summary(),
            "styles": result.cache.styles(),
            "skipped": result.skipped,
        }
        print(json_text(summary))
    else:
        print_prepared(result)
    return 0
