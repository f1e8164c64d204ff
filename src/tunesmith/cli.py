"""The one entry point: ``tunesmith <verb>``. It parses options and calls library functions."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesmith import __version__
from tunesmith.config import CodecConfig, Config, ReadConfig, SplitConfig
from tunesmith.errors import ConfigError, TunesmithError

MAX_SKIPS_SHOWN = 20


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except TunesmithError as e:
        print(f"tunesmith: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tunesmith: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith",
        description="Train an LSTM Composer and an LSTM Critic on MIDI, compose, and judge.",
    )
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    verbs = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    p = verbs.add_parser(
        "prepare",
        help="convert a corpus or a MIDI folder to cached token sequences",
        description="Convert real music to performance-event tokens, split by piece, and "
        "cache them. A second run with the same inputs and settings reuses the cache.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--corpus",
        default="bach",
        choices=("bach", "palestrina", "folk"),
        help="built-in corpus from music21 (default: bach, 410 chorales)",
    )
    src.add_argument(
        "--midi-dir", type=Path, help="folder of .mid/.midi files (recursive; MAESTRO aware)"
    )
    p.add_argument("--cache-dir", type=Path, help="where caches live (default ~/.cache/tunesmith)")
    p.add_argument("--config", type=Path, help="TOML file with [codec], [read], [split] tables")
    p.add_argument("--first-track-only", action="store_true", default=None, help="as the seed did")
    p.add_argument(
        "--no-sustain",
        dest="sustain",
        action="store_false",
        default=None,
        help="ignore the sustain pedal (CC64)",
    )
    p.add_argument("--time-step", type=float, help="seconds per time-shift step (0.01)")
    p.add_argument("--max-shift-steps", type=int, help="longest single time-shift in steps (100)")
    p.add_argument("--velocity-bin-width", type=int, help="velocity units per bin (5: 26 bins)")
    p.add_argument("--valid-fraction", type=float, help="share of pieces for validation (0.1)")
    p.add_argument("--test-fraction", type=float, help="share of pieces for test (0.1)")
    p.add_argument("--seed", type=int, help="split seed (0)")
    p.add_argument("--workers", type=int, default=0, help="processes for score conversion")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if a cache matches")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_prepare)
    return parser


def load_config_file(path: Path | None) -> dict[str, dict[str, Any]]:
    """Read a TOML config; an unreadable or malformed file is a one-line ConfigError."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
    return data


def make_config(cls: type[Config], file: dict[str, dict[str, Any]], **flags: Any) -> Any:
    """A config from the file's table, overridden by the flags the user gave."""
    values = dict(file.get(cls.section, {}))
    values.update({k: v for k, v in flags.items() if v is not None})
    return cls.from_dict(values)


def run_prepare(args: argparse.Namespace) -> int:
    from tunesmith.data.prepare import prepare
    from tunesmith.progress import rich_progress

    file = load_config_file(args.config)
    known = {"codec", "read", "split"}
    if set(file) - known:
        raise ConfigError(f"{args.config}: unknown table(s) {sorted(set(file) - known)}")
    codec = make_config(
        CodecConfig,
        file,
        time_step=args.time_step,
        max_shift_steps=args.max_shift_steps,
        velocity_bin_width=args.velocity_bin_width,
    )
    read = make_config(
        ReadConfig, file, first_track_only=args.first_track_only, sustain=args.sustain
    )
    split = make_config(
        SplitConfig,
        file,
        valid_fraction=args.valid_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    with rich_progress(transient=True) as progress:
        result = prepare(
            corpus=args.corpus,
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


if __name__ == "__main__":
    sys.exit(main())
