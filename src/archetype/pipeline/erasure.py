"""``archetype forget``: erase customers from every stored partition of a pipeline root.

Removes the given customers from every ``features/date=…`` (features.parquet, ids.parquet
and the matching rows of embedding.npy, kept aligned), ``assignments/date=…`` and
``transitions/date=…`` partition.  Each partition is rewritten to a temp dir and renamed
over the old one.  Migration matrices are recomputed from the remaining assignments and
run records get their counts updated (so a forgotten customer leaves no count behind and
``backfill`` still sees the dates as complete).  Models hold only centroids (averages),
no customer rows.  Re-running ``forget`` with the same ids is a no-op, so an interrupted
forget is finished by running it again.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from archetype._atomic import DirLock, atomic_dir
from archetype.errors import UserError
from archetype.pipeline.layout import MIGRATION, PART, Layout
from archetype.pipeline.privacy import pseudonym
from archetype.pipeline.records import read_record, write_record
from archetype.progress import Tracker, tracker_or_null
from archetype.segments.migration import migration_matrix

log = logging.getLogger(__name__)


@dataclass
class ForgetReport:
    """Rows removed per partition (``"features/date=2026-11-24" -> 3``)."""

    removed: dict[str, int] = field(default_factory=dict)
    ids_given: int = 0

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def read_ids(path: str | Path) -> list[str]:
    """Customer ids from a text file (one a line; a ``customer_id`` header is skipped),
    a CSV or a Parquet file with a ``customer_id`` column.  Returned as strings."""
    path = Path(path)
    if not path.is_file():
        raise UserError("ids file not found", path=path)
    try:
        if path.suffix == ".parquet":
            df = pl.read_parquet(path)
        elif path.suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False)
        else:
            lines = [ln.strip() for ln in path.read_text().splitlines()]
            lines = [ln for ln in lines if ln and not ln.startswith("#")]
            if lines and lines[0] == "customer_id":
                lines = lines[1:]
            return lines
    except (OSError, pl.exceptions.PolarsError) as e:
        raise UserError(f"unreadable ids file: {e}", path=path) from None
    if "customer_id" not in df.columns:
        raise UserError("no customer_id column", path=path, column="customer_id")
    return [str(v) for v in df["customer_id"].drop_nulls().to_list()]


def _typed(ids: list[str], dtype: pl.DataType, path: str | Path) -> pl.Series:
    s = pl.Series("customer_id", ids, dtype=pl.String)
    if dtype == pl.String or not ids:
        return s.cast(dtype)
    try:
        return s.str.strip_chars().cast(dtype, strict=True)
    except pl.exceptions.PolarsError:
        bad = next((v for v in ids if not v.strip().lstrip("-").isdigit()), ids[0])
        raise UserError(f"id {bad!r} is not a {dtype} customer id", path=path) from None


def forget(
    root: str | Path,
    ids_file: str | Path,
    *,
    key: bytes | None = None,
    tracker: Tracker | None = None,
) -> ForgetReport:
    """Remove the customers listed in ``ids_file`` from every partition under ``root``.

    Parameters
    ----------
    root : path
        The pipeline root.
    ids_file : path
        Raw customer ids (see :func:`read_ids`).
    key : bytes, optional
        The pseudonymization key: when given, ids are mapped to their pseudonyms first.

    Returns
    -------
    ForgetReport
    """
    layout = Layout(root)
    if not layout.root.is_dir():
        raise UserError("pipeline root not found", path=root)
    raw = read_ids(ids_file)
    report = ForgetReport(ids_given=len(raw))
    if key is not None:
        raw = [pseudonym(key, v) for v in raw]
    kinds = ("features", "assignments", "transitions")
    parts = [(kind, d) for kind in kinds for d in layout.partition_dates(kind)]
    with DirLock(root), tracker_or_null(tracker).task("forget", total=len(parts)) as task:
        for kind, d in parts:
            n = _FORGET[kind](layout, d, raw, ids_file)
            report.removed[f"{kind}/date={d.isoformat()}"] = n
            task.advance(1)
        for d in layout.partition_dates("assignments"):
            _refresh(layout, d)
    return report


def _drop(df: pl.DataFrame, ids: list[str], path) -> tuple[pl.DataFrame, int]:
    gone = _typed(ids, df["customer_id"].dtype, path)
    keep = df.filter(~pl.col("customer_id").is_in(gone.implode()))
    return keep, df.height - keep.height


def _forget_features(layout: Layout, d, ids, path) -> int:
    fdir = layout.features(d)
    id_frame = pl.read_parquet(fdir / "ids.parquet")
    gone = _typed(ids, id_frame["customer_id"].dtype, path)
    mask = ~id_frame["customer_id"].is_in(gone.implode()).to_numpy()
    n = int((~mask).sum())
    if n == 0:
        return 0
    feats, _ = _drop(pl.read_parquet(fdir / "features.parquet"), ids, path)
    emb = np.load(fdir / "embedding.npy", mmap_mode="r")
    with atomic_dir(fdir) as tmp:
        for f in fdir.iterdir():
            if f.name not in ("ids.parquet", "features.parquet", "embedding.npy") and f.is_file():
                shutil.copy2(f, tmp / f.name)
        id_frame.filter(pl.Series(mask)).write_parquet(tmp / "ids.parquet")
        feats.write_parquet(tmp / "features.parquet")
        np.save(tmp / "embedding.npy", np.ascontiguousarray(emb[mask]))
        del emb
    return n


def _forget_table(kind: str):
    def run(layout: Layout, d, ids, path) -> int:
        pdir = getattr(layout, kind)(d)
        df, n = _drop(pl.read_parquet(pdir / PART), ids, path)
        if n == 0:
            return 0
        with atomic_dir(pdir) as tmp:
            for f in pdir.iterdir():
                if f.name != PART and f.is_file():
                    shutil.copy2(f, tmp / f.name)
            df.write_parquet(tmp / PART)
        return n

    return run


_FORGET = {
    "features": _forget_features,
    "assignments": _forget_table("assignments"),
    "transitions": _forget_table("transitions"),
}


def _refresh(layout: Layout, d) -> None:
    """Recompute the migration matrix and the record's counts of date ``d``."""
    cur = pl.read_parquet(layout.assignments(d) / PART)
    before = [p for p in layout.partition_dates("assignments") if p < d]
    prev = (pl.read_parquet(layout.assignments(before[-1]) / PART,
                            columns=["customer_id", "segment_id"]) if before else None)
    tdir = layout.transitions(d)
    if (tdir / PART).is_file() and "previous_segment_id" in cur.columns:
        matrix = migration_matrix(cur, prev)
        old = pl.read_parquet(tdir / MIGRATION) if (tdir / MIGRATION).is_file() else None
        if old is None or not old.equals(matrix):
            with atomic_dir(tdir) as tmp:
                shutil.copy2(tdir / PART, tmp / PART)
                matrix.write_parquet(tmp / MIGRATION)
    rec = read_record(layout, d)
    if rec and rec.get("counts"):
        counts = dict(rec["counts"])
        new = {"customers": cur.height}
        if (tdir / PART).is_file():
            new["transitions"] = pl.scan_parquet(tdir / PART).select(pl.len()).collect().item()
        if any(counts.get(k) != v for k, v in new.items()):
            removed = counts.get("customers", cur.height) - cur.height
            counts.update(new)
            rec["counts"] = counts
            rec["forgotten"] = int(rec.get("forgotten", 0)) + int(removed)
            write_record(layout, d, rec)


def describe_ids_mismatch(root: str | Path) -> str | None:
    """A hint when stored ids look pseudonymized (64 hex chars) — for the CLI."""
    layout = Layout(root)
    for d in layout.partition_dates("assignments")[-1:]:
        s = pl.read_parquet(layout.assignments(d) / PART, columns=["customer_id"]).head(1)
        if s.height and s["customer_id"].dtype == pl.String:
            v = s["customer_id"][0]
            if len(v) == 64 and all(c in "0123456789abcdef" for c in v):
                return ("stored ids look pseudonymized; pass --config (with [privacy]) "
                        "or --pseudonymize --key-env NAME")
    return None


