"""What *would* have fired: replay an event log through the triggers and experiments.

:func:`replay` drives an :class:`~archetype.live.automation.Automation` over events in
event time (batches, watermark after each) without the service: the same firings as live,
delivery off.  ``archetype triggers replay`` calls :func:`backfill_triggers`.  Segments come from a
pipeline root (``archetype run``/``backfill``): the nightly assignments of date ``D`` are
taken as known from ``D + 1`` 00:00 (event time), so each change between two nightly
partitions is a segment transition at that instant, and the latest model's names resolve
segment names in the rules.  Delivery is off: every firing is recorded as ``replay``.

Outputs (written whole or not at all): ``firings.parquet``, ``exposures.parquet``,
``uplift.parquet`` and ``summary.json`` under ``out``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype._atomic import atomic_dir, write_json_atomic
from archetype._outputs import check_output
from archetype.errors import UserError
from archetype.live.automation import Automation, AutomationConfig, SegmentChange
from archetype.live.experiments.runner import read_exposures
from archetype.live.experiments.uplift import exposures_frame, uplift_table
from archetype.live.memkv import MemoryKV
from archetype.live.triggers.events import events_from_frame
from archetype.live.triggers.outbox import Firing, firings_frame
from archetype.progress import Tracker, tracker_or_null

log = logging.getLogger(__name__)
DAY_US = 86_400_000_000


@dataclass
class ReplayResult:
    firings: list[Firing]
    exposures: list[dict]
    kv: MemoryKV
    late: int


def arrival_order(ts_us: np.ndarray, lateness_us: int, seed: int) -> np.ndarray:
    """A shuffled arrival order in which no item arrives later than the lateness bound.

    Sorting by ``ts + U[0, lateness)`` guarantees every item arrives after the watermark
    ``max(ts seen) - lateness`` it must beat.
    """
    ts = np.asarray(ts_us, dtype=np.int64)
    if lateness_us <= 0:
        return np.argsort(ts, kind="stable")
    jitter = np.random.default_rng(seed).integers(0, lateness_us, len(ts))
    return np.argsort(ts + jitter, kind="stable")


def replay(
    events: Sequence[Any],
    automation: Automation,
    *,
    changes: Iterable[SegmentChange] = (),
    kv: MemoryKV | None = None,
    batch_size: int = 1000,
    shuffle_seed: int | None = None,
    flush_until: int | None = None,
    tracker: Tracker | None = None,
) -> ReplayResult:
    """Feed events (and segment changes) in batches, advancing the watermark after each.

    The automation must be in replay mode (firings recorded with status ``replay``).
    ``shuffle_seed`` shuffles the arrival order within the triggers' lateness bound
    (:func:`arrival_order`); otherwise items arrive in event-time order.  At the end the
    timers due up to ``flush_until`` (default: the last event time) are run.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} should be >= 1")
    if not automation.triggers.replay:
        raise ValueError(
            "replay() needs Automation(..., replay=True): a replay never owes webhook deliveries"
        )
    kv = kv if kv is not None else MemoryKV()
    items: list[Any] = list(events) + list(changes)
    if not items:
        return ReplayResult([], [], kv, 0)
    ts = np.fromiter((int(i.ts_us) for i in items), dtype=np.int64, count=len(items))
    lateness = int(automation.config.triggers.lateness)
    order = arrival_order(ts, lateness if shuffle_seed is not None else 0, shuffle_seed or 0)
    firings: list[Firing] = []
    late = 0
    seen = None
    with tracker_or_null(tracker).task("replay: events", total=len(order)) as task:
        for lo in range(0, len(order), batch_size):
            part = order[lo : lo + batch_size]
            batch = [items[i] for i in part]
            with kv.transaction() as tx:
                for b in batch:
                    if isinstance(b, SegmentChange):
                        automation.on_segment_change(tx, b)
                evs = [b for b in batch if not isinstance(b, SegmentChange)]
                late += automation.triggers.apply_events(tx, evs)
                bmax = int(ts[part].max())
                seen = bmax if seen is None else max(seen, bmax)
                out = automation.on_watermark(tx, seen)
                firings += [o for o in out if isinstance(o, Firing)]
            task.advance(len(part))
    with kv.transaction() as tx:
        end = int(ts.max()) if flush_until is None else int(flush_until)
        out = automation.on_watermark(tx, end, flush=True)
        firings += [o for o in out if isinstance(o, Firing)]
        exposures = read_exposures(tx)
    return ReplayResult(firings, exposures, kv, late)


