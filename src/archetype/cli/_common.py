"""Shared pieces of the command line: consoles, progress, parsing helpers.

Only ``cli/`` prints.  Library code reports progress through :mod:`archetype.progress`
and raises :class:`archetype.errors.UserError` for mistakes the user can fix.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from archetype.errors import UserError

console = Console()
err_console = Console(stderr=True)


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=verbose)],
        force=True,
    )


def parse_date(value: str, *, option: str = "--date") -> dt.date:
    """Parse ``YYYY-MM-DD``; a bad value is a user error naming the option."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UserError(f"{option}={value!r} is not a date; use YYYY-MM-DD") from None


class _RichTask:
    def __init__(self, progress: Progress, task_id) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, amount: float = 1.0) -> None:
        self._progress.advance(self._id, amount)

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        kw = {}
        if total is not None:
            kw["total"] = total
        if description is not None:
            kw["description"] = description
        self._progress.update(self._id, **kw)


class RichTracker:
    """A :class:`archetype.progress.Tracker` drawing rich progress bars on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[_RichTask]:
        tid = self._progress.add_task(description, total=total)
        try:
            yield _RichTask(self._progress, tid)
        finally:
            t = self._progress.tasks[tid] if tid < len(self._progress.tasks) else None
            if t is not None and t.total is not None:
                self._progress.update(tid, completed=t.total)
            elif t is not None:
                self._progress.update(tid, total=1, completed=1)


@contextmanager
def progress_tracker(enabled: bool = True) -> Iterator[RichTracker]:
    """Rich progress bars (on stderr) for the duration of a command."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not enabled,
    )
    with progress:
        yield RichTracker(progress)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line on stderr and return the ``typer.Exit`` to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)
