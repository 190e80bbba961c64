"""Clean failure (issue 11, defects 5, 6, 8): signals, orphan workers, disk full, broken models.

Each test fails on the code before the fix: SIGTERM left the run record ``running``,
SIGINT printed nothing, ``backfill --assign-only --jobs 2`` workers outlived a killed
parent, a full disk in the report stage ended ``complete`` with exit 0, a corrupt latest
model was skipped silently, and a failed run left empty folders behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from archetype._atomic import DirLock
from archetype.cli.main import app
from archetype.pipeline.layout import Layout
from archetype.pipeline.records import is_complete, read_record

from . import conftest as toy

runner = CliRunner()
CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return toy.toy_cli_world(tmp_path, monkeypatch), tmp_path / "root"


def _run(events, root, date, *extra):
    return runner.invoke(
        app,
        [
            "run",
            "--events",
            str(events),
            "--out",
            str(root),
            "--k",
            "4",
            "--date",
            date,
            "-q",
            *extra,
        ],
    )


# ------------------------------------------------------------------ signals

SLOW_RUN = textwrap.dedent("""
    import importlib.util, sys, time
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("toyconf", sys.argv[1])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    flag = Path(sys.argv[2])

    class Slow(mod.ToyEngine):
        def fit(self, *a, **k):
            flag.write_text("fitting")
            time.sleep(120)

    import archetype.pipeline.run as R
    R.make_engine = lambda cfg: Slow()
    from archetype.cli.main import main
    sys.argv = ["archetype", "run", "--events", sys.argv[3], "--out", sys.argv[4], "--k", "4",
                "--date", "2026-03-01", "--no-report", "-q"]
    main()
