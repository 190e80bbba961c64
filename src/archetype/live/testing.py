"""A small real pipeline root for tests and benchmarks of the live service.

:func:`make_pipeline_root` writes a synthetic log and runs the real nightly job on it
(``archetype.pipeline.run_date``: features -> fit -> stable ids -> registry), so the
service is exercised against exactly what ``archetype run`` leaves behind.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl


def make_pipeline_root(
    out: str | Path,
    *,
    customers: int = 600,
    days: int = 60,
    seed: int = 7,
    end_date: dt.date = dt.date(2026, 12, 31),
    model_date: dt.date | None = None,
    k: int = 5,
    window_days: int | None = 30,
    pseudonymize_env: str | None = None,
    backend: str = "numba",
) -> tuple[Path, Path]:
    """Synthesize a log under ``out/synth`` and run the nightly job for ``model_date``
    (default ``end_date``) into ``out/root``.  Returns ``(events_dir, root)``.

    With ``pseudonymize_env`` the run pseudonymizes ids with the key in that environment
    variable (which must be set).
    """
    from archetype.pipeline import RunConfig, run_date
    from archetype.synth import generate

    out = Path(out)
    generate(out / "synth", customers=customers, days=days, seed=seed, end_date=end_date)
    events = out / "synth" / "events"
    overrides = {
        "events": str(events),
        "out": str(out / "root"),
        "k": k,
        "window_days": window_days,
        "report": False,
        "backend": backend,
        "max_iter": 20,
    }
    if pseudonymize_env:
        if not os.environ.get(pseudonymize_env):
            raise ValueError(f"set {pseudonymize_env} to pseudonymize")
        overrides.update(pseudonymize=True, key_env=pseudonymize_env)
    cfg = RunConfig.load(None, overrides)
    run_date(cfg, model_date or end_date)
    return events, out / "root"


def read_log(events: str | Path) -> pl.DataFrame:
    """The whole synthetic log as one frame (hive ``date`` column dropped)."""
    df = pl.read_parquet(Path(events), hive_partitioning=True)
    return df.drop("date") if "date" in df.columns else df
