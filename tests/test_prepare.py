"""The data pipeline end to end on real chorales: cache reuse and rebuild, atomic writes, bad
files, MAESTRO splits and the built-in corpus listing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import all_tokens
from tunesmith.config import CodecConfig, ReadConfig, SplitConfig
from tunesmith.data.cache import MANIFEST, TokenCache
from tunesmith.data.corpus import corpus_source
from tunesmith.data.midi import read_midi
from tunesmith.data.prepare import prepare
from tunesmith.errors import CacheCorruptError, CacheMismatchError, NoDataError


@pytest.fixture
def midi_dir(tmp_path, bach_midi_files) -> Path:
    d = tmp_path / "midis"
    d.mkdir()
    for p in bach_midi_files:
        shutil.copy(p, d / p.name)
    return d


def test_tokens_decode_back_to_the_files_notes(midi_dir, tmp_path):
    cache = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c").cache
    assert len(cache.pieces) == 8
    assert {p.split for p in cache.pieces} == {"train", "valid", "test"}
    for piece in cache.pieces:
        notes = read_midi(midi_dir / piece.id)
        decoded = cache.codec.decode(cache.piece_tokens(piece))
        assert piece.notes == len(notes) == len(decoded)
        assert sorted(decoded.pitch) == sorted(notes.pitch)
        # the cache trims leading silence: compare onsets relative to the first
        onsets = np.sort(notes.start - notes.start.min())
        assert np.abs(np.sort(decoded.start) - onsets).max() <= 0.005 + 1e-9


def test_second_run_reuses_the_cache(midi_dir, tmp_path):
    first = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    second = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    assert not first.reused
    assert second.reused
    assert second.cache.path == first.cache.path
    assert np.array_equal(all_tokens(second.cache), all_tokens(first.cache))


@pytest.mark.parametrize(
    "change",
    [
        {"codec": CodecConfig(time_step=0.02)},
        {"codec": CodecConfig(velocity_bin_width=4)},
        {"read": ReadConfig(first_track_only=True)},
        {"split": SplitConfig(seed=1)},
    ],
    ids=["time_step", "velocity_bins", "first_track_only", "split_seed"],
)
def test_changed_settings_build_a_new_cache(midi_dir, tmp_path, change):
    base = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    other = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c", **change)
    assert not other.reused
    assert other.cache.path != base.cache.path
    for key, config in change.items():
        assert other.cache.manifest[key] == config.to_dict()


def test_changed_inputs_build_a_new_cache(midi_dir, tmp_path):
    base = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    files = sorted(midi_dir.glob("*.mid"))
    shutil.copy(files[1], files[0])  # same name, other content
    changed = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    assert not changed.reused
    assert changed.cache.path != base.cache.path
    (midi_dir / files[2].name).unlink()
    removed = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    assert not removed.reused
    assert len(removed.cache.pieces) == 7


def test_a_damaged_cache_is_detected_and_rebuilt(midi_dir, tmp_path):
    cache = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c").cache
    expected = all_tokens(cache).copy()
    tokens = cache.token_files[0]
    tokens.write_bytes(tokens.read_bytes()[:-100])
    with pytest.raises(CacheCorruptError, match=re.escape(str(cache.path))):
        TokenCache.load(cache.path)
    again = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    assert not again.reused
    assert np.array_equal(all_tokens(again.cache), expected)


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda d: (d / MANIFEST).unlink(), CacheCorruptError),
        (lambda d: (d / MANIFEST).write_text("{not json"), CacheCorruptError),
        (lambda d: (d / MANIFEST).write_text('{"format": "other/9"}'), CacheMismatchError),
        (lambda d: (d / "tokens-0000.u16").write_bytes(b"garbage"), CacheCorruptError),
    ],
    ids=["no_manifest", "bad_json", "other_format", "bad_tokens"],
)
def test_loading_a_bad_cache_names_it(midi_dir, tmp_path, damage, error):
    path = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c").cache.path
    damage(path)
    with pytest.raises(error, match=re.escape(str(path))) as info:
        TokenCache.load(path)
    assert "\n" not in str(info.value)


def test_codec_mismatch_is_an_error(midi_dir, tmp_path):
    cache = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c").cache
    cache.check_codec(CodecConfig())
    with pytest.raises(CacheMismatchError, match="time_step"):
        cache.check_codec(CodecConfig(time_step=0.02))


DATA = Path(__file__).parent / "data"
# Checked-in bad files (written by tests/data/make_cases.py), and the reason each is skipped with.
BAD = {
    "not_midi.mid": "not a MIDI file",
    "empty.mid": "empty file",
    "truncated.mid": "corrupt or truncated MIDI",
    "garbage.mid": "corrupt or truncated MIDI",
    "no_notes.mid": "no notes",
    "drums_only.mid": "only drum tracks",
}


def _bad_files(d: Path) -> dict[str, str]:
    """Copy one bad file of each kind into ``d``; return file name -> expected reason."""
    expected = {}
    for name, reason in BAD.items():
        copy = "garbage.midi" if name == "garbage.mid" else name  # the other suffix, too
        shutil.copy(DATA / name, d / copy)
        expected[copy] = reason
    (d / "dangling.mid").symlink_to(d / "no-such-file.mid")
    expected["dangling.mid"] = "cannot read file"
    return expected


def test_bad_files_are_skipped_with_reasons_and_counted(midi_dir, tmp_path):
    sub = midi_dir / "nested" / "deeper"
    sub.mkdir(parents=True)
    expected = _bad_files(sub)
    result = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c")
    assert len(result.cache.pieces) == 8
    reasons = {Path(s["file"]).name: s["reason"] for s in result.skipped}
    assert set(reasons) == set(expected)
    for name, reason in expected.items():
        assert reasons[name].startswith(reason), (name, reasons[name])
        assert "\n" not in reasons[name]
    assert sum(result.skipped_by_reason().values()) == len(expected)


def test_nothing_usable_is_a_clear_error(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    _bad_files(d)
    with pytest.raises(NoDataError, match="none of 7 files is usable"):
        prepare(midi_dir=d, cache_dir=tmp_path / "c")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoDataError, match="no MIDI files"):
        prepare(midi_dir=empty, cache_dir=tmp_path / "c")


def test_maestro_csv_gives_the_official_split(tmp_path, bach_midi_files):
    root = tmp_path / "maestro-v3.0.0"
    (root / "2004").mkdir(parents=True)
    official = ["train", "validation", "test", "train", "train", "validation", "test", "train"]
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for p, split in zip(bach_midi_files, official):
        shutil.copy(p, root / "2004" / p.name)
        rows.append(f'J. S. Bach,"Chorale, {p.stem}",{split},2004,2004/{p.name},x.wav,60.0')
    (root / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")
    cache = prepare(midi_dir=root, cache_dir=tmp_path / "c").cache
    got = {p.id: p.split for p in cache.pieces}
    names = {"train": "train", "validation": "valid", "test": "test"}
    assert got == {f"2004/{p.name}": names[s] for p, s in zip(bach_midi_files, official)}


def test_bach_corpus_lists_410_scores_without_duplicates(tmp_path):
    source = corpus_source("bach", tmp_path)
    ids = [f.id for f in source.files]
    assert len(ids) == 410
    assert not [i for i in ids if i.endswith((".rntxt", ".krn"))]
    assert len({Path(i).stem for i in ids}) == 410


@pytest.mark.slow
def test_cli_prepares_the_embedded_corpus(tmp_path):
    """The README's main job on the whole embedded corpus, through the real CLI."""
    env = {**os.environ, "TUNESMITH_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "tunesmith.cli", "prepare", "--json"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    summary = json.loads(first.stdout)
    total = summary["splits"][-1]
    assert summary["reused"] is False
    assert total["pieces"] == 410
    assert total["notes"] > 100_000
    assert summary["skipped"] == []
    second = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env).stdout)
    assert second["reused"] is True
    assert second["splits"] == summary["splits"]


