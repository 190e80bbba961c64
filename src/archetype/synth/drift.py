"""``archetype synth --scenario drift``: a world whose behavior changes during the log.

The base log (same seed, same customers, same events as ``archetype synth``) with two
changes, so that segments have something to follow between nightly runs:

* **deal hunters lapse over weeks**: a share ``lapse_share`` of the ``deal_hunter``
  customers stop at a day drawn uniformly in ``[lapse_start * days, + lapse_weeks weeks)``
  and produce no event after it (their truth becomes ``lapsed_deal_hunter``);
* **a new behavior appears mid-log**: ``newcomers x customers`` new customers (ids after
  the base ones) of a new archetype, ``social_impulse_buyer`` (:data:`NEW_SPEC`: many ad
  clicks, shops mostly on social, purchase journeys of minutes, returns often), join from day
  ``new_start * days`` on (staggered like the base generator's new customers).

Outputs, besides the base layout (``events/``, ``manifest.json`` with ``scenario = "drift"``):

``truth.parquet``          ``customer_id, archetype``: the truth on the last day
``truth_history.parquet``  ``customer_id, archetype, start_date, end_date`` (inclusive):
                           the ground truth on every day (:func:`truth_on`)
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from archetype._atomic import atomic_dir, write_json_atomic
from archetype.errors import UserError
from archetype.progress import Tracker, tracker_or_null
from archetype.synth import archetypes as A
from archetype.synth.behavior import CHUNK, ChunkEvents, generate_chunk
from archetype.synth.generator import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_END_DATE,
    SynthSummary,
    _check_int,
    _check_out_dir,
    _ChunkSource,
    make_world,
    run_manifest,
)
from archetype.synth.writer import write_block

LAPSED = "lapsed_deal_hunter"
NEW_SPEC = A.ArchetypeSpec(
    "social_impulse_buyer",
    1.0,
    purchases=8,
    regular=0.0,
    p_promo=0.0,
    p_occasion=0.0,
    lead_lo=0.05,
    lead_hi=0.5,
    journey_views=0.3,
    browse=1.0,
    browse_views=0.5,
    browse_carts=0.1,
    emails=1.0,
    p_click=0.1,
    ads=30.0,
    referrals=0.5,
    price_mu=3.0,
    price_sigma=0.4,
    extra_qty=0.1,
    p_discount=0.05,
    p_return=0.15,
    hour=13.0,
    hour_sd=4.0,
    p_weekend=0.3,
    channels=(0.05, 0.15, 0.0, 0.8),
    p_fav=0.3,
    p_new=1.0,
)
#: Truth labels of the drift scenario, the base archetypes first.
DRIFT_ARCHETYPES: tuple[str, ...] = (*A.ARCHETYPES, LAPSED, NEW_SPEC.name)
_DEAL = A.ARCHETYPES.index("deal_hunter")
_SALT = 0xD21F7


def _lapse_days(
    seed: int, lo: int, hi: int, days: int, share: float, start: int, span: int
) -> np.ndarray:
    """Stop day (or ``days`` = never) of customers ``lo+1 .. hi`` if they are deal hunters.

    Drawn per RNG chunk of :data:`CHUNK` customers from ``(seed, salt, chunk)``, so the
    draws do not depend on the block size.
    """
    out = []
    for k in range(lo // CHUNK, (hi - 1) // CHUNK + 1):
        rng = np.random.default_rng([seed, _SALT, k])
        lapse = rng.random(CHUNK) < share
        day = start + np.floor(rng.random(CHUNK) * span).astype(np.int64)
        c_lo = k * CHUNK
        a, b = max(lo, c_lo) - c_lo, min(hi, c_lo + CHUNK) - c_lo
        out.append(np.where(lapse, np.minimum(day, days), days)[a:b])
    return np.concatenate(out)


def _keep(ev: ChunkEvents, mask: np.ndarray) -> ChunkEvents:
    cols = {k: getattr(ev, k)[mask] for k in ChunkEvents.__dataclass_fields__ if k != "archetype"}
    return ChunkEvents(**cols, archetype=ev.archetype)


def generate_drift(
    out_dir: str | Path,
    *,
    customers: int,
    days: int,
    seed: int,
    end_date: dt.date = DEFAULT_END_DATE,
    lapse_share: float = 0.6,
    lapse_start: float = 0.45,
    lapse_weeks: int = 6,
    newcomers: float = 0.12,
    new_start: float = 0.55,
    block_size: int = DEFAULT_BLOCK_SIZE,
    tracker: Tracker | None = None,
    overwrite: bool = True,
) -> SynthSummary:
    """Write the drift scenario (module docstring); arguments as :func:`generate` plus the
    drift's shape.  Same arguments give identical files."""
    customers = _check_int("customers", customers, 1, 10**9)
    days = _check_int("days", days, 14, 3660)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    block_size = _check_int("block_size", block_size, 1, 10**9)
    lapse_weeks = _check_int("lapse_weeks", lapse_weeks, 1, 520)
    for name, v in (
        ("lapse_share", lapse_share),
        ("lapse_start", lapse_start),
        ("newcomers", newcomers),
        ("new_start", new_start),
    ):
        if not 0.0 <= float(v) <= 1.0:
            raise UserError(f"{name}={v} should be between 0 and 1")
    start = end_date - dt.timedelta(days=days - 1)
    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    t0 = time.perf_counter()
    world = make_world(start, days)
    lapse_day0 = int(lapse_start * days)
    new_day0 = min(int(new_start * days), days - 1)
    n_new = round(newcomers * customers)

    source = _ChunkSource(world, seed, customers)
    sub_world = replace(
        make_world(start + dt.timedelta(days=new_day0), days - new_day0),
        table=A.spec_table((NEW_SPEC,)),
    )
    sub_world.table["share_cdf"][-1] = 1.0
    truth_parts: list[pl.DataFrame] = []
    n_events = n_files = 0
    block = 0
    with atomic_dir(out, kind="synth", overwrite=overwrite) as tmp:
        events_dir = tmp / "events"
        events_dir.mkdir()
        with tracker_or_null(tracker).task(
            "synth drift: customers", total=customers + n_new
        ) as task:
            for lo in range(0, customers, block_size):
                hi = min(lo + block_size, customers)
                ev = source.block(lo, hi)
                stop = _lapse_days(seed, lo, hi, days, lapse_share, lapse_day0, 7 * lapse_weeks)
                stop = np.where(ev.archetype == _DEAL, stop, days)
                keep = ev.t < stop[ev.customer - 1 - lo]
                ev = _keep(ev, keep)
                n_events += len(ev.customer)
                n_files += write_block(ev, events_dir, block, start)
                truth_parts.append(_base_truth(ev.archetype, stop, lo, start, days))
                block += 1
                task.advance(hi - lo)
            for lo in range(0, n_new, block_size):
                hi = min(lo + block_size, n_new)
                parts = []
                for k in range(lo // CHUNK, (hi - 1) // CHUNK + 1):
                    k_lo = k * CHUNK  # whole RNG chunks, then the block's slice of them
                    c = generate_chunk(
                        sub_world, seed ^ _SALT, k, customers + k_lo + 1, min(CHUNK, n_new - k_lo)
                    )
                    a, b = max(lo, k_lo), min(hi, k_lo + CHUNK)
                    sel = (c.customer > customers + a) & (c.customer <= customers + b)
                    parts.append(
                        ChunkEvents(
                            **{
                                f: getattr(c, f)[sel]
                                for f in ChunkEvents.__dataclass_fields__
                                if f not in ("archetype", "t")
                            },
                            t=c.t[sel] + new_day0,
                            archetype=c.archetype[a - k_lo : b - k_lo],
                        )
                    )
                ev = ChunkEvents(
                    **{
                        f: np.concatenate([getattr(p, f) for p in parts])
                        for f in ChunkEvents.__dataclass_fields__
                    }
                )
                n_events += len(ev.customer)
                n_files += write_block(ev, events_dir, block, start)
                block += 1
                ids = np.arange(customers + lo + 1, customers + hi + 1)
                truth_parts.append(
                    pl.DataFrame(
                        {
                            "customer_id": pl.Series(ids, dtype=pl.Int64),
                            "archetype": [NEW_SPEC.name] * len(ids),
                            "start_date": [start + dt.timedelta(days=new_day0)] * len(ids),
                            "end_date": [end_date] * len(ids),
                        }
                    )
                )
                task.advance(hi - lo)
        history = pl.concat(truth_parts).sort("customer_id", "start_date")
        history.write_parquet(tmp / "truth_history.parquet")
        final = truth_on(history, end_date)
        final.write_parquet(tmp / "truth.parquet")
        counts = final.group_by("archetype").len().sort("archetype")
        archetype_counts = dict(zip(counts["archetype"], counts["len"], strict=True))
        write_json_atomic(
            tmp / "manifest.json",
            run_manifest(
                customers,
                days,
                seed,
                start,
                end_date,
                n_events,
                n_files,
                scenario="drift",
                newcomers=n_new,
                drift={
                    "lapse_share": lapse_share,
                    "lapse_start_day": lapse_day0,
                    "lapse_weeks": lapse_weeks,
                    "new_behavior": NEW_SPEC.name,
                    "new_start_day": new_day0,
                },
                archetype_counts_last_day=archetype_counts,
            ),
        )
    return SynthSummary(
        out_dir=out,
        n_customers=customers + n_new,
        n_events=n_events,
        n_files=n_files,
        seconds=time.perf_counter() - t0,
        archetype_counts=archetype_counts,
        start_date=start,
        end_date=end_date,
        seed=seed,
    )


def _base_truth(
    arch: np.ndarray, stop: np.ndarray, lo: int, start: dt.date, days: int
) -> pl.DataFrame:
    ids = np.arange(lo + 1, lo + 1 + len(arch))
    name = pl.Series(A.ARCHETYPES, dtype=pl.String).gather(arch)
    end = start + dt.timedelta(days=days - 1)
    stop_date = pl.Series([start + dt.timedelta(days=int(s)) for s in stop], dtype=pl.Date)
    lapsing = stop < days
    before = pl.DataFrame(
        {
            "customer_id": pl.Series(ids, dtype=pl.Int64),
            "archetype": name,
            "start_date": pl.Series([start] * len(ids), dtype=pl.Date),
            "end_date": pl.Series([end] * len(ids), dtype=pl.Date),
        }
    ).with_columns(
        pl.when(pl.Series(lapsing))
        .then(stop_date - pl.duration(days=1))
        .otherwise(pl.col("end_date"))
        .alias("end_date")
    )
    after = pl.DataFrame(
        {
            "customer_id": pl.Series(ids[lapsing], dtype=pl.Int64),
            "archetype": pl.Series([LAPSED] * int(lapsing.sum()), dtype=pl.String),
            "start_date": stop_date.filter(pl.Series(lapsing)),
            "end_date": pl.Series([end] * int(lapsing.sum()), dtype=pl.Date),
        }
    )
    # a stop on the first day leaves no deal-hunter day at all
    return pl.concat([before.filter(pl.col("end_date") >= pl.col("start_date")), after])


def truth_on(history: pl.DataFrame | str | Path, day: dt.date) -> pl.DataFrame:
    """``customer_id, archetype`` on ``day`` from ``truth_history.parquet`` (or a frame)."""
    if not isinstance(history, pl.DataFrame):
        p = Path(history)
        history = pl.read_parquet(p / "truth_history.parquet" if p.is_dir() else p)
    return (
        history.filter((pl.col("start_date") <= day) & (pl.col("end_date") >= day))
        .select("customer_id", "archetype")
        .sort("customer_id")
    )
