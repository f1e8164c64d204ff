"""The sections of report.html, each a function of report.json (and, for the curves and the
pieces, files it names) returning an HTML fragment.

Numbers are only formatted here, never computed: report.json is the one source of truth, so
the page, the CLI's table and any later analysis of report.json agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesmith.report import plots
from tunesmith.report.format import (
    DASH,
    esc,
    figure,
    finite,
    get,
    img,
    mean_std,
    note,
    num,
    pct,
    requested_lines,
)

SETS = ("composed", "real", "random")
FARTHEST = 5  # statistics highlighted as farthest from real (the CLI lists as many)


def resolve(out_dir: Path, path: Any) -> Path | None:
    """A path from report.json: absolute as is; relative to the output folder if it exists
    there, else relative to the working directory (where ``tunesmith evaluate`` ran, which is
    how it writes the run directories). None for a missing or non-string value."""
    if not isinstance(path, str) or not path:
        return None
    p = Path(path)
    if p.is_absolute():
        return p
    if not (out_dir / p).exists() and p.exists():
        return p
    return out_dir / p


def verdict(report: Mapping[str, Any]) -> str:
    """Headline sentence and the per-set table of Critic scores."""
    sets = get(report, "sets") or {}
    c, r, x = (get(sets, s) for s in SETS)
    headline = (
        f"The Critic took <strong>{pct(get(c, 'called_real'))}</strong> of the composed pieces "
        f"for real (mean score <strong>{num(get(c, 'mean'))}</strong>), against "
        f"{pct(get(r, 'called_real'))} of real and {pct(get(x, 'called_real'))} of random "
        "pieces (taken for real: score above 0.5)."
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("set", "pieces", "mean", "median", "std", "q25–q75", "taken for real")
    )
    rows = []
    for name in SETS:
        s = get(sets, name)
        files = get(s, "files")
        count = str(len(files)) if isinstance(files, list) else DASH
        quartiles = f"{num(get(s, 'q25'), 2)}–{num(get(s, 'q75'), 2)}"
        cells = [count, num(get(s, "mean")), num(get(s, "median")), num(get(s, "std"))]
        cells += [quartiles, pct(get(s, "called_real"))]
        tds = "".join(f'<td class="n">{v}</td>' for v in cells)
        rows.append(f'<tr><th class="set-{name}">{name}</th>{tds}</tr>')
    table = f'<table class="scores"><thead><tr>{head}</tr></thead>{"".join(rows)}</table>'
    return f'<p class="verdict">{headline}</p>{table}'


def settings(report: Mapping[str, Any]) -> str:
    """The models and sampling settings behind the figures, as a two-column table."""
    rows: list[tuple[str, str]] = [
        ("Composer", f"<code>{esc(get(report, 'composer', 'path') or DASH)}</code>"),
        ("Composer valid NLL (nats/token)", num(get(report, "composer", "valid_nll"), 4)),
        ("Critic", f"<code>{esc(get(report, 'critic', 'path') or DASH)}</code>"),
        ("Critic temperature", num(get(report, "critic", "temperature"), 3)),
    ]
    mix = get(report, "critic", "test", "mix")
    if isinstance(mix, Mapping):
        rows.append(
            ("Critic test accuracy / AUC", f"{num(mix.get('accuracy'))} / {num(mix.get('auc'))}")
        )
    for key, value in (get(report, "settings") or {}).items():
        rows.append((f"sampling: {esc(key)}", esc(DASH if value is None else value)))
    rows += [
        ("tunesmith", esc(get(report, "tunesmith") or DASH)),
        ("created", esc(get(report, "created") or DASH)),
    ]
    if finite(get(report, "seconds")) is not None:
        rows.append(("evaluation took (s)", num(get(report, "seconds"), 1)))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="settings">{body}</table>'


def best_of(report: Mapping[str, Any]) -> str:
    """Critic-guided generation, if used: mean score and share taken for real, before/after."""
    b = get(report, "best_of")
    if not isinstance(b, Mapping):
        return ""
    return (
        '<section id="best-of"><h2>Best of K</h2>'
        f"<p>Each composed piece is the Critic's favourite of <strong>{esc(b.get('k', DASH))}"
        "</strong> candidates. Against one candidate per piece (the first), the mean score went "
        f"from <strong>{num(b.get('mean_before'))}</strong> to "
        f"<strong>{num(b.get('mean_after'))}</strong>, and the share taken for real from "
        f"<strong>{pct(b.get('called_real_before'))}</strong> to "
        f"<strong>{pct(b.get('called_real_after'))}</strong>. The Critic chose, so these "
        "scores flatter the pieces: the statistics table is the independent check.</p></section>"
    )


def training(report: Mapping[str, Any], out_dir: Path) -> str:
    """Both models' training curves from their runs' log.jsonl, or a note per missing log."""
    parts = [
        _curves("Composer", get(report, "composer", "run"), out_dir, plots.composer_curves_png),
        _curves("Critic", get(report, "critic", "run"), out_dir, plots.critic_curves_png),
    ]
    return (
        '<section id="training"><h2>Training</h2>'
        f'<div class="pair">{"".join(parts)}</div></section>'
    )


def _curves(
    model: str,
    run: Any,
    out_dir: Path,
    draw: Callable[[Sequence[Mapping[str, Any]]], bytes | None],
) -> str:
    # Imported here: training.log pulls in torch, which the rest of the page does not need.
    from tunesmith.training.log import LOG, read_log

    run_dir = resolve(out_dir, run)
    if run_dir is None:
        return note(f"{model}: report.json names no run directory, so no training curves.")
    try:
        records = [r for r in read_log(run_dir) if isinstance(r, dict) and r.get("event") == "eval"]
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        return note(
            f"{model}: no training curves, cannot read <code>{esc(run_dir / LOG)}</code> "
            f"({esc(reason)})."
        )
    png = draw(records)
    if png is None:
        return note(f"{model}: <code>{esc(run_dir / LOG)}</code> holds no evaluations yet.")
    caption = (
        f"{model} training, from <code>{esc(run_dir / LOG)}</code>: solid lines on the left "
        "axis; training loss is the mean over the steps since the previous evaluation."
    )
    if model == "Critic":
        caption += " Dashed lines: validation accuracy and AUC, on the right axis."
    return figure(img(png, f"{model} training curves"), caption)


def scores(report: Mapping[str, Any]) -> str:
    """Histograms of the three sets' Critic scores on one plot."""
    per_set = {}
    for name in SETS:
        values = get(report, "sets", name, "scores")
        per_set[name] = values if isinstance(values, list) else []
    png = plots.score_histograms_png(per_set)
    caption = (
        "Critic scores of every piece, per set, as the share of the set in each bin of width "
        "0.05. Real pieces should sit right of the dotted line, random ones left of it."
    )
    return (
        '<section id="scores"><h2>Scores</h2>'
        f"{figure(img(png, 'histograms of Critic scores'), caption)}</section>"
    )


