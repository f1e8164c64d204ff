"""``tunesmith prepare`` on corpora of 1x to 64x real piano performances: wall time, notes/s and
peak memory of the whole process tree with one worker and with all; a run on the largest corpus
killed at half time and rerun; a rerun after adding 1% new files to the middle one; Composer
training steps on the smallest and the largest cache.

The corpora are made from the ten MAESTRO performances that ``scripts/maestro.py`` fetches: 1x
is ``--variants`` copies of each, transposed and time-stretched so that every file is distinct
(written as MIDI); Nx has N times as many. Each size is prepared ``--repeat`` times with one
worker and with all, interleaved, and the median run kept (a shared machine's speed wanders).
Prints one JSON object.

    python bench/prepare.py [--work DIR] [--sizes 1,4,16,64] [--variants 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import contextlib

from maestro import fetch

from tunesmith.data.midi import read_midi, write_midi
from tunesmith.data.notes import Notes

CLI = [sys.executable, "-m", "tunesmith"]


def variant(notes: Notes, j: int) -> Notes:
    """Copy ``j`` of a performance: transposed by -6..+5 semitones, 0.3% slower per dozen."""
    shift = j % 12 - 6
    pitch = np.clip(notes.pitch + shift, 0, 127)
    stretch = 1.0 + 0.003 * (j // 12)
    return Notes(notes.start * stretch, notes.end * stretch, pitch.astype(np.int16), notes.velocity)


def make_corpora(work: Path, sizes: list[int], variants: int) -> dict[int, Path]:
    """Folders ``corpus-{n}x`` of hard links into one pool of written variants."""
    pool = work / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    performances = sorted(fetch().glob("*.mid"))
    most = max(sizes) * variants
    for p in performances:
        notes = None
        for j in range(most):
            out = pool / f"{p.stem}-{j:04d}.mid"
            if not out.exists():
                notes = notes or read_midi(p)
                write_midi(variant(notes, j), out)
    folders = {}
    for n in sizes:
        d = work / f"corpus-{n}x"
        if not d.exists():
            tmp = work / f".corpus-{n}x.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for p in performances:
                for j in range(n * variants):
                    name = f"{p.stem}-{j:04d}.mid"
                    os.link(pool / name, tmp / name)
            tmp.rename(d)
        folders[n] = d
    return folders


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run(args: list[str], kill_after: float | None = None) -> dict:
    """Run a CLI command, sampling the process tree's memory; SIGKILL it after ``kill_after``
    seconds if given (the whole tree, as a power cut or the OOM killer would)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    killed = False
    try:
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                pids = _descendants(proc.pid)
                for p in [proc.pid, *pids]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
                killed = True
        out, err = proc.communicate()
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 and not killed:
        raise SystemExit(f"{' '.join(args)} failed:\n{err.decode()[-2000:]}")
    result = {"seconds": round(seconds, 2), "peak_mb": round(peak / 2**20), "killed": killed}
    if not killed and out.strip().startswith(b"{"):
        result["json"] = json.loads(out)
    return result


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            kids = []
        found += [int(k) for k in kids]
        todo += [int(k) for k in kids]
    return found


