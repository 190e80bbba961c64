"""The project's closed vocabularies, declared once.

Every place that accepts one of these names (Typer options, config models, estimator
parameters, engine factories) uses these enums, so the allowed values and the error that
lists them are the same everywhere.  They are ``StrEnum``: a member compares equal to its
string value, so ``Metric("l2") == "l2"`` and plain strings keep working in the Python API.
"""

from __future__ import annotations

from enum import StrEnum


class Backend(StrEnum):
    """k-means compute backend (``auto`` picks per device and installed libraries)."""

    AUTO = "auto"
    TORCH = "torch"
    FAISS = "faiss"
    NUMBA = "numba"
    NUMPY = "numpy"


class Device(StrEnum):
    """Where the k-means math runs."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Metric(StrEnum):
    """Distance between an embedding row and a centroid."""

    L2 = "l2"
    COSINE = "cosine"


class Precision(StrEnum):
    """Input type of the distance GEMM on CUDA (always accumulated in fp32)."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"


class EngineName(StrEnum):
    """Where pipeline steps run: this process or a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


def choices(enum: type[StrEnum]) -> str:
    """``"a, b or c"``: the values of ``enum`` for an error message."""
    vals = [m.value for m in enum]
    return vals[0] if len(vals) == 1 else f"{', '.join(vals[:-1])} or {vals[-1]}"


class InputFormat(StrEnum):
    """Event log file format (``auto`` decides from the file extensions)."""

    AUTO = "auto"
    PARQUET = "parquet"
    CSV = "csv"


class TimestampUnit(StrEnum):
    """Unit of integer (or numeric-text) epoch timestamps: seconds since 1970-01-01 UTC, ..."""

    S = "s"
    MS = "ms"
    US = "us"
    NS = "ns"


class BadValuePolicy(StrEnum):
    """What a value that does not parse (timestamp, amount, quantity, discount) does.

    ``error`` (default): exit 2 naming the file, column, count, first bad value and row.
    ``drop-row``: the row is dropped and counted.  ``null``: the value is treated as
    missing (amount 0, quantity 1, discount 0) and counted; a row whose timestamp does not
    parse is dropped (an event needs a time).
    """

    ERROR = "error"
    DROP_ROW = "drop-row"
    NULL = "null"


class DedupeMode(StrEnum):
    """Which rows of an event log count as one event.

    ``auto``: de-duplicate on the event id when the log has one, else keep every row (and
    warn with the count of rows identical in every column).  ``event-id``: require an event
    id and de-duplicate on ``(customer_id, event_id)``.  ``exact``: drop rows identical to
    an earlier row in every column of the source.  ``none``: keep every row.
    """

    AUTO = "auto"
    EVENT_ID = "event-id"
    EXACT = "exact"
    NONE = "none"


class IdDtype(StrEnum):
    """Customer id type: ``auto`` keeps Parquet integers integer and reads CSV ids as text."""

    AUTO = "auto"
    STR = "str"
    INT = "int"


class Scenario(StrEnum):
    """Synthetic worlds of ``archetype synth``: stationary archetypes, or a drifting world."""

    BASE = "base"
    DRIFT = "drift"


class StoreKind(StrEnum):
    """Where ``archetype serve`` keeps its state: embedded LMDB, or a Redis server."""

    LMDB = "lmdb"
    REDIS = "redis"


class AutomationMode(StrEnum):
    """Where triggers, experiments and learning run beside ``archetype serve``.

    ``process``: a worker process consuming the commits' inbox (off the ingest path, on
    another core); ``thread``: the same worker as a thread; ``inline``: in the ingest
    commits themselves.
    """

    PROCESS = "process"
    THREAD = "thread"
    INLINE = "inline"
