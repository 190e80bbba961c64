"""``forget`` that holds (issue 11, defect 3): every root, wrong keys, crashes, next nights.

Each test fails on the code before the fix: a root where pseudonymization was switched on
later aborted or removed only the raw-id rows; a wrong key or a missing one removed 0 rows
and "succeeded"; a crash mid-forget left hidden copies (or lost a partition); the next run
re-added the customer; manifests kept the old counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from archetype.errors import UserError
from archetype.pipeline.erasure import forget
from archetype.pipeline.layout import PART, Layout
from archetype.pipeline.model import SegmentModel
from archetype.pipeline.privacy import pseudonym
from archetype.pipeline.records import is_complete, read_record
from archetype.pipeline.run import run_date

from .conftest import DATES, ToyEngine

KEY = "s3cret-key-for-tests-0123456789"
CRASH_ENV = "ARCHETYPE_TEST_FORGET_CRASH_AFTER"  # archetype.pipeline.erasure.CRASH_ENV


@pytest.fixture
def keyed(toy, monkeypatch):
    cfg, engine, ev = toy
    monkeypatch.setenv("TEST_ID_KEY", KEY)
    return dataclasses.replace(cfg, pseudonymize=True, key_env="TEST_ID_KEY")


def _ids_file(tmp_path: Path, ids, name="gone.txt") -> Path:
    f = tmp_path / name
    f.write_text("\n".join(map(str, ids)) + "\n")
    return f


def _stored_ids(root: Path) -> list:
    """Every customer id in every Parquet file under ``root``, hidden ones included."""
    out = []
    for f in root.rglob("*.parquet"):
        df = pl.read_parquet(f)
        for c in ("customer_id",):
            if c in df.columns:
                out += df[c].cast(pl.String).to_list()
    return out


def test_forget_after_pseudonymization_was_switched_on(toy, keyed, tmp_path):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)  # raw Int64 ids
    run_date(keyed, DATES[1], engine=engine)  # pseudonyms from now on
    gone = [7, 8]
    rep = forget(cfg.out, _ids_file(tmp_path, gone), key=KEY.encode())
    assert rep.ids_found == 2 and rep.not_found == 0
    lay = Layout(cfg.out)
    raw0 = pl.read_parquet(lay.assignments(DATES[0]) / PART)["customer_id"]
    ps1 = pl.read_parquet(lay.assignments(DATES[1]) / PART)["customer_id"]
    assert not raw0.is_in(gone).any() and raw0.len() == 398
    assert not ps1.is_in([pseudonym(KEY.encode(), g) for g in gone]).any() and ps1.len() == 398
    for d in DATES[:2]:
        assert rep.removed[f"features/date={d.isoformat()}"] == 2
        assert is_complete(lay, d)


def test_wrong_key_or_no_key_is_an_error_and_changes_nothing(keyed, tmp_path):
    engine = ToyEngine()
    run_date(keyed, DATES[0], engine=engine)
    ids = _ids_file(tmp_path, [1, 2])
    lay = Layout(keyed.out)
    before = pl.read_parquet(lay.assignments(DATES[0]) / PART)
    with pytest.raises(UserError, match="not the key this root"):
        forget(keyed.out, ids, key=b"another-key-of-enough-length")
    with pytest.raises(UserError, match="holds pseudonymized ids: pass the key"):
        forget(keyed.out, ids)
    assert pl.read_parquet(lay.assignments(DATES[0]) / PART).equals(before)
    assert not (lay.root / "privacy" / "suppressed.parquet").exists()
    # and a later run with another key stops before writing anything
    bad = dataclasses.replace(keyed)
    os.environ["TEST_ID_KEY"] = "another-key-of-enough-length"
    with pytest.raises(UserError, match="not the key this root"):
        run_date(bad, DATES[1], engine=engine)
    assert read_record(lay, DATES[1]) is None


def test_forget_that_matches_nothing_is_an_error_unless_allowed(toy, tmp_path):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)
    ids = _ids_file(tmp_path, [999_999, "abc"])
    with pytest.raises(UserError, match="none of the 2 ids is stored here"):
        forget(cfg.out, ids)
    rep = forget(cfg.out, ids, allow_missing=True)
    assert rep.not_found == 2 and rep.suppressed_added == 2 and rep.total == 0
    # forgetting the same stored ids twice: the second time they are "already forgotten"
    ids = _ids_file(tmp_path, [3, 4], "b.txt")
    assert forget(cfg.out, ids).ids_found == 2
    again = forget(cfg.out, ids)
    assert again.total == 0 and again.already_forgotten == 2


@pytest.mark.parametrize("pseudo", [False, True])
def test_next_night_does_not_bring_the_customer_back(toy, keyed, tmp_path, pseudo):
    cfg = keyed if pseudo else toy[0]
    engine = ToyEngine(supports_id_map=pseudo)
    for d in DATES[:2]:
        run_date(cfg, d, engine=engine)
    key = KEY.encode() if pseudo else None
    forget(cfg.out, _ids_file(tmp_path, [5, 6]), key=key)
    rec = run_date(cfg, DATES[2], engine=engine)  # the event log still has them
    lay = Layout(cfg.out)
    want = [pseudonym(key, v) for v in (5, 6)] if pseudo else [5, 6]
    for f in (
        lay.assignments(DATES[2]) / PART,
        lay.features(DATES[2]) / "ids.parquet",
        lay.features(DATES[2]) / "features.parquet",
    ):
        ids = pl.read_parquet(f)["customer_id"]
        assert not ids.is_in(want).any() and ids.len() == 398, f
    emb = np.load(lay.features(DATES[2]) / "embedding.npy")
    assert emb.shape[0] == 398 and rec["suppressed"] == 2
    mf = json.loads((lay.features(DATES[2]) / "manifest.json").read_text())
    assert mf["suppressed"] == 2
    # the suppression list is hashed: no raw id in it
    sup = pl.read_parquet(lay.root / "privacy" / "suppressed.parquet")
    assert not sup["hash"].is_in(["5", "6"]).any() and sup.height == 2


def test_backfill_assign_only_honours_the_suppression_list(toy, tmp_path):
    from archetype.pipeline.history import backfill_assign

    cfg, engine, _ = toy
    for d in DATES[:2]:
        run_date(cfg, d, engine=engine)
    forget(cfg.out, _ids_file(tmp_path, [9]))
    backfill_assign(cfg, DATES[0], DATES[2], "2026-03-01", engine=ToyEngine(), force=True)
    for d in DATES:
        a = pl.read_parquet(Layout(cfg.out).assignments(d) / PART)
        assert not a["customer_id"].is_in([9]).any()


def test_manifest_counts_follow_the_forget(toy, tmp_path):
    cfg, engine, _ = toy
    for d in DATES[:2]:
        run_date(cfg, d, engine=engine)
    forget(cfg.out, _ids_file(tmp_path, [1, 2, 3]))
    lay = Layout(cfg.out)
    for d in DATES[:2]:
        a = pl.read_parquet(lay.assignments(d) / PART)
        m = SegmentModel.load(lay.models / d.isoformat())
        assert m.metrics["customers"] == a.height == 397
        sizes = a.group_by("segment_id").len()
        assert m.metrics["sizes"] == {str(s): n for s, n in sizes.iter_rows()} | {
            str(s): 0 for s in m.segment_ids if s not in sizes["segment_id"].to_list()
        }
        assert m.metrics["inertia"] == pytest.approx(float(a["distance"].cast(pl.Float64).sum()))
        fm = json.loads((lay.features(d) / "manifest.json").read_text())
        assert fm.get("n_customers", 397) == 397


def test_corrupt_partition_is_named_and_nothing_changes(toy, tmp_path):
    cfg, engine, _ = toy
    for d in DATES[:2]:
        run_date(cfg, d, engine=engine)
    lay = Layout(cfg.out)
    (lay.transitions(DATES[1]) / PART).write_bytes(b"PAR1 truncated")
    before = pl.read_parquet(lay.assignments(DATES[0]) / PART)
    with pytest.raises(UserError, match="unreadable partition.*transitions/date=2026-03-02"):
        forget(cfg.out, _ids_file(tmp_path, [1]))
    assert pl.read_parquet(lay.assignments(DATES[0]) / PART).equals(before)


def test_non_utf8_ids_file_is_a_user_error(toy, tmp_path):
    cfg, engine, _ = toy
    run_date(cfg, DATES[0], engine=engine)
    f = tmp_path / "ids.txt"
    f.write_bytes(b"1\n\xff\xfe2\n")
    with pytest.raises(UserError, match="not UTF-8"):
        forget(cfg.out, f)


CRASHING_FORGET = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    root = Path(sys.argv[1]).absolute()
    real = os.replace
    def replace(src, dst):
        real(src, dst)
        # the pre-fix code moved a partition aside before renaming the new one in
        if Path(src).parent.parent == root and Path(src).name.startswith("date="):
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    from archetype.pipeline.erasure import forget
    forget(root, sys.argv[2])
""")


