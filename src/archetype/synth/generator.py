"""``generate``: a seeded synthetic event log with planted archetypes, written atomically.

Customers are generated in RNG chunks of :data:`~archetype.synth.behavior.CHUNK` (seeded
from ``(seed, chunk)``) and written in blocks of ``block_size`` customers, so memory is
bounded by one block and the data do not depend on ``block_size`` (only the way rows are
split into files does).  The output directory is built in a temporary sibling and renamed
into place: it appears whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from archetype._atomic import atomic_dir, write_json_atomic
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null
from archetype.synth import archetypes as A
from archetype.synth import calendar as cal
from archetype.synth.behavior import CHUNK, ChunkEvents, World, generate_chunk
from archetype.synth.writer import write_block

log = logging.getLogger(__name__)

DEFAULT_END_DATE = dt.date(2026, 12, 31)
DEFAULT_BLOCK_SIZE = 100_000
MAX_DAYS = 3660  # ten years
MAX_CUSTOMERS = 10**9


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote.

    Attributes
    ----------
    out_dir : Path
    n_customers, n_events, n_files : int
        Customers, event rows, and event Parquet files written.
    seconds : float
        Wall time of the whole generation, writing included.
    archetype_counts : dict[str, int]
        Customers per planted archetype (every archetype of :data:`ARCHETYPES`, maybe 0).
    start_date, end_date : date
        First and last day of the event window.
    seed : int
    """

    out_dir: Path
    n_customers: int
    n_events: int
    n_files: int
    seconds: float
    archetype_counts: dict[str, int] = field(default_factory=dict)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    seed: int = 0

    @property
    def events_per_second(self) -> float:
        return self.n_events / self.seconds if self.seconds > 0 else math.inf


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UserError(f"{name}={value!r} should be an integer")
    if not lo <= value <= hi:
        raise UserError(f"{name}={value} should be >= {lo} and <= {hi}")
    return int(value)


def _check_out_dir(out: Path, overwrite: bool = True) -> None:
    from archetype._outputs import check_output

    check_output(out, "synth", overwrite=overwrite)


def make_world(start: dt.date, days: int) -> World:
    """Calendars and archetype table of a window of ``days`` days from ``start``."""
    promo = cal.promo_days(start, days)
    promo_mask = np.zeros(days, dtype=bool)
    promo_mask[promo] = True
    table = A.spec_table()
    table["share_cdf"][-1] = 1.0
    return World(
        days=days,
        promo=promo,
        occasion=tuple(cal.occasion_days(start, days, name) for name in cal.OCCASION_CYCLE),
        campaign=cal.campaign_days(start, days),
        weekend=cal.weekend_mask(start, days),
        promo_mask=promo_mask,
        first_weekday=start.weekday(),
        table=table,
    )


