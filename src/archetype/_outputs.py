"""What an output is, and whether a command may replace it: the rule, in one place.

A command never deletes or replaces anything it did not create.  Each output a user names
with ``--out`` has a *kind* (feature directory, model directory, assignments file, ...):

* ``--out`` that does not exist: written.
* an empty directory: written (nothing is lost).
* a previous output of the same kind: replaced only with ``overwrite=True``
  (``--overwrite``); otherwise one line, exit 2.
* anything else (your events folder, an input file, a directory holding files archetype
  did not write, a link, the current directory): one line, exit 2, untouched, whatever
  the flags.

A directory output is recognized by its marker ``.archetype.json`` (``{"kind": ...}``,
written into every directory output), or, for outputs written before markers existed,
by holding nothing but the files its kind writes.  A file output is recognized by its
content: Parquet key-value metadata ``archetype_kind``, the ``<!-- archetype:report -->``
line of an HTML report, or the keys of a JSON document.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archetype.errors import UserError

MARKER = ".archetype.json"
PARQUET_KEY = "archetype_kind"
HTML_MARK = "<!-- archetype:report -->"


def _json_keys(*keys: str) -> Callable[[Path], bool]:
    def sniff(p: Path) -> bool:
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and (
            doc.get(PARQUET_KEY) is not None or all(k in doc for k in keys)
        )

    return sniff


def _parquet(kind: str, legacy_columns: tuple[str, ...] = ()) -> Callable[[Path], bool]:
    def sniff(p: Path) -> bool:
        import polars as pl

        try:
            meta = pl.read_parquet_metadata(p)
            if meta.get(PARQUET_KEY) == kind:
                return True
            return bool(legacy_columns) and tuple(pl.read_parquet_schema(p)) == legacy_columns
        except Exception:  # not Parquet at all
            return False

    return sniff


def _html(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            head = fh.read(512)
            fh.seek(max(0, p.stat().st_size - 512))
            tail = fh.read()
    except OSError:
        return False
    return HTML_MARK.encode() in tail or HTML_MARK.encode() in head


@dataclass(frozen=True)
class OutputKind:
    """One kind of output: what it is called and how to recognize a previous one."""

    what: str  # "a feature directory": used in messages
    is_dir: bool
    files: frozenset[str] = field(default_factory=frozenset)  # entries a dir kind may hold
    required: frozenset[str] = field(default_factory=frozenset)  # legacy recognition
    sniff: Callable[[Path], bool] | None = None  # file kinds
    replaced: bool = True  # False: written into, never replaced whole (pipeline root)


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


KINDS: dict[str, OutputKind] = {
    "features": OutputKind(
        "a feature directory",
        True,
        _fs("features.parquet", "ids.parquet", "embedding.npy", "transform.json", "manifest.json"),
        _fs("ids.parquet", "embedding.npy", "transform.json"),
    ),
    "model": OutputKind(
        "a model directory",
        True,
        _fs("manifest.json", "centroids.npy"),
        _fs("manifest.json", "centroids.npy"),
    ),
    "synth": OutputKind(
        "a synth output",
        True,
        _fs("events", "truth.parquet", "manifest.json"),
        _fs("events", "truth.parquet"),
    ),
    "demo": OutputKind(
        "an archetype demo directory",
        True,
        _fs(
            "events",
            "features",
            "model",
            "report.html",
            "assignments.parquet",
            "truth.parquet",
            "demo.json",
            "manifest.json",
        ),
        _fs("demo.json"),
    ),
    "sweep": OutputKind(
        "a sweep directory", True, _fs("sweep.json", "sweep.png"), _fs("sweep.json")
    ),
    "pipeline": OutputKind(
        "an archetype pipeline root",
        True,
        _fs(
            "features",
            "models",
            "assignments",
            "transitions",
            "reports",
            "runs",
            "privacy",
            ".lock",
        ),
        frozenset(),
        replaced=False,
    ),
    "assignments": OutputKind(
        "an assignments file written by archetype",
        False,
        sniff=_parquet("assignments", ("customer_id", "segment_id", "distance", "margin")),
    ),
    "report": OutputKind("an HTML report written by archetype", False, sniff=_html),
    "profiles": OutputKind(
        "a profiles file written by archetype",
        False,
        sniff=_json_keys("segments", "population", "feature_names"),
    ),
    "profiles-parquet": OutputKind(
        "a profiles file written by archetype", False, sniff=_parquet("profiles")
    ),
    "replay": OutputKind(
        "a triggers replay directory",
        True,
        _fs("firings.parquet", "exposures.parquet", "uplift.parquet", "summary.json"),
        _fs("firings.parquet", "exposures.parquet", "summary.json"),
    ),
    "uplift": OutputKind(
        "an uplift table written by archetype",
        False,
        sniff=_json_keys("confidence", "rows"),
    ),
    "bench": OutputKind(
        "a benchmark result written by archetype",
        False,
        sniff=_json_keys("schema_version", "suite", "records", "machine"),
    ),
}


def marker_kind(path: Path) -> str | None:
    """The kind named by ``path``'s marker file, if it has a readable one."""
    try:
        doc = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("kind") if isinstance(doc, dict) else None


