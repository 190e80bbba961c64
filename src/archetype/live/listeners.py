"""The hook other live components (triggers, experiments, online learning) plug into.

::

    class MyListener:
        def on_applied(self, tx, applied: list[Applied]):   # inside the batch's transaction
            tx.put("mine", key, value)                       # commits with the state, or not at all
            return [firing, ...]                             # optional: outputs of this batch
        def on_watermark(self, tx, event_time_us: int):      # event time moved forward
            return [...]
        def deliver(self, outputs: list):                    # optional: after the commit
            ...

    segmenter.add_listener(MyListener())

``on_applied`` is called once per committed batch -- an ingest batch (``cause="event"``),
or a chunk of the background re-assign after the as-of day moved (``"time"``) or the model
was swapped (``"model"``) -- with one :class:`Applied` per customer whose state or
assignment changed.  Everything a listener writes through ``tx`` commits atomically with
the states and the ingest offset: after a ``kill -9`` either all of it is there or none,
and the batch is then re-ingested from the offset, calling the listener again.  What the
hooks return is handed to ``deliver`` after the commit (never for an aborted batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

CAUSES = ("event", "time", "model")


@dataclass(frozen=True, slots=True, eq=False)
class Applied:
    """What one batch did to one customer.

    Attributes
    ----------
    customer_id : int or str
        As stored (pseudonym when the service pseudonymizes).
    events : tuple of LiveEvent
        Events of this batch applied to the customer (empty for a time/model re-assign).
    old_segment, new_segment : int or None
        Stable segment id before and after (``None``: not segmented, e.g. a new customer or
        no event in the window).
    old_vector, new_vector : ndarray (d,) float32 or None
        The customer's embedding (transformed features) before and after.
    model_version : str
        The model that produced ``new_segment``.
    as_of_day : int
        Day number (days since 1970-01-01) the features were evaluated at.
    event_time_us : int
        The event-time watermark after this batch (microseconds, naive, log's zone).
    cause : {"event", "time", "model"}
    """

    customer_id: int | str
    events: tuple
    old_segment: int | None
    new_segment: int | None
    old_vector: np.ndarray | None
    new_vector: np.ndarray | None
    model_version: str
    as_of_day: int
    event_time_us: int
    cause: str = "event"

    @property
    def moved(self) -> bool:
        """The customer's segment changed."""
        return self.old_segment != self.new_segment


@runtime_checkable
class Listener(Protocol):
    def on_applied(self, tx: Any, applied: list[Applied]) -> Any: ...

    def on_watermark(self, tx: Any, event_time_us: int) -> Any: ...
