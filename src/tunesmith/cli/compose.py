"""``tunesmith compose``: write new pieces with a trained Composer, all in one batched pass."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tunesmith.cli.common import add_device_arg, make_config
from tunesmith.config import SampleConfig


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
    add_sample_args(p)
    p.add_argument("--primer", type=Path, help="MIDI file whose opening the pieces continue")
    p.add_argument(
        "--primer-seconds", type=float, default=10.0, help="seconds of the primer to use (10)"
    )
    p.add_argument("--out", type=Path, default=Path("composed"), help="output folder (composed)")
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(run=run_compose)


def add_sample_args(p: argparse.ArgumentParser) -> None:
    d = SampleConfig()
    g = p.add_argument_group("sampling")
    g.add_argument("--n", type=int, help=f"pieces to write ({d.n})")
    g.add_argument("--length", type=int, help=f"most tokens per piece ({d.length})")
    g.add_argument("--seconds", type=float, help="also stop each piece at this many seconds")
    g.add_argument("--temperature", type=float, help=f"softmax temperature ({d.temperature})")
    g.add_argument("--top-k", type=int, help="sample among the k likeliest events (0 = all)")
    g.add_argument("--top-p", type=float, help="nucleus sampling: probability mass kept (1.0)")
    g.add_argument("--seed", type=int, help=f"seed for reproducible pieces ({d.seed})")


def sample_config(args: argparse.Namespace) -> SampleConfig:
    length = args.length
    if length is None and args.seconds:
        length = max(SampleConfig().length, round(args.seconds * 100))  # ample for dense music
    return make_config(
        SampleConfig,
        {},
        n=args.n,
        length=length,
        seconds=args.seconds,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )


def run_compose(args: argparse.Namespace) -> int:
    from tunesmith.compose import encode_primer, load_composer, sample, write_pieces
    from tunesmith.progress import rich_progress
    from tunesmith.training.distributed import pick_device

    config = sample_config(args)
    device = pick_device(args.device or "auto")
    composer = load_composer(args.checkpoint, device)
    primer = None
    if args.primer is not None:
        primer = encode_primer(args.primer, composer.codec, args.primer_seconds)
    t0 = time.perf_counter()
    with rich_progress(transient=True) as progress:
        pieces = sample(composer.model, composer.codec, config, primer, progress)
    seconds = time.perf_counter() - t0
    paths = write_pieces(pieces, composer.codec, args.out)
    rows = []
    for path, tokens in zip(paths, pieces):
        notes = composer.codec.decode(tokens)
        rows.append(
            {
                "file": str(path),
                "tokens": len(tokens),
                "notes": len(notes),
                "seconds": round(notes.duration, 3),
            }
        )
    tokens = sum(r["tokens"] for r in rows)
    if args.json:
        print(json.dumps({"files": rows, "sampling_seconds": round(seconds, 3)}, indent=2))
    else:
        for r in rows:
            print(f"{r['file']}  {r['notes']:>5} notes  {r['seconds']:7.1f} s")
        print(
            f"wrote {len(rows)} pieces to {args.out} from {composer.path}; "
            f"{tokens:,} tokens in {seconds:.1f} s ({tokens / seconds:,.0f} tokens/s)"
        )
    return 0