def prepare(corpus: Path, cache: Path, workers: int, kill_after: float | None = None) -> dict:
    r = run(
        [
            "prepare",
            "--midi-dir",
            str(corpus),
            "--cache-dir",
            str(cache),
            "--workers",
            str(workers),
            "--json",
        ],
        kill_after,
    )
    if "json" in r:
        total = r["json"]["splits"][-1]
        r["notes"] = total["notes"]
        r["files"] = total["pieces"]
        r["read"] = r["json"]["read"]
        r["notes_per_s"] = round(total["notes"] / r["seconds"])
        del r["json"]
    return r


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/tunesmith-bench-prepare"))
    ap.add_argument("--sizes", default="1,4,16,64")
    ap.add_argument("--variants", type=int, default=8, help="copies of each performance at 1x")
    ap.add_argument("--steps", type=int, default=150, help="Composer steps on each cache")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each size (the median)")
    ap.add_argument("--parts", default="scaling,kill,add,train", help="which figures to measure")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    cores = os.cpu_count() or 1
    print(f"writing corpora {sizes} under {args.work}", file=sys.stderr)
    corpora = make_corpora(args.work, sizes, args.variants)
    out: dict = {"cores": cores, "variants": args.variants, "prepare": []}

    for n in sizes if parts & {"scaling", "kill"} else []:
        runs: dict[int, list[dict]] = {w: [] for w in sorted({1, cores})}
        for _ in range(args.repeat):  # interleaved: a busy spell hits both alike
            for workers, done in runs.items():
                done.append(prepare(corpora[n], fresh(args.work / "cache"), workers))
        for workers, done in runs.items():
            r = sorted(done, key=lambda r: r["seconds"])[len(done) // 2]  # the median run
            r["all_seconds"] = [d["seconds"] for d in done]
            print(f"{n}x, {workers} worker(s): {r}", file=sys.stderr)
            out["prepare"].append({"size": f"{n}x", "workers": workers, **r})

    mid = sorted(sizes)[len(sizes) // 2]
    if "kill" in parts:  # the largest: a restart's fixed cost (about a second) weighs least
        killed(out, corpora[max(sizes)], args.work, cores)
    if "add" in parts:
        added(out, corpora[mid], args.work, cores)
    if "train" in parts:
        training(out, corpora, sizes, args.work, cores, args.steps)
    print(json.dumps(out, indent=1))


def killed(out: dict, corpus: Path, work: Path, cores: int) -> None:
    """Kill a prepare at half its time, run it again: the two against one uninterrupted."""
    mid = corpus.name.removeprefix("corpus-")
    whole = next(r for r in out["prepare"] if r["size"] == mid and r["workers"] == cores)
    cache = fresh(work / "cache")
    first = prepare(corpus, cache, cores, kill_after=whole["seconds"] / 2)
    second = prepare(corpus, cache, cores)
    out["killed_at_half"] = {
        "size": mid,
        "uninterrupted_s": whole["seconds"],
        "killed_s": first["seconds"],
        "rerun_s": second["seconds"],
        "rerun_read": second["read"],
        "ratio": round((first["seconds"] + second["seconds"]) / whole["seconds"], 3),
    }
    print(f"kill at half: {out['killed_at_half']}", file=sys.stderr)


def added(out: dict, corpus: Path, work: Path, cores: int) -> None:
    """Prepare a corpus, add 1% new files, prepare again."""
    mid = corpus.name.removeprefix("corpus-")
    grow = fresh(work / f"{corpus.name}-grown")
    shutil.copytree(corpus, grow, copy_function=os.link)
    cache = fresh(work / "cache")
    base = prepare(grow, cache, cores)
    pool = work / "pool"
    have = {p.name for p in grow.iterdir()}
    extra = [p for p in sorted(pool.iterdir()) if p.name not in have][
        : max(1, base["files"] // 100)
    ]
    for p in extra:
        os.link(p, grow / p.name)
    added = prepare(grow, cache, cores)
    out["added_1_percent"] = {
        "size": mid,
        "files_added": len(extra),
        "first_s": base["seconds"],
        "rerun_s": added["seconds"],
        "rerun_read": added["read"],
        "ratio": round(added["seconds"] / base["seconds"], 3),
    }
    print(f"1% added: {out['added_1_percent']}", file=sys.stderr)


def training(out: dict, corpora: dict, sizes: list[int], work: Path, cores: int, steps: int):
    """Composer steps (their median wall time) on the smallest and the largest cache."""
    out["training"] = []
    for n in (min(sizes), max(sizes)):
        cache = work / f"cache-train-{n}x"
        prepare(corpora[n], cache, cores)
        runs = fresh(work / f"run-{n}x")
        flags = f"--max-steps {steps} --eval-every {steps} --valid-tokens 20000"
        r = run(
            ["train", "composer", "--midi-dir", str(corpora[n]), "--cache-dir", str(cache),
             "--out", str(runs), *flags.split()]
        )  # fmt: skip
        log = [json.loads(line) for line in (runs / "log.jsonl").read_text().splitlines()]
        elapsed = [e["elapsed"] for e in log if e.get("event") == "step"]
        step_s = np.diff(elapsed)[5:]  # past the first steps
        out["training"].append(
            {
                "size": f"{n}x",
                "median_step_ms": round(1000 * float(np.median(step_s)), 1),
                "peak_mb": r["peak_mb"],
            }
        )
        print(f"training on {n}x: {out['training'][-1]}", file=sys.stderr)


if __name__ == "__main__":
    main()
