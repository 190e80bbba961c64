"""``archetype synth`` through the Typer app (CliRunner)."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from archetype.cli.main import app

runner = CliRunner()


def test_synth_command_writes_output(tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(
        app,
        ["synth", "--customers", "300", "--days", "30", "--seed", "4", "--out", str(out),
         "--end-date", "2026-06-30", "--block-size", "128", "--no-progress"],
    )
    assert res.exit_code == 0, res.output
    assert (out / "truth.parquet").is_file() and (out / "manifest.json").is_file()
    parts = sorted(p.name for p in (out / "events").iterdir())
    assert parts[0] >= "date=2026-06-01" and parts[-1] <= "date=2026-06-30"
    assert pl.read_parquet(out / "truth.parquet").height == 300
    n = sum(pl.read_parquet(f).height for f in (out / "events").rglob("*.parquet"))
    assert f"wrote {n:,} events for 300 customers" in res.output
    assert "events/s" in res.output and str(out) in res.output.replace("\n", "")
    # several blocks: file names carry the block number
    assert any(f.name == "part-00002.parquet" for f in (out / "events").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--customers", "0", "--days", "30"], "customers=0"),
        (["--customers", "10", "--days", "0"], "days=0"),
        (["--customers", "10", "--days", "5", "--end-date", "2026-02-30"], "--end-date"),
        (["--customers", "10", "--days", "5", "--block-size", "0"], "block_size=0"),
        (["--customers", "10", "--days", "5", "--seed", "-3"], "seed=-3"),
    ],
)
def test_bad_arguments_exit_2_one_line_nothing_written(tmp_path, args, needle):
    out = tmp_path / "o"
    base = ["synth", "--out", str(out), "--no-progress"]
    if "--seed" not in args:
        base += ["--seed", "1"]
    res = runner.invoke(app, base + args)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_option_is_usage_error(tmp_path):
    res = runner.invoke(app, ["synth", "--days", "5", "--seed", "1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert not (tmp_path / "o").exists()
