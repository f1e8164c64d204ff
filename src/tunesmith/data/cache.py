"""The token cache: the pieces' tokens in a few memory-mapped files plus a JSON manifest.

Layout of a cache directory::

    tokens-0000.u16 ...  uint16 (little-endian), pieces' tokens (no BOS/EOS); a file may also
                         hold tokens no piece names (a changed file's older version)
    manifest.json        format, key, codec/read/split configs, source, the token files (name,
                         tokens, digest), pieces (id, split, file, offset, length, notes,
                         seconds, digest), skipped files with reasons, and a digest of the piece
                         table; every file's digest is checked on load

The token files are the shards ``prepare`` wrote, hard-linked (copied where links cannot be
made): a cache built after files were added to a folder shares the earlier cache's files rather
than copying them. A cache is built in a temporary directory and renamed into place when
complete, so a killed run never leaves a half-written cache; the manifest is written last inside
it as well. Caches of format 1 (one ``tokens.npy``) are still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunesmith.atomic import atomic_write_json, publish_dir, temp_dir_beside
from tunesmith.config import CodecConfig
from tunesmith.data.codec import Codec
from tunesmith.data.corpus import file_digest
from tunesmith.data.split import SPLITS, rank
from tunesmith.errors import CacheCorruptError, CacheMismatchError, CheckpointError, ConfigError

if TYPE_CHECKING:
    from tunesmith.checkpoint import DataRecord, Record

FORMAT = "tunesmith-tokens/2"
FORMAT_1 = "tunesmith-tokens/1"  # one tokens.npy, pieces back to back
TOKENS = "tokens.npy"  # format 1
MANIFEST = "manifest.json"


def cache_key(parts: dict[str, Any]) -> str:
    """Hash of everything a cache depends on: format, configs and every source file's digest."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Piece:
    id: str
    split: str
    offset: int  # into its token file
    length: int  # tokens
    notes: int
    seconds: float
    digest: str
    file: int = 0  # which token file
    style: str = ""  # its label if the source gave one (see :meth:`TokenCache.style`)


