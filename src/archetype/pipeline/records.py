"""Run records: ``ROOT/runs/<date>.json``, the commit marker of a nightly run.

A run writes ``status: "running"`` when it starts and, last of all, ``"complete"`` (or
``"failed"`` with the reason).  Every output of the run is already in place, whole, when
the complete record appears, so :func:`is_complete` — the record says complete *and* the
outputs it names exist with the row counts it names — is what ``backfill`` uses to skip
dates and what a reader should trust.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from typing import Any

import polars as pl

from archetype._atomic import write_json_atomic
from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.model import CENTROIDS, MANIFEST

RECORD_VERSION = 1


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_record(date: dt.date, mode: str, **fields: Any) -> dict[str, Any]:
    """A fresh ``running`` record for ``date``."""
    return {
        "record_version": RECORD_VERSION,
        "date": date.isoformat(),
        "mode": mode,
        "status": "running",
        "started_at": now_iso(),
        "finished_at": None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **fields,
    }


def write_record(layout: Layout, date: dt.date, record: dict[str, Any]) -> None:
    write_json_atomic(layout.run_record(date), record)


def read_record(layout: Layout, date: dt.date) -> dict[str, Any] | None:
    """The run record of ``date``; ``None`` when absent or unreadable."""
    p = layout.run_record(date)
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _rows(path) -> int | None:
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except Exception:
        return None


def is_complete(layout: Layout, date: dt.date, *, mode: str | None = None) -> bool:
    """Whether ``date`` ran to completion and its outputs are all there.

    Checks the record's status (and ``mode`` when given), the model version it names, and
    that the assignments and transitions partitions exist with the counted rows.
    """
    rec = read_record(layout, date)
    if not rec or rec.get("status") != "complete":
        return False
    if mode is not None and rec.get("mode") != mode:
        return False
    version = rec.get("model_version")
    if version and rec.get("mode") == "run":
        mdir = layout.models / version
        if not (mdir / MANIFEST).is_file() or not (mdir / CENTROIDS).is_file():
            return False
    counts = rec.get("counts") or {}
    if _rows(layout.assignments(date) / PART) != counts.get("customers"):
        return False
    tr = counts.get("transitions")
    return tr is None or _rows(layout.transitions(date) / PART) == tr
