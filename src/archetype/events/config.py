"""How a user's log maps onto the canonical schema (``[events]`` in the config TOML).

::

    [events]
    timezone = "Europe/Paris"      # day boundaries of this zone (default "UTC")
    timestamp_format = "%d/%m/%Y %H:%M"   # or timestamp_unit = "ms" for epoch integers
    on_bad_value = "error"         # error | drop-row | null
    dedupe = "auto"                # auto | event-id | exact | none
    id_dtype = "auto"              # auto (CSV: text) | str | int
    csv_separator = ";"
    decimal_comma = true           # "74,92" is 74.92

    [events.columns]               # canonical = your column
    customer_id = "user_id"
    ts = "created_at"
    event_id = ["order_id", "line_no"]   # a list: the columns together identify an event

    [events.event_types]           # your value = canonical type
    checkout_completed = "purchase"
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from archetype._config import ConfigModel, validate_table
from archetype.events.schema import CANONICAL_COLUMNS, EVENT_TYPES
from archetype.vocab import BadValuePolicy, DedupeMode, IdDtype, InputFormat, TimestampUnit

CanonicalColumn = Literal[CANONICAL_COLUMNS]  # type: ignore[valid-type]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class EventsConfig(ConfigModel):
    """Column and vocabulary mapping of one event log, and how its values are read.

    Parameters
    ----------
    columns : dict[str, str | list[str]]
        Canonical column -> the user's column name (``{"customer_id": "user_id"}``).
        Canonical columns not listed are looked up under their own name.  ``event_id`` may
        name several columns (a list): together they identify an event.
    event_types : dict[str, str]
        The user's event-type value -> canonical type (``{"checkout_completed": "purchase"}``).
        Values already canonical pass through; any other value is ignored and counted.
    timestamp_format : str, optional
        ``strftime`` format of text (or ``YYYYMMDD``-style integer) timestamps; without it
        text must be ISO-8601 (date, date and time, optional fraction, optional ``Z`` or
        ``+HH:MM`` offset; offsets may differ row to row).
    timestamp_unit : {"s", "ms", "us", "ns"}, optional
        Integer (or numeric text) timestamps are epochs in this unit (UTC instants).
    timezone : str
        IANA zone (default ``"UTC"``).  Zone-aware timestamps are converted to it; naive
        ones are taken as already in it; days are this zone's days.
    transaction_only : bool, optional
        Force "every row is a purchase".  By default a log is transaction-only when no
        event-type column is mapped and none named ``event_type`` exists.
    format : {"auto", "parquet", "csv"}
        Input format; ``auto`` decides from file extensions.
    csv_separator : str, optional
        One character; default ``,`` (tab for ``.tsv``).
    on_bad_value : {"error", "drop-row", "null"}
        What an unparseable timestamp, amount, quantity or discount does (default: exit 2).
    decimal_comma : bool
        Text numbers use a decimal comma (``1.234,56``); default: decimal point.
    dedupe : {"auto", "event-id", "exact", "none"}
        Which rows count as one event (see ``docs/features.md``).
    id_dtype : {"auto", "str", "int"}
        Customer ids: ``auto`` keeps Parquet integers integer and reads CSV ids as text
        (leading zeros kept).
    """

    TABLE: ClassVar[str] = "events"

    columns: dict[CanonicalColumn, str | list[str]] = Field(default_factory=dict)
    event_types: dict[str, EventType] = Field(default_factory=dict)
    timestamp_format: str | None = None
    timestamp_unit: TimestampUnit | None = None
    timezone: str = "UTC"
    transaction_only: StrictBool | None = None
    format: InputFormat = InputFormat.AUTO
    csv_separator: str | None = None
    on_bad_value: BadValuePolicy = BadValuePolicy.ERROR
    decimal_comma: StrictBool = False
    dedupe: DedupeMode = DedupeMode.AUTO
    id_dtype: IdDtype = IdDtype.AUTO

    @field_validator("columns")
    @classmethod
    def _one_name_each(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for canon, user in v.items():
            names = [user] if isinstance(user, str) else user
            if isinstance(user, list) and canon != "event_id":
                raise ValueError(f"only event_id may name several columns, not {canon}")
            if not names or any(not n for n in names):
                raise ValueError(f"the column name of {canon} is empty")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone (e.g. UTC, Europe/Paris)") from None
        return v

    @field_validator("csv_separator")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = {"\\t": "\t", "tab": "\t"}.get(v, v)
        if len(v) != 1:
            raise ValueError("should be one character (',' ';' or tab)")
        return v

    @model_validator(mode="after")
    def _one_timestamp_rule(self) -> EventsConfig:
        if self.timestamp_format is not None and self.timestamp_unit is not None:
            raise ValueError(
                "give timestamp_format (text dates) or timestamp_unit (epoch numbers), not both"
            )
        return self

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, path: Any = None) -> EventsConfig:
        """Build from the ``[events]`` table of a config TOML (``None`` = defaults)."""
        return validate_table(cls, d, "events", path=path)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (enums as strings); ``from_dict(to_dict())`` round-trips."""
        return self.model_dump(mode="json")

    def user_column(self, canon: str) -> str | list[str]:
        """The user's column(s) for a canonical column (its own name when not mapped)."""
        return self.columns.get(canon, canon)

    def merged(
        self,
        columns: Mapping[str, Any] | None = None,
        event_types: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> EventsConfig:
        """A copy with extra column / event-type maps and settings (CLI flags win over the
        file); ``None`` settings are ignored.  Validated like the file."""
        d = self.to_dict()
        d["columns"] = {**d["columns"], **dict(columns or {})}
        d["event_types"] = {**d["event_types"], **dict(event_types or {})}
        d.update({k: v for k, v in settings.items() if v is not None})
        return EventsConfig.from_dict(d)
