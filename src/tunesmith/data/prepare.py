"""MIDI files or a built-in corpus -> a token cache, reused when inputs and settings match."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunesmith import __version__
from tunesmith.atomic import usable_dir
from tunesmith.config import CodecConfig, ReadConfig, SplitConfig
from tunesmith.data.cache import TokenCache, cache_key, write_cache
from tunesmith.data.codec import Codec
from tunesmith.data.corpus import Source, convert_scores, corpus_source, midi_dir_source
from tunesmith.data.midi import NoteBatch, load_score
from tunesmith.data.split import assign_splits
from tunesmith.errors import CacheCorruptError, NoDataError, TunesmithError
from tunesmith.progress import Progress, Silent


def default_cache_dir() -> Path:
    """``$TUNESMITH_CACHE``, else ``$XDG_CACHE_HOME/tunesmith``, else ``~/.cache/tunesmith``."""
    if os.environ.get("TUNESMITH_CACHE"):
        return Path(os.environ["TUNESMITH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tunesmith"


@dataclass
class Prepared:
    """What :func:`prepare` made or found."""

    cache: TokenCache
    reused: bool
    seconds: float

    @property
    def skipped(self) -> list[dict[str, str]]:
        return self.cache.skipped

    def skipped_by_reason(self) -> Counter[str]:
        """Skip counts by kind of reason ("corrupt or truncated MIDI", "no notes", ...)."""
        return Counter(re.sub(r" \(.*", "", s["reason"]) for s in self.skipped)


@dataclass(frozen=True)
class DataSource:
    """Which music (a built-in corpus, by default Bach, or a MIDI folder), where its cache
    lives, and how it is read, encoded and split."""

    corpus: str | None = None
    midi_dir: Path | None = None
    cache_dir: Path | None = None
    codec: CodecConfig = field(default_factory=CodecConfig)
    read: ReadConfig = field(default_factory=ReadConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    @property
    def given(self) -> bool:
        """Whether a corpus or a folder was named (else a resumed run may reuse its own)."""
        return bool(self.corpus or self.midi_dir)

    def prepare(self, progress: Progress | None = None) -> TokenCache:
        """The token cache of this source, built or reused (see :func:`prepare`)."""
        return prepare(
            corpus=self.corpus or "bach",
            midi_dir=self.midi_dir,
            cache_dir=self.cache_dir,
            codec=self.codec,
            read=self.read,
            split=self.split,
            progress=progress,
        ).cache


def prepare(
    corpus: str = "bach",
    midi_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    codec: CodecConfig | None = None,
    read: ReadConfig | None = None,
    split: SplitConfig | None = None,
    workers: int = 0,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> Prepared:
    """Convert a corpus to performance-event tokens and cache them; reuse a matching cache.

    ``midi_dir`` (any folder of .mid/.midi files, searched recursively; a MAESTRO release
    keeps its official split) takes precedence over ``corpus`` (a built-in music21 corpus).
    Bad files are skipped with a reason each; if none is usable, :class:`NoDataError`.
    """
    t0 = time.perf_counter()
    codec, read, split = codec or CodecConfig(), read or ReadConfig(), split or SplitConfig()
    progress = progress or Silent()
    root = usable_dir(Path(cache_dir).expanduser() if cache_dir else default_cache_dir())
    source = midi_dir_source(midi_dir) if midi_dir is not None else corpus_source(corpus, root)
    key = cache_key(
        {
            "source": {"kind": source.kind, "name": source.name, "version": source.version},
            "files": [[f.id, f.digest, f.split] for f in source.files],
            "codec": codec.to_dict(),
            "read": read.to_dict(),
            "split": split.to_dict(),
        }
    )
    path = root / "tokens" / f"{_slug(source.name)}-{key[:16]}"
    if path.exists() and not rebuild:
        try:
            return Prepared(TokenCache.load(path), True, time.perf_counter() - t0)
        except CacheCorruptError:
            pass  # rebuilt below and replaced atomically
    cache = _build(path, key, source, codec, read, split, workers, progress)
    return Prepared(cache, False, time.perf_counter() - t0)


def _build(
    path: Path,
    key: str,
    source: Source,
    codec_config: CodecConfig,
    read: ReadConfig,
    split: SplitConfig,
    workers: int,
    progress: Progress,
) -> TokenCache:
    skipped = [{"file": file, "reason": reason} for file, reason in source.skipped]
    if source.kind == "music21":
        advance = progress.task(f"converting {source.name} scores", len(source.files))
        for file, reason in convert_scores(source, workers, advance):
            skipped.append({"file": file, "reason": reason})
    if not source.files and not skipped:
        where = f"--midi-dir {source.root}" if source.kind == "midi_dir" else source.name
        raise NoDataError(f"{where}: no MIDI files found (.mid or .midi)")

    batch = NoteBatch(read)
    kept, counts = [], []
    advance = progress.task("reading MIDI", len(source.files))
    for f in source.files:
        name = f.id if source.kind == "music21" else str(f.path)
        try:
            counts.append(batch.add(load_score(f.path, read), name))
            kept.append(f)
        except TunesmithError as e:
            skipped.append({"file": name, "reason": str(e).removeprefix(f"{name}: ")})
        advance(1)
    if not kept:  # then something was skipped: an empty source raised above
        raise NoDataError(
            f"{source.root}: none of {len(source.files) + len(source.skipped)} files is usable "
            f"({len(skipped)} skipped; first: {skipped[0]['file']}: {skipped[0]['reason']})"
        )

    notes, note_offsets = batch.build()
    codec = Codec(codec_config)
    tokens, offsets = codec.encode_batch(notes, note_offsets, trim=True)
    seconds = np.maximum.reduceat(notes.end, note_offsets[:-1]) - np.minimum.reduceat(
        notes.start, note_offsets[:-1]
    )
    splits = assign_splits([f.id for f in kept], [f.split for f in kept], split)
    pieces = [
        {
            "id": f.id,
            "split": s,
            "offset": int(offsets[i]),
            "length": int(offsets[i + 1] - offsets[i]),
            "notes": int(counts[i]),
            "seconds": round(float(seconds[i]), 3),
            "digest": f.digest,
        }
        for i, (f, s) in enumerate(zip(kept, splits))
    ]
    manifest = {
        "key": key,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tunesmith": __version__,
        "source": source.describe(),
        "codec": codec_config.to_dict(),
        "read": read.to_dict(),
        "split": split.to_dict(),
        "pieces": pieces,
        "skipped": skipped,
    }
    return write_cache(path, manifest, tokens.astype(np.uint16))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "corpus"