def statistics(report: Mapping[str, Any]) -> str:
    """Per statistic: mean ± std per set, overlap area and KL divergence against real music;
    the statistics where composed is farthest from real (lowest overlap) highlighted."""
    labels = get(report, "statistics", "labels") or {}
    vs_composed = get(report, "statistics", "comparison", "composed") or {}
    vs_random = get(report, "statistics", "comparison", "random") or {}
    ranked = sorted(
        (o, name) for name in labels if (o := finite(get(vs_composed, name, "overlap"))) is not None
    )
    farthest = [name for _, name in ranked[:FARTHEST]]
    rows = []
    for name, meta in labels.items():
        c, x = get(vs_composed, name), get(vs_random, name)
        real = c if finite(get(c, "reference_mean")) is not None else x
        cells = [
            mean_std(get(real, "reference_mean"), get(real, "reference_std")),
            mean_std(get(c, "other_mean"), get(c, "other_std")),
            mean_std(get(x, "other_mean"), get(x, "other_std")),
            num(get(c, "overlap")),
            num(get(c, "kl")),
            num(get(x, "overlap")),
            num(get(x, "kl")),
        ]
        tds = "".join(f'<td class="n">{v}</td>' for v in cells)
        label, unit = get(meta, "label") or name, get(meta, "unit") or ""
        rank = farthest.index(name) + 1 if name in farthest else 0
        mark = f' <span class="rank" title="rank by overlap">#{rank}</span>' if rank else ""
        attr = ' class="far"' if rank else ""
        rows.append(f"<tr{attr}><th>{esc(label)}{mark}</th><td>{esc(unit)}</td>{tds}</tr>")
    names = ", ".join(esc(get(labels, n, "label") or n) for n in farthest) or DASH
    head = (
        '<thead><tr><th rowspan="2">statistic</th><th rowspan="2">unit</th>'
        '<th colspan="3">mean ± std</th><th colspan="2">composed vs real</th>'
        '<th colspan="2">random vs real</th></tr>'
        "<tr><th>real</th><th>composed</th><th>random</th>"
        "<th>overlap</th><th>KL</th><th>overlap</th><th>KL</th></tr></thead>"
    )
    return (
        '<section id="statistics"><h2>Statistics</h2>'
        f"<p>Farthest from real music (lowest overlap): <strong>{names}</strong>.</p>"
        f'<table class="stats">{head}{"".join(rows)}</table>'
        '<p class="caption">Per-piece statistics (Yang &amp; Lerch 2018). <em>Overlap</em>: '
        "area shared by the two sets' densities (1 = the same, 0 = disjoint). <em>KL</em>: "
        "KL(real ‖ set) in nats, how badly the set covers where real music lies. Highlighted: "
        f"the {FARTHEST} statistics with the lowest composed-vs-real overlap. "
        f"{DASH}: undefined (e.g. no notes).</p></section>"
    )


