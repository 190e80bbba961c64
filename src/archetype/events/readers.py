"""Find the files behind a path and scan them lazily (Parquet or CSV).

A path may be one file, a glob (``logs/*.parquet``), or a folder — plain or hive-partitioned
(``events/date=2026-01-01/part-0.parquet``).  Nothing is read here beyond file footers/headers.
"""

from __future__ import annotations

import glob as _glob
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from archetype.errors import DataError, UserError

log = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[")
_PARQUET_EXT = (".parquet", ".pq")
_CSV_EXT = (".csv", ".csv.gz", ".tsv")


@dataclass(frozen=True)
class Source:
    """The resolved input: its files, their format and whether folders are hive partitions."""

    path: str
    files: tuple[str, ...]
    format: str  # "parquet" | "csv"
    hive: bool

    def scan(self) -> pl.LazyFrame:
        """A lazy scan of every file (hive columns appended for partitioned folders)."""
        if self.format == "parquet":
            target = self.path if (self.hive or _is_glob(self.path)) else list(self.files)
            return pl.scan_parquet(target, hive_partitioning=self.hive)
        sep = "\t" if self.files[0].endswith(".tsv") else ","
        return pl.scan_csv(
            list(self.files), separator=sep, infer_schema_length=10_000, try_parse_dates=False
        )


def _is_glob(path: str) -> bool:
    return any(c in _GLOB_CHARS for c in path)


def _format_of(files: list[str], requested: str, path: str) -> str:
    if requested != "auto":
        return requested
    if all(f.endswith(_PARQUET_EXT) for f in files):
        return "parquet"
    if all(f.endswith(_CSV_EXT) for f in files):
        return "csv"
    raise UserError(
        "cannot tell the format from the file names (want .parquet or .csv, not mixed); "
        "set [events] format",
        path=path,
    )


def resolve(path: str | Path, fmt: str = "auto") -> Source:
    """Resolve ``path`` (file, glob or folder) to a :class:`Source`; user errors if empty."""
    p = str(path)
    if _is_glob(p):
        files = sorted(f for f in _glob.glob(p, recursive=True) if Path(f).is_file())
        if not files:
            raise UserError("no files match this pattern", path=p)
        hive = any("=" in part for f in files for part in Path(f).parent.parts)
        return Source(p, tuple(files), _format_of(files, fmt, p), hive)
    pp = Path(p)
    if not pp.exists():
        raise UserError("no such file or directory", path=p)
    if pp.is_file():
        return Source(p, (p,), _format_of([p], fmt, p), False)
    files = sorted(str(f) for f in pp.rglob("*") if f.is_file() and f.name.endswith(_PARQUET_EXT))
    if not files or fmt == "csv":
        files = sorted(str(f) for f in pp.rglob("*") if f.is_file() and f.name.endswith(_CSV_EXT))
    if not files:
        raise UserError("folder holds no .parquet or .csv files", path=p)
    hive = any("=" in part for f in files for part in Path(f).relative_to(pp).parent.parts)
    fmt_ = _format_of(files, fmt, p)
    if fmt_ == "csv" and hive:
        log.info("hive folders with CSV: partition columns are not read, only the files")
        hive = False
    return Source(p, tuple(files), fmt_, hive)


def _probe(file: str, fmt: str) -> Exception | None:
    try:
        if fmt == "parquet":
            pl.read_parquet_schema(file)
            pl.scan_parquet(file).collect()
        else:
            pl.scan_csv(file, infer_schema_length=10_000).collect()
    except Exception as e:  # noqa: BLE001 - any failure marks the file bad
        return e
    return None


def unreadable(source: Source, err: Exception) -> DataError:
    """Turn a reader failure into a :class:`DataError` naming the first bad file."""
    for f in source.files:
        e = _probe(f, source.format)
        if e is not None:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return DataError(f"unreadable or corrupt {source.format} file ({first})", path=f)
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"cannot read input ({first})", path=source.path)


def schema_of(source: Source) -> pl.Schema:
    """The scan's schema; a corrupt file becomes a :class:`DataError` naming it."""
    try:
        return source.scan().collect_schema()
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - polars raises several types for bad files
        raise unreadable(source, e) from None
