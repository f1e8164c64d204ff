"""``tunesmith evaluate``: the Critic judges the Composer, beside real and random music."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tunesmith.cli.common import add_device_arg, make_config
from tunesmith.cli.compose import add_sample_args
from tunesmith.config import SampleConfig


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "evaluate",
        help="compose N pieces and judge them beside real and random music",
        description="Compose N pieces in one batched pass, score them with the Critic beside "
        "held-out real pieces (test split) and random-note pieces, compare objective music "
        "statistics with real music, and write MIDI, report.json and report.html.",
    )
    p.add_argument(
        "--composer",
        nargs="+",
        default=["runs/composer"],
        metavar="[LABEL=]PATH",
        help="Composer run(s) or checkpoint(s); several are compared side by side, the first "
        "as the base (e.g. base=runs/composer tuned=runs/tuned)",
    )
    p.add_argument("--critic", type=Path, default=Path("runs/critic"), help="run or checkpoint")
    add_sample_args(p)
    p.add_argument(
        "--best-of",
        type=int,
        default=1,
        help="compose K candidates per piece and keep the one the Critic scores highest",
    )
    p.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder")
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print report.json's figures as JSON")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from tunesmith.errors import ConfigError
    from tunesmith.evaluation.evaluate import evaluate
    from tunesmith.progress import rich_progress
    from tunesmith.training.distributed import pick_device

    if not 1 <= args.best_of <= 64:
        raise ConfigError(f"--best-of must be in [1, 64], got {args.best_of}")
    config = make_config(
        SampleConfig,
        {},
        {"n": 50},
        n=args.n,
        length=args.length,
        seconds=args.seconds,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    with rich_progress(transient=True) as progress:
        report = evaluate(
            [composer_label(c) for c in args.composer],
            args.critic,
            args.out,
            config,
            best_of=args.best_of,
            device=str(pick_device(args.device or "auto")),
            progress=progress,
            match_length=args.length is None,
        )
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "statistics"}, indent=2))
    else:
        print_verdict(report, args.out)
    return 0


def composer_label(item: str) -> tuple[str, str]:
    """``LABEL=PATH`` or ``PATH`` (labelled by its run folder) -> (label, path)."""
    label, sep, path = item.partition("=")
    if sep and label and "/" not in label:
        return label, path
    p = Path(item)
    return (p.parent.name if p.name in ("best", "last") else p.name) or item, item


def print_verdict(report: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from tunesmith.evaluation.evaluate import farthest_statistics

    console = Console()
    sets = report["sets"]
    table = Table(title=f"Critic scores (1 = like real music), {report['critic']['path']}")
    for col in ("set", "pieces", "mean", "median", "std", "q25-q75", "taken for real"):
        table.add_column(col, justify="left" if col == "set" else "right")
    for name in ("composed", "real", "random"):
        s = sets[name]
        table.add_row(
            name,
            str(len(s["scores"])),
            f"{s['mean']:.3f}",
            f"{s['median']:.3f}",
            f"{s['std']:.3f}",
            f"{s['q25']:.2f}-{s['q75']:.2f}",
            f"{s['called_real']:.0%}",
        )
    console.print(table)
    best = report.get("best_of")
    if best:
        console.print(
            f"best of {best['k']}: mean score {best['mean_before']:.3f} -> {best['mean_after']:.3f}"
            f", taken for real {best['called_real_before']:.0%} -> {best['called_real_after']:.0%}",
            highlight=False,
        )
    labels = report["statistics"]["labels"]
    stats = Table(title="Where the composed pieces are farthest from real ones")
    for col in ("statistic", "real", "composed", "overlap", "KL"):
        stats.add_column(col, justify="left" if col == "statistic" else "right")
    for name, c in farthest_statistics(report):
        stats.add_row(
            f"{labels[name]['label']} ({labels[name]['unit']})",
            _mean_std(c["reference_mean"], c["reference_std"]),
            _mean_std(c["other_mean"], c["other_std"]),
            _num(c["overlap"], 3),
            _num(c["kl"], 3),
        )
    console.print(stats)
    composers = report.get("composers") or []
    if len(composers) > 1:
        print_composers(console, composers, labels)
    console.print(f"report: {out / 'report.html'}  (figures: {out / 'report.json'})")


def print_composers(console, composers: list[dict], labels: dict) -> None:
    from rich.table import Table

    table = Table(
        title="Composers side by side (flags are against the first)",
        caption="score: the Critic's mean; real: share taken for real; 4-grams: distinct event "
        "4-grams; PC dist: mean pairwise pitch-class distance",
    )
    table.add_column("composer")
    for col in ("score", "real", "NLL", "4-grams", "PC dist"):
        table.add_column(col, justify="right")
    table.add_column("largest gap (overlap)")
    for c in composers:
        gap = c["farthest"][0] if c["farthest"] else None
        table.add_row(
            c["label"],
            _num(c["mean"], 3),
            f"{c['called_real']:.0%}",
            _num(c["valid_nll"], 4),
            _num(c["distinct_4grams"], 3),
            _num(c["pitch_class_distance"], 3),
            f"{labels[gap['statistic']]['label']} {gap['overlap']:.2f}" if gap else "–",
        )
    console.print(table)
    for c in composers:
        for f in c["flags"]:
            console.print(f"[bold red]flag[/] {c['label']}: {f}")


def _num(v, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _mean_std(mean, std) -> str:
    return "–" if mean is None else f"{mean:.3g} ± {std:.2g}"
