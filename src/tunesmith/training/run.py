"""``train composer`` and ``train critic`` as one call: settings, data, runtime, task, loop."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from tunesmith.atomic import usable_dir
from tunesmith.checkpoint import Record, read_record, resolve
from tunesmith.config import ComposerConfig, CriticConfig, Preset, Tables
from tunesmith.data.cache import TokenCache
from tunesmith.data.prepare import DataSource
from tunesmith.errors import TunesmithError
from tunesmith.progress import rich_progress
from tunesmith.runtime import Runtime, runtime
from tunesmith.training.composer import ComposerTask
from tunesmith.training.critic import CriticTask
from tunesmith.training.loop import Task, TrainResult, train


def saved_run(out: Path, resume: bool, kind: str) -> Record | None:
    """A resumed run's own record: it starts from its saved settings."""
    if resume and (out / "last").exists():
        return read_record(out / "last", kind=kind)
    return None


def train_model(
    preset: Preset,
    out: str | Path,
    tables: Sequence[Tables] = (),
    data: DataSource | None = None,
    resume: bool = False,
    init: str | Path | None = None,
    say: Callable[[str], None] = print,
) -> tuple[TrainResult, TokenCache, Runtime]:
    """Train the model ``preset`` describes (a Composer or a Critic) into the run ``out``.

    The settings are the preset, a resumed run's saved ones, then ``tables`` (a TOML file's, the
    flags given) laid over it. The data is ``data`` or, when none is named, a resumed run's own
    cache, else the default corpus; under ``torchrun`` each machine's first process prepares it
    first. ``init``: a Critic to extend. Only the main process prints, with progress bars."""
    kind = "composer" if isinstance(preset.model, ComposerConfig) else "critic"
    saved = saved_run(Path(out), resume, kind)
    settings = preset.with_tables(saved.tables() if saved else {}, *tables)
    assert settings.train is not None
    assert settings.windows is not None
    out = usable_dir(out)  # after the settings are checked: a refused run leaves no folder
    if saved and saved.init:
        init = saved.init
    elif init:
        init = str(resolve(init))
    with runtime(settings.train.device) as rt:
        say = say if rt.main else (lambda s: None)
        bars = rich_progress(transient=True) if rt.main else contextlib.nullcontext(None)
        with bars as progress:
            with rt.local_main_first():
                cache = None
                if saved and saved.data and not (data and data.given):
                    with contextlib.suppress(TunesmithError):
                        cache = TokenCache.load(saved.data.cache)
                if cache is None:
                    cache = (data or DataSource()).prepare(progress if rt.main else None)
            task: Task
            if isinstance(settings.model, CriticConfig):
                assert settings.negatives is not None
                task = CriticTask(
                    cache,
                    settings.model,
                    settings.windows,
                    settings.negatives,
                    settings.train.seed,
                    rt.device,
                    progress,
                    str(init) if init else None,
                    settings.train.valid_tokens,
                )
                for note in task.notes:
                    say(f"critic {note}")
            else:
                assert isinstance(settings.model, ComposerConfig)
                task = ComposerTask(
                    cache,
                    settings.model,
                    settings.windows,
                    settings.train.seed,
                    settings.train.valid_tokens,
                )
            params = sum(p.numel() for p in task.model.parameters())
            say(
                f"{task.kind}: {params:,} parameters on {rt.device}"
                + (f" x {rt.world} processes" if rt.distributed else "")
                + f"; {task.num_train():,} training windows from {cache.path}"
            )
            say(f"{task.kind}: {task.valid_note}")
            result = train(task, settings.train, out, rt, resume, progress, echo=say)
    s = result.state
    say(
        f"stopped: {result.stop} after {s.epoch} epochs + {s.batch_in_epoch} steps "
        f"({s.step} steps, {s.elapsed / 60:.1f} min); best {task.metric} {s.best:.4f} "
        f"at step {s.best_step}"
    )
    say(f"checkpoints: {result.best} (best), {result.out / 'last'} (resume)")
    return result, cache, rt