def test_a_cache_of_the_first_format_is_still_read(midi_dir, tmp_path):
    # Runs trained before the sharded format name caches with one tokens.npy, back to back.
    import hashlib

    cache = prepare(midi_dir=midi_dir, cache_dir=tmp_path / "c").cache
    old = tmp_path / "old"
    old.mkdir()
    tokens = all_tokens(cache)
    np.save(old / "tokens.npy", tokens)
    manifest = {k: v for k, v in cache.manifest.items() if k not in ("files", "pieces_digest")}
    offset, pieces = 0, []
    for p in manifest["pieces"]:
        pieces.append({k: v for k, v in p.items() if k != "file"} | {"offset": offset})
        offset += p["length"]
    h = hashlib.blake2b(tokens.data, digest_size=16)
    h.update(np.array([p["length"] for p in pieces], dtype=np.int64).data)
    manifest |= {"format": "tunesmith-tokens/1", "pieces": pieces, "tokens_digest": h.hexdigest()}
    (old / MANIFEST).write_text(json.dumps(manifest))
    loaded = TokenCache.load(old)
    assert np.array_equal(all_tokens(loaded), tokens)
    tokens[10] ^= 1
    np.save(old / "tokens.npy", tokens)
    with pytest.raises(CacheCorruptError, match="digest"):
        TokenCache.load(old)