def composers(report: Mapping[str, Any]) -> str:
    """Several Composers side by side (base first), with their flags; empty for one Composer."""
    entries = [e for e in (get(report, "composers") or []) if isinstance(e, Mapping)]
    if len(entries) < 2:
        return ""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "composer",
            "mean score",
            "taken for real",
            "valid NLL (nats/token)",
            "distinct 4-grams",
            "pitch-class distance",
            "8-note runs copied",
            "mean overlap",
            "largest gaps (overlap)",
        )
    )
    labels = get(report, "statistics", "labels") or {}
    rows, flags = [], []
    for e in entries:
        cells = [
            num(e.get("mean")),
            pct(e.get("called_real")),
            num(e.get("valid_nll"), 4),
            num(e.get("distinct_4grams")),
            num(e.get("pitch_class_distance")),
            pct(get(e, "copying", "share")),
            num(e.get("mean_overlap")),
        ]
        tds = "".join(f'<td class="n">{v}</td>' for v in cells)
        gaps = ", ".join(
            f"{esc(get(labels, f.get('statistic'), 'label') or f.get('statistic'))} "
            f"({num(f.get('overlap'), 2)})"
            for f in e.get("farthest") or []
            if isinstance(f, Mapping)
        )
        tds += f"<td>{gaps or DASH}</td>"
        attr = ' class="far"' if e.get("flags") else ""
        rows.append(f"<tr{attr}><th>{esc(e.get('label'))}</th>{tds}</tr>")
        flags += [f"<li><strong>{esc(e.get('label'))}</strong>: {esc(f)}</li>" for f in e["flags"]]
    flagged = (
        f'<ul class="warn">{"".join(flags)}</ul>' if flags else note("No Composer is flagged.")
    )
    return (
        '<section id="composers"><h2>Composers compared</h2>'
        f'<table class="stats"><thead><tr>{head}</tr></thead>{"".join(rows)}</table>'
        '<p class="caption">Scores from the judging Critic; NLL of the real validation pieces; '
        "diversity as distinct event 4-grams over all 4-grams and the mean pitch-class "
        "histogram distance between pieces; mean overlap of the statistics with real music. "
        "Flags compare each Composer with the first.</p>"
        f"{flagged}</section>"
    )