""")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_marks_the_record_failed_and_says_so(setup, tmp_path, sig, code):
    events, root = setup
    flag = tmp_path / "flag"
    p = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, str(CONFTEST), str(flag), str(events), str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not flag.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), p.communicate()[1]
    p.send_signal(sig)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    name = signal.Signals(sig).name
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"interrupted by {name}" in lines[0], err
    rec = json.loads((root / "runs" / "2026-03-01.json").read_text())
    assert rec["status"] == "failed" and rec["error_kind"] == "interrupted"
    assert rec["exit_code"] == code and name in rec["error"]
    assert not list(root.rglob(".tmp-*"))
    with DirLock(root):  # the lock went with the process
        pass


# ------------------------------------------------------------------ orphan workers


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    """A real (LocalEngine) root with one model, over a small synthetic log."""
    from archetype.synth import generate

    base = tmp_path_factory.mktemp("workers")
    generate(base / "s", customers=400, days=60, seed=5)
    r = runner.invoke(
        app,
        [
            "run",
            "--events",
            str(base / "s" / "events"),
            "--out",
            str(base / "root"),
            "--k",
            "3",
            "--date",
            "2026-12-20",
            "--no-report",
            "-q",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    return base


def _workers(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [k for k in kids if "spawn_main" in " ".join(k.cmdline())]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_backfill_workers_die_with_their_parent(real_root, sig):
    base = real_root
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "archetype",
            "backfill",
            "--events",
            str(base / "s" / "events"),
            "--out",
            str(base / "root"),
            "--start",
            "2026-12-01",
            "--end",
            "2026-12-31",
            "--assign-only",
            "--model",
            "2026-12-20",
            "--jobs",
            "2",
            "--force",
            "-q",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 180
    seen: dict[int, psutil.Process] = {}
    try:
        while time.time() < deadline and p.poll() is None:
            seen.update((w.pid, w) for w in _workers(p.pid))
            if len(seen) >= 2:
                break
            time.sleep(0.1)
        assert len(seen) >= 2, p.communicate()[1]
        time.sleep(1.0)  # let them get to work
        seen.update((w.pid, w) for w in _workers(p.pid))
        p.send_signal(sig)
        _out, err = p.communicate(timeout=60)
        _gone, alive = psutil.wait_procs(list(seen.values()), timeout=30)
        assert not alive, f"{len(alive)} workers outlived their parent"
    finally:  # never leave a worker behind, whatever failed above
        if p.poll() is None:
            p.kill()
            p.wait()
        for w in seen.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                w.kill()
    if sig == signal.SIGTERM:
        assert p.returncode == 143 and "interrupted by SIGTERM" in err, err
    with DirLock(base / "root"):
        pass


# ------------------------------------------------------------------ disk full, broken models


def test_disk_full_in_the_report_stage_fails_the_run(setup, monkeypatch):
    events, root = setup

    def full(layout, date, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(layout.report(date)))

    monkeypatch.setattr("archetype.pipeline.run.write_report", full)
    r = _run(events, root, "2026-03-01", "--report")
    assert r.exit_code == 1, r.output
    assert "No space left on device" in r.output and "runs/2026-03-01.json" in r.output
    rec = read_record(Layout(root), toy.DATES[0])
    assert rec["status"] == "failed" and "No space left" in rec["report_error"]
    assert rec["exit_code"] == 1
    assert not is_complete(Layout(root), toy.DATES[0])
    assert not (root / "models" / "2026-03-01").exists()  # not registered either


def test_corrupt_latest_model_is_an_error_unless_fallback(setup):
    events, root = setup
    for d in ("2026-03-01", "2026-03-02"):
        assert _run(events, root, d, "--no-report").exit_code == 0
    (root / "models" / "2026-03-02" / "centroids.npy").write_bytes(b"\x93NUMPY garbage")
    r = _run(events, root, "2026-03-03", "--no-report")
    assert r.exit_code == 2, r.output
    assert "models/2026-03-02" in r.output and "--fallback-model" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (root / "runs" / "2026-03-03.json").exists()
    assert not (root / "features" / "date=2026-03-03").exists()
    r = _run(events, root, "2026-03-03", "--no-report", "--fallback-model")
    assert r.exit_code == 0, r.output
    rec = read_record(Layout(root), toy.DATES[2])
    assert rec["parent"] == "2026-03-01" and rec["skipped_models"] == ["2026-03-02"]


def test_failed_run_leaves_no_empty_folders_or_temp_files(setup, monkeypatch):
    events, root = setup

    class Boom(toy.ToyEngine):
        def features(self, *a, **k):
            raise RuntimeError("events store unreachable")

    monkeypatch.setattr("archetype.pipeline.run.make_engine", lambda cfg: Boom())
    r = _run(events, root, "2026-03-01", "--no-report")
    assert r.exit_code == 1 and "events store unreachable" in r.output
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    assert left == [".archetype.json", ".lock", "runs", "runs/2026-03-01.json"], left
    assert read_record(Layout(root), toy.DATES[0])["status"] == "failed"


def test_run_refuses_a_folder_that_is_not_a_pipeline_root(setup, tmp_path):
    events, _ = setup
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    r = _run(events, other, "2026-03-01")
    assert r.exit_code == 2 and "not an archetype pipeline root" in r.output
    assert sorted(p.name for p in other.iterdir()) == ["cat.jpg"]


def test_wrong_types_in_events_and_features_tables(setup, tmp_path):
    events, root = setup
    cfg = tmp_path / "c.toml"
    cfg.write_text("[events]\ncolumns = 5\n")
    r = runner.invoke(
        app,
        [
            "run",
            "-c",
            str(cfg),
            "--events",
            str(events),
            "--out",
            str(root),
            "--k",
            "3",
            "--date",
            "2026-03-01",
            "-q",
        ],
    )
    assert r.exit_code == 2 and "[events]" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not root.exists()


def test_bad_input_in_a_root_the_run_creates_leaves_nothing(setup, tmp_path):
    """Bad input found after the run started (no events up to the date) in a new ROOT:
    exit 2 and no ROOT; in an empty folder of the user's: the folder stays, empty; in a
    root with earlier runs: the failed run record stays (the nightly history says why)."""
    events, root = setup
    r = _run(events, root, "2026-02-01", "--no-report")
    assert r.exit_code == 2 and "no events up to 2026-02-01" in r.output
    assert not root.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(events, empty, "2026-02-01", "--no-report").exit_code == 2
    assert empty.is_dir() and list(empty.iterdir()) == []
    assert _run(events, root, "2026-03-01", "--no-report").exit_code == 0
    assert _run(events, root, "2026-02-01", "--no-report").exit_code == 2
    rec = read_record(Layout(root), toy.dt.date(2026, 2, 1))
    assert rec["status"] == "failed" and rec["error_kind"] == "user"
    assert is_complete(Layout(root), toy.DATES[0])
