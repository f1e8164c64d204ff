"""Options and helpers that several verbs share: TOML settings, data selection, output."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from tunesmith.config import CodecConfig, Config, ReadConfig, SplitConfig
from tunesmith.errors import ConfigError

DATA_TABLES = {"codec", "read", "split"}


def load_config_file(path: Path | None, known: set[str]) -> dict[str, dict[str, Any]]:
    """Read a TOML config with tables from ``known``; any fault is a one-line ConfigError."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
    if set(data) - known:
        raise ConfigError(
            f"{path}: unknown table(s) {sorted(set(data) - known)}; known: {sorted(known)}"
        )
    return data


def make_config(
    cls: type[Config], file: dict[str, dict[str, Any]], base: dict[str, Any] | None = None, **flags
) -> Any:
    """A config from ``base`` (e.g. a saved run's), then the file's table, then the flags the
    user gave (``None`` means not given)."""
    values = dict(base or {})
    values.update(file.get(cls.section, {}))
    values.update({k: v for k, v in flags.items() if v is not None})
    return cls.from_dict(values)


def add_data_args(p: argparse.ArgumentParser, codec_flags: bool = False) -> None:
    """Which music to use: a built-in corpus (default Bach) or a MIDI folder, and the cache."""
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group()
    src.add_argument(
        "--corpus",
        choices=("bach", "palestrina", "folk"),
        help="built-in corpus from music21 (default: bach, 410 chorales)",
    )
    src.add_argument(
        "--midi-dir", type=Path, help="folder of .mid/.midi files (recursive; MAESTRO aware)"
    )
    g.add_argument("--cache-dir", type=Path, help="where caches live (default ~/.cache/tunesmith)")
    if codec_flags:
        g.add_argument("--first-track-only", action="store_true", default=None, help="as the seed")
        g.add_argument(
            "--no-sustain",
            dest="sustain",
            action="store_false",
            default=None,
            help="ignore the sustain pedal (CC64)",
        )
        g.add_argument("--time-step", type=float, help="seconds per time-shift step (0.01)")
        g.add_argument("--max-shift-steps", type=int, help="longest time-shift in steps (100)")
        g.add_argument("--velocity-bin-width", type=int, help="velocity units per bin (5: 26 bins)")
        g.add_argument("--valid-fraction", type=float, help="share of pieces for validation (0.1)")
        g.add_argument("--test-fraction", type=float, help="share of pieces for test (0.1)")
        g.add_argument("--split-seed", dest="split_seed", type=int, help="split seed (0)")


def data_configs(
    args: argparse.Namespace, file: dict[str, dict[str, Any]]
) -> tuple[CodecConfig, ReadConfig, SplitConfig]:
    """Codec, read and split settings from the file's tables and any flags given."""
    flag = lambda name: getattr(args, name, None)  # noqa: E731 - verbs without codec flags
    codec = make_config(
        CodecConfig,
        file,
        time_step=flag("time_step"),
        max_shift_steps=flag("max_shift_steps"),
        velocity_bin_width=flag("velocity_bin_width"),
    )
    read = make_config(
        ReadConfig, file, first_track_only=flag("first_track_only"), sustain=flag("sustain")
    )
    split = make_config(
        SplitConfig,
        file,
        valid_fraction=flag("valid_fraction"),
        test_fraction=flag("test_fraction"),
        seed=flag("split_seed"),
    )
    return codec, read, split


def load_data(args: argparse.Namespace, file: dict[str, dict[str, Any]], progress=None):
    """Prepare (or reuse) the token cache the data options ask for."""
    from tunesmith.data.prepare import prepare

    codec, read, split = data_configs(args, file)
    return prepare(
        corpus=args.corpus or "bach",
        midi_dir=args.midi_dir,
        cache_dir=args.cache_dir,
        codec=codec,
        read=read,
        split=split,
        progress=progress,
    ).cache


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="auto (default): CUDA with bf16 autocast when available, else CPU",
    )