def write_marker(path: Path, kind: str) -> None:
    """Mark directory ``path`` as an output of ``kind``."""
    from archetype import __version__

    (path / MARKER).write_text(
        json.dumps(
            {
                "kind": kind,
                "archetype": __version__,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        + "\n"
    )


def _legacy(kind: str, k: OutputKind, entries: set[str]) -> bool:
    """An output written before markers existed: only its kind's files (and the required
    ones); a pipeline root is one that has run records or models (other files allowed:
    nothing in a root is ever replaced whole)."""
    if kind == "pipeline":
        return bool({"runs", "models"} & entries) or entries <= k.files
    return k.required <= entries and entries <= k.files


def _sample(names: set[str] | list[str]) -> str:
    names = sorted(names)
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _writable_ancestor(path: Path) -> None:
    p = path.parent
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise UserError(f"cannot create {path.name!r} here: {p} is not a directory", path=path)
    if not os.access(p, os.W_OK | os.X_OK):
        raise UserError(f"cannot write here: permission denied on {p}", path=path)


def _is_cwd_or_above(path: Path) -> bool:
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    real = path.resolve()
    return real == cwd or real in cwd.parents


def check_output(
    target: str | Path, kind: str, *, overwrite: bool = False, appeared: bool = False
) -> None:
    """Raise :class:`UserError` unless writing ``target`` as ``kind`` destroys nothing.

    ``appeared=True`` is the re-check made just before the final rename (the target was
    created by someone else while this command ran).
    """
    k = KINDS[kind]
    p = Path(os.path.abspath(target))
    if _is_cwd_or_above(p) and k.replaced:
        raise UserError("is the current directory (or holds it); choose a new --out", path=p)
    if not os.path.lexists(p):
        _writable_ancestor(p)
        return
    if p.is_symlink():
        raise UserError(
            "is a symbolic link; archetype will not replace it (choose another --out)", path=p
        )
    if k.is_dir:
        if not p.is_dir():
            raise UserError(
                f"exists and is a file, not a directory ({k.what} was asked "
                "for); choose another --out",
                path=p,
            )
        entries = set(os.listdir(p))
        if not entries:
            return
        mine = marker_kind(p) == kind or (MARKER not in entries and _legacy(kind, k, entries))
        if not mine:
            raise UserError(
                f"exists and is not {k.what} (it holds {_sample(entries)}); "
                "choose another --out: archetype never replaces what it did "
                "not write",
                path=p,
            )
        foreign = entries - k.files - {MARKER}
        if foreign and k.replaced:
            raise UserError(
                f"holds files archetype did not write ({_sample(foreign)}); "
                "move them or choose another --out",
                path=p,
            )
    else:
        if p.is_dir():
            raise UserError(f"is a directory; --out should name a file ({k.what})", path=p)
        if k.sniff is None or not k.sniff(p):
            raise UserError(
                f"exists and is not {k.what}; choose another --out: archetype "
                "never replaces what it did not write",
                path=p,
            )
    if not k.replaced:
        return
    if not overwrite:
        why = (
            "appeared while this command ran; nothing written"
            if appeared
            else f"exists ({k.what.split(' ', 1)[1]} from an earlier run)"
        )
        raise UserError(f"{why}; pass --overwrite to replace it", path=p)
    _writable_ancestor(p)


def claim_root(root: str | Path) -> None:
    """Check (and mark) a pipeline root: a new, empty or earlier pipeline directory."""
    root = Path(root)
    check_output(root, "pipeline")
    if root.is_dir() and not (root / MARKER).exists():
        from archetype._atomic import make_private

        write_marker(root, "pipeline")
        make_private(root / MARKER)
