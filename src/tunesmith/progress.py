"""Progress reporting that library code can call without knowing who listens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Advance(Protocol):
    def __call__(self, n: int, status: str | None = None) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> Advance:
        """Start a task; returns ``advance(n, status=None)``; ``status`` is shown beside it."""
        ...


class Silent:
    def task(self, description: str, total: int | None) -> Advance:
        return lambda n, status=None: None


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
        TextColumn("{task.fields[status]}"),
    )
    with RichProgress(*columns, console=Console(stderr=True), transient=transient) as bars:

        class _Rich:
            def task(self, description: str, total: int | None) -> Advance:
                task_id = bars.add_task(description, total=total, status="")

                def advance(n: int, status: str | None = None) -> None:
                    if status is None:
                        bars.advance(task_id, n)
                    else:
                        bars.update(task_id, advance=n, status=status)

                return advance

        yield _Rich()
