"""The pieces a prepare has already read, kept so that no file is read twice: shards written
while it runs (so a killed run resumes where it stopped) and the caches it finished before (so
adding files to a folder reads only the new ones).

Each worker appends the tokens of the files it reads to its own shard, ``PARENT-WORKER-N.u16``
(raw uint16), and starts a new one past ``shard_tokens``; the main process, which learns where
each file's tokens lie, writes the shard's index ``....json`` (which file each span holds, and
which files could not be read and why) every few seconds and when the shard is closed. Tokens
are written before the index names them, so an index never names tokens that are not there; a
shard without an index is removed once the prepare that wrote it no longer runs. Files are known
by their id and content digest, so a changed file is read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tunesmith.atomic import atomic_write_json, running
from tunesmith.data.cache import FORMAT, MANIFEST, TokenCache
from tunesmith.errors import TunesmithError

Key = tuple[str, str]  # (piece id, content digest)
DATA = ".u16"


@dataclass(frozen=True)
class Stored:
    """A piece's tokens in some file (a shard, or an earlier cache's token array): where, and
    what the manifest says of it."""

    file: Path
    offset: int
    length: int
    notes: int
    seconds: float


@dataclass
class Known:
    """Every piece and every unreadable file found, by (id, digest)."""

    pieces: dict[Key, Stored] = field(default_factory=dict)
    skipped: dict[Key, str] = field(default_factory=dict)
    shards: list[Path] = field(default_factory=list)  # indexes, removed once a cache holds them
    retry: set[Key] = field(default_factory=set)  # timed out or crashed: read them next time
    # token files' digests where known: (tokens, digest) of their first ``tokens`` tokens
    digests: dict[Path, tuple[int, str]] = field(default_factory=dict)

    def update(self, more: Known) -> None:
        self.pieces.update(more.pieces)
        self.skipped.update(more.skipped)
        self.retry.update(more.retry)
        self.shards.extend(more.shards)
        self.digests.update(more.digests)


def known_pieces(store: Path, caches: Iterable[Path]) -> Known:
    """What finished shards under ``store`` and the finished ``caches`` hold (shards first:
    they are newer). Unfinished shards of prepares that no longer run are removed; a damaged
    index is ignored (its files are read again)."""
    known = Known()
    if store.is_dir():
        for data in store.glob(f"*{DATA}"):
            if not data.with_suffix(".json").exists() and not running(_writer(data)):
                data.unlink(missing_ok=True)
        for index in sorted(store.glob("*.json")):
            try:
                _add_index(known, index, json.loads(index.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            known.shards.append(index)
    for path in caches:
        try:
            cache = TokenCache.load(path)
        except TunesmithError:
            continue
        if cache.manifest["format"] != FORMAT:
            continue
        files = cache.token_files
        known.digests.update(
            (file, (f["tokens"], f["digest"])) for file, f in zip(files, cache.manifest["files"])
        )
        for p in cache.pieces:
            known.pieces.setdefault(
                (p.id, p.digest), Stored(files[p.file], p.offset, p.length, p.notes, p.seconds)
            )
        for s in cache.skipped:
            if "digest" in s and not s.get("retry"):
                known.skipped.setdefault((s["id"], s["digest"]), s["reason"])
    return known


def _writer(data: Path) -> int:
    """The pid of the prepare whose worker wrote a shard (0 if the name does not say)."""
    head = data.name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _add_index(known: Known, index: Path, content: dict) -> None:
    data = index.with_suffix(DATA)
    pieces = [
        (
            (p["id"], p["digest"]),
            Stored(data, int(p["offset"]), int(p["length"]), int(p["notes"]), p["seconds"]),
        )
        for p in content["pieces"]
    ]
    if pieces and not data.exists():
        raise OSError(f"{data}: missing")
    known.pieces.update(pieces)
    known.skipped.update(((s["id"], s["digest"]), str(s["reason"])) for s in content["skipped"])
    if "digest" in content:
        known.digests[data] = (int(content["tokens"]), str(content["digest"]))


def newest_cache(tokens_dir: Path, prefix: str, settings: str) -> list[Path]:
    """The newest cache under ``tokens_dir`` named ``prefix-*`` whose pieces were made with
    ``settings`` (the same source, codec and read settings), if any: it holds what the older
    ones do, but for files since changed back, and checking each costs a read of all of it."""
    found = []
    for manifest in tokens_dir.glob(f"{prefix}-*/{MANIFEST}"):
        try:
            data = json.loads(manifest.read_text())
            if isinstance(data, dict) and data.get("settings") == settings:
                found.append((manifest.stat().st_mtime, manifest.parent))
        except (OSError, ValueError):
            continue
    return [max(found)[1]] if found else []


# -- in a worker: append a file's tokens to this worker's shard ---------------------------------


@dataclass
class _Shard:
    path: Path
    file: BinaryIO
    size: int = 0  # tokens written
    hash: Any = field(default_factory=lambda: hashlib.blake2b(digest_size=16))


_current: list[_Shard] = []  # this worker's shard, when it has one


def append_tokens(
    store: Path, parent: int, max_tokens: int, tokens: np.ndarray
) -> tuple[str, int, str]:
    """Append ``tokens`` to this worker's current shard under ``store`` (a new one once it holds
    ``max_tokens``) and flush; returns the shard's name, where the tokens start in it, and the
    digest of the shard so far (the workers hash their shards, not the main process)."""
    if not _current or _current[0].size >= max_tokens or _current[0].path.parent != store:
        n = 1
        if _current:
            _current[0].file.close()
            n = int(_current[0].path.stem.rsplit("-", 1)[1]) + 1
            _current.clear()
        store.mkdir(parents=True, exist_ok=True)
        path = store / f"{parent}-{os.getpid()}-{n}{DATA}"
        _current.append(_Shard(path, open(path, "wb")))  # noqa: SIM115 - open across calls
    shard = _current[0]
    offset = shard.size
    data = np.ascontiguousarray(tokens, dtype="<u2").data
    shard.file.write(data)
    shard.file.flush()  # the main process may index the tokens once told where they are
    shard.hash.update(data)
    shard.size += len(tokens)
    return shard.path.stem, offset, shard.hash.hexdigest()


# -- in the main process: index shards as their workers close them ------------------------------


class ShardIndex:
    """Where the files read so far lie in which shard. A shard's index is written as it stands
    by :meth:`save_open`, and finally when its worker has moved on to its next shard or at
    :meth:`close_all`; the files that cannot be read go into an index of their own (no
    tokens), written with them."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._open: dict[str, dict[str, Any]] = {}  # shard name -> pieces, skipped, digest
        self._skips = 0

    def piece(
        self,
        shard: str,
        key: Key,
        span: tuple[int, int],
        notes: int,
        seconds: float,
        digest: str,
    ) -> Known:
        """Record a file's tokens (``span``: offset and length in ``shard``, whose first
        offset + length tokens hash to ``digest``); returns what the shards this closed hold."""
        offset, length = span
        entry = {"id": key[0], "digest": key[1], "offset": offset, "length": length}
        content = self._entries(shard)
        content["pieces"].append({**entry, "notes": notes, "seconds": seconds})
        content.update(tokens=offset + length, digest=digest)
        worker = shard.rsplit("-", 1)[0]
        older = [n for n in self._open if n != shard and n.rsplit("-", 1)[0] == worker]
        return self._close([*older, self._skip_name()] if older else [])

    def skip(self, key: Key, reason: str) -> None:
        entry = {"id": key[0], "digest": key[1], "reason": reason}
        self._entries(self._skip_name())["skipped"].append(entry)

    def close_all(self) -> Known:
        return self._close(list(self._open))

    def save_open(self) -> None:
        """Write the index of every open shard as it stands (a kill then loses only what came
        in since); the shard stays open."""
        for name, content in self._open.items():
            self.store.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.store / f"{name}.json", content)

    def _skip_name(self) -> str:
        return f"{os.getpid()}-skipped-{self._skips}"

    def _entries(self, shard: str) -> dict[str, Any]:
        return self._open.setdefault(shard, {"pieces": [], "skipped": []})

    def _close(self, names: list[str]) -> Known:
        done = Known()
        for name in names:
            content = self._open.pop(name, None)
            if content is None:
                continue
            if name == self._skip_name():
                self._skips += 1
            index = self.store / f"{name}.json"
            self.store.mkdir(parents=True, exist_ok=True)
            atomic_write_json(index, content)  # after the tokens: the shard is finished
            _add_index(done, index, content)
            done.shards.append(index)
        return done


def remove_shards(indexes: Iterable[Path], store: Path) -> None:
    """Remove the shards of ``indexes`` (a cache has linked their tokens) and what this process's
    workers wrote that no index names (a crashed worker's last tokens)."""
    for index in indexes:
        index.unlink(missing_ok=True)  # first: never an index without its tokens
        index.with_suffix(DATA).unlink(missing_ok=True)
    for data in store.glob(f"{os.getpid()}-*{DATA}"):
        if not data.with_suffix(".json").exists():
            data.unlink(missing_ok=True)
