"""Hostile MIDI files against the reader: about 300 mutants of real files (tests/mutate.py).

Every mutant must be read into sane notes or refused with a one-line :class:`TunesmithError`
that names the file; any other exception, impossible notes or a hang is a bug. ``prepare`` over a
folder of good files and all the mutants must keep the good ones and skip exactly the refused
ones. ``pytest -s`` prints how the mutants fared.
"""

from __future__ import annotations

import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mutate import mutants
from tunesmith.data.midi import read_midi
from tunesmith.data.notes import Notes
from tunesmith.data.prepare import prepare
from tunesmith.errors import TunesmithError

DATA = Path(__file__).parent / "data"
READ_SECONDS = 10.0  # one file; the largest mutants read in well under a second
PREPARE_SECONDS = 120.0


class Hung(BaseException):
    """Raised by the alarm. Not an Exception, so no ``except Exception`` on the way catches it
    and turns a hang into an ordinary refusal."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hung` if the block runs longer than ``seconds``. The alarm interrupts
    Python code only: a loop inside symusic's C++ parser would run on until it returns."""

    def ring(signum, frame):
        raise Hung

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Outcome:
    """How ``read_midi`` took one mutant: read, refused with a reason, or failed."""

    name: str  # <kind>-<n>
    path: Path
    notes: int = 0
    refusal: str = ""  # the error message after "<path>: "
    failure: str = ""  # what went wrong, if anything did


def note_problems(notes: Notes) -> list[str]:
    """What is impossible about these notes (empty if nothing)."""
    checks = {
        "non-finite times": ~(np.isfinite(notes.start) & np.isfinite(notes.end)),
        "start before 0 s": notes.start < 0,
        "end before start": notes.end < notes.start,
        "pitch outside 0..127": (notes.pitch < 0) | (notes.pitch > 127),
        "velocity outside 0..127": (notes.velocity < 0) | (notes.velocity > 127),
    }
    return [f"{what} ({int(bad.sum())} notes)" for what, bad in checks.items() if bad.any()]


def read_one(name: str, path: Path) -> Outcome:
    try:
        with time_limit(READ_SECONDS):
            notes = read_midi(path)
    except Hung:
        return Outcome(name, path, failure=f"no answer within {READ_SECONDS:g} s")
    except TunesmithError as e:
        message = str(e)
        if not message.startswith(f"{path}: ") or "\n" in message or "\r" in message:
            what = f"{type(e).__name__} is not one line that starts with the path"
            return Outcome(name, path, failure=f"{what}: {message!r}")
        return Outcome(name, path, refusal=message.removeprefix(f"{path}: "))
    except Exception as e:
        return Outcome(name, path, failure=f"{type(e).__name__}: {e}")
    problems = note_problems(notes)
    return Outcome(name, path, len(notes), failure="; ".join(problems))


def reason_kind(reason: str) -> str:
    """A refusal without its particulars: "corrupt or truncated MIDI (...)" -> its first part."""
    return reason.split(" (")[0]


@pytest.fixture(scope="module")
def originals(bach_midi_files, maestro_midi_dir) -> list[Path]:
    """Real files to mutate: the checked-in chorale, eight more written by music21, and the
    smallest MAESTRO performance (velocities, sustain pedal, running status)."""
    return [DATA / "bwv10.7.mid", *bach_midi_files, maestro_midi_dir / "Maestro_1.mid"]


@pytest.fixture(scope="module")
def folder(originals, tmp_path_factory) -> Path:
    """The originals (as ``NN-name.mid``) and, under mutants/, every mutant as ``<name>.mid``."""
    root = tmp_path_factory.mktemp("fuzz")
    for i, path in enumerate(originals):
        shutil.copy(path, root / f"{i:02}-{path.name}")
    (root / "mutants").mkdir()
    for name, data in mutants([p.read_bytes() for p in originals]):
        (root / "mutants" / f"{name}.mid").write_bytes(data)
    return root


@pytest.fixture(scope="module")
def outcomes(folder) -> list[Outcome]:
    paths = sorted((folder / "mutants").glob("*.mid"))
    return [read_one(p.stem, p) for p in paths]


