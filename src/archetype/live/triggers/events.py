"""The event record the trigger engines consume: the live state's :class:`LiveEvent`.

Conversion from a canonical event frame is :func:`archetype.live.replay.events_from_frame`
(one definition for the service, the replay reference and the trigger backfill).
"""

from __future__ import annotations

import polars as pl

from archetype.live.replay import events_from_frame as _iter_events
from archetype.live.state import LiveEvent

__all__ = ["LiveEvent", "events_from_frame"]


def events_from_frame(df: pl.DataFrame) -> list[LiveEvent]:
    """Rows of a canonical event frame as a list of :class:`LiveEvent` (see
    :func:`archetype.live.replay.events_from_frame`)."""
    return list(_iter_events(df))