class TokenCache:
    """A loaded cache: pieces, their splits and their tokens (memory-mapped, read-only)."""

    def __init__(self, path: Path, manifest: dict[str, Any], arrays: list[np.ndarray]) -> None:
        self.path = path
        self.manifest = manifest
        self.arrays = arrays
        self.codec = Codec(CodecConfig.saved(manifest["codec"]))
        self.pieces = [Piece(**p) for p in manifest["pieces"]]
        self.skipped: list[dict[str, str]] = manifest["skipped"]

    def __repr__(self) -> str:
        tokens = sum(p.length for p in self.pieces)
        return f"TokenCache({self.path}, pieces={len(self.pieces)}, tokens={tokens})"

    @property
    def token_files(self) -> list[Path]:
        if self.manifest["format"] == FORMAT_1:
            return [self.path / TOKENS]
        return [self.path / f["name"] for f in self.manifest["files"]]

    @classmethod
    def load(cls, path: str | Path, verify: bool = True) -> TokenCache:
        """Open a cache directory; a missing, partial or damaged one raises a clear error
        (``verify=False`` skips reading every token to check the digests: for a cache this
        process has just written)."""
        path = Path(path)
        manifest_path = path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError as e:
            raise CacheCorruptError(f"{path}: not a token cache (no {MANIFEST})") from e
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CacheCorruptError(f"{manifest_path}: unreadable manifest ({e})") from e
        found = manifest.get("format") if isinstance(manifest, dict) else None
        if found not in (FORMAT, FORMAT_1):
            raise CacheMismatchError(f"{manifest_path}: format {found!r}, expected {FORMAT!r}")
        try:
            arrays = (
                _format_1(path, manifest) if found == FORMAT_1 else _token_files(path, manifest)
            )
            cache = cls(path, manifest, arrays)
        except (KeyError, TypeError, ValueError, ConfigError) as e:
            raise CacheCorruptError(f"{manifest_path}: malformed manifest ({e})") from e
        for p in cache.pieces:
            if not (0 <= p.file < len(arrays) and p.offset >= 0 and p.length >= 1) or (
                p.offset + p.length > len(arrays[p.file])
            ):
                raise CacheCorruptError(f"{manifest_path}: piece {p.id} is not where it belongs")
        if found == FORMAT_1:
            _check_format_1(path, manifest, cache.pieces, verify)
            return cache
        if manifest.get("pieces_digest") != pieces_digest(manifest):
            raise CacheCorruptError(f"{manifest_path}: its piece table was edited")
        if verify:
            for f in manifest["files"]:
                if file_digest(path / f["name"]) != f["digest"]:
                    raise CacheCorruptError(
                        f"{path / f['name']}: its digest differs from the manifest's"
                    )
        return cache

    def check_codec(self, config: CodecConfig, what: str = "the request") -> None:
        """Raise :class:`CacheMismatchError` if ``config`` differs from the cache's codec."""
        if config != self.codec.config:
            raise CacheMismatchError(
                f"{self.path}: tokens were made with {self.codec.config}, but {what} uses {config}"
            )

    def split(self, name: str) -> list[Piece]:
        if name not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {name!r}")
        return [p for p in self.pieces if p.split == name]

    def sample(self, name: str, max_tokens: int = 0) -> list[Piece]:
        """The pieces of split ``name``, or with ``max_tokens`` a fixed sample of them holding
        at most that many tokens (at least one piece): taken in an order hashed from the split
        seed and the piece ids, so a cache always gives the same sample and added pieces change
        it little; kept in cache order."""
        pieces = self.split(name)
        if not max_tokens or sum(p.length for p in pieces) <= max_tokens:
            return pieces
        seed = int(self.manifest["split"].get("seed", 0))
        chosen: set[int] = set()
        total = 0
        for i in sorted(range(len(pieces)), key=lambda i: rank(seed, pieces[i].id)):
            if chosen and total + pieces[i].length > max_tokens:
                continue
            chosen.add(i)
            total += pieces[i].length
        return [p for i, p in enumerate(pieces) if i in chosen]

    def style(self, piece: Piece) -> str:
        """A piece's style label: its own (a MAESTRO composer, a MIDI folder's first-level
        subfolder), else the source's name (``bach``)."""
        return piece.style or str(self.manifest["source"].get("name") or "corpus")

    def styles(self, split: str | None = None) -> dict[str, int]:
        """Pieces per style (of one split, or all), most common first."""
        pieces = self.pieces if split is None else self.split(split)
        counts = Counter(self.style(p) for p in pieces)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def piece_tokens(self, piece: Piece) -> np.ndarray:
        return self.arrays[piece.file][piece.offset : piece.offset + piece.length]

    def record(self) -> DataRecord:
        """What a checkpoint records of these tokens."""
        from tunesmith.checkpoint import DataRecord  # torch: not for prepare's workers

        m = self.manifest
        return DataRecord(key=m["key"], source=m["source"], cache=str(self.path))

    def summary(self) -> list[dict[str, Any]]:
        """Pieces, notes, tokens and minutes per split, and a total row."""
        rows = []
        for name in (*SPLITS, "total"):
            ps = self.pieces if name == "total" else self.split(name)
            rows.append(
                {
                    "split": name,
                    "pieces": len(ps),
                    "notes": sum(p.notes for p in ps),
                    "tokens": sum(p.length for p in ps),
                    "minutes": round(sum(p.seconds for p in ps) / 60, 1),
                }
            )
        return rows


def cache_of(record: Record) -> TokenCache:
    """The token cache a checkpoint was trained on."""
    if record.data is None:
        raise CheckpointError(f"{record.path}: records no training data to judge it on")
    return TokenCache.load(record.data.cache)


