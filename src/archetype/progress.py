"""Progress reporting without printing.

Library code never prints (DESIGN: only ``cli/`` prints).  Long-running functions take an
optional :class:`Tracker`; the CLI passes one backed by ``rich.progress``, tests and library
users get the silent :data:`NULL_TRACKER` by default.

Usage inside the library::

    with tracker.task("k-means steps", total=n_steps) as task:
        for _ in range(n_steps):
            ...
            task.advance(1)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class TaskHandle(Protocol):
    def advance(self, amount: float = 1.0) -> None: ...

    def update(self, *, total: float | None = None, description: str | None = None) -> None: ...


class Tracker(Protocol):
    def task(self, description: str, total: float | None = None): ...  # -> ContextManager


class _NullTask:
    def advance(self, amount: float = 1.0) -> None:
        pass

    def update(self, *, total: float | None = None, description: str | None = None) -> None:
        pass


class NullTracker:
    """A tracker that reports nothing."""

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[_NullTask]:
        yield _NullTask()


NULL_TRACKER = NullTracker()


def tracker_or_null(tracker: Tracker | None) -> Tracker:
    return NULL_TRACKER if tracker is None else tracker
