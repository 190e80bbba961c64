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
    """The resolved input: its files, their format and whether folders are hive partitions.

    CSV files are read with every column as text (no type guessing: ids keep leading zeros
    and every value is parsed by :mod:`archetype.events.parse`).
    """

    path: str
    files: tuple[str, ...]
    format: str  # "parquet" | "csv"
    hive: bool
    separator: str | None = None
    #: Parquet columns read as text from every file (``id_dtype = "str"``): files whose
    #: ids are integers and files whose ids are text then make one text id space.
    text_columns: tuple[str, ...] = ()

    @property
    def csv_separator(self) -> str:
        if self.separator is not None:
            return self.separator
        return "\t" if self.files[0].endswith(".tsv") else ","

    def scan(self) -> pl.LazyFrame:
        """A lazy scan of every file (hive columns appended for partitioned folders)."""
        if self.format == "parquet":
            groups = self._text_groups()
            if len(groups) > 1:  # one scan per column-type group, the columns cast to text
                lfs = [pl.scan_parquet(list(g), hive_partitioning=self.hive) for g in groups]
                return pl.concat([self._as_text(lf) for lf in lfs], how="vertical")
            target = self.path if (self.hive or _is_glob(self.path)) else list(self.files)
            return self._as_text(pl.scan_parquet(target, hive_partitioning=self.hive))
        return pl.scan_csv(list(self.files), separator=self.csv_separator, infer_schema=False)

    def scan_file(self, file: str) -> pl.LazyFrame:
        """One file alone, without hive columns."""
        if self.format == "parquet":
            return self._as_text(pl.scan_parquet(file, hive_partitioning=False))
        return pl.scan_csv(file, separator=self.csv_separator, infer_schema=False)

    def _as_text(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        if not self.text_columns:
            return lf
        have = lf.collect_schema()
        cols = [c for c in self.text_columns if c in have and have[c] != pl.String]
        return lf.with_columns(pl.col(c).cast(pl.String) for c in cols) if cols else lf

    def _text_groups(self) -> list[tuple[str, ...]]:
        """The files grouped by the types of :attr:`text_columns` (one group: no split).
        Reads every file's footer, so only when the user asked for text ids."""
        if not self.text_columns or len(self.files) < 2:
            return [self.files]
        groups: dict[tuple, list[str]] = {}
        for f in self.files:
            try:
                schema = pl.read_parquet_schema(f)
            except Exception as e:  # noqa: BLE001 - polars raises several types for bad files
                raise unreadable(self, e) from None
            groups.setdefault(tuple(str(schema.get(c)) for c in self.text_columns), []).append(f)
        return [tuple(g) for g in groups.values()]

    def file_columns(self) -> list[str]:
        """The columns written in the (first) file, hive partition columns excluded."""
        try:
            return list(self.scan_file(self.files[0]).collect_schema())
        except Exception as e:  # noqa: BLE001 - polars raises several types for bad files
            raise unreadable(self, e) from None


def _is_glob(path: str) -> bool:
    return any(c in _GLOB_CHARS for c in path)


def _kinds(files: list[str]) -> tuple[list[str], list[str], list[str]]:
    pq = [f for f in files if f.endswith(_PARQUET_EXT)]
    csv = [f for f in files if f.endswith(_CSV_EXT)]
    other = [f for f in files if f not in pq and f not in csv]
    return pq, csv, other


def _format_of(files: list[str], requested: str, path: str) -> tuple[str, list[str]]:
    """The format and the files of that format; mixed Parquet and CSV is an error."""
    pq, csv, other = _kinds(files)
    if requested == "parquet" or (requested == "auto" and pq and not csv and not other):
        return "parquet", pq if requested == "auto" else (pq or files)
    if requested == "csv" or (requested == "auto" and csv and not pq and not other):
        return "csv", csv if requested == "auto" else (csv or files)
    if pq and csv:
        raise UserError(
            f"holds both Parquet ({len(pq)} files, e.g. {Path(pq[0]).name}) and CSV "
            f"({len(csv)} files, e.g. {Path(csv[0]).name}); read one kind with --format "
            "parquet|csv ([events] format) or move the others away",
            path=path,
        )
    raise UserError(
        f"cannot tell the format of {Path(other[0]).name} (want .parquet/.pq or "
        ".csv/.csv.gz/.tsv); set --format parquet|csv ([events] format)",
        path=path,
    )


def resolve(path: str | Path, fmt: str = "auto", separator: str | None = None) -> Source:
    """Resolve ``path`` (file, glob or folder) to a :class:`Source`; user errors if empty.

    A folder's ``.parquet`` and ``.csv`` files are read; holding both kinds is an error
    unless ``fmt`` picks one.  Other files (``_SUCCESS``, ``README``) in a folder are ignored.
    """
    p = str(path)
    fmt = str(fmt)
    if _is_glob(p):
        files = sorted(f for f in _glob.glob(p, recursive=True) if Path(f).is_file())
        if not files:
            raise UserError("no files match this pattern", path=p)
        fmt_, files = _format_of(files, fmt, p)
        hive = any("=" in part for f in files for part in Path(f).parent.parts)
        return _checked(Source(p, tuple(files), fmt_, hive and fmt_ == "parquet", separator))
    pp = Path(p)
    if not pp.exists():
        raise UserError("no such file or directory", path=p)
    if pp.is_file():
        fmt_, _ = _format_of([p], fmt, p)
        return Source(p, (p,), fmt_, False, separator)
    files = sorted(
        str(f) for f in pp.rglob("*") if f.is_file() and f.name.endswith(_PARQUET_EXT + _CSV_EXT)
    )
    if not files:
        raise UserError("folder holds no .parquet or .csv files", path=p)
    fmt_, files = _format_of(files, fmt, p)
    if not files:
        raise UserError(f"folder holds no {fmt_} files", path=p)
    hive = any("=" in part for f in files for part in Path(f).relative_to(pp).parent.parts)
    if fmt_ == "csv" and hive:
        log.info("hive folders with CSV: partition columns are not read, only the files")
        hive = False
    return _checked(Source(p, tuple(files), fmt_, hive, separator))


def _checked(source: Source) -> Source:
    """CSV files of one source must share their header (the same columns, same order)."""
    if source.format != "csv" or len(source.files) < 2:
        return source
    first = None
    for f in source.files:
        try:
            cols = pl.read_csv(f, n_rows=0, separator=source.csv_separator, infer_schema=False)
        except Exception as e:  # noqa: BLE001 - polars raises several types for bad files
            raise unreadable(source, e) from None
        if first is None:
            first = (f, cols.columns)
        elif cols.columns != first[1]:
            raise UserError(
                f"has columns {', '.join(cols.columns)} but {Path(first[0]).name} has "
                f"{', '.join(first[1])}; CSV files read together need the same header",
                path=f,
            )
    return source


def _probe(source: Source, file: str) -> Exception | None:
    try:
        if source.format == "parquet":
            pl.read_parquet_schema(file)
        source.scan_file(file).collect()
    except Exception as e:  # noqa: BLE001 - any failure marks the file bad
        return e
    return None


def unreadable(source: Source, err: Exception) -> DataError:
    """Turn a reader failure into a :class:`DataError` naming the first bad file."""
    for f in source.files:
        e = _probe(source, f)
        if e is not None:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return DataError(f"unreadable or corrupt {source.format} file ({first})", path=f)
    mismatch = _schema_mismatch(source)
    if mismatch is not None:
        return mismatch
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"cannot read input ({first})", path=source.path)