def _concat(parts: list[ChunkEvents]) -> ChunkEvents:
    if len(parts) == 1:
        return parts[0]
    names = [f for f in ChunkEvents.__dataclass_fields__]
    return ChunkEvents(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


def _slice(ev: ChunkEvents, chunk_lo: int, lo: int, hi: int) -> ChunkEvents:
    """Events and archetypes of customer indices [lo, hi) of a chunk starting at chunk_lo."""
    if lo == chunk_lo and hi - chunk_lo == len(ev.archetype):
        return ev
    keep = (ev.customer > lo) & (ev.customer <= hi)  # ids are index + 1
    cols = {k: getattr(ev, k)[keep] for k in ChunkEvents.__dataclass_fields__ if k != "archetype"}
    return ChunkEvents(**cols, archetype=ev.archetype[lo - chunk_lo : hi - chunk_lo])


class _ChunkSource:
    """Generates chunks on demand, remembering the last one (blocks may split a chunk)."""

    def __init__(self, world: World, seed: int, customers: int) -> None:
        self.world, self.seed, self.customers = world, seed, customers
        self._last: tuple[int, ChunkEvents] | None = None

    def chunk(self, k: int) -> ChunkEvents:
        if self._last is None or self._last[0] != k:
            lo = k * CHUNK
            n = min(CHUNK, self.customers - lo)
            self._last = (k, generate_chunk(self.world, self.seed, k, lo + 1, n))
        return self._last[1]

    def block(self, lo: int, hi: int) -> ChunkEvents:
        parts = []
        for k in range(lo // CHUNK, (hi - 1) // CHUNK + 1):
            c_lo = k * CHUNK
            parts.append(_slice(self.chunk(k), c_lo, max(lo, c_lo), min(hi, c_lo + CHUNK)))
        return _concat(parts)


def run_manifest(customers: int, days: int, seed: int, start: dt.date, end_date: dt.date,
                 n_events: int, n_files: int, **more: Any) -> dict[str, Any]:
    """The facts every synth run's ``manifest.json`` starts with, then ``more``."""
    return {
        "generator": "archetype.synth",
        "customers": customers,
        "days": days,
        "seed": seed,
        "start_date": start.isoformat(),
        "end_date": end_date.isoformat(),
        "n_events": n_events,
        "n_files": n_files,
        **more,
    }


def generate(
    out_dir: str | Path,
    *,
    customers: int,
    days: int,
    seed: int,
    end_date: dt.date = DEFAULT_END_DATE,
    block_size: int = DEFAULT_BLOCK_SIZE,
    tracker: Tracker | None = None,
    overwrite: bool = True,
) -> SynthSummary:
    """Write a synthetic event log with planted behavioral archetypes.

    ``out_dir`` may only replace an earlier synth output (when ``overwrite``), never
    anything else (see :mod:`archetype._outputs`).

    Parameters
    ----------
    out_dir : str or Path
        Output directory; gets ``events/date=YYYY-MM-DD/part-BBBBB.parquet``,
        ``truth.parquet`` (``customer_id: Int64, archetype: String``) and ``manifest.json``.
        An existing synth output there is replaced; any other non-empty directory is refused.
    customers : int
        Number of customers (ids ``1..customers``), >= 1.
    days : int
        Length of the event window in days, 1..3660; the window ends on ``end_date``.
    seed : int
        Non-negative seed: same arguments ⇒ identical events (whatever ``block_size``).
    end_date : date, default 2026-12-31
        Last day of the window (inclusive).
    block_size : int, default 100_000
        Customers per write block (bounds memory; ~50 events/customer/year).
    tracker : Tracker, optional
        Progress over customers.

    Returns
    -------
    SynthSummary
    """
    customers = _check_int("customers", customers, 1, MAX_CUSTOMERS)
    days = _check_int("days", days, 1, MAX_DAYS)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    block_size = _check_int("block_size", block_size, 1, MAX_CUSTOMERS)
    if not isinstance(end_date, dt.date) or isinstance(end_date, dt.datetime):
        raise UserError(f"end_date={end_date!r} should be a date (YYYY-MM-DD)")
    try:
        start = end_date - dt.timedelta(days=days - 1)
    except OverflowError:
        raise UserError(f"days={days} reaches before year 1 from end_date={end_date}") from None
    out = Path(out_dir)
    _check_out_dir(out, overwrite)

    t_start = time.perf_counter()
    world = make_world(start, days)
    source = _ChunkSource(world, seed, customers)
    arch_parts: list[np.ndarray] = []
    n_events = n_files = 0
    with atomic_dir(out, kind="synth", overwrite=overwrite) as tmp:
        events_dir = tmp / "events"
        events_dir.mkdir()
        with tracker_or_null(tracker).task("synth: customers", total=customers) as task:
            for b, lo in enumerate(range(0, customers, block_size)):
                hi = min(lo + block_size, customers)
                ev = source.block(lo, hi)
                n_events += len(ev.customer)
                n_files += write_block(ev, events_dir, b, start)
                arch_parts.append(ev.archetype)
                task.advance(hi - lo)
                log.debug("block %d: customers %d..%d, %d events", b, lo + 1, hi, len(ev.t))
        arch = np.concatenate(arch_parts)
        pl.DataFrame(
            {
                "customer_id": pl.Series(np.arange(1, customers + 1), dtype=pl.Int64),
                "archetype": pl.Series(A.ARCHETYPES, dtype=pl.String).gather(arch),
            }
        ).write_parquet(tmp / "truth.parquet")
        counts = np.bincount(arch, minlength=len(A.ARCHETYPES))
        archetype_counts = {name: int(n) for name, n in zip(A.ARCHETYPES, counts, strict=True)}
        write_json_atomic(
            tmp / "manifest.json",
            run_manifest(
                customers, days, seed, start, end_date, n_events, n_files,
                archetype_mix=A.ARCHETYPE_MIX,
                archetype_counts=archetype_counts,
                occasions={k: [f"{m:02d}-{d:02d}" for m, d in v]
                           for k, v in cal.OCCASIONS.items()},
                promo_days=len(world.promo),
            ),
        )
    seconds = time.perf_counter() - t_start
    return SynthSummary(
        out_dir=out,
        n_customers=customers,
        n_events=n_events,
        n_files=n_files,
        seconds=seconds,
        archetype_counts=archetype_counts,
        start_date=start,
        end_date=end_date,
        seed=seed,
    )