def segment_changes(root: str | Path, until: dt.date) -> tuple[list[SegmentChange], dict]:
    """Segment transitions between the nightly assignment partitions of ``root`` up to
    ``until``, and ``{segment id: name}`` of the latest model up to then."""
    from archetype.pipeline.layout import Layout
    from archetype.pipeline.registry import Registry

    layout = Layout(root)
    dates = [d for d in layout.partition_dates("assignments") if d <= until]
    if not dates:
        raise UserError(
            f"no nightly assignments up to {until} (run `archetype run` first)", path=root
        )
    changes: list[SegmentChange] = []
    prev: dict[Any, int] = {}
    for d in dates:
        a = pl.read_parquet(
            layout.assignments(d) / "part-0.parquet", columns=["customer_id", "segment_id"]
        )
        ts = ((d - dt.date(1970, 1, 1)).days + 1) * DAY_US  # known from the next midnight
        cur = dict(zip(a["customer_id"].to_list(), a["segment_id"].to_list(), strict=True))
        for cid, seg in cur.items():
            old = prev.get(cid)
            if old != seg:
                changes.append(SegmentChange(cid, ts, old, seg))
        for cid in prev.keys() - cur.keys():
            changes.append(SegmentChange(cid, ts, prev[cid], None))
        prev = cur
    names: dict[int, str] = {}
    model = Registry(root).latest_before(until + dt.timedelta(days=1))
    if model is not None and model.segment_names:
        names = dict(zip(model.segment_ids, model.segment_names, strict=True))
    return changes, names


@dataclass
class BackfillSummary:
    events: int
    firings: int
    exposures: int
    late: int
    per_rule: dict[str, int] = field(default_factory=dict)
    out: Path | None = None
    uplift: pl.DataFrame | None = None


def backfill_triggers(
    events: pl.DataFrame,
    config: AutomationConfig,
    out: str | Path,
    *,
    root: str | Path | None = None,
    as_of: dt.date,
    batch_size: int = 10_000,
    tracker: Tracker | None = None,
    overwrite: bool = False,
) -> BackfillSummary:
    """Replay canonical ``events`` (``archetype.events`` columns) through ``config``'s rules
    and experiments; write the firings, exposures and uplift under ``out`` (a new folder,
    or an earlier replay's with ``overwrite``: never anything else)."""
    if not config.triggers.rules:
        raise UserError("no [[triggers.rule]] in the config: nothing to replay")
    check_output(out, "replay", overwrite=overwrite)  # before the work
    changes, names = segment_changes(root, as_of) if root is not None else ([], {})
    auto = Automation(config, segment_names=names, replay=True)
    evs = events_from_frame(events)
    end = ((as_of - dt.date(1970, 1, 1)).days + 1) * DAY_US - 1  # the end of the as-of day
    res = replay(
        evs, auto, changes=changes, batch_size=batch_size, flush_until=end, tracker=tracker
    )
    fr = firings_frame(res.firings)
    ex = exposures_frame(res.exposures)
    up = uplift_table(ex) if ex.height else None
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite, kind="replay") as tmp:
        fr.write_parquet(tmp / "firings.parquet")
        ex.write_parquet(tmp / "exposures.parquet")
        if up is not None:
            up.write_parquet(tmp / "uplift.parquet")
        per_rule = dict(fr.group_by("rule").len().sort("rule").iter_rows()) if fr.height else {}
        write_json_atomic(
            tmp / "summary.json",
            {
                "as_of": as_of.isoformat(),
                "events": len(evs),
                "segment_changes": len(changes),
                "firings": fr.height,
                "exposures": ex.height,
                "late_events": res.late,
                "per_rule": per_rule,
            },
        )
    return BackfillSummary(
        events=len(evs),
        firings=fr.height,
        exposures=ex.height,
        late=res.late,
        per_rule=per_rule,
        out=out,
        uplift=up,
    )