def test_every_mutant_is_read_or_skipped_in_one_line(outcomes, originals):
    read = [o for o in outcomes if not o.refusal and not o.failure]
    refused = Counter(reason_kind(o.refusal) for o in outcomes if o.refusal)
    failed = sorted((o for o in outcomes if o.failure), key=lambda o: o.name)
    print(
        f"\nfuzz: {len(outcomes)} mutants of {len(originals)} real files: {len(read)} read "
        f"({sum(o.notes for o in read):,} notes), "
        f"{sum(refused.values())} refused, {len(failed)} failed"
    )
    for reason, count in refused.most_common():
        print(f"  refused {count:3}: {reason}")
    # by exception type, or by what is wrong with the notes
    failures = Counter(reason_kind(o.failure.split(":")[0]) for o in failed)
    for reason, count in failures.most_common():
        print(f"  failed  {count:3}: {reason}")
    assert not failed, f"{len(failed)} of {len(outcomes)} mutants failed:\n" + "\n".join(
        f"  {o.name}: {o.failure[:300]}" for o in failed
    )


def test_prepare_keeps_the_good_files_and_counts_the_bad(folder, outcomes, originals, tmp_path):
    refused = {str(o.path) for o in outcomes if o.refusal}
    with time_limit(PREPARE_SECONDS):
        prepared = prepare(midi_dir=folder, cache_dir=tmp_path / "cache")
    by_reason = prepared.skipped_by_reason()
    print(f"\nprepare: {len(prepared.cache.pieces)} pieces, {len(prepared.skipped)} skipped")
    for reason, count in by_reason.most_common():
        print(f"  skipped {count:3}: {reason}")

    pieces = {p.id for p in prepared.cache.pieces}
    good = {f"{i:02}-{path.name}" for i, path in enumerate(originals)}
    assert good <= pieces, f"good files not kept: {sorted(good - pieces)}"
    skipped = {s["file"] for s in prepared.skipped}
    assert skipped == refused, (
        f"skipped but read by read_midi: {sorted(skipped - refused)}; "
        f"refused by read_midi but not skipped: {sorted(refused - skipped)}"
    )
    assert len(prepared.skipped) == len(refused)
    assert sum(by_reason.values()) == len(refused)
    multiline = [s for s in prepared.skipped if "\n" in s["reason"] or "\r" in s["reason"]]
    assert not multiline


# Legal MIDI that readers must take, and files that are not music, each with the reason.
MUST_READ = ("mthd_len_10", "smpte", "junk_chunk", "tempo_1", "tempo_max", "delta_all_zero")
MUST_REFUSE = {
    "division_0": "bad timing",
    "tempo_0": "bad tempo",
    "million_notes": "too many notes",
    "fifty_mb": "too large",
    "ten_hour_note": "too long",
    "empty": "empty file",
}


def test_legal_files_are_read_and_nonsense_is_refused_for_its_reason(outcomes):
    by_kind: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_kind.setdefault(o.name.rsplit("-", 1)[0], []).append(o)
    assert set(MUST_READ) | set(MUST_REFUSE) <= set(by_kind)
    for kind in MUST_READ:
        refused = [f"{o.name}: {o.refusal}" for o in by_kind[kind] if o.refusal]
        assert not refused, refused
    for kind, reason in MUST_REFUSE.items():
        wrong = [
            f"{o.name}: {o.refusal or 'read'}"
            for o in by_kind[kind]
            if reason_kind(o.refusal) != reason
        ]
        assert not wrong, (reason, wrong)


@pytest.mark.slow
def test_critique_scores_the_good_files_and_skips_the_refused(folder, outcomes, tmp_path):
    import json

    import torch

    from helpers import tunesmith
    from tunesmith.checkpoint import Record, save_checkpoint
    from tunesmith.config import CodecConfig, CriticConfig, WindowConfig
    from tunesmith.data.codec import Codec
    from tunesmith.models.critic import Critic

    codec = Codec(CodecConfig())
    config = CriticConfig(embedding=8, hidden=16, velocity="off", state=True, peak=True)
    torch.manual_seed(0)
    record = Record("critic", config, codec.config, WindowConfig(length=64, stride=32))
    save_checkpoint(tmp_path / "critic", Critic(config, codec.vocab_size, codec.pad), record, None)
    out = tunesmith("critique", folder, "--critic", tmp_path / "critic", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    refused = {str(o.path) for o in outcomes if o.refusal}
    assert {s["file"] for s in result["skipped"]} == refused
    assert len(result["files"]) == len(list(folder.rglob("*.mid"))) - len(refused)
    assert all(0.0 <= f["score"] <= 1.0 for f in result["files"])
