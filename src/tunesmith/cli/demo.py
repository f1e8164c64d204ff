"""``tunesmith demo``: the README's main command, the whole story on the embedded corpus."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from tunesmith.cli.common import add_data_args, add_device_arg, load_data

STAGES = ("critic", "composer", "critic-composer", "evaluation", "demo.json")


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "demo",
        help="prepare, train both models, let the Critic judge the Composer (about 15 min)",
        description="End to end on the embedded corpus (or --midi-dir): prepare the data, train "
        "a Critic, train a Composer, extend the Critic with the Composer's own pieces as "
        "negatives, then compose 50 pieces and judge them beside real and random music. About "
        "15 minutes on a 2-core CPU; --quick takes a minute or two.",
    )
    add_data_args(p)
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder (demo)")
    p.add_argument("--quick", action="store_true", help="tiny models and budgets: a smoke run")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    p.add_argument("--seed", type=int, default=0, help="seed of every stage (0)")
    add_device_arg(p)
    p.set_defaults(run=run_demo_cli)


def run_demo_cli(args: argparse.Namespace) -> int:
    from tunesmith.demo import FULL, QUICK, run_demo
    from tunesmith.errors import ConfigError
    from tunesmith.progress import rich_progress
    from tunesmith.training.distributed import runtime

    old = [args.out / s for s in STAGES if (args.out / s).exists()]
    if old and not args.overwrite:
        raise ConfigError(f"{args.out}: holds an earlier demo ({old[0].name}); use --overwrite")
    for path in old:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    t0 = time.perf_counter()
    with runtime(args.device or "auto") as rt, rich_progress(transient=True) as progress:
        print(f"[0/4] Data: {args.midi_dir or args.corpus or 'bach'}")
        cache = load_data(args, {}, progress)
        rows = {r["split"]: r for r in cache.summary()}
        print(
            f"  {rows['total']['pieces']} pieces, {rows['total']['tokens']:,} tokens "
            f"({rows['train']['pieces']} train, {rows['valid']['pieces']} valid, "
            f"{rows['test']['pieces']} test); {time.perf_counter() - t0:.0f} s"
        )
        prepare_seconds = time.perf_counter() - t0
        summary = run_demo(
            cache, args.out, rt, QUICK if args.quick else FULL, progress, seed=args.seed
        )
    summary["seconds"] = {"prepare": prepare_seconds, **summary["seconds"]}
    print_summary(summary, args.out, time.perf_counter() - t0)
    return 0


def print_summary(summary: dict, out: Path, total: float) -> None:
    from rich.console import Console
    from rich.table import Table

    from tunesmith.cli.evaluate import print_verdict

    console = Console()
    times = Table(title="Wall time per stage")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for stage, seconds in summary["seconds"].items():
        times.add_row(stage, f"{seconds:.0f}")
    times.add_row("total", f"{total:.0f}", style="bold")
    console.print(times)
    import json

    report = json.loads((out / "evaluation" / "report.json").read_text())
    print_verdict(report, out / "evaluation")
    for label, judged in report.get("also_judged", {}).items():
        console.print(
            f"{label}: composed mean {judged['composed']['mean']:.3f}, "
            f"taken for real {judged['composed']['called_real']:.0%} "
            f"(real {judged['real']['mean']:.3f}, random {judged['random']['mean']:.3f})",
            highlight=False,
        )
