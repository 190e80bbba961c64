"""CLI tests for run/backfill/models/forget (in-process engine swapped for the toy one)."""

import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from archetype._atomic import DirLock
from archetype.cli.main import app

_spec = importlib.util.spec_from_file_location(
    "pipeline_toy", Path(__file__).parents[1] / "pipeline" / "conftest.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

runner = CliRunner()


@pytest.fixture
def setup(tmp_path, monkeypatch):
    events = toy.toy_cli_world(tmp_path, monkeypatch)
    root = tmp_path / "root"
    cfgfile = tmp_path / "c.toml"
    cfgfile.write_text(f'[pipeline]\nevents = "{events}"\nout = "{root}"\nk = 3\n')
    return cfgfile, events, root


def test_run_with_config_and_flag_override(setup):
    cfgfile, _, root = setup
    r = runner.invoke(app, ["run", "-c", str(cfgfile), "--date", "2026-03-01", "--k", "4", "-q"])
    assert r.exit_code == 0, r.output
    assert "2026-03-01" in r.output and "400 customers" in r.output
    m = json.loads((root / "models" / "2026-03-01" / "manifest.json").read_text())
    assert m["k"] == 4
    rec = json.loads((root / "runs" / "2026-03-01.json").read_text())
    assert rec["status"] == "complete" and rec["config"]["k"] == 4


def test_run_with_flags_alone_then_models_list_show(setup):
    _, events, root = setup
    for d in ("2026-03-01", "2026-03-02"):
        r = runner.invoke(app, ["run", "--events", str(events), "--out", str(root), "--k", "4",
                                "--date", d, "-q"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["models", "list", "--root", str(root)])
    assert r.exit_code == 0 and "2026-03-02" in r.output and "*" in r.output
    r = runner.invoke(app, ["models", "show", "--root", str(root)])
    assert r.exit_code == 0, r.output
    assert "parent: 2026-03-01" in r.output and "segments" in r.output
    r = runner.invoke(app, ["models", "show", "2099-01-01", "--root", str(root)])
    assert r.exit_code == 2 and "no model version '2099-01-01'" in r.output


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--date", "2026-13-01"], "--date='2026-13-01' is not a date"),
        (["--date", "2026-03-01", "--k", "0"], "--k 0: expected a value >= 1"),
        (["--date", "2026-03-01", "--backend", "gpu"], "'--backend': 'gpu' is not one of"),
        (["--date", "2026-03-01", "--events", "/nonexistent/ev"], "events path not found"),
        (["--date", "2026-03-01", "--pseudonymize", "--key-env", "NO_SUCH_KEY_VAR"],
         "NO_SUCH_KEY_VAR"),
    ],
)
def test_user_errors_exit_2_one_line(setup, args, msg):
    cfgfile, _, root = setup
    r = runner.invoke(app, ["run", "-c", str(cfgfile), "-q", *args])
    assert r.exit_code == 2, r.output
    assert msg in r.output.replace("\n", " ") or msg in " ".join(r.output.split())
    assert "Traceback" not in r.output
    assert not (root / "runs").exists()


def test_lock_held_exits_2(setup):
    cfgfile, _, root = setup
    with DirLock(root):
        r = runner.invoke(app, ["run", "-c", str(cfgfile), "--date", "2026-03-01", "-q"])
    assert r.exit_code == 2 and "holds the lock" in r.output


def test_runtime_failure_exits_1_with_record(setup, monkeypatch):
    cfgfile, _, root = setup

    class Boom(toy.ToyEngine):
        def assign(self, *a, **kw):
            raise RuntimeError("gpu fell off the bus")

    monkeypatch.setattr("archetype.pipeline.run.make_engine", lambda cfg: Boom())
    r = runner.invoke(app, ["run", "-c", str(cfgfile), "--date", "2026-03-01", "-q"])
    assert r.exit_code == 1
    assert "gpu fell off the bus" in r.output and "runs/2026-03-01.json" in r.output
    rec = json.loads((root / "runs" / "2026-03-01.json").read_text())
    assert rec["status"] == "failed" and "gpu fell off the bus" in rec["error"]


def test_backfill_and_forget(setup, tmp_path):
    cfgfile, _, root = setup
    r = runner.invoke(app, ["backfill", "-c", str(cfgfile), "--start", "2026-03-01",
                            "--end", "2026-03-03", "-q"])
    assert r.exit_code == 0, r.output
    assert "ran 3, skipped 0" in r.output
    r = runner.invoke(app, ["backfill", "-c", str(cfgfile), "--start", "2026-03-01",
                            "--end", "2026-03-03", "-q"])
    assert "ran 0, skipped 3" in r.output
    r = runner.invoke(app, ["backfill", "-c", str(cfgfile), "--start", "2026-03-01",
                            "--end", "2026-03-03", "--assign-only", "-q"])
    assert r.exit_code == 2 and "--assign-only needs --model" in r.output
    ids = tmp_path / "gone.txt"
    ids.write_text("5\n6\n")
    r = runner.invoke(app, ["forget", "--ids", str(ids), "-c", str(cfgfile), "-q"])
    assert r.exit_code == 0, r.output
    assert "assignments/date=2026-03-02" in r.output
    a = pl.read_parquet(root / "assignments" / "date=2026-03-02" / "part-0.parquet")
    assert a.height == 398 and not a["customer_id"].is_in([5, 6]).any()
