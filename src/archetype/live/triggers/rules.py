"""Compiled rule pieces: event filters, segment references, sort keys of the records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archetype.errors import UserError
from archetype.live.triggers.config import EventFilter


def _order(e: list) -> tuple:
    return (e[0], e[3])


def _pkey(e: list) -> tuple:
    return (e[0], e[1], e[2], e[3], e[4])


def _first(e: list) -> int:
    return e[0]


class EventMatcher:
    """A compiled :class:`EventFilter` (plain sets, for the hot path)."""

    __slots__ = ("cats", "chans", "min_amount")

    def __init__(self, f: EventFilter) -> None:
        self.cats = f.categories()
        self.chans = f.channels()
        self.min_amount = f.min_amount

    def event(self, ev: Any) -> bool:
        return self.match(ev.category, ev.channel, ev.amount or 0.0)

    def match(self, cat: str | None, chan: str | None, amount: float) -> bool:
        if self.cats is not None and cat not in self.cats:
            return False
        if self.chans is not None and chan not in self.chans:
            return False
        return self.min_amount is None or amount >= self.min_amount

    def row(self, cat: str | None, amount: float) -> bool:  # a history row has no channel
        if self.cats is not None and cat not in self.cats:
            return False
        return self.min_amount is None or amount >= self.min_amount


def touched_types(config: Any, experiments: Any = None) -> frozenset[str]:
    """The event types the rules of ``config`` (and the conversions of ``experiments``,
    an :class:`~archetype.live.experiments.runner.ExperimentRunner`) read."""
    out: set[str] = set()
    for r in config.rules:
        if r.kind == "transition":
            continue
        out.add(r.on)
        if r.kind == "absence":
            out.add(r.absent)
    if experiments is not None:
        out |= set(experiments.conversion_types)
    return frozenset(out)


def resolve_segment(ref: int | str, names: Mapping[int, str], rule: str) -> int:
    """A segment id from an id or a name (names from the model); unknown -> UserError."""
    if isinstance(ref, int):
        return ref
    if ref.lstrip("-").isdigit():
        return int(ref)
    hits = [i for i, n in names.items() if n == ref]
    if len(hits) != 1:
        known = ", ".join(repr(n) for n in sorted(set(names.values()))) or "none"
        what = "no" if not hits else "more than one"
        raise UserError(
            f"[triggers] rule {rule!r}: {what} segment is named {ref!r} (known: {known}); "
            "use a segment id or one of the names"
        )
    return hits[0]
