"""MIDI files or a built-in corpus -> a token cache, reused when inputs and settings match."""

from __future__ import annotations

import functools
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith import __version__
from tunesmith.atomic import usable_dir
from tunesmith.config import CodecConfig, ReadConfig, SplitConfig
from tunesmith.data.cache import TokenCache, cache_key, write_cache
from tunesmith.data.codec import Codec
from tunesmith.data.corpus import (
    Source,
    SourceFile,
    convert_scores,
    corpus_source,
    midi_dir_source,
)
from tunesmith.data.midi import NoteBatch, load_score
from tunesmith.data.pool import run_tasks
from tunesmith.data.shards import (
    Known,
    ShardIndex,
    append_tokens,
    known_pieces,
    newest_cache,
    remove_shards,
)
from tunesmith.data.split import assign_splits
from tunesmith.errors import CacheCorruptError, NoDataError, TunesmithError
from tunesmith.progress import Progress, Silent

READ_TIMEOUT = 120.0  # seconds: the largest MAESTRO file reads in under one
SHARD_TOKENS = 1 << 22  # 8 MB of tokens per shard file
SAVE_EVERY = 0.5  # seconds between saving shard indexes: what a kill can lose


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
    read: int = 0  # files read this time (the others came from shards or an earlier cache)

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
    timeout: float = READ_TIMEOUT,
    shard_tokens: int = SHARD_TOKENS,
) -> Prepared:
    """Convert a corpus to performance-event tokens and cache them; reuse a matching cache.

    ``midi_dir`` (any folder of .mid/.midi files, searched recursively; a MAESTRO release
    keeps its official split) takes precedence over ``corpus`` (a built-in music21 corpus).
    Files are read by ``workers`` processes (0: one per core) and their tokens written in shards
    of about ``shard_tokens``, so memory does not grow with the corpus and a killed run resumes
    where it stopped; files an earlier cache of the same source and settings holds are not read
    again. A file that crashes its reader or takes longer than ``timeout`` seconds is skipped.
    Bad files are skipped with a reason each; if none is usable, :class:`NoDataError`.
    """
    t0 = time.perf_counter()
    codec, read, split = codec or CodecConfig(), read or ReadConfig(), split or SplitConfig()
    progress = progress or Silent()
    root = usable_dir(Path(cache_dir).expanduser() if cache_dir else default_cache_dir())
    source = midi_dir_source(midi_dir) if midi_dir is not None else corpus_source(corpus, root)
    about = {"kind": source.kind, "name": source.name, "version": source.version}
    settings = cache_key(
        {
            "source": {**about, "root": str(source.root)},
            "codec": codec.to_dict(),
            "read": read.to_dict(),
        }
    )
    key = cache_key(
        {
            "source": about,
            # A style joins the key only where a file has one, so caches of sources without
            # labels keep the keys they had.
            "files": [
                [f.id, f.digest, f.split] + ([f.style] if f.style else []) for f in source.files
            ],
            "codec": codec.to_dict(),
            "read": read.to_dict(),
            "split": split.to_dict(),
        }
    )
    path = root / "tokens" / f"{_slug(source.name)}-{key[:16]}"
    if path.exists() and not rebuild:
        try:
            cache = TokenCache.load(path)
            # Files that timed out or crashed their reader are tried again (below: only them).
            if not any(s.get("retry") for s in cache.skipped):
                return Prepared(cache, True, time.perf_counter() - t0)
        except CacheCorruptError:
            pass  # rebuilt below and replaced atomically
    job = _Job(source, codec, read, workers, timeout, shard_tokens, progress)
    store = root / "shards" / f"{_slug(source.name)}-{settings[:16]}"
    bases = [] if rebuild else newest_cache(root / "tokens", _slug(source.name), settings)
    cache, read_now = job.build(
        path, store, bases, {"key": key, "settings": settings, "split": split}
    )
    return Prepared(cache, False, time.perf_counter() - t0, read_now)


def read_piece(job: tuple[str, str], read: ReadConfig, codec: CodecConfig):
    """One file's tokens (uint16), notes and seconds, or the reason it cannot be read (a
    string)."""
    path, name = job
    try:
        batch = NoteBatch(read)
        count = batch.add(load_score(path, read), name)
    except TunesmithError as e:
        return str(e).removeprefix(f"{name}: ")
    notes, offsets = batch.build()
    tokens, _ = _codec(codec).encode_batch(notes, offsets, trim=True)
    seconds = float(notes.end.max() - notes.start.min())
    return tokens.astype(np.uint16), count, round(seconds, 3)


def read_into_shard(
    job: tuple[str, str], read: ReadConfig, codec: CodecConfig, store: Path, parent: int, size: int
):
    """In a worker: read one file and append its tokens to this worker's shard. Returns the
    shard's name, the offset and length of the tokens in it, notes and seconds; or the reason
    the file cannot be read."""
    out = read_piece(job, read, codec)
    if isinstance(out, str):
        return out
    tokens, count, seconds = out
    shard, offset, digest = append_tokens(store, parent, size, tokens)
    return shard, offset, len(tokens), count, seconds, digest


