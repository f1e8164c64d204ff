"""The demo over several seeds: base and tuned Composer judged by the demo's held-out judge, as
the median and range over seeds. Prints a table and JSON.

    python bench/seeds.py                       # seeds 0, 1, 2 into bench-seeds/ (about 48 min)
    python bench/seeds.py --seeds 0 --out demo-runs   # reuses a seed whose demo.json exists

Per seed, ``tunesmith demo --seed S`` (the default plan, the chorales) into ``--out/seed_S``; a
finished one is read, not run again. Per Composer (base, tuned): the nucleus fitted to it, the
share of its pieces the judge takes for real, validation NLL in nats per token, median polyphony
and mean note length of its pieces, the share of its pieces holding a note longer than the train
split's 99.9th-percentile note, the mean overlap of its statistics with the real test pieces',
and the share of its 8-note runs found in the training split; real test pieces beside them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from encoding import bounds, long_note, notes_of
from tunesmith.data.midi import read_midi
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import DataSource
from tunesmith.demo import run_demo
from tunesmith.judging.stats import mean_duration, polyphony

COMPOSERS = {"base": "composed", "tuned": "composed_tuned"}


def pieces(folder: Path) -> list[Notes]:
    return [read_midi(p) for p in sorted(folder.glob("*.mid"))]


def shape(notes: list[Notes], longest: float) -> dict:
    """Median polyphony and mean note length, and the share of pieces with an over-long note."""
    return {
        "polyphony": float(np.median([polyphony(n) for n in notes])),
        "note_seconds": float(np.median([mean_duration(n) for n in notes])),
        "long_note_pieces": long_note(notes, longest),
    }


def figures(run: Path, longest: float) -> dict:
    report = json.loads((run / "evaluation" / "report.json").read_text())
    out = {}
    for entry in report["composers"]:
        notes = pieces(run / "evaluation" / COMPOSERS[entry["label"]])
        out[entry["label"]] = {
            "top_p": entry.get("top_p"),
            "taken_for_real": entry["called_real"],
            "valid_nll": entry["valid_nll"],
            **shape(notes, longest),
            "mean_overlap": entry["mean_overlap"],
            "copied": entry["copying"]["share"],
        }
    out["real"] = {
        "taken_for_real": report["sets"]["real"]["called_real"],
        **shape(pieces(run / "evaluation" / "real"), longest),
        "copied": report["copying"]["real"]["share"],
    }
    return out


def table(per_seed: dict[int, dict]) -> dict:
    rows = ("top_p", "taken_for_real", "valid_nll", "polyphony", "note_seconds", "long_note_pieces")
    rows += ("mean_overlap", "copied")
    summary: dict = {}
    print(f"\n{len(per_seed)} seeds: median (lowest-highest)")
    print(f"| {'':18} | " + " | ".join(f"{w:>24}" for w in ("base", "tuned", "real")) + " |")
    for row in rows:
        cells = []
        for who in ("base", "tuned", "real"):
            values = [f[who][row] for f in per_seed.values() if f[who].get(row) is not None]
            if not values:
                cells.append(f"{'-':>24}")
                continue
            med, lo, hi = float(np.median(values)), min(values), max(values)
            summary.setdefault(who, {})[row] = {"median": med, "range": [lo, hi]}
            cells.append(f"{f'{med:.3f} ({lo:.3f}-{hi:.3f})':>24}")
        print(f"| {row:18} | " + " | ".join(cells) + " |")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("bench-seeds"))
    args = ap.parse_args()
    per_seed = {}
    for seed in args.seeds:
        run = args.out / f"seed_{seed}"
        if not (run / "demo.json").exists():
            print(f"== demo, seed {seed}", flush=True)
            run_demo(out=run, seed=seed, overwrite=True)
        per_seed[seed] = run
    cache = DataSource().prepare()
    longest, _ = bounds(notes_of(cache, "train"))
    results = {seed: figures(run, longest) for seed, run in per_seed.items()}
    summary = table(results)
    print(json.dumps({"train_99.9th_note_seconds": longest, "seeds": results, "summary": summary}))


if __name__ == "__main__":
    main()
