"""What reading an event log found: counts of dropped, recovered and kept rows, warnings."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    """What reading an event log dropped or recovered.

    Every row scanned is in exactly one of: ``bad_rows_dropped``, ``after_as_of``,
    ``before_window``, ``null_customer_ids``, ``unknown_event_types``, ``rows_used``.

    Attributes
    ----------
    rows_scanned : int
        Rows read from the input (after hive partition pruning).
    bad_values : dict[str, int]
        Values that do not parse, per canonical column (``ts``, ``amount``, ...).  With
        ``on_bad_value = "error"`` any of them stops the read (exit 2).
    bad_rows_dropped : int
        Rows dropped for a bad value (``drop-row``; and bad timestamps under ``null``).
    values_nulled : int
        Bad amount/quantity/discount values treated as missing (``null``).
    after_as_of : int
        Rows later than the as-of day (ignored: point-in-time correctness).
    before_window : int
        Rows older than the lookback window (ignored).
    null_customer_ids : int
        Rows without a customer id (dropped).
    unknown_event_types : int
        Rows whose event type maps to no canonical type (ignored); examples in
        ``unknown_event_values``.
    returns : int
        Purchases with a negative amount (kept, treated as returns).
    rows_used : int
        Rows that go into features (before duplicate removal).
    dedupe : str
        The duplicate rule applied: ``event_id``, ``exact`` or ``none``.
    duplicate_events : int
        Rows dropped as duplicates by that rule (counted when features are built).
    identical_rows : int or None
        Rows identical to an earlier row in every source column, kept (rule ``none``;
        counted when features are built; ``None`` = not checked).
    first_day, last_day : str or None
        ISO dates of the earliest / latest used event (in ``timezone``).
    transaction_only : bool
        No event type: every row is a purchase.
    discount_as_flag : bool
        The discount column holds coupon codes / flags, read as "discount used".
    timezone : str
        The zone whose days the timestamps were cut into.
    warnings : list[str]
        Things the user should look at (also logged as warnings).
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
    bad_values: dict[str, int] = field(default_factory=dict)
    bad_rows_dropped: int = 0
    values_nulled: int = 0
    dedupe: str = "none"
    identical_rows: int | None = None
    discount_as_flag: bool = False
    timezone: str = "UTC"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationReport:
        return cls(**d)

    def warn(self, message: str) -> None:
        """Record a warning (and log it)."""
        self.warnings.append(message)
        log.warning("%s", message)

    def add_duplicates(self, dropped: int, identical: int | None) -> None:
        """Record the feature builder's duplicate counts; warn about kept identical rows."""
        self.duplicate_events = int(dropped)
        self.identical_rows = None if identical is None else int(identical)
        if self.identical_rows:
            self.warn(
                f"{self.identical_rows:,} rows are identical to an earlier row in every "
                "column; they were kept as separate events (without an event id, repeats "
                "cannot be told from retries): map an event id (--column event_id=COLUMN) "
                "or pass --dedupe exact to drop them"
            )

    def summary(self) -> str:
        """One line for humans: what was dropped or recovered."""
        bad = sum(self.bad_values.values())
        parts = [
            f"{self.rows_used:,} events used of {self.rows_scanned:,} scanned",
            f"dropped {self.null_customer_ids:,} null customer ids, "
            f"{self.duplicate_events:,} duplicates ({self.dedupe}), "
            f"{self.unknown_event_types:,} unknown event types",
        ]
        if bad:
            parts.append(
                f"{bad:,} bad values ({self.bad_rows_dropped:,} rows dropped, "
                f"{self.values_nulled:,} values nulled)"
            )
        if self.identical_rows:
            parts.append(f"{self.identical_rows:,} identical rows kept")
        parts.append(
            f"{self.returns:,} returns; ignored {self.after_as_of:,} after as-of, "
            f"{self.before_window:,} before window"
        )
        return "; ".join(parts)
