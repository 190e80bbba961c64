import datetime as dt

import numpy as np

from archetype.pipeline.model import SegmentModel
from archetype.pipeline.registry import Registry, version_for


def _model(day: dt.date, parent=None) -> SegmentModel:
    return SegmentModel(np.eye(3, dtype=np.float32) * day.day, ["a", "b", "c"], {"kind": "t"},
                        version=version_for(day), parent=parent, date=day.isoformat(),
                        metrics={"inertia": 1.0, "customers": 5})


def test_latest_before_and_chain(tmp_path):
    reg = Registry(tmp_path)
    days = [dt.date(2026, 1, d) for d in (3, 1, 2)]  # saved out of order
    for d in days:
        reg.save(_model(d))
    assert reg.versions() == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert reg.latest_before(dt.date(2026, 1, 3)).version == "2026-01-02"
    assert reg.latest_before(dt.date(2026, 1, 1)) is None
    assert reg.latest_before(dt.date(2027, 1, 1)).version == "2026-01-03"
    # a half-written temp dir is never a version
    (reg.dir / ".tmp-2026-01-04.1.abc").mkdir()
    assert len(reg.versions()) == 3


def test_current_pointer_moves_forward_only(tmp_path):
    reg = Registry(tmp_path)
    for d in (1, 2):
        reg.save(_model(dt.date(2026, 1, d)))
    assert reg.current() is None
    reg.set_current("2026-01-02")
    reg.set_current("2026-01-01")  # re-running an older date keeps CURRENT on the newest
    assert reg.current() == "2026-01-02"
    assert (reg.dir / "CURRENT").read_text() == "2026-01-02\n"
    assert [p.name for p in reg.dir.iterdir() if p.name.startswith(".tmp")] == []
    rows = reg.summary()
    assert [r["current"] for r in rows] == [False, True]
    assert rows[0]["customers"] == 5
