"""What *would* have fired: replay an event log through the triggers and experiments.

``archetype triggers replay`` calls :func:`backfill_triggers`.  Segments come from a
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from archetype._atomic import atomic_dir, write_json_atomic
from archetype.errors import UserError
from archetype.live.automation import Automation, AutomationConfig, SegmentChange, replay
from archetype.live.experiments.uplift import exposures_frame, uplift_table
from archetype.live.triggers.events import events_from_frame
from archetype.live.triggers.outbox import firings_frame
from archetype.progress import Tracker

log = logging.getLogger(__name__)
DAY_US = 86_400_000_000


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
) -> BackfillSummary:
    """Replay canonical ``events`` (``archetype.events`` columns) through ``config``'s rules
    and experiments; write the firings, exposures and uplift under ``out``."""
    if not config.triggers.rules:
        raise UserError("no [[triggers.rule]] in the config: nothing to replay")
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
    with atomic_dir(out) as tmp:
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
