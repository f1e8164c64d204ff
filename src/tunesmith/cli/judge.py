"""``tunesmith test critic`` (the Critic's report on held-out music) and ``tunesmith critique``
(score any MIDI files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tunesmith.cli.common import add_data_args, add_device_arg, load_data
from tunesmith.config import NEGATIVE_KINDS

REPORT = "test_report.json"


def add_parser(verbs) -> None:
    t = verbs.add_parser("test", help="report on a trained model with held-out music")
    models = t.add_subparsers(title="model", required=True, metavar="MODEL")
    c = models.add_parser(
        "critic",
        help="accuracy, AUC, F1, confusion and calibration on the test split",
        description="Score the real windows of a held-out split against one negative each "
        "(the kinds the Critic was trained on, or --negatives), and report accuracy at 0.5, "
        "ROC AUC, F1, the confusion matrix, accuracy per negative kind and the expected "
        "calibration error after temperature scaling (fitted on the validation split).",
    )
    c.add_argument("--critic", type=Path, default=Path("runs/critic"), help="run or checkpoint")
    add_data_args(c)
    c.add_argument(
        "--negatives",
        type=lambda s: tuple(k.strip() for k in s.split(",") if k.strip()),
        help=f"kinds to test against, from {','.join(NEGATIVE_KINDS)}",
    )
    c.add_argument("--split", choices=("test", "valid"), default="test", help="(test)")
    add_device_arg(c)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(run=run_test_critic)

    q = verbs.add_parser(
        "critique",
        help="score MIDI files or folders with a trained Critic",
        description="Score every MIDI file given (folders are searched recursively): per file "
        "the mean and the minimum of its window scores in [0, 1] (1 = like real music) and the "
        "number of windows. Unreadable files are skipped with their reason.",
    )
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="MIDI files or folders")
    q.add_argument("--critic", type=Path, default=Path("runs/critic"), help="run or checkpoint")
    add_device_arg(q)
    q.add_argument("--json", action="store_true", help="print the scores as JSON")
    q.set_defaults(run=run_critique)


def report_critic(
    path: Path,
    device: str | None,
    as_json: bool = False,
    cache=None,
    kinds: tuple[str, ...] | None = None,
    split: str = "test",
    calibrate_first: bool = False,
) -> dict:
    """Calibrate if asked (or never done), report on ``split``, save it beside the run, print."""
    from tunesmith.atomic import atomic_write_json
    from tunesmith.data.cache import TokenCache
    from tunesmith.evaluation.critic_report import calibrate, critic_report
    from tunesmith.evaluation.scoring import load_critic
    from tunesmith.progress import rich_progress
    from tunesmith.training.distributed import pick_device

    critic = load_critic(path, pick_device(device or "auto"))
    cache = cache or TokenCache.load(critic.meta["data"]["cache"])
    cache.check_codec(critic.codec.config, f"the Critic {critic.path}")
    if calibrate_first or "temperature" not in critic.meta:
        calibrate(critic, cache)
    with rich_progress(transient=True) as progress:
        report = critic_report(critic, cache, split, kinds, progress)
    report["critic"] = str(critic.path)
    atomic_write_json(critic.path.parent / REPORT, report)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return report


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    mix = report["mix"]
    console = Console()
    table = Table(
        title=f"Critic on the {report['split']} split: {report['real_windows']:,} real windows "
        f"from {report['pieces']} pieces, one negative each"
    )
    for col in ("negatives", "accuracy", "AUC", "called real", "mean score"):
        table.add_column(col, justify="left" if col == "negatives" else "right")
    for kind, m in report["kinds"].items():
        table.add_row(
            kind,
            f"{m['accuracy']:.2%}",
            f"{m['auc']:.4f}",
            f"{m['called_real']:.1%}",
            f"{m['mean_score']:.3f}",
        )
    table.add_row(
        "mix: " + ",".join(mix["kinds"]),
        f"{mix['accuracy']:.2%}",
        f"{mix['auc']:.4f}",
        "",
        "",
        style="bold",
    )
    console.print(table)
    (tn, fp), (fn, tp) = mix["confusion"]
    console.print(
        f"real windows: mean score {report['real_mean_score']:.3f}, "
        f"{report['real_called_real']:.1%} called real\n"
        f"mix: F1 {mix['f1']:.4f}; confusion: {tp} real and {tn} bad right, {fn} real called "
        f"bad, {fp} bad called real\n"
        f"calibration: temperature {report['temperature']:.3f}, ECE {mix['ece']:.4f} "
        f"(before scaling {mix['ece_uncalibrated']:.4f})",
        highlight=False,
    )


def run_test_critic(args: argparse.Namespace) -> int:
    cache = None
    if args.corpus or args.midi_dir:
        cache = load_data(args, {})
    report_critic(args.critic, args.device, args.json, cache, args.negatives, args.split)
    return 0


def run_critique(args: argparse.Namespace) -> int:
    from tunesmith.evaluation.scoring import load_critic, midi_files
    from tunesmith.training.distributed import pick_device

    critic = load_critic(args.critic, pick_device(args.device or "auto"))
    files, skipped = midi_files(args.paths)
    scored, bad = critic.score_files(files)
    skipped += bad
    if not scored:
        from tunesmith.errors import NoDataError

        first = skipped[0]
        raise NoDataError(
            f"none of {len(files)} file(s) could be scored ({first['file']}: {first['reason']})"
        )
    rows = [
        {"file": str(p), "mean": round(s.mean, 4), "min": round(s.min, 4), "windows": s.windows}
        for p, s in scored
    ]
    if args.json:
        print(json.dumps({"critic": str(critic.path), "files": rows, "skipped": skipped}, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        table = Table(title=f"Critic {critic.path}: scores in [0, 1], 1 = like real music")
        for col in ("file", "mean", "min", "windows"):
            table.add_column(col, justify="left" if col == "file" else "right")
        for r in rows:
            table.add_row(r["file"], f"{r['mean']:.3f}", f"{r['min']:.3f}", str(r["windows"]))
        console.print(table)
        console.print(f"scored {len(rows)} file(s), skipped {len(skipped)}", highlight=False)
        for s in skipped:
            console.print(f"  {s['file']}: {s['reason']}", highlight=False, soft_wrap=True)
    return 0
