"""Events as plain tuples (rows) in :class:`~archetype.live.state.LiveEvent` field order.

The engines read events by position.  A ``LiveEvent`` is a named tuple, so it *is* a
row: it packs into MessagePack as an array (the automation inbox,
:mod:`archetype.live.inbox`) and unpacks back into a plain tuple; other objects with the
same fields are converted by one C-level ``attrgetter`` call.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from archetype.events.schema import OPTIONAL_COLUMNS
from archetype.live.state import LiveEvent

#: Positions of the fields in a row.
CID, TS, TYPE, AMOUNT, QTY, DISC, CHAN, CAT, EID = range(9)
FIELDS = LiveEvent._fields
assert ("customer_id", "ts_us", *OPTIONAL_COLUMNS) == FIELDS
as_row = operator.attrgetter(*FIELDS)


def event_rows(events: Iterable[Any]) -> list[tuple]:
    """``events`` (``LiveEvent`` s, any object with its fields, or rows) as rows."""
    out = []
    for e in events:
        out.append(e if isinstance(e, tuple) else as_row(e))
    return out
