"""No raw id on disk with ``pseudonymize = true``, spills included (issue 11, defect 2).

A log larger than ``partition_rows`` is spilled to disk while features are built.  Before
the fix the spill (raw events, raw ids) went to ``$TMPDIR/archetype-features-*`` and stayed
there after ``kill -9``, out of ``forget``'s reach.  Now it lives in a private (0700)
``.tmp-archetype-spill.*`` dir under ROOT, removed on every exit path, at the next start-up
and by ``forget``.  The test greps every file under ROOT and ``$TMPDIR`` (and reads every
Parquet/IPC file, since spills may be compressed) for the raw ids.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

KEY = "s3cret-key-for-tests-0123456789"
D = "2026-12-31"

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    if sys.argv[1] == "kill":  # die while the spill is on disk (building partition 1)
        import archetype.features.featureset as F
        F.customer_slices = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    from archetype.cli.main import main
    sys.argv = ["archetype", *sys.argv[2:]]
    main()
""")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from archetype.synth import generate

    base = tmp_path_factory.mktemp("spill")
    generate(base / "s", customers=300, days=60, seed=3)
    ev = pl.read_parquet(base / "s" / "events" / "**" / "*.parquet")
    ev = ev.with_columns(pl.format("cust-{}-rawid", pl.col("customer_id")).alias("customer_id"))
    ev.write_parquet(base / "events.parquet")
    raw = sorted(set(ev["customer_id"].to_list()))
    (base / "c.toml").write_text("[features]\npartition_rows = 1000\n")  # 3 spill partitions
    return base, raw


def _run(base: Path, root: Path, tmpdir: Path, mode: str) -> subprocess.CompletedProcess:
    args = [
        "run",
        "--config",
        str(base / "c.toml"),
        "--events",
        str(base / "events.parquet"),
        "--out",
        str(root),
        "--k",
        "3",
        "--date",
        D,
        "--pseudonymize",
        "--key-env",
        "TEST_ID_KEY",
        "--no-report",
        "-q",
    ]
    env = {**os.environ, "TMPDIR": str(tmpdir), "TEST_ID_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _files(*dirs: Path, skip: Path | None = None) -> list[Path]:
    out = []
    for d in dirs:
        for f in d.rglob("*"):
            if f.is_file() and not (skip is not None and skip in f.parents):
                out.append(f)
    return out


def _leaks(files: list[Path], raw: list[str]) -> list[str]:
    """Files holding a raw id: as bytes, or in a column once read (spills are compressed)."""
    probes = [r.encode() for r in raw[:50]]
    want = set(raw)
    found = []
    for f in files:
        blob = f.read_bytes()
        if any(p in blob for p in probes):
            found.append(str(f))
            continue
        for reader in (pl.read_ipc, pl.read_parquet):
            try:
                df = reader(f)
            except Exception:
                continue
            for c, dt in df.schema.items():
                if dt == pl.String and want & set(df[c].drop_nulls().to_list()):
                    found.append(str(f))
            break
    return found


def _spills(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-archetype-spill*")]


@pytest.mark.slow
def test_kill_9_mid_spill_leaks_nothing_and_the_next_start_cleans_up(world, tmp_path):
    base, raw = world
    root, tmpdir = tmp_path / "root", tmp_path / "tmpdir"
    tmpdir.mkdir()
    p = _run(base, root, tmpdir, "kill")
    assert p.returncode == -signal.SIGKILL, p.stderr
    # nothing in $TMPDIR; the spill is a private dir under ROOT, and nothing outside it
    assert _leaks(_files(tmpdir), raw) == []
    spills = _spills(root)
    assert len(spills) == 1 and (spills[0].stat().st_mode & 0o777) == 0o700
    assert list(spills[0].rglob("*.ipc")), "the kill should come while the spill is on disk"
    assert _leaks(_files(root, skip=spills[0]), raw) == []
    # forget reaches it (the customer asked to be forgotten before any night completed)
    ids = tmp_path / "gone.txt"
    ids.write_text(raw[0] + "\n")
    env = {**os.environ, "TEST_ID_KEY": KEY}
    f = subprocess.run(
        [
            sys.executable,
            "-m",
            "archetype",
            "forget",
            "--ids",
            str(ids),
            "--root",
            str(root),
            "--pseudonymize",
            "--key-env",
            "TEST_ID_KEY",
            "--allow-missing",
            "-q",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert f.returncode == 0, f.stderr
    assert _spills(root) == []
    # a killed run again, then a complete one: its start-up removes the spill
    assert _run(base, root, tmpdir, "kill").returncode == -signal.SIGKILL
    p = _run(base, root, tmpdir, "ok")
    assert p.returncode == 0, p.stderr
    assert _spills(root) == [] and not list(root.rglob(".tmp-*"))
    assert _leaks(_files(root, tmpdir), raw) == []
    # the run really partitioned (spilled), and the forgotten customer stayed out
    mf = pl.read_parquet(root / "assignments" / f"date={D}" / "part-0.parquet")
    assert mf.height == len(raw) - 1
    rec = (root / "runs" / f"{D}.json").read_text()
    assert '"suppressed": 1' in rec


def test_spill_dir_is_private_and_removed_on_error(tmp_path, monkeypatch):
    """Library level: the spill of compute_feature_dir sits next to the output, 0700, and
    is gone after an exception (no $TMPDIR involved)."""
    import datetime as dt

    import archetype.features.featureset as F
    from archetype.features import compute_feature_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path / "nowhere"))
    n = 3000
    pl.DataFrame(
        {
            "customer_id": [f"c{i % 300}-rawid" for i in range(n)],
            "ts": [dt.datetime(2026, 1, 1) + dt.timedelta(hours=i) for i in range(n)],
            "event_type": ["view"] * n,
        }
    ).write_parquet(tmp_path / "ev.parquet")
    seen = []

    def boom(frame, k):
        seen.extend(
            (p, p.stat().st_mode & 0o777)
            for p in (tmp_path / "out").parent.iterdir()
            if p.name.startswith(".tmp-archetype-spill")
        )
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(F, "customer_slices", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        compute_feature_dir(
            tmp_path / "ev.parquet",
            dt.date(2026, 6, 1),
            tmp_path / "out",
            config={"partition_rows": 1000},
        )
    assert len(seen) == 1 and seen[0][1] == 0o700
    assert not seen[0][0].exists() and not (tmp_path / "nowhere").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
