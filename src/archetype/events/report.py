"""Counts of recoverable problems found while reading a log (reported, not fatal)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ValidationReport:
    """What reading an event log dropped or recovered.

    Attributes
    ----------
    rows_scanned : int
        Rows read from the input (after hive partition pruning).
    after_as_of : int
        Rows later than the as-of day (ignored: point-in-time correctness).
    before_window : int
        Rows older than the lookback window (ignored).
    null_customer_ids : int
        Rows without a customer id (dropped).
    unknown_event_types : int
        Rows whose event type maps to no canonical type (ignored); examples in
        ``unknown_event_values``.
    duplicate_events : int
        Exact duplicate rows (dropped; counted when features are built).
    returns : int
        Purchases with a negative amount (kept, treated as returns).
    rows_used : int
        Rows that go into features (before duplicate removal).
    first_day, last_day : str or None
        ISO dates of the earliest / latest used event.
    """

    rows_scanned: int = 0
    after_as_of: int = 0
    before_window: int = 0
    null_customer_ids: int = 0
    unknown_event_types: int = 0
    duplicate_events: int = 0
    returns: int = 0
    rows_used: int = 0
    first_day: str | None = None
    last_day: str | None = None
    unknown_event_values: list[str] = field(default_factory=list)
    transaction_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationReport:
        return cls(**d)

    def summary(self) -> str:
        """One line for humans: what was dropped or recovered."""
        return (
            f"{self.rows_used:,} events used of {self.rows_scanned:,} scanned; "
            f"dropped {self.null_customer_ids:,} null customer ids, "
            f"{self.duplicate_events:,} duplicates, "
            f"{self.unknown_event_types:,} unknown event types; "
            f"{self.returns:,} returns; ignored {self.after_as_of:,} after as-of, "
            f"{self.before_window:,} before window"
        )
