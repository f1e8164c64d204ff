"""``tunesmith compose``: write new pieces with a trained Composer, all in one batched pass."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from tunesmith.atomic import json_text
from tunesmith.cli.common import add_config_args, add_device_arg, flag_tables
from tunesmith.config import COMPOSE


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "compose",
        help="write new MIDI pieces with a trained Composer",
        description="Sample N pieces together (one LSTM step per token for the whole batch) "
        "and write each as a MIDI file. Sampling keeps the event sequence well formed.",
    )
    p.add_argument(
        "--checkpoint", type=Path, default=Path("runs/composer"), help="Composer run or checkpoint"
    )
    add_config_args(p, COMPOSE.sections()["sample"], "sampling")
    p.add_argument("--primer", type=Path, help="MIDI file whose opening the pieces continue")
    p.add_argument(
        "--primer-seconds", type=float, default=10.0, help="seconds of the primer to use (10)"
    )
    p.add_argument(
        "--start-note",
        metavar="PITCH",
        help="open every piece with this note: a name such as C4 (middle C), F#3, Bb2, or a "
        "MIDI number",
    )
    p.add_argument("--out", type=Path, default=Path("composed"), help="output folder (composed)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tunesmith.compose import compose_files

    flags = flag_tables(args)
    config = COMPOSE.with_tables(flags).sample
    assert config is not None
    if "length" not in flags.get("sample", {}) and config.seconds:
        # Ample tokens for dense music: the seconds stop each piece first.
        length = max(config.length, round(config.seconds * 100))
        config = dataclasses.replace(config, length=min(length, 1_000_000))
    done = compose_files(
        args.checkpoint,
        config,
        args.out,
        args.primer,
        args.primer_seconds,
        args.device,
        args.overwrite,
        args.start_note,
        # The Composer's own nucleus (fitted after training) unless one is asked for.
        own_nucleus="top_p" not in flags.get("sample", {}),
    )
    if args.json:
        print(json_text(done))
        return 0
    for r in done["files"]:
        print(f"{r['file']}  {r['notes']:>5} notes  {r['seconds']:7.1f} s")
    if done["asked"]:
        asked = ", ".join(f"{k} {v}" for k, v in done["asked"].items())
        print(f"asked for {asked} (guidance {done['guidance']:g})")
    tokens, seconds = sum(r["tokens"] for r in done["files"]), done["sampling_seconds"]
    nucleus = f"nucleus {done['top_p']:g}" + (
        " (fitted to this Composer)" if done["fitted"] else ""
    )
    print(
        f"wrote {len(done['files'])} pieces to {args.out} from {done['composer']} ({nucleus}); "
        f"{tokens:,} tokens in {seconds:.1f} s ({tokens / max(seconds, 1e-9):,.0f} tokens/s, "
        f"{done['precision']})"
    )
    return 0
