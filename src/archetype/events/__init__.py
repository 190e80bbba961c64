"""Reading real event logs: column/event-type maps, validation, as-of cut.

>>> scan = read_events("events/", EventsConfig.from_dict({"columns": {"customer_id": "uid"}}),
...                    as_of=date(2026, 12, 31), window_days=365)   # doctest: +SKIP
>>> scan.lazy            # canonical LazyFrame                      # doctest: +SKIP
>>> scan.report.to_dict()                                            # doctest: +SKIP
>>> frame, report = canonicalize_frame(df, config, source="request 42")  # doctest: +SKIP
"""

from archetype.events.config import EventsConfig
from archetype.events.frame import canonicalize_frame
from archetype.events.read import (
    CanonicalScan,
    EventsScan,
    merge_counts,
    open_events,
    read_events,
    window_start,
)
from archetype.events.report import ValidationReport
from archetype.events.schema import CANONICAL_COLUMNS, EVENT_TYPES

__all__ = [
    "CANONICAL_COLUMNS",
    "CanonicalScan",
    "EVENT_TYPES",
    "EventsConfig",
    "EventsScan",
    "ValidationReport",
    "canonicalize_frame",
    "merge_counts",
    "open_events",
    "read_events",
    "window_start",
]
