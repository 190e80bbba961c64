"""The model registry: ``ROOT/models/<version>/`` plus an atomic ``CURRENT`` pointer.

Each nightly run writes one model version named after its date (``2026-11-24``); a
re-run of that date replaces it atomically (same inputs give the same model, see
docs/pipeline.md).  Each manifest names its ``parent`` version, so the registry is a
chain.  ``models/CURRENT`` holds the name of the newest version and is replaced via
temp + rename, so a reader sees the old pointer or the new one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

from archetype._atomic import TMP_PREFIX, atomic_file
from archetype.errors import UserError
from archetype.pipeline.model import CENTROIDS, MANIFEST, SegmentModel

log = logging.getLogger(__name__)
CURRENT = "CURRENT"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_version(version: str) -> str:
    """A version name is one plain path component (no ``/``, ``..``, leading dot)."""
    if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
        raise UserError(f"{version!r} is not a model version name (like 2026-11-24)")
    return version


def version_for(date: dt.date) -> str:
    """The version name of the model a run of ``date`` writes."""
    return date.isoformat()


class Registry:
    """Model versions under ``root/models``.

    Parameters
    ----------
    root : path
        The pipeline root (not the ``models`` folder).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "models"

    def path(self, version: str) -> Path:
        return self.dir / check_version(version)

    def versions(self) -> list[str]:
        """Complete versions (manifest and centroids present), oldest date first."""
        return [v for v in self.all_versions()
                if (self.dir / v / MANIFEST).is_file() and (self.dir / v / CENTROIDS).is_file()]

    def all_versions(self) -> list[str]:
        """Every version directory, readable or not (temp dirs excluded), oldest first."""
        if not self.dir.is_dir():
            return []
        out = [p.name for p in self.dir.iterdir()
               if p.is_dir() and not p.name.startswith(TMP_PREFIX) and _VERSION.match(p.name)]
        return sorted(out, key=lambda v: (self._date_of(v), v))

    def _date_of(self, version: str) -> str:
        """The manifest's date; a version named like a date when the manifest is broken."""
        try:
            doc = json.loads((self.dir / version / MANIFEST).read_text())
            d = doc.get("date") if isinstance(doc, dict) else None
            if isinstance(d, str) and d:
                return d
        except (OSError, ValueError):
            pass
        return version if _ISO.match(version) else ""

    def manifest(self, version: str) -> dict[str, Any]:
        mf = self.path(version) / MANIFEST
        if not mf.is_file():
            raise UserError(
                f"no model version {version!r} (known: {', '.join(self.versions()) or 'none'})",
                path=self.dir,
            )
        try:
            doc = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"unreadable manifest: {e}", path=mf) from None
        if not isinstance(doc, dict):
            raise UserError(f"invalid model manifest: expected a JSON object, got "
                            f"{type(doc).__name__}", path=mf)
        return doc

    def load(self, version: str) -> SegmentModel:
        if not (self.path(version) / MANIFEST).is_file():
            self.manifest(version)  # raises the helpful error
        return SegmentModel.load(self.path(version))

    def latest_before(self, date: dt.date, *, fallback: bool = False) -> SegmentModel | None:
        """The model of the latest date strictly before ``date`` (``None`` when none).

        A broken latest model is an error naming it (a run must not silently warm-start
        from an older one); with ``fallback=True`` it is skipped, with a warning, for the
        newest readable older one, and the skipped versions are in :attr:`skipped`.
        """
        self.skipped: list[str] = []
        older = [v for v in self.all_versions()
                 if self._date_of(v) and self._date_of(v) < date.isoformat()]
        for v in reversed(older):
            try:
                return self.load(v)
            except UserError as e:
                if not fallback:
                    raise UserError(
                        f"{e} (the latest model before {date}: restore or remove it, or "
                        "pass --fallback-model to warm-start from the newest readable "
                        "older model)") from None
                log.warning("skipping broken model %s: %s", v, e)
                self.skipped.append(v)
        return None

    def save(self, model: SegmentModel) -> Path:
        """Write ``model`` as ``models/<model.version>`` (atomic, replaces a re-run's)."""
        if not model.version:
            raise ValueError("model.version must be set before saving")
        return model.save(self.path(model.version), overwrite=True)

    def current(self) -> str | None:
        """The version ``models/CURRENT`` points to, if any."""
        p = self.dir / CURRENT
        if not p.is_file():
            return None
        try:
            v = p.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return v if v and _VERSION.match(v) else None

    def set_current(self, version: str) -> None:
        """Point ``CURRENT`` at ``version`` unless it already points at a later date."""
        cur = self.current()
        if (cur and cur != version and (self.path(cur) / MANIFEST).is_file()
                and self._date_of(cur) > self._date_of(version)):
            return
        with atomic_file(self.dir / CURRENT) as tmp:
            tmp.write_text(version + "\n")

    def summary(self) -> list[dict[str, Any]]:
        """One row per version for ``archetype models list``."""
        cur = self.current()
        rows = []
        for v in self.all_versions():
            try:
                m = self.load(v).manifest()
            except UserError as e:
                rows.append({"version": v, "error": str(e), "current": v == cur})
                continue
            metrics = m.get("metrics") or {}
            drift = metrics.get("drift") if isinstance(metrics.get("drift"), dict) else {}
            rows.append({
                "version": v,
                "date": m.get("date"),
                "parent": m.get("parent"),
                "k": m.get("k"),
                "backend": m.get("backend"),
                "device": m.get("device"),
                "inertia": metrics.get("inertia"),
                "customers": metrics.get("customers"),
                "share_moved": drift.get("share_moved"),
                "config_hash": (m.get("config_hash") or "")[:12],
                "current": v == cur,
            })
        return rows
