"""How a user's log maps onto the canonical schema (``[events]`` in the config TOML)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archetype.errors import UserError
from archetype.events.schema import CANONICAL_COLUMNS, EVENT_TYPES

_KEYS = {"columns", "event_types", "timestamp_format", "transaction_only", "format"}


@dataclass(frozen=True)
class EventsConfig:
    """Column and vocabulary mapping of one event log.

    Parameters
    ----------
    columns : dict[str, str]
        Canonical column -> the user's column name (``{"customer_id": "user_id"}``).
        Canonical columns not listed are looked up under their own name.
    event_types : dict[str, str]
        The user's event-type value -> canonical type (``{"checkout_completed": "purchase"}``).
        Values already canonical pass through; any other value is ignored and counted.
    timestamp_format : str, optional
        ``strftime`` format for string timestamps; inferred when omitted.
    transaction_only : bool, optional
        Force "every row is a purchase".  By default a log is transaction-only when no
        event-type column is mapped and none named ``event_type`` exists.
    format : {"auto", "parquet", "csv"}
        Input format; ``auto`` decides from file extensions.
    """

    columns: dict[str, str] = field(default_factory=dict)
    event_types: dict[str, str] = field(default_factory=dict)
    timestamp_format: str | None = None
    transaction_only: bool | None = None
    format: str = "auto"

    def __post_init__(self) -> None:
        for canon in self.columns:
            if canon not in CANONICAL_COLUMNS:
                raise UserError(
                    f"[events.columns] key {canon!r} is not a canonical column; "
                    f"use one of {', '.join(CANONICAL_COLUMNS)}"
                )
        for user, canon in self.event_types.items():
            if canon not in EVENT_TYPES:
                raise UserError(
                    f"[events.event_types] {user!r} = {canon!r}: {canon!r} is not an event "
                    f"type; use one of {', '.join(EVENT_TYPES)}"
                )
        if self.format not in ("auto", "parquet", "csv"):
            raise UserError(f"[events] format={self.format!r} should be auto, parquet or csv")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> EventsConfig:
        """Build from the ``[events]`` table of a config TOML (``None`` = defaults)."""
        d = dict(d or {})
        unknown = set(d) - _KEYS
        if unknown:
            raise UserError(
                f"[events] has unknown key(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(_KEYS))}"
            )
        return cls(
            columns={str(k): str(v) for k, v in dict(d.get("columns", {})).items()},
            event_types={str(k): str(v) for k, v in dict(d.get("event_types", {})).items()},
            timestamp_format=d.get("timestamp_format"),
            transaction_only=d.get("transaction_only"),
            format=str(d.get("format", "auto")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": dict(self.columns),
            "event_types": dict(self.event_types),
            "timestamp_format": self.timestamp_format,
            "transaction_only": self.transaction_only,
            "format": self.format,
        }

    def merged(
        self, columns: Mapping[str, str] | None = None, event_types: Mapping[str, str] | None = None
    ) -> EventsConfig:
        """A copy with extra column / event-type mappings (CLI flags win over the file)."""
        return EventsConfig(
            columns={**self.columns, **dict(columns or {})},
            event_types={**self.event_types, **dict(event_types or {})},
            timestamp_format=self.timestamp_format,
            transaction_only=self.transaction_only,
            format=self.format,
        )
