"""Shared pieces of the command line: consoles, progress, parsing helpers, signals.

Only ``cli/`` prints.  Library code reports progress through :mod:`archetype.progress`
and raises :class:`archetype.errors.UserError` for mistakes the user can fix.

Both consoles print plain text (``markup=False``): a ``[/]`` in a path, id, timestamp or
event type is printed as is, never parsed as Rich markup.  Style goes through
``style=``/:class:`rich.text.Text`, never through markup in a formatted string.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

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
from rich.text import Text

from archetype.errors import Interrupted, UserError

console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def print_error(message: str, *, label: str = "error") -> None:
    """One plain-text line on stderr: ``error: <message>`` (newlines folded)."""
    msg = " ".join(str(message).split("\n"))
    err_console.print(
        Text.assemble((f"{label}:", "bold red"), " ", msg), highlight=False, soft_wrap=True
    )


def warn(message: str) -> None:
    """One plain-text warning line on stderr."""
    msg = " ".join(str(message).split("\n"))
    err_console.print(
        Text.assemble(("warning:", "yellow"), " ", msg), highlight=False, soft_wrap=True
    )


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
        except BaseException:
            # a failed step is not drawn as a finished bar: the error line says what happened
            self._progress.remove_task(tid)
            raise
        t = next((t for t in self._progress.tasks if t.id == tid), None)
        if t is not None and t.total is not None:
            self._progress.update(tid, completed=t.total)
        elif t is not None:
            self._progress.update(tid, total=1, completed=1)


@contextmanager
def progress_tracker(enabled: bool = True) -> Iterator[RichTracker]:
    """Rich progress bars (on stderr) for the duration of a command.

    Drawn only on a terminal: in a pipe, a log file or cron mail a failed command prints
    its one error line and nothing else.
    """
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not enabled or not err_console.is_terminal,
    )
    with progress:
        yield RichTracker(progress)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line on stderr and return the ``typer.Exit`` to raise."""
    print_error(message)
    return typer.Exit(code=code)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGTERM into :class:`~archetype.errors.Interrupted` for the block.

    Schedulers (cron, systemd, Kubernetes) stop a job with SIGTERM; raised as an exception
    it unwinds like an error: temp dirs are removed, worker pools stopped, run records
    marked ``failed``.  A second SIGTERM while that cleanup runs exits at once.  The
    previous handlers are restored on exit (only the main thread can install handlers; in
    other threads this does nothing).
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):  # noqa: ARG001
        if fired:
            os._exit(128 + signum)
        fired.append(signum)
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace --out when it is an earlier output of this same command (never "
        "anything else: other files and folders are refused).",
    ),
]


def check_out(out: Path, kind: str, overwrite: bool) -> None:
    """Fail fast (before any work) unless ``--out`` may be written; see archetype._outputs."""
    from archetype._outputs import check_output

    check_output(out, kind, overwrite=overwrite)