def _schema_mismatch(source: Source) -> DataError | None:
    """The first file whose column types differ from the first file's (files read together
    must agree), named with the column and both types."""
    if len(source.files) < 2:
        return None
    try:
        ref = source.scan_file(source.files[0]).collect_schema()
        for f in source.files[1:]:
            schema = source.scan_file(f).collect_schema()
            for name, dtype in schema.items():
                if name in ref and ref[name] != dtype:
                    hint = (
                        "; to read every file's ids as text, pass --id-dtype str "
                        "([events] id_dtype)"
                        if {dtype == pl.String, ref[name] == pl.String} == {True, False}
                        and (dtype.is_integer() or ref[name].is_integer())
                        else ""
                    )
                    return DataError(
                        f"is {dtype} here but {ref[name]} in {Path(source.files[0]).name}; "
                        "files read together need the same column types (rewrite one, or "
                        f"read them separately){hint}",
                        path=f,
                        column=name,
                    )
    except Exception:  # noqa: BLE001 - best effort: the caller's message stands
        return None
    return None


def schema_of(source: Source) -> pl.Schema:
    """The scan's schema; a corrupt file becomes a :class:`DataError` naming it."""
    try:
        return source.scan().collect_schema()
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - polars raises several types for bad files
        raise unreadable(source, e) from None
