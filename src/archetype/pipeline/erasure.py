"""``archetype forget``: erase customers from a pipeline root, for good.

Removes the given customers from every ``features/date=…`` (features.parquet, ids.parquet
and the matching rows of embedding.npy, kept aligned), ``assignments/date=…`` and
``transitions/date=…`` partition, on every root the project can create: raw ids,
pseudonymized ids, or both (pseudonymization switched on later) — each partition is
matched in its own id form.  Then:

* the ids go on ROOT's **suppression list** (hashed: keyed pseudonyms, or unkeyed tokens on
  a root without a key), *before* any row is removed, so later ``run``/``backfill`` drop
  them from the event log's features and a crash never lets them back in;
* migration matrices, run-record counts (complete dates stay complete), feature-dir
  manifests and model manifests' counts (customers, sizes, inertia, drift) are recomputed;
* stale temp entries (a killed writer's staging dir, a feature spill, the old copy of a
  partition) are purged first: no hidden copy of a forgotten customer survives.

Each partition is rewritten to a temp dir and swapped in atomically, so a ``kill -9`` at
any moment leaves each partition old or new; running ``forget`` again completes it.  A
forget that matches nothing the user expected is an error (wrong ids file, id type or
key), as is a wrong key, a pseudonymized root without one, or an unreadable partition
(named; nothing is changed until it is fixed).  Models hold only centroids (averages).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from archetype._atomic import DirLock, atomic_dir, clean_stale_in, write_json_atomic
from archetype._outputs import check_output
from archetype.errors import UserError
from archetype.pipeline.layout import KINDS, MIGRATION, PART, Layout
from archetype.pipeline.model import MANIFEST
from archetype.pipeline.privacy import Suppression, check_key, pseudonym, stored_key_check
from archetype.pipeline.records import read_record, write_record
from archetype.progress import Tracker, tracker_or_null
from archetype.segments.migration import migration_matrix

log = logging.getLogger(__name__)
CRASH_ENV = "ARCHETYPE_TEST_FORGET_CRASH_AFTER"  # test hook: SIGKILL after N partitions
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class ForgetReport:
    """What a forget found and removed (rows per partition, ``"features/date=…" -> 3``)."""

    removed: dict[str, int] = field(default_factory=dict)
    ids_given: int = 0
    ids_found: int = 0  # given ids stored somewhere under ROOT
    already_forgotten: int = 0  # not stored, but on the suppression list already
    not_found: int = 0  # neither: never stored (or a wrong id)
    suppressed_added: int = 0
    purged: list[str] = field(default_factory=list)  # stale temp entries removed

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
            df = pl.read_csv(path, infer_schema=False, encoding="utf8")
        else:
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
            lines = [ln for ln in lines if ln and not ln.startswith("#")]
            if lines and lines[0] == "customer_id":
                lines = lines[1:]
            return list(dict.fromkeys(lines))
    except UnicodeDecodeError as e:
        raise UserError(
            f"not UTF-8 text (byte {e.start}); save the ids file as UTF-8", path=path
        ) from None
    except (OSError, pl.exceptions.PolarsError) as e:
        raise UserError(f"unreadable ids file: {e}", path=path) from None
    if "customer_id" not in df.columns:
        raise UserError("no customer_id column", path=path, column="customer_id")
    return list(dict.fromkeys(str(v) for v in df["customer_id"].drop_nulls().to_list()))


def _typed(ids: list[str], dtype: pl.DataType) -> tuple[pl.Series, list[str]]:
    """The ids castable to ``dtype`` (as a Series) and the raw strings they came from."""
    s = pl.Series("customer_id", ids, dtype=pl.String)
    if dtype == pl.String:
        return s, list(ids)
    cast = s.str.strip_chars().cast(dtype, strict=False)
    ok = cast.is_not_null()
    return cast.filter(ok), [v for v, good in zip(ids, ok.to_list(), strict=True) if good]


def _is_pseudo(ids: pl.Series) -> bool:
    if ids.dtype != pl.String or ids.len() == 0:
        return False
    head = ids.head(50).to_list()
    return all(isinstance(v, str) and _HEX64.match(v) for v in head)


@dataclass
class _Part:
    kind: str
    date: object
    path: Path
    ids: pl.Series
    pseudo: bool

    @property
    def label(self) -> str:
        return f"{self.kind}/date={self.date.isoformat()}"


def _scan(layout: Layout) -> tuple[list[_Part], list[str]]:
    """Every partition's ids (and the unreadable ones, named)."""
    parts, bad = [], []
    for kind in KINDS:
        for d in layout.partition_dates(kind):
            pdir = getattr(layout, kind)(d)
            try:
                if kind == "features":
                    ids = pl.read_parquet(pdir / "ids.parquet")["customer_id"]
                    emb = np.load(pdir / "embedding.npy", mmap_mode="r")
                    pl.read_parquet_schema(pdir / "features.parquet")
                    if emb.ndim != 2 or emb.shape[0] != ids.len():
                        raise ValueError(
                            f"embedding.npy has {emb.shape[0]} rows for {ids.len()} ids"
                        )
                else:
                    ids = pl.read_parquet(pdir / PART, columns=["customer_id"])["customer_id"]
                    if kind == "transitions" and (pdir / MIGRATION).exists():
                        pl.read_parquet_schema(pdir / MIGRATION)
            except Exception as e:  # noqa: BLE001 - any unreadable file is reported
                bad.append(f"{pdir} ({type(e).__name__}: {str(e)[:120]})")
                continue
            parts.append(_Part(kind, d, pdir, ids, _is_pseudo(ids)))
    return parts, bad


