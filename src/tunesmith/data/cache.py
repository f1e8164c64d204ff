"""The token cache: one memory-mapped token array for all pieces plus a JSON manifest.

Layout of a cache directory::

    tokens.npy      uint16, every piece's tokens back to back (no BOS/EOS)
    manifest.json   format, key, codec/read/split configs, source, pieces (id, split, offset,
                    length, notes, seconds, digest), skipped files with reasons, and a digest
                    of the tokens and piece lengths, checked on every load

A cache is built in a temporary directory and renamed into place when complete, so a killed run
never leaves a half-written cache; the manifest is written last inside it as well.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.atomic import atomic_write_json, publish_dir, temp_dir_beside
from tunesmith.checkpoint import DataRecord, Record
from tunesmith.config import CodecConfig
from tunesmith.data.codec import Codec
from tunesmith.data.split import SPLITS
from tunesmith.errors import CacheCorruptError, CacheMismatchError, CheckpointError, ConfigError

FORMAT = "tunesmith-tokens/1"
TOKENS = "tokens.npy"
MANIFEST = "manifest.json"


def cache_key(parts: dict[str, Any]) -> str:
    """Hash of everything a cache depends on: format, configs and every source file's digest."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Piece:
    id: str
    split: str
    offset: int  # into the token array
    length: int  # tokens
    notes: int
    seconds: float
    digest: str


class TokenCache:
    """A loaded cache: pieces, their splits and their tokens (memory-mapped, read-only)."""

    def __init__(self, path: Path, manifest: dict[str, Any], tokens: np.ndarray) -> None:
        self.path = path
        self.manifest = manifest
        self.tokens = tokens
        self.codec = Codec(CodecConfig.saved(manifest["codec"]))
        self.pieces = [Piece(**p) for p in manifest["pieces"]]
        self.skipped: list[dict[str, str]] = manifest["skipped"]

    def __repr__(self) -> str:
        return f"TokenCache({self.path}, pieces={len(self.pieces)}, tokens={len(self.tokens)})"

    @classmethod
    def load(cls, path: str | Path) -> TokenCache:
        """Open a cache directory; a missing, partial or damaged one raises a clear error."""
        path = Path(path)
        manifest_path = path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError as e:
            raise CacheCorruptError(f"{path}: not a token cache (no {MANIFEST})") from e
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CacheCorruptError(f"{manifest_path}: unreadable manifest ({e})") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise CacheMismatchError(f"{manifest_path}: format {found!r}, expected {FORMAT!r}")
        try:
            tokens = np.load(path / TOKENS, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CacheCorruptError(f"{path / TOKENS}: unreadable token array ({e})") from e
        try:
            cache = cls(path, manifest, tokens)
        except (KeyError, TypeError, ConfigError) as e:
            raise CacheCorruptError(f"{manifest_path}: malformed manifest ({e})") from e
        total = sum(p.length for p in cache.pieces)
        if tokens.ndim != 1 or len(tokens) != total or tokens.dtype != np.uint16:
            raise CacheCorruptError(
                f"{path / TOKENS}: holds {tokens.shape} {tokens.dtype}, "
                f"manifest expects ({total},) uint16"
            )
        end = 0
        for p in cache.pieces:  # back to back, in order: an edited length cannot hide
            if p.offset != end or p.length < 1:
                raise CacheCorruptError(f"{manifest_path}: piece {p.id} is not where it belongs")
            end += p.length
        digest = manifest.get("tokens_digest")  # caches before digests have none
        if digest is not None and digest != tokens_digest(tokens, manifest["pieces"]):
            raise CacheCorruptError(
                f"{path}: the digest of its tokens and piece lengths differs from the manifest's"
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

    def piece_tokens(self, piece: Piece) -> np.ndarray:
        return self.tokens[piece.offset : piece.offset + piece.length]

    def record(self) -> DataRecord:
        """What a checkpoint records of these tokens."""
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


def tokens_digest(tokens: np.ndarray, pieces: list[dict[str, Any]]) -> str:
    """A hash of the token array and of where each piece lies in it (about 1 GB/s: a
    MAESTRO-size cache in a tenth of a second)."""
    h = hashlib.blake2b(np.ascontiguousarray(tokens).data, digest_size=16)
    h.update(np.array([p["length"] for p in pieces], dtype=np.int64).data)
    return h.hexdigest()


def write_cache(path: Path, manifest: dict[str, Any], tokens: np.ndarray) -> TokenCache:
    """Write a complete cache atomically: build beside ``path``, then rename into place."""
    if tokens.dtype != np.uint16:
        raise ValueError("cache tokens must be uint16")
    tmp = temp_dir_beside(path)
    try:
        np.save(tmp / TOKENS, tokens, allow_pickle=False)
        digest = tokens_digest(tokens, manifest["pieces"])
        manifest = {"format": FORMAT, **manifest, "tokens_digest": digest}
        atomic_write_json(tmp / MANIFEST, manifest)  # last: completion
        publish_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TokenCache.load(path)
