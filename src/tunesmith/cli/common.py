"""What several verbs share: flags made from config fields, TOML settings, the data options."""

from __future__ import annotations

import argparse
import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any, cast

from tunesmith.config import (
    MAX_SEED,
    CodecConfig,
    Config,
    Preset,
    ReadConfig,
    SplitConfig,
    Tables,
)
from tunesmith.data.prepare import DataSource
from tunesmith.errors import ConfigError

DATA_TABLES = {"codec", "read", "split"}


def add_config_args(
    p: argparse.ArgumentParser, config: Config, title: str | None = None, skip: tuple = ()
) -> None:
    """One flag per field of ``config`` (``--field-name``, or the field's own ``flag``), its help
    from the field's metadata and its default shown from ``config`` (a preset's)."""
    g = p.add_argument_group(title or config.section)
    for f in dataclasses.fields(cast(Any, config)):
        if f.name in skip or "help" not in f.metadata:
            continue
        meta = f.metadata
        default = getattr(config, f.name)
        kwargs: dict[str, Any] = {
            "dest": f"{config.section}.{f.name}",
            "default": None,  # None: not given, so the preset, saved run or file decides
            "help": f"{meta['help']} ({_shown(default)})",
        }
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, tuple):
            kwargs["type"] = lambda s: [k.strip() for k in s.split(",") if k.strip()]
        else:
            kwargs["type"] = type(default)
            kwargs["choices"] = meta.get("choices")
        flag = meta.get("flag") or f.name.replace("_", "-")
        if not isinstance(default, bool) and not meta.get("choices"):
            kwargs["metavar"] = flag.replace("-", "_").upper()
        g.add_argument("--" + flag, **kwargs)


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return value or "none"
    return f"{value:g}"


def flag_tables(args: argparse.Namespace) -> Tables:
    """The config flags the user gave, as settings tables."""
    tables: Tables = {}
    for dest, value in vars(args).items():
        section, dot, name = dest.partition(".")
        if dot and value is not None:
            tables.setdefault(section, {})[name] = value
    return tables


def load_config_file(path: Path | None, known: set[str]) -> Tables:
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


def option_tables(preset: Preset, args: argparse.Namespace) -> list[Tables]:
    """The ``--config`` file's tables (sections of ``preset``, and the data's), then the flags
    given: what to lay over the preset, in that order."""
    known = set(preset.sections()) | DATA_TABLES
    return [load_config_file(getattr(args, "config", None), known), flag_tables(args)]


def add_data_args(p: argparse.ArgumentParser, codec_flags: bool = False) -> None:
    """Which music to use: a built-in corpus (default Bach) or a MIDI folder, and the cache;
    with ``codec_flags`` also how it is read, encoded and split."""
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
        for config in (CodecConfig(), ReadConfig(), SplitConfig()):
            add_config_args(p, config)


def data_source(args: argparse.Namespace, file: Tables | None = None) -> DataSource:
    """The data options as a source: a TOML file's ``[codec]``, ``[read]``, ``[split]`` tables,
    then the flags given."""
    tables = [file or {}, flag_tables(args)]

    def config(cls: type[Config]) -> Any:
        values: dict[str, Any] = {}
        for table in tables:
            values.update(table.get(cls.section, {}))
        return cls.from_dict(values)

    return DataSource(
        corpus=args.corpus,
        midi_dir=args.midi_dir,
        cache_dir=args.cache_dir,
        codec=config(CodecConfig),
        read=config(ReadConfig),
        split=config(SplitConfig),
    )


def add_device_arg(p: argparse.ArgumentParser | Any) -> None:
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto (default): CUDA with bf16 autocast when available, else CPU",
    )


def integer_in(low: int, high: int) -> Any:
    """An argparse type: an integer in [low, high], else a usage error naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {text!r}")
        return value

    return parse


def number_in(low: float, high: float) -> Any:
    """An argparse type: a finite number in [low, high], else a usage error naming the range."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(
                f"must be a number in [{low:g}, {high:g}], got {text!r}"
            )
        return value

    return parse


seed_arg = integer_in(0, MAX_SEED)
