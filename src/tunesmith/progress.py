"""Progress reporting that library code can call without knowing who listens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        """Start a task; returns ``advance(n)``."""
        ...


class Silent:
    def task(self, description: str, total: int | None) -> Callable[[int], None]:
        return lambda n: None


@contextmanager
def rich_progress(transient: bool = False) -> Iterator[Progress]:
    """Rich progress bars on stderr (shown only when stderr is a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=Console(stderr=True), transient=transient) as bars:

        class _Rich:
            def task(self, description: str, total: int | None) -> Callable[[int], None]:
                task_id = bars.add_task(description, total=total)
                return lambda n: bars.advance(task_id, n)

        yield _Rich()
