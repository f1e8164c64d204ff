"""report.html: one self-contained page drawn from an evaluation folder's report.json.

Images and audio are embedded as base64 data URIs and the style sheet is inline, so the page
can be mailed or archived alone; it loads nothing from anywhere and runs no script.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.atomic import atomic_write_bytes, output_dir
from tunesmith.config import SampleConfig
from tunesmith.judging.evaluate import evaluate
from tunesmith.progress import rich_progress
from tunesmith.report import sections
from tunesmith.report.format import esc, get
from tunesmith.report.pieces import pieces
from tunesmith.runtime import pick_device

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"

CSS = """
:root { --ink: #222; --muted: #666; --line: #ddd; --soft: #f6f7f9; --far: #fff1d6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 40px 0 12px; padding-bottom: 4px;
     border-bottom: 2px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 16px; }
nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
.verdict { font-size: 1.15em; background: var(--soft); border-left: 4px solid #1f5fa8;
           padding: 12px 16px; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; }
thead th { background: var(--soft); vertical-align: bottom; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.stats tr.far { background: var(--far); }
.rank { font-size: 0.8em; color: #a05a00; font-weight: normal; }
th.set-composed { color: #d95f02; } th.set-real { color: #1b9e77; }
th.set-random { color: #7570b3; }
table.settings th { font-weight: normal; color: var(--muted); }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); }
figcaption, .caption { color: var(--muted); font-size: 0.92em; margin-top: 6px; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
        gap: 16px; }
.note, .warn { padding: 10px 14px; background: var(--soft); border-left: 4px solid #999; }
.warn { background: #fff6e5; border-left-color: #e0a100; }
.player { display: flex; align-items: center; gap: 12px; margin-top: 6px; }
.player audio { width: 420px; max-width: 100%; }
.player span { color: var(--muted); font-size: 0.9em; }
code { font-size: 0.92em; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
"""


def read_report(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The report.json of an evaluation folder."""
    return json.loads((Path(out_dir) / REPORT_JSON).read_text(encoding="utf-8"))


def build_html(report: Mapping[str, Any], out_dir: str | os.PathLike, audio: bool = True) -> str:
    """The page as a string. ``out_dir`` is where relative paths in ``report`` point (and where
    rendered audio is kept, in ``audio/``); ``audio=False`` skips the players."""
    out_dir = Path(out_dir)
    created = get(report, "created")
    sub = f"Evaluation of {esc(get(report, 'composer', 'path') or 'a Composer')}"
    if created:
        sub += f", {esc(created)}"
    nav = "".join(
        f'<a href="#{anchor}">{text}</a>'
        for anchor, text in (
            ("scores", "Scores"),
            ("pieces", "Listen"),
            ("statistics", "Statistics"),
            ("copying", "Copying"),
            *([("requested", "Asked")] if get(report, "requested") else []),
            ("training", "Training"),
            ("settings", "Settings"),
        )
    )
    body = [
        f'<header><h1>Does the Critic take the music for real?</h1><p class="sub">{sub}</p>',
        f"<nav>{nav}</nav>{sections.verdict(report)}{sections.also_judged(report)}</header>",
        sections.composers(report),
        sections.best_of(report),
        sections.scores(report),
        pieces(report, out_dir, audio=audio),
        sections.statistics(report),
        sections.copying(report),
        sections.requested(report),
        sections.training(report, out_dir),
        f'<section id="settings"><h2>Settings</h2>{sections.settings(report)}</section>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>tunesmith evaluation</title>"
        f"<style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(part for part in body if part)
        + "\n</main></body></html>\n"
    )


def write_html(
    out_dir: str | os.PathLike, report: Mapping[str, Any] | None = None, audio: bool = True
) -> Path:
    """Write ``out_dir/report.html`` atomically from ``report`` (by default ``out_dir``'s
    report.json) and return its path. See :func:`build_html`."""
    out_dir = Path(out_dir)
    if report is None:
        report = read_report(out_dir)
    page = build_html(report, out_dir, audio=audio)
    path = out_dir / REPORT_HTML
    atomic_write_bytes(path, page.encode("utf-8"))
    return path


def evaluate_to_page(
    composers: list[tuple[str, str | os.PathLike]],
    critic: str | os.PathLike,
    out: str | os.PathLike,
    config: SampleConfig,
    best_of: int = 1,
    device: str = "auto",
    match_length: bool = True,
    overwrite: bool = False,
    own_nucleus: bool = False,
) -> dict[str, Any]:
    """``evaluate``: compose, judge and compare (:func:`tunesmith.judging.evaluate.evaluate`,
    with progress bars), then draw the page from the report, all into ``out``, which must be
    empty unless ``overwrite`` (then the earlier run is replaced whole). Returns the report."""
    with output_dir(out, overwrite) as tmp, rich_progress(transient=True) as progress:
        report = evaluate(
            composers,
            critic,
            tmp,
            config,
            best_of=best_of,
            device=str(pick_device(device)),
            progress=progress,
            match_length=match_length,
            own_nucleus=own_nucleus,
        )
    write_html(out, report)  # once published: the page names the folder where it lives
    return report