def test_kill_9_mid_forget_then_rerun_completes_without_hidden_copies(
    toy, tmp_path, tmp_path_factory
):
    cfg, engine, _ = toy
    for d in DATES:
        run_date(cfg, d, engine=engine)
    ref = dataclasses.replace(cfg, out=tmp_path_factory.mktemp("ref") / "root")
    for d in DATES:
        run_date(ref, d, engine=ToyEngine())
    ids = _ids_file(tmp_path, [11, 12])
    forget(ref.out, ids)  # the uninterrupted result
    p = subprocess.run(
        [sys.executable, "-c", CRASHING_FORGET, str(cfg.out), str(ids)],
        env={**os.environ, CRASH_ENV: "4"},
        capture_output=True,
        timeout=300,
    )
    assert p.returncode == -signal.SIGKILL, p.stderr.decode()
    rep = forget(cfg.out, ids)  # the re-run finishes it
    lay, rlay = Layout(cfg.out), Layout(ref.out)
    for d in DATES:  # no date lost, each equal to the uninterrupted forget
        assert pl.read_parquet(lay.assignments(d) / PART).equals(
            pl.read_parquet(rlay.assignments(d) / PART)
        )
        assert pl.read_parquet(lay.features(d) / "ids.parquet").equals(
            pl.read_parquet(rlay.features(d) / "ids.parquet")
        )
        assert is_complete(lay, d)
    assert not [p for p in cfg.out.rglob(".tmp-*")]
    assert not {"11", "12"} & set(_stored_ids(cfg.out))
    assert rep.ids_found + rep.already_forgotten == 2
