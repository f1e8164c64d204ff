"""The figures of each command as terminal tables (rich): the page's terminal counterpart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tunesmith.data.prepare import Prepared
from tunesmith.report.format import pct, requested_lines

MAX_SKIPS_SHOWN = 20
MAX_STYLES_SHOWN = 12


def print_prepared(result: Prepared) -> None:
    """The splits of a prepared cache, and every skipped file with its reason."""
    cache = result.cache
    console = Console()
    source = cache.manifest["source"]
    how = "reused cache" if result.reused else f"built cache ({result.read:,} file(s) read)"
    table = Table(title=f"{source['name']}: {how} in {result.seconds:.2f} s")
    for col in ("split", "pieces", "notes", "tokens", "minutes"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for row in cache.summary():
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    console.print(table)
    styles = cache.styles()
    shown = ", ".join(f"{name} {n:,}" for name, n in list(styles.items())[:MAX_STYLES_SHOWN])
    more = f", and {len(styles) - MAX_STYLES_SHOWN} more" if len(styles) > MAX_STYLES_SHOWN else ""
    console.print(f"styles (pieces): {shown}{more}", highlight=False)
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


def print_critic_report(report: dict) -> None:
    """The Critic's test report: each negative kind and the mix, confusion, calibration."""
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


def print_verdict(report: dict, out: Path) -> None:
    from tunesmith.judging.evaluate import farthest_statistics  # torch: not for prepare

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
    composers = report.get("composers") or []
    if composers and composers[0].get("top_p") is not None:
        fitted = report["settings"].get("own_nucleus")
        console.print(
            "composed from the nucleus "
            + ", ".join(f"{c['top_p']:g}" for c in composers)
            + (" (each Composer's own, where fitted)" if fitted else ""),
            highlight=False,
        )
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
    copied = report.get("copying")
    if copied:
        c, r = copied["composed"], copied["real"]
        console.print(
            f"copying: {pct(c['share'])} of composed {c['run']}-note runs are in the training "
            f"split (real test pieces: {pct(r['share'])}); longest run median "
            f"{_num(c['longest_median'], 0)}, max {c['longest_max']} notes (real: "
            f"{_num(r['longest_median'], 0)}, {r['longest_max']})",
            highlight=False,
        )
    for line in requested_lines(report):
        console.print(f"asked for {line}", highlight=False)
    if len(composers) > 1:
        print_composers(console, composers, labels)
    elif composers:
        for f in composers[0]["flags"]:
            console.print(f"[bold red]flag[/] {f}")
    console.print(f"report: {out / 'report.html'}  (figures: {out / 'report.json'})")


def print_composers(console, composers: list[dict], labels: dict) -> None:
    table = Table(
        title="Composers side by side (flags are against the first)",
        caption="score: the Critic's mean; real: share taken for real; 4-grams: distinct event "
        "4-grams; PC dist: mean pairwise pitch-class distance; copied: share of 8-note runs "
        "found in the training split",
    )
    table.add_column("composer")
    for col in ("score", "real", "NLL", "4-grams", "PC dist", "copied"):
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
            pct((c.get("copying") or {}).get("share")),
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


def print_demo(summary: dict, out: Path) -> None:
    """The demo's wall time per stage and the verdict of its evaluation."""
    console = Console()
    times = Table(title="Wall time per stage")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for stage, seconds in summary["seconds"].items():
        times.add_row(stage, f"{seconds:.0f}")
    total = sum(summary["seconds"].values())
    times.add_row("total", f"{total:.0f}", style="bold")
    console.print(times)
    report = json.loads((out / "evaluation" / "report.json").read_text())
    print_verdict(report, out / "evaluation")
    for label, judged in report.get("also_judged", {}).items():
        console.print(
            f"{label}: composed mean {judged['composed']['mean']:.3f}, "
            f"taken for real {judged['composed']['called_real']:.0%} "
            f"(real {judged['real']['mean']:.3f}, random {judged['random']['mean']:.3f})",
            highlight=False,
        )


def print_critique(scores: dict[str, Any]) -> None:
    """Per file its score, mean and minimum window score and window count; the skipped files."""
    console = Console()
    table = Table(title=f"Critic {scores['critic']}: scores in [0, 1], 1 = like real music")
    for col in ("file", "score", "mean", "min", "windows"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for r in scores["files"]:
        cells = (f"{r[k]:.3f}" for k in ("score", "mean", "min"))
        table.add_row(r["file"], *cells, str(r["windows"]))
    console.print(table)
    _print_skipped(console, scores)


def print_likelihood(figures: dict[str, Any]) -> None:
    """Per file its notes, seconds, nats per note and per second, and its most surprising
    passages; the skipped files."""
    console = Console()
    table = Table(
        title=f"Composer {figures['composer']}: negative log-likelihood (lower = more typical)"
    )
    for col in ("file", "notes", "seconds", "nats/note", "nats/s", "most surprising (nats/note)"):
        table.add_column(
            col, justify="left" if col in ("file", "most surprising (nats/note)") else "right"
        )
    for r in figures["files"]:
        where = ", ".join(
            f"{p['start']:.1f}-{p['end']:.1f} s ({p['nll_per_note']:.2f})" for p in r["surprising"]
        )
        table.add_row(
            r["file"],
            str(r["notes"]),
            f"{r['seconds']:.1f}",
            f"{r['nll_per_note']:.3f}",
            f"{r['nll_per_second']:.2f}",
            where or "-",
        )
    console.print(table)
    _print_skipped(console, figures)


def _print_skipped(console: Console, scored: dict[str, Any]) -> None:
    skipped = scored["skipped"]
    console.print(f"scored {len(scored['files'])} file(s), skipped {len(skipped)}", highlight=False)
    for s in skipped:
        console.print(f"  {s['file']}: {s['reason']}", highlight=False, soft_wrap=True)
