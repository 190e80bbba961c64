"""Behavioral triggers in event time: TOML rules, timers, outbox, webhook delivery.

>>> from archetype.live.triggers import TriggersConfig, TriggerEngine
>>> from archetype.live.memkv import MemoryKV
>>> cfg = TriggersConfig.from_dict({"rule": [{"name": "cart", "kind": "absence",
...     "on": "add_to_cart", "absent": "purchase", "within": "1h"}]})
>>> engine, kv = TriggerEngine(cfg), MemoryKV()
>>> with kv.transaction() as tx:                       # doctest: +SKIP
...     engine.apply_events(tx, events)
...     firings = engine.advance(tx, now_us)

See docs/triggers.md.
"""

from archetype.live.triggers.config import (
    AbsenceRule,
    RepeatRule,
    TransitionRule,
    TriggersConfig,
    format_duration,
    parse_duration,
)
from archetype.live.triggers.engine import TriggerEngine
from archetype.live.triggers.events import LiveEvent, events_from_frame
from archetype.live.triggers.outbox import Firing, firings_frame, read_outbox

__all__ = [
    "AbsenceRule",
    "Firing",
    "LiveEvent",
    "RepeatRule",
    "TransitionRule",
    "TriggerEngine",
    "TriggersConfig",
    "events_from_frame",
    "firings_frame",
    "format_duration",
    "parse_duration",
    "read_outbox",
]
