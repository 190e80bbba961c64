"""Where everything lives under a pipeline ROOT.

::

    ROOT/
      .lock                      held by the running process (fcntl; gone when it dies)
      features/date=YYYY-MM-DD/  features.parquet, ids.parquet, embedding.npy, transform.json,
                                 manifest.json
      models/<version>/          manifest.json + centroids.npy   (version = the run's date)
      models/CURRENT             the current version's name (replaced atomically)
      assignments/date=.../      part-0.parquet: customer_id, segment_id, distance, margin,
                                 previous_segment_id
      transitions/date=.../      part-0.parquet (customers who moved) + migration.parquet
      reports/YYYY-MM-DD.html    the segment report (when [pipeline] report = true)
      runs/YYYY-MM-DD.json       run record: what ran, timings, counts, status
      privacy/                   key.json (key fingerprint), suppressed.parquet (forgotten)
      .archetype.json            marks ROOT as a pipeline root (see archetype._outputs)
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from archetype._atomic import TMP_PREFIX

PART = "part-0.parquet"
KINDS = ("features", "assignments", "transitions")  # folders of date partitions
MIGRATION = "migration.parquet"
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class Layout:
    """Paths of one pipeline root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def features(self, date: dt.date) -> Path:
        return self.root / "features" / f"date={date.isoformat()}"

    def assignments(self, date: dt.date) -> Path:
        return self.root / "assignments" / f"date={date.isoformat()}"

    def transitions(self, date: dt.date) -> Path:
        return self.root / "transitions" / f"date={date.isoformat()}"

    def report(self, date: dt.date) -> Path:
        return self.root / "reports" / f"{date.isoformat()}.html"

    def run_record(self, date: dt.date) -> Path:
        return self.runs / f"{date.isoformat()}.json"

    def partition_dates(self, kind: str) -> list[dt.date]:
        """Dates of the complete (non-temp) partitions of ``kind`` (features, assignments, ...)."""
        base = self.root / kind
        if not base.is_dir():
            return []
        out = []
        for p in base.iterdir():
            if p.name.startswith(TMP_PREFIX) or not p.is_dir():
                continue
            m = _DATE_DIR.match(p.name)
            if m:
                out.append(dt.date.fromisoformat(m.group(1)))
        return sorted(out)
