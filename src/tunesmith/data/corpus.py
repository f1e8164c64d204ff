"""Where pieces come from: music21's bundled corpora (converted once to MIDI) or a folder of
MIDI files, possibly a MAESTRO release with its official split.

A :class:`Source` lists :class:`SourceFile` entries (a piece id, a MIDI path, a content hash, an
optional fixed split and a style label). Listing is cheap (no music21 import) so a cached run
stays fast. A piece's style is the MAESTRO CSV's ``canonical_composer``, else the first-level
subfolder of the MIDI folder it lies in, else the source's name (``bach`` for the chorales).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.atomic import atomic_write_bytes
from tunesmith.data.midi import MIDI_SUFFIXES
from tunesmith.errors import ConfigError

# Built-in corpora: music21 corpus folder, and the file kinds to take from it. Scores whose stem
# also exists in a preferred format are duplicates (Bach's three .krn chorales are also .mxl).
CORPORA: dict[str, tuple[str, tuple[str, ...]]] = {
    "bach": ("bach", (".mxl", ".xml", ".krn")),
    "palestrina": ("palestrina", (".krn",)),
    "folk": ("oneills1850", (".abc",)),
}
MAESTRO_SPLITS = {"train": "train", "validation": "valid", "test": "test"}


@dataclass(frozen=True)
class SourceFile:
    """One input file: ``id`` names the piece (a relative path), ``path`` is the MIDI to read."""

    id: str
    path: Path
    digest: str  # content hash of the original file (score or MIDI)
    split: str | None = None  # fixed by the source (MAESTRO), else assigned later
    style: str = ""  # its label when the source gives one, else the source's name is its style


@dataclass
class Source:
    """A listed corpus: its name, where it lives, its files, and what listing had to skip."""

    name: str
    kind: str  # "music21" or "midi_dir"
    root: Path
    files: list[SourceFile]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    version: str = ""  # music21's version for converted corpora: its MIDI writer may change

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "root": str(self.root),
            "version": self.version,
        }


def file_digest(path: Path) -> str:
    """A hash of a file's bytes, read in blocks (about 1 GB/s; a file larger than memory is never
    held whole, nor left mapped)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def _digest_or_error(path: Path) -> tuple[str, str]:
    try:
        return file_digest(path), ""
    except OSError as e:
        return "", f"cannot read file ({e.strerror or e})"


# -- folders of MIDI files --------------------------------------------------------------------


def midi_dir_source(root: str | os.PathLike) -> Source:
    """All .mid/.midi files under ``root`` (recursive); the official split if it is MAESTRO."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--midi-dir {root}: not a directory")
    paths = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and not p.is_dir()
    )
    official = maestro_splits(root)
    composers = maestro_column(root, "canonical_composer")
    files, skipped = [], []
    # Hashing releases the GIL: threads read a large folder at the disk's pace.
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(_digest_or_error, paths))
    for p, (digest, error) in zip(paths, digests):
        if error:
            skipped.append((str(p), error))
        else:
            rel = p.relative_to(root).as_posix()
            folder = rel.split("/")[0] if "/" in rel else ""
            style = composers.get(rel) or folder
            files.append(SourceFile(rel, p, digest, official.get(rel), style))
    return Source(root.name or str(root), "midi_dir", root, files, skipped)


def maestro_splits(root: Path) -> dict[str, str]:
    """Map midi_filename -> split from a MAESTRO CSV in ``root`` (empty if there is none)."""
    splits = maestro_column(root, "split")
    return {name: MAESTRO_SPLITS[s] for name, s in splits.items() if s in MAESTRO_SPLITS}


def maestro_column(root: Path, column: str) -> dict[str, str]:
    """Map midi_filename -> ``column`` (stripped, non-empty) from a MAESTRO CSV in ``root``."""
    for csv_path in sorted(root.glob("maestro-v*.csv")):
        text = csv_path.read_text(encoding="utf-8", errors="replace")
        rows = list(csv.DictReader(io.StringIO(text)))
        if rows and {"midi_filename", column} <= set(rows[0]):
            return {
                r["midi_filename"]: r[column].strip() for r in rows if (r[column] or "").strip()
            }
    return {}


# -- music21's bundled corpora -----------------------------------------------------------------


def music21_corpus_dir() -> Path:
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("music21 is not installed; it provides the embedded corpora")
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


def corpus_source(name: str, cache_dir: Path) -> Source:
    """List a built-in corpus. Its scores are converted to MIDI by :func:`convert_scores`."""
    if name not in CORPORA:
        raise ConfigError(f"--corpus {name!r}: unknown; choose from {', '.join(CORPORA)}")
    folder, suffixes = CORPORA[name]
    root = music21_corpus_dir() / folder
    by_stem: dict[str, Path] = {}
    for p in sorted(root.glob("*")):  # top level only: sub-folders hold analyses, not scores
        if p.suffix in suffixes:
            old = by_stem.get(p.stem)
            if old is None or suffixes.index(p.suffix) < suffixes.index(old.suffix):
                by_stem[p.stem] = p
    version = importlib.metadata.version("music21")
    midi_root = cache_dir / "midi" / f"{name}-music21-{version}"
    files = []
    for stem, p in sorted(by_stem.items()):
        digest = file_digest(p)
        files.append(SourceFile(p.name, midi_root / f"{stem}-{digest[:12]}.mid", digest))
    return Source(name, "music21", root, files, version=version)


def convert_scores(
    source: Source, workers: int = 0, progress: Callable[[int], None] | None = None
) -> list[tuple[str, str]]:
    """Write MIDI for every score of a music21 source that has none yet.

    Returns (id, reason) for scores music21 cannot convert; those are dropped from ``source``.
    Workers return MIDI bytes; this process writes them, each atomically.
    """
    todo = [f for f in source.files if not f.path.exists()]
    if progress:
        progress(len(source.files) - len(todo))
    failed: list[tuple[str, str]] = []
    if todo:
        todo[0].path.parent.mkdir(parents=True, exist_ok=True)
        scores = [str(source.root / f.id) for f in todo]
        workers = workers or min(len(todo), os.cpu_count() or 1)
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                results = pool.map(_score_to_midi, scores, chunksize=8)
                _collect(todo, results, failed, progress)
        else:
            _collect(todo, map(_score_to_midi, scores), failed, progress)
    bad = {i for i, _ in failed}
    source.files = [f for f in source.files if f.id not in bad]
    return failed


def _collect(todo, results, failed, progress) -> None:
    for f, (data, error) in zip(todo, results):
        if error:
            failed.append((f.id, error))
        else:
            atomic_write_bytes(f.path, data)
        if progress:
            progress(1)


def _score_to_midi(path: str) -> tuple[bytes, str]:
    """Parse a score with music21 and return (MIDI bytes, "") or (b"", reason)."""
    try:
        from music21 import converter, midi

        score = converter.parse(path)
        mf = midi.translate.streamToMidiFile(score)
        return mf.writestr(), ""
    except Exception as e:  # music21 raises many kinds; each is a reason to skip the score
        return b"", f"music21 could not convert it ({type(e).__name__}: {e})".splitlines()[0]