def forget(
    root: str | Path,
    ids_file: str | Path,
    *,
    key: bytes | None = None,
    key_env: str = "ARCHETYPE_ID_KEY",
    allow_missing: bool = False,
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
        The pseudonymization key; required when any partition holds pseudonyms, and it
        must be the key ROOT was written with.
    allow_missing : bool, default False
        Put the ids on the suppression list even when none of them is stored yet
        (otherwise that is an error: a wrong ids file, id type or key is likelier).

    Returns
    -------
    ForgetReport
    """
    layout = Layout(root)
    if not layout.root.is_dir():
        raise UserError("pipeline root not found", path=root)
    check_output(layout.root, "pipeline")
    raw = read_ids(ids_file)
    if not raw:
        raise UserError("no customer ids in the file", path=ids_file)
    report = ForgetReport(ids_given=len(raw))
    with DirLock(root):
        for sub in (*KINDS, "models", "reports", "runs", "privacy"):
            report.purged += [str(p) for p in clean_stale_in(layout.root / sub)]
        parts, bad = _scan(layout)
        if bad:
            raise UserError(
                f"{len(bad)} unreadable partition(s): {'; '.join(bad[:3])}; "
                "restore or delete them (or re-run those dates), then run forget "
                "again; nothing was changed",
                path=root,
            )
        pseudo_parts = [p for p in parts if p.pseudo]
        if key is None and (pseudo_parts or stored_key_check(root)):
            raise UserError(
                "this root holds pseudonymized ids: pass the key (--config with "
                "[privacy] pseudonymize = true, or --pseudonymize --key-env NAME); "
                "nothing was changed",
                path=root,
            )
        if key is not None:
            check_key(root, key, key_env, record=False)
        ps_of = {pseudonym(key, v): v for v in raw} if key is not None else {}
        found: set[str] = set()
        plan = []
        for p in parts:
            if p.pseudo:
                hits = p.ids.filter(p.ids.is_in(list(ps_of))).to_list()
                found.update(ps_of[h] for h in hits)
                gone = pl.Series("customer_id", list(ps_of), dtype=pl.String)
            else:
                gone, src = _typed(raw, p.ids.dtype)
                hit = gone.is_in(p.ids.implode()).to_list()
                found.update(v for v, h in zip(src, hit, strict=True) if h)
            plan.append((p, gone))
        suppress = Suppression.load(root)
        known = suppress.known(raw, key)
        report.ids_found = len(found)
        report.already_forgotten = sum(
            1 for v, k in zip(raw, known, strict=True) if k and v not in found
        )
        report.not_found = report.ids_given - report.ids_found - report.already_forgotten
        if report.ids_found == 0 and report.already_forgotten == 0 and not allow_missing:
            raise UserError(_nothing_found(raw, parts, key), path=root)
        report.suppressed_added = suppress.add(root, raw, key)
        crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
        with tracker_or_null(tracker).task("forget", total=len(plan)) as task:
            for i, (p, gone) in enumerate(plan):
                report.removed[p.label] = _forget_part(p, gone)
                task.advance(1)
                if crash_after and i + 1 >= crash_after:
                    os.kill(os.getpid(), signal.SIGKILL)
        for d in layout.partition_dates("assignments"):
            _refresh(layout, d)
        _refresh_models(layout)
    return report


def _nothing_found(raw: list[str], parts: list[_Part], key: bytes | None) -> str:
    n = len(raw)
    hint = ""
    for p in parts:
        if not p.pseudo and p.ids.dtype != pl.String:
            _, ok = _typed(raw, p.ids.dtype)
            bad = next((v for v in raw if v not in set(ok)), None)
            if bad is not None:
                hint = f"; {bad!r} is not a {p.ids.dtype} customer id"
                break
    where = f"{len(parts)} partitions" if parts else "no partitions yet"
    check = (
        "the ids file, the id type and the key"
        if key is not None
        else "the ids file and the id type"
    )
    return (
        f"none of the {n} ids is stored here ({where}){hint}; check {check}; nothing was "
        "changed (--allow-missing puts them on the suppression list anyway)"
    )


def _forget_part(p: _Part, gone: pl.Series) -> int:
    mask = ~p.ids.is_in(gone.implode()).to_numpy()
    n = int((~mask).sum())
    if n == 0:
        return 0
    keep_ids = p.ids.filter(pl.Series(mask))
    with atomic_dir(p.path) as tmp:
        if p.kind == "features":
            _features_rows(p.path, tmp, mask, keep_ids)
        else:
            df = pl.read_parquet(p.path / PART)
            df.filter(pl.Series(mask)).write_parquet(tmp / PART)
            _copy_rest(p.path, tmp, {PART})
    return n


def _copy_rest(src: Path, dst: Path, skip: set[str]) -> None:
    for f in src.iterdir():
        if f.name not in skip and f.is_file() and not f.is_symlink():
            shutil.copy2(f, dst / f.name)


def _features_rows(src: Path, dst: Path, mask: np.ndarray, keep_ids: pl.Series) -> None:
    feats = pl.read_parquet(src / "features.parquet")
    feats = feats.filter(pl.col("customer_id").is_in(keep_ids.implode()))
    emb = np.load(src / "embedding.npy", mmap_mode="r")
    kept = np.ascontiguousarray(emb[mask])
    del emb
    pl.DataFrame({"customer_id": keep_ids}).write_parquet(dst / "ids.parquet")
    feats.write_parquet(dst / "features.parquet")
    np.save(dst / "embedding.npy", kept)
    _copy_rest(src, dst, {"ids.parquet", "features.parquet", "embedding.npy"})
    mf = dst / "manifest.json"
    try:
        doc = json.loads(mf.read_text()) if mf.is_file() else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        removed = int(doc.get("n_customers", keep_ids.len())) - keep_ids.len()
        doc["n_customers"] = keep_ids.len()
        doc["embedding_shape"] = list(kept.shape)
        doc["forgotten"] = int(doc.get("forgotten", 0)) + max(removed, 0)
        mf.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def _refresh(layout: Layout, d) -> None:
    """Recompute the migration matrix and the record's counts of date ``d``."""
    cur = pl.read_parquet(layout.assignments(d) / PART)
    before = [p for p in layout.partition_dates("assignments") if p < d]
    prev = (
        pl.read_parquet(
            layout.assignments(before[-1]) / PART, columns=["customer_id", "segment_id"]
        )
        if before
        else None
    )
    if prev is not None and prev["customer_id"].dtype != cur["customer_id"].dtype:
        prev = None  # ids changed form (pseudonymization switched on): not joined
    tdir = layout.transitions(d)
    if (tdir / PART).is_file() and "previous_segment_id" in cur.columns:
        matrix = migration_matrix(cur, prev)
        old = pl.read_parquet(tdir / MIGRATION) if (tdir / MIGRATION).is_file() else None
        if old is None or not old.equals(matrix):
            with atomic_dir(tdir) as tmp:
                shutil.copy2(tdir / PART, tmp / PART)
                matrix.write_parquet(tmp / MIGRATION)
                _copy_rest(tdir, tmp, {PART, MIGRATION})
    rec = read_record(layout, d)
    if rec and isinstance(rec.get("counts"), dict):
        counts = dict(rec["counts"])
        new = {"customers": cur.height}
        if (tdir / PART).is_file():
            new["transitions"] = pl.scan_parquet(tdir / PART).select(pl.len()).collect().item()
        if (tdir / MIGRATION).is_file() and "migration_cells" in counts:
            new["migration_cells"] = pl.read_parquet(tdir / MIGRATION).height
        if any(counts.get(k) != v for k, v in new.items()):
            removed = int(counts.get("customers", cur.height) or 0) - cur.height
            counts.update(new)
            rec["counts"] = counts
            rec["forgotten"] = int(rec.get("forgotten", 0)) + max(int(removed), 0)
            write_record(layout, d, rec)


def _refresh_models(layout: Layout) -> None:
    """Model manifests' counts (customers, sizes, inertia, drift) from their date's rows."""
    if not layout.models.is_dir():
        return
    for mdir in sorted(layout.models.iterdir()):
        mf = mdir / MANIFEST
        if not mdir.is_dir() or mdir.name.startswith(".") or not mf.is_file():
            continue
        try:
            doc = json.loads(mf.read_text())
            d = dt.date.fromisoformat(str(doc.get("date")))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        apath = layout.assignments(d) / PART
        metrics = doc.get("metrics")
        if not apath.is_file() or not isinstance(metrics, dict):
            continue
        a = pl.read_parquet(apath)
        sizes = a.group_by("segment_id").len()
        by_id = dict(zip(sizes["segment_id"].to_list(), sizes["len"].to_list(), strict=True))
        new = dict(metrics)
        new["customers"] = a.height
        new["sizes"] = {
            str(s): int(by_id.get(int(s), 0)) for s in (doc.get("segment_ids") or by_id)
        }
        dist = a["distance"].cast(pl.Float64)
        new["inertia"] = float(dist.sum())
        new["mean_distance"] = float(dist.mean()) if a.height else None
        drift = metrics.get("drift")
        if isinstance(drift, dict) and "previous_segment_id" in a.columns:
            prev, seg = a["previous_segment_id"], a["segment_id"].cast(pl.Int64)
            both = int(prev.is_not_null().sum())
            moved = int(((prev != seg) & prev.is_not_null()).sum())
            new["drift"] = {
                **drift,
                "customers_in_both": both,
                "customers_moved": moved,
                "share_moved": moved / both if both else None,
                "customers_new": int(prev.is_null().sum()),
            }
        if new != metrics:
            doc["metrics"] = new
            write_json_atomic(mf, doc)


def describe_ids_mismatch(root: str | Path) -> str | None:
    """A hint when stored ids look pseudonymized (64 hex chars) — for the CLI."""
    layout = Layout(root)
    for d in layout.partition_dates("assignments")[-1:]:
        s = pl.read_parquet(layout.assignments(d) / PART, columns=["customer_id"]).head(1)
        if _is_pseudo(s["customer_id"]):
            return (
                "stored ids look pseudonymized; pass --config (with [privacy]) "
                "or --pseudonymize --key-env NAME"
            )
    return None
