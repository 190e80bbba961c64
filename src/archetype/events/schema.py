"""The canonical event schema every reader maps the user's log onto.

Canonical columns (dtype after mapping):

========== ============== ========================================================
column     dtype          meaning
========== ============== ========================================================
customer_id Int64 | String who did it (Parquet integers stay Int64; CSV ids are text)
ts         Datetime(us)   when: naive wall-clock time in the configured ``timezone``
event_type String         one of :data:`EVENT_TYPES`
amount     Float64        money of a purchase; negative = a return (0 when absent)
quantity   Int32          items (1 when absent)
discount   Float64        fraction off list price, 0..1 (0 when absent)
channel    String         acquisition/interaction channel (null when absent)
category   String         product/content category (null when absent)
event_id   String         the source's id of the event (null when absent); rows of one
                          customer with the same id are one event (retries)
========== ============== ========================================================

``discount`` read from a text or boolean column (coupon codes, "used" flags) is 1.0 where a
discount was used (non-empty / true) and 0.0 otherwise: the size is unknown, only "> 0"
is meaningful.  Missing values (null, empty text) take the defaults below; values that do
not parse are errors (see ``EventsConfig.on_bad_value``).
"""

from __future__ import annotations

import polars as pl

EVENT_TYPES: tuple[str, ...] = (
    "view",
    "add_to_cart",
    "purchase",
    "email_open",
    "email_click",
    "ad_click",
    "referral",
    "session_start",
)

REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", "ts")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "event_type",
    "amount",
    "quantity",
    "discount",
    "channel",
    "category",
    "event_id",
)
CANONICAL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# What an event says, without the source's id: two rows equal on these are exact duplicates.
CONTENT_COLUMNS: tuple[str, ...] = tuple(c for c in CANONICAL_COLUMNS if c != "event_id")

# Value an absent optional column takes, with its canonical dtype.
DEFAULTS: dict[str, pl.Expr] = {
    "event_type": pl.lit("purchase", dtype=pl.String),
    "amount": pl.lit(0.0, dtype=pl.Float64),
    "quantity": pl.lit(1, dtype=pl.Int32),
    "discount": pl.lit(0.0, dtype=pl.Float64),
    "channel": pl.lit(None, dtype=pl.String),
    "category": pl.lit(None, dtype=pl.String),
    "event_id": pl.lit(None, dtype=pl.String),
}

DTYPES: dict[str, pl.DataType] = {
    "event_type": pl.String(),
    "amount": pl.Float64(),
    "quantity": pl.Int32(),
    "discount": pl.Float64(),
    "channel": pl.String(),
    "category": pl.String(),
    "event_id": pl.String(),
}

# Source column names that look like an event type (warned about when none is mapped).
EVENT_TYPE_LOOKALIKES: tuple[str, ...] = (
    "event",
    "type",
    "action",
    "event_name",
    "eventname",
    "event_type_name",
    "activity",
    "eventtype",
    "event_action",
    "kind",
)