@functools.lru_cache(maxsize=4)
def _codec(config: CodecConfig) -> Codec:
    return Codec(config)


@dataclass
class _Job:
    source: Source
    codec: CodecConfig
    read: ReadConfig
    workers: int
    timeout: float
    shard_tokens: int
    progress: Progress

    def build(
        self, path: Path, store: Path, bases: list[Path], meta: dict
    ) -> tuple[TokenCache, int]:
        """Read what no shard or earlier cache holds, then write the cache from all of it."""
        source = self.source
        skipped: list[dict[str, Any]] = [
            {"file": file, "reason": reason} for file, reason in source.skipped
        ]
        if source.kind == "music21":
            advance = self.progress.task(f"converting {source.name} scores", len(source.files))
            for file, reason in convert_scores(source, self.workers, advance):
                skipped.append({"file": file, "reason": reason})
        if not source.files and not skipped:
            where = f"--midi-dir {source.root}" if source.kind == "midi_dir" else source.name
            raise NoDataError(f"{where}: no MIDI files found (.mid or .midi)")

        known = known_pieces(store, bases)
        todo = [
            f
            for f in source.files
            if (f.id, f.digest) not in known.pieces and (f.id, f.digest) not in known.skipped
        ]
        self._read(todo, store, known)

        kept, spans = [], []
        for f in source.files:
            k = (f.id, f.digest)
            if k in known.pieces:
                kept.append(f)
                spans.append(known.pieces[k])
            else:
                entry: dict[str, Any] = {
                    "file": self._name(f),
                    "reason": known.skipped[k],
                    "id": f.id,
                    "digest": f.digest,
                }
                if k in known.retry:
                    entry["retry"] = True
                skipped.append(entry)
        if not kept:  # then something was skipped: an empty source raised above
            raise NoDataError(
                f"{source.root}: none of {len(source.files) + len(source.skipped)} files is "
                f"usable ({len(skipped)} skipped; first: {skipped[0]['file']}: "
                f"{skipped[0]['reason']})"
            )
        splits = assign_splits([f.id for f in kept], [f.split for f in kept], meta["split"])
        files: dict[Path, int] = {}  # token file -> its number in the cache
        pieces = []
        for f, s, span in zip(kept, splits, spans):
            pieces.append(
                {
                    "id": f.id,
                    "split": s,
                    "file": files.setdefault(span.file, len(files)),
                    "offset": span.offset,
                    "length": span.length,
                    "notes": span.notes,
                    "seconds": span.seconds,
                    "digest": f.digest,
                    **({"style": f.style} if f.style else {}),
                }
            )
        manifest = {
            "key": meta["key"],
            "settings": meta["settings"],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "tunesmith": __version__,
            "source": source.describe(),
            "codec": self.codec.to_dict(),
            "read": self.read.to_dict(),
            "split": meta["split"].to_dict(),
            "pieces": pieces,
            "skipped": skipped,
        }
        for token_file in files:  # a crashed worker may have written past its last piece
            if token_file.parent == store and token_file in known.digests:
                tokens = known.digests[token_file][0]
                if token_file.stat().st_size > 2 * tokens:
                    os.truncate(token_file, 2 * tokens)
        cache = write_cache(path, manifest, list(files), known.digests)
        remove_shards(known.shards, store)  # the cache holds them all now
        return cache, len(todo)

    def _name(self, f: SourceFile) -> str:
        return f.id if self.source.kind == "music21" else str(f.path)

    def _read(self, todo: list[SourceFile], store: Path, known: Known) -> None:
        """Read ``todo`` through the worker pool into shards, adding them to ``known``."""
        if not todo:
            return
        advance = self.progress.task("reading MIDI", len(todo))
        index = ShardIndex(store)
        fn = functools.partial(
            read_into_shard,
            read=self.read,
            codec=self.codec,
            store=store,
            parent=os.getpid(),
            size=self.shard_tokens,
        )
        jobs = [(str(f.path), self._name(f)) for f in todo]
        workers = self.workers or os.cpu_count() or 1
        t0, notes = time.perf_counter(), 0
        saved = t0
        try:
            for files, out in enumerate(run_tasks(fn, jobs, workers, self.timeout), 1):
                f = todo[out.index]
                k = (f.id, f.digest)
                if out.error is not None:
                    reason = out.error if out.lost else f"reader failed ({out.error})"
                    if out.lost:  # not kept in a shard: the next run tries it again
                        known.skipped[k] = reason
                        known.retry.add(k)
                    else:
                        index.skip(k, reason)
                elif isinstance(out.value, str):
                    index.skip(k, out.value)
                else:
                    shard, offset, length, count, seconds, digest = out.value
                    known.update(index.piece(shard, k, (offset, length), count, seconds, digest))
                    notes += count
                if time.perf_counter() - saved > SAVE_EVERY:
                    index.save_open()
                    saved = time.perf_counter()
                rate = max(time.perf_counter() - t0, 1e-9)
                advance(1, f"{files / rate:,.0f} files/s, {notes / rate / 1e3:,.0f}k notes/s")
        finally:  # Ctrl-C included: what was read is kept for the next run
            known.update(index.close_all())


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "corpus"