def copying(report: Mapping[str, Any]) -> str:
    """How much of the composed music is found verbatim in the training split, beside real test
    pieces; the composed pieces that copy most, with their nearest training piece."""
    c, r = get(report, "copying", "composed"), get(report, "copying", "real")
    if not isinstance(c, Mapping) or not isinstance(r, Mapping):
        return ""
    run = get(c, "run") or 8
    head = "".join(
        f"<th>{h}</th>"
        for h in ("set", f"{run}-note runs in the training split", "longest run: median", "max")
    )
    rows = "".join(
        f'<tr><th class="set-{name}">{name}</th><td class="n">{pct(get(s, "share"))}</td>'
        f'<td class="n">{num(get(s, "longest_median"), 1)}</td>'
        f'<td class="n">{num(get(s, "longest_max"), 0)}</td></tr>'
        for name, s in (("composed", c), ("real", r))
    )
    pieces = [p for p in get(c, "pieces") or [] if isinstance(p, Mapping)]
    files = get(report, "sets", "composed", "files") or []
    flags = [
        f
        for e in get(report, "composers") or []
        if isinstance(e, Mapping)
        for f in e.get("flags") or []
        if str(f).startswith("copying")
    ]
    flagged = (
        f'<ul class="warn">{"".join(f"<li>{esc(f)}</li>" for f in flags)}</ul>' if flags else ""
    )
    worst = sorted(range(len(pieces)), key=lambda i: -(finite(pieces[i].get("longest")) or 0))
    items = "".join(
        f"<li><code>{esc(files[i] if i < len(files) else i)}</code>: "
        f"{num(pieces[i].get('longest'), 0)} notes in a row, "
        f"{pct(pieces[i].get('share'))} of its runs; nearest training piece "
        f"<code>{esc(pieces[i].get('nearest') or DASH)}</code></li>"
        for i in worst[:3]
    )
    return (
        '<section id="copying"><h2>Copied from the training pieces?</h2>'
        f'<table class="stats"><thead><tr>{head}</tr></thead>{rows}</table>'
        f'<p class="caption">A run: {run} consecutive notes, pitch and time since the previous '
        "onset, found verbatim in a training piece. Real test pieces share some runs with the "
        "training split too (cadences, scales): composed music that shares no more is not "
        "copied.</p>"
        f"<ul>{items}</ul>{flagged}</section>"
    )


def requested(report: Mapping[str, Any]) -> str:
    """For a conditioned Composer's controls: what was asked against what the pieces did."""
    lines = requested_lines(report)
    if not lines:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return (
        '<section id="requested"><h2>Did the pieces do as asked?</h2>'
        f"<ul>{items}</ul>"
        '<p class="caption">Density is read in quarters of each piece (first onset to last), '
        "against the request at each quarter's middle. Pitch-class distance: half the summed "
        "difference of the shares (0 the same, 1 nothing in common). A key is estimated by "
        "Krumhansl-Schmuckler.</p></section>"
    )


def also_judged(report: Mapping[str, Any]) -> str:
    """Other Critics' mean scores of the same three sets, if any judged them too."""
    others = get(report, "also_judged") or {}
    if not isinstance(others, Mapping) or not others:
        return ""
    rows = []
    for label, judged in others.items():
        cells = [
            f"{num(get(judged, s, 'mean'))} ({pct(get(judged, s, 'called_real'))})" for s in SETS
        ]
        tds = "".join(f'<td class="n">{v}</td>' for v in cells)
        rows.append(f"<tr><th>{esc(label)}</th>{tds}</tr>")
    head = "<th>Critic</th>" + "".join(f'<th class="set-{s}">{s}</th>' for s in SETS)
    return (
        '<p class="caption">The same pieces judged by other Critics: mean score (share taken '
        "for real).</p>"
        f'<table class="scores"><thead><tr>{head}</tr></thead>{"".join(rows)}</table>'
    )
