"""Follow a folder of event files: ingest new Parquet / CSV / NDJSON files as they appear.

``archetype serve --follow PATH`` runs beside the batch log: each new file under PATH
(recursively; hidden ``.*``/``_*`` names skipped, so write files under a temp name and
rename them) is read in chunks, and every chunk is ingested with the file's position
(rows and bytes done) committed in the SAME transaction as its events.  After a crash or
restart the follower resumes exactly where the last commit left off: no event of a file
is lost or applied twice.  CSV and NDJSON files may grow (only complete lines are read;
the rest is read when it is complete); a Parquet file that changes after it was read is
read again (its events already applied are recognized by their event key and skipped).

A file that cannot be read or holds a bad record is reported (log, ``/healthz``,
``archetype_follow_files{state="failed"}``) and skipped until it changes; the follower
goes on with the other files.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from archetype.errors import UserError
from archetype.live.ingest import parse_json_body, records_frame
from archetype.live.meta import NS as META_NS
from archetype.live.meta import source_key

log = logging.getLogger(__name__)

PARQUET = (".parquet", ".pq")
CSV = (".csv", ".tsv")
NDJSON = (".ndjson", ".jsonl")
MAX_CHUNK_BYTES = 8 << 20


def _kind(p: Path) -> str | None:
    n = p.name.lower()
    if n.endswith(PARQUET):
        return "parquet"
    if n.endswith(CSV):
        return "csv"
    if n.endswith(NDJSON):
        return "ndjson"
    return None


def _hidden(p: Path, base: Path) -> bool:
    return any(part.startswith((".", "_")) for part in p.relative_to(base).parts)


@dataclass
class FileOffset:
    """How far a file was ingested (committed with its events)."""

    rows: int = 0
    bytes: int = 0
    size: int = -1
    mtime_ns: int = -1
    done: bool = False

    def encode(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def decode(cls, blob: bytes | None) -> FileOffset:
        return cls() if blob is None else cls(**orjson.loads(blob))


class Follower:
    """Ingest the files under ``path`` through ``segmenter`` (see the module docstring).

    Parameters
    ----------
    segmenter : LiveSegmenter
    path : path
        A folder (followed recursively) or one file.
    poll_s : float
        Seconds between scans of the folder.
    chunk_rows : int
        Events per ingest call (and per committed offset).
    defer_assign : bool
        Bulk mode (bootstrap): re-assign once at the end in the background, not per chunk.
    """

    def __init__(
        self,
        segmenter: Any,
        path: str | Path,
        *,
        poll_s: float = 1.0,
        chunk_rows: int = 20_000,
        defer_assign: bool = False,
    ) -> None:
        self.segmenter = segmenter
        self.path = Path(path).resolve()
        self.poll_s = float(poll_s)
        self.chunk_rows = int(chunk_rows)
        self.defer_assign = bool(defer_assign)
        self.failed: dict[str, str] = {}
        self._failed_at: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    # ------------------------------------------------------------------ discovery
    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path] if _kind(self.path) else []
        if not self.path.is_dir():
            return []
        out = [
            p
            for p in self.path.rglob("*")
            if p.is_file() and _kind(p) and not _hidden(p, self.path)
        ]
        return sorted(out)

    def _offset(self, key: bytes) -> FileOffset:
        return FileOffset.decode(self.segmenter.store.get(META_NS, key))

    def status(self) -> dict[str, Any]:
        files = self.files()
        done = pending = 0
        oldest = None
        for f in files:
            off = self._offset(source_key(f"file:{f}"))
            st = f.stat()
            if off.done and off.size == st.st_size and off.mtime_ns == st.st_mtime_ns:
                done += 1
            elif str(f) not in self.failed:
                pending += 1
                oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
        m = self.segmenter.metrics
        m.follow_files.labels("done").set(done)
        m.follow_files.labels("pending").set(pending)
        m.follow_files.labels("failed").set(len(self.failed))
        m.follow_lag.set(0 if oldest is None else max(0.0, time.time() - oldest))
        return {
            "path": str(self.path),
            "files_done": done,
            "files_pending": pending,
            "files_failed": dict(self.failed),
        }

    # ------------------------------------------------------------------ ingest
    def scan_once(self) -> int:
        """One pass over the folder; returns the events ingested (accepted or not)."""
        n = 0
        for f in self.files():
            if self._stop.is_set():
                break
            try:
                st = f.stat()
            except OSError:
                continue  # removed meanwhile
            sig = (st.st_size, st.st_mtime_ns)
            if self._failed_at.get(str(f)) == sig:
                continue
            try:
                n += self._ingest_file(f, st)
                self.failed.pop(str(f), None)
                self._failed_at.pop(str(f), None)
            except _NotReady:
                continue
            except UserError as e:
                self.failed[str(f)] = str(e)
                self._failed_at[str(f)] = sig
                log.error("follow: %s (skipped until the file changes)", e)
        self.passes += 1
        return n

    def _ingest_file(self, f: Path, st: os.stat_result) -> int:
        key = source_key(f"file:{f}")
        off = self._offset(key)
        if off.done and off.size == st.st_size and off.mtime_ns == st.st_mtime_ns:
            return 0
        kind = _kind(f)
        if kind == "parquet":
            return self._parquet(f, st, key, off)
        return self._text(f, st, key, off, kind)

    def _commit(
        self, frame, f: Path, key: bytes, off: FileOffset, first_row: int, label=None
    ) -> int:
        r = self.segmenter.ingest(
            frame,
            source=str(f),
            kind="follow",
            offset=(key, off.encode()),
            defer_assign=self.defer_assign,
            row_label=label or (lambda i, s=first_row: f"row {s + i + 1}"),
        )
        return r.received

    def _parquet(self, f: Path, st: os.stat_result, key: bytes, off: FileOffset) -> int:
        changed = off.size not in (-1, st.st_size) or off.mtime_ns not in (-1, st.st_mtime_ns)
        start = 0 if changed else off.rows
        try:
            df = pl.read_parquet(f)
        except Exception as e:  # noqa: BLE001 - a file being written, or a broken one
            if time.time() - st.st_mtime < 30:
                raise _NotReady from None
            raise UserError(f"unreadable Parquet file ({str(e).splitlines()[0]})", path=f) from None
        n = 0
        if start >= df.height:
            self._mark_done(key, df.height, st)
            return 0
        for s in range(start, df.height, self.chunk_rows):
            chunk = df.slice(s, self.chunk_rows)
            done = s + chunk.height
            new = FileOffset(done, 0, st.st_size, st.st_mtime_ns, done >= df.height)
            n += self._commit(chunk, f, key, new, s)
        return n

    def _mark_done(self, key: bytes, rows: int, st: os.stat_result) -> None:
        with self.segmenter.store.transaction() as tx:
            tx.put(META_NS, key, FileOffset(rows, 0, st.st_size, st.st_mtime_ns, True).encode())

    def _text(self, f: Path, st: os.stat_result, key: bytes, off: FileOffset, kind: str) -> int:
        size = st.st_size
        n = 0
        rows, pos = off.rows, off.bytes
        if size < pos:  # truncated or replaced: read again (duplicates are skipped)
            rows, pos = 0, 0
        with open(f, "rb") as fh:
            header = b""
            if kind == "csv":
                header = fh.readline()
                if not header.endswith(b"\n"):
                    raise _NotReady
                pos = max(pos, len(header))
            while pos < size and not self._stop.is_set():
                fh.seek(pos)
                data = fh.read(min(MAX_CHUNK_BYTES, size - pos))
                cut = data.rfind(b"\n")
                if cut < 0:
                    break  # an incomplete last line: wait for the rest
                data = data[: cut + 1]
                lines = data.count(b"\n")
                if kind == "csv":
                    frame = self._csv(f, header + data)
                    label = None
                else:
                    recs, lab = parse_json_body(data, ndjson=True, source=str(f))
                    frame = records_frame(recs, source=str(f), row_label=lab)

                    def label(i, lab=lab, base=rows):
                        return f"line {base + int(lab(i).split()[1])}"

                end = pos + len(data)
                new = FileOffset(rows + lines, end, size, st.st_mtime_ns, end >= size)
                n += self._commit(frame, f, key, new, rows, label)
                rows, pos = rows + lines, end
        return n

    @staticmethod
    def _csv(f: Path, data: bytes) -> pl.DataFrame:
        sep = "\t" if f.name.lower().endswith(".tsv") else ","
        try:
            return pl.read_csv(
                io.BytesIO(data), separator=sep, infer_schema_length=10_000, try_parse_dates=False
            )
        except Exception as e:  # noqa: BLE001
            raise UserError(f"unreadable CSV ({str(e).splitlines()[0]})", path=f) from None

    # ------------------------------------------------------------------ thread
    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
                self.status()
            except Exception as e:  # keep following; say why
                log.error("follow %s: %s", self.path, e)
            self._stop.wait(self.poll_s)

    def start(self) -> Follower:
        self._thread = threading.Thread(target=self.run, name="live-follow", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


class _NotReady(Exception):
    """The file is still being written; try again at the next pass."""
