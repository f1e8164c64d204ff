"""``tunesmith prepare``: real music -> cached performance-event tokens, split by piece."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tunesmith.cli.common import DATA_TABLES, add_data_args, data_configs, load_config_file

MAX_SKIPS_SHOWN = 20


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "prepare",
        help="convert a corpus or a MIDI folder to cached token sequences",
        description="Convert real music to performance-event tokens, split by piece, and "
        "cache them. A second run with the same inputs and settings reuses the cache.",
    )
    add_data_args(p, codec_flags=True)
    p.add_argument("--seed", dest="split_seed", type=int, help="split seed (0); = --split-seed")
    p.add_argument("--config", type=Path, help="TOML file with [codec], [read], [split] tables")
    p.add_argument("--workers", type=int, default=0, help="processes for score conversion")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if a cache matches")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    from tunesmith.data.prepare import prepare
    from tunesmith.progress import rich_progress

    file = load_config_file(args.config, DATA_TABLES)
    codec, read, split = data_configs(args, file)
    with rich_progress(transient=True) as progress:
        result = prepare(
            corpus=args.corpus or "bach",
            midi_dir=args.midi_dir,
            cache_dir=args.cache_dir,
            codec=codec,
            read=read,
            split=split,
            workers=args.workers,
            rebuild=args.rebuild,
            progress=progress,
        )
    if args.json:
        print(
            json.dumps(
                {
                    "cache": str(result.cache.path),
                    "reused": result.reused,
                    "seconds": round(result.seconds, 3),
                    "splits": result.cache.summary(),
                    "skipped": result.skipped,
                },
                indent=2,
            )
        )
    else:
        print_summary(result)
    return 0


def print_summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    cache = result.cache
    console = Console()
    source = cache.manifest["source"]
    how = "reused cache" if result.reused else "built cache"
    table = Table(title=f"{source['name']}: {how} in {result.seconds:.2f} s")
    for col in ("split", "pieces", "notes", "tokens", "minutes"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for row in cache.summary():
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    console.print(table)
    skipped = result.skipped
    if skipped:
        reasons = ", ".join(f"{n} {r}" for r, n in result.skipped_by_reason().most_common())
        console.print(f"skipped {len(skipped)} file(s): {reasons}", highlight=False)
        for s in skipped[:MAX_SKIPS_SHOWN]:
            console.print(f"  {s['file']}: {s['reason']}", highlight=False, soft_wrap=True)
        if len(skipped) > MAX_SKIPS_SHOWN:
            console.print(f"  ... and {len(skipped) - MAX_SKIPS_SHOWN} more in manifest.json")
    else:
        console.print("skipped 0 files")
    console.print(
        f"cache: {cache.path}  (vocabulary {cache.codec.vocab_size} tokens)", highlight=False
    )
