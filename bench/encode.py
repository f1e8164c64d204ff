"""MIDI -> token encoding throughput: symusic's bare parse, tunesmith, and a naive reference.

All four methods run in one process on the same files, interleaved within each repeat, so they
share the OS cache, CPU clock and allocator state. Prints one JSON object.

    python bench/encode.py [--midi-dir DIR] [--repeat N] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pretty_midi
import symusic

from tunesmith.data.codec import Codec
from tunesmith.data.corpus import convert_scores, corpus_source
from tunesmith.data.midi import MIDI_SUFFIXES, NoteBatch, load_score

STEP = 0.01  # seconds per time-shift step
MAX_SHIFT = 100
NOTE_OFF, SHIFT, VELOCITY = 128, 256, 356


def symusic_parse(paths: list[Path]) -> int:
    for p in paths:
        symusic.Score(p)
    return 0


def symusic_parse_extract(paths: list[Path]) -> int:
    for p in paths:
        for track in symusic.Score(p).tracks:
            track.notes.numpy()
    return 0


def tunesmith_encode(paths: list[Path]) -> int:
    codec = Codec()
    batch = NoteBatch()
    for p in paths:
        batch.add(load_score(p), p)
    notes, offsets = batch.build()
    tokens, _ = codec.encode_batch(notes, offsets, trim=True)
    return len(tokens)


def naive_encode_file(path: Path) -> list[int]:
    """Coursework-style encoder: the yardstick, deliberately a plain Python loop."""
    events = []
    for inst in pretty_midi.PrettyMIDI(str(path)).instruments:
        if inst.is_drum:
            continue
        for note in inst.notes:
            on = int(note.start / STEP + 0.5)
            off = max(int(note.end / STEP + 0.5), on + 1)
            # kind 0 = off sorts before kind 1 = on at the same step
            events.append((on, 1, note.pitch, note.velocity))
            events.append((off, 0, note.pitch, note.velocity))
    events.sort()
    tokens: list[int] = []
    now = events[0][0] if events else 0  # start at the first onset, like trim=True
    velocity = None
    for step, kind, pitch, vel in events:
        gap = step - now
        while gap > 0:
            shift = min(gap, MAX_SHIFT)
            tokens.append(SHIFT + shift - 1)
            gap -= shift
        now = step
        if kind == 0:
            tokens.append(NOTE_OFF + pitch)
        else:
            if vel // 5 != velocity:
                velocity = vel // 5
                tokens.append(VELOCITY + velocity)
            tokens.append(pitch)
    return tokens


def naive_reference(paths: list[Path]) -> int:
    return sum(len(naive_encode_file(p)) for p in paths)


METHODS: dict[str, Callable[[list[Path]], int]] = {
    "symusic_parse": symusic_parse,
    "symusic_parse_extract": symusic_parse_extract,
    "tunesmith": tunesmith_encode,
    "naive_reference": naive_reference,
}


def list_files(args: argparse.Namespace) -> list[Path]:
    if args.midi_dir is not None:
        root = Path(args.midi_dir).expanduser()
        return sorted(p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
    source = corpus_source("bach", Path(args.cache_dir).expanduser())
    convert_scores(source)  # slow only the first time: the MIDI files are cached
    return [f.path for f in source.files]


def readable(paths: list[Path]) -> tuple[list[Path], int]:
    """Drop files any method would reject, so every method does exactly the same files."""
    keep = []
    for p in paths:
        try:
            NoteBatch().add(load_score(p), p)
            if naive_encode_file(p):
                keep.append(p)
        except Exception:  # unreadable by either reader (corrupt, empty, drums only): skip it
            pass
    return keep, len(paths) - len(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--midi-dir", help="benchmark this folder of .mid/.midi files")
    parser.add_argument("--cache-dir", default="~/.cache/tunesmith", help="converted corpus")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes; best one counts")
    args = parser.parse_args()

    paths, skipped = readable(list_files(args))
    if not paths:
        raise SystemExit("no readable MIDI files")
    batch = NoteBatch()
    for p in paths:
        batch.add(load_score(p), p)
    notes = len(batch.build()[0])

    counts = {name: fn(paths) for name, fn in METHODS.items()}  # warm-up: caches, imports
    best = dict.fromkeys(METHODS, float("inf"))
    for _ in range(max(1, args.repeat)):
        for name, fn in METHODS.items():
            gc.collect()  # no method pays for another's garbage
            t0 = time.perf_counter()
            fn(paths)
            best[name] = min(best[name], time.perf_counter() - t0)

    tokens, tokens_naive = counts["tunesmith"], counts["naive_reference"]
    result: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "symusic": importlib.metadata.version("symusic"),
        "cpu_count": os.cpu_count(),
        "files": len(paths),
        "files_skipped": skipped,
        "repeat": max(1, args.repeat),
        "notes": notes,
        "tokens": tokens,
        "tokens_naive": tokens_naive,
    }
    for name, seconds in best.items():
        n_tokens = tokens_naive if name == "naive_reference" else tokens
        result[name] = {
            "seconds": round(seconds, 5),
            "files_per_s": round(len(paths) / seconds, 1),
            "events_per_s": round(n_tokens / seconds),
        }
    result["ratios"] = {
        "speedup_vs_naive": round(best["naive_reference"] / best["tunesmith"], 2),
        "tunesmith_over_parse": round(best["tunesmith"] / best["symusic_parse"], 3),
        "tunesmith_over_parse_extract": round(best["tunesmith"] / best["symusic_parse_extract"], 3),
        "encode_only_seconds": round(best["tunesmith"] - best["symusic_parse_extract"], 5),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
