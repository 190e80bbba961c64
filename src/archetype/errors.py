"""Error types shared by every layer.

A :class:`UserError` is a mistake the user can fix (bad path, missing column, bad value,
k > n, NaN in a matrix).  The CLI turns it into one line on stderr and exit code 2, with
no traceback.  Anything else is a bug or a runtime failure and exits 1.

``UserError`` subclasses ``ValueError`` so the scikit-learn compatible estimator can raise
it where scikit-learn raises ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path


class UserError(ValueError):
    """A mistake in the user's input: reported as one line, exit code 2, nothing written.

    Parameters
    ----------
    message : str
        What is wrong and, where possible, how to fix it.
    path : str or Path, optional
        The file or directory concerned; prefixed to the message.
    column : str, optional
        The column concerned; named in the message.
    """

    exit_code = 2

    def __init__(
        self, message: str, *, path: str | Path | None = None, column: str | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.column = column
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if column is not None:
            parts.append(f"column {column!r}")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class LockedError(UserError):
    """Another process holds the lock on an output root (a concurrent run)."""


class DataError(UserError):
    """The input data is unusable: unparseable values, empty after filtering, corrupt file."""


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt
    """SIGTERM (or SIGINT) raised as an exception, so every ``finally`` runs: temp dirs are
    removed, worker pools stopped and run records marked ``failed``.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in
    library code never swallows it.  The CLI exits with ``128 + signum`` (143 for SIGTERM,
    130 for SIGINT), the shell convention for a command stopped by a signal.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = int(signum)
        self.signame = signal.Signals(self.signum).name
        self.exit_code = 128 + self.signum
        super().__init__(f"interrupted by {self.signame}")


def interruption(exc: BaseException) -> Interrupted | None:
    """``exc`` as an :class:`Interrupted` (``KeyboardInterrupt`` is SIGINT), else None."""
    import signal

    if isinstance(exc, Interrupted):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(signal.SIGINT)
    return None