def _token_files(path: Path, manifest: dict[str, Any]) -> list[np.ndarray]:
    arrays = []
    for f in manifest["files"]:
        name = str(f["name"])
        if Path(name).name != name:
            raise ValueError(f"token file {name!r} is not a plain name")
        file = path / name
        try:
            size = file.stat().st_size
            tokens = np.memmap(file, dtype="<u2", mode="r") if size else np.empty(0, dtype="<u2")
        except (OSError, ValueError) as e:
            raise CacheCorruptError(f"{file}: unreadable token file ({e})") from e
        if size % 2 or len(tokens) != f["tokens"]:
            raise CacheCorruptError(
                f"{file}: holds {size} bytes, the manifest names {f['tokens']} tokens"
            )
        arrays.append(tokens)
    return arrays


def _format_1(path: Path, manifest: dict[str, Any]) -> list[np.ndarray]:
    try:
        tokens = np.load(path / TOKENS, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CacheCorruptError(f"{path / TOKENS}: unreadable token array ({e})") from e
    total = sum(p["length"] for p in manifest["pieces"])
    if tokens.ndim != 1 or len(tokens) != total or tokens.dtype != np.uint16:
        raise CacheCorruptError(
            f"{path / TOKENS}: holds {tokens.shape} {tokens.dtype}, "
            f"manifest expects ({total},) uint16"
        )
    return [tokens]


def _check_format_1(path: Path, manifest: dict, pieces: list[Piece], verify: bool) -> None:
    end = 0
    for p in pieces:  # back to back, in order: an edited length cannot hide
        if p.offset != end:
            raise CacheCorruptError(f"{path / MANIFEST}: piece {p.id} is not where it belongs")
        end += p.length
    digest = manifest.get("tokens_digest")  # caches before digests have none
    if verify and digest is not None:
        h = hashlib.blake2b(digest_size=16)
        with open(path / TOKENS, "rb") as f:
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
            while block := f.read(1 << 24):
                h.update(block)
        h.update(np.array([p.length for p in pieces], dtype=np.int64).data)
        if h.hexdigest() != digest:
            raise CacheCorruptError(
                f"{path}: the digest of its tokens and piece lengths differs from the manifest's"
            )


def pieces_digest(manifest: dict[str, Any]) -> str:
    """A hash of the token files' digests and of where each piece lies: an edited offset or
    length cannot hide."""
    table = [[f["name"], f["tokens"], f["digest"]] for f in manifest["files"]]
    spans = [[p["file"], p["offset"], p["length"]] for p in manifest["pieces"]]
    text = json.dumps([table, spans], separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def write_cache(
    path: Path,
    manifest: dict[str, Any],
    files: list[Path],
    digests: dict[Path, tuple[int, str]],
) -> TokenCache:
    """Write a complete cache atomically: the token ``files`` its pieces name (``file`` is an
    index into them) linked beside ``path`` (copied where links cannot be made), then the
    manifest, then rename the folder into place. ``digests`` has (tokens, digest) of files whose
    digest is known already; it is used if the file still holds that many tokens (a crashed
    worker may have written past its last known piece), else the digest is computed."""
    tmp = temp_dir_beside(path)
    try:
        table = []
        for i, src in enumerate(files):
            name = f"tokens-{i:04d}.u16"
            try:
                os.link(src, tmp / name)
            except OSError:
                shutil.copyfile(src, tmp / name)
            tokens = (tmp / name).stat().st_size // 2
            known, digest = digests.get(src, (-1, ""))
            if known != tokens:
                digest = file_digest(tmp / name)
            table.append({"name": name, "tokens": tokens, "digest": digest})
        manifest = {"format": FORMAT, **manifest, "files": table}
        manifest["pieces_digest"] = pieces_digest(manifest)
        atomic_write_json(tmp / MANIFEST, manifest)  # last: completion
        publish_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TokenCache.load(path, verify=False)
