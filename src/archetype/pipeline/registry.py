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
from pathlib import Path
from typing import Any

from archetype._atomic import TMP_PREFIX, atomic_file
from archetype.errors import UserError
from archetype.pipeline.model import CENTROIDS, MANIFEST, SegmentModel

CURRENT = "CURRENT"


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
        return self.dir / version

    def versions(self) -> list[str]:
        """Complete versions (manifest and centroids present), oldest date first."""
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.iterdir():
            if (p.is_dir() and not p.name.startswith(TMP_PREFIX)
                    and (p / MANIFEST).is_file() and (p / CENTROIDS).is_file()):
                out.append(p.name)
        return sorted(out, key=lambda v: (self._date_of(v), v))

    def _date_of(self, version: str) -> str:
        try:
            return str(json.loads((self.dir / version / MANIFEST).read_text()).get("date") or "")
        except (OSError, ValueError):
            return ""

    def manifest(self, version: str) -> dict[str, Any]:
        mf = self.path(version) / MANIFEST
        if not mf.is_file():
            raise UserError(
                f"no model version {version!r} (known: {', '.join(self.versions()) or 'none'})",
                path=self.dir,
            )
        try:
            return json.loads(mf.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"unreadable manifest: {e}", path=mf) from None

    def load(self, version: str) -> SegmentModel:
        if not (self.path(version) / MANIFEST).is_file():
            self.manifest(version)  # raises the helpful error
        return SegmentModel.load(self.path(version))

    def latest_before(self, date: dt.date) -> SegmentModel | None:
        """The model of the latest date strictly before ``date`` (``None`` when none)."""
        best = None
        for v in self.versions():
            d = self._date_of(v)
            if d and d < date.isoformat():
                best = v
        return None if best is None else self.load(best)

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
        v = p.read_text().strip()
        return v or None

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
        for v in self.versions():
            m = self.manifest(v)
            metrics = m.get("metrics") or {}
            drift = metrics.get("drift") or {}
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
