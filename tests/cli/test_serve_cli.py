"""`archetype serve` argument errors: one line, exit code 2, nothing started."""

from __future__ import annotations

from typer.testing import CliRunner

from archetype.cli.main import app

runner = CliRunner()


def test_serve_help_has_an_example():
    r = runner.invoke(app, ["serve", "--help"])
    assert r.exit_code == 0
    assert "--follow" in r.output and "curl" in r.output


def test_serve_without_a_model_is_a_user_error(tmp_path):
    r = runner.invoke(app, ["serve", "--root", str(tmp_path), "--port", "0"])
    assert r.exit_code == 2
    assert "no current model" in r.output and "archetype run" in r.output


def test_serve_bad_flags(tmp_path):
    r = runner.invoke(app, ["serve", "--root", str(tmp_path), "--store", "mongo"])
    assert r.exit_code == 2 and "'mongo' is not one of 'lmdb', 'redis'" in r.output
    r = runner.invoke(app, ["serve", "--root", str(tmp_path), "--automation", "cron"])
    assert r.exit_code == 2 and "'cron' is not one of 'process', 'thread', 'inline'" in r.output
    r = runner.invoke(app, ["serve", "--root", str(tmp_path), "--shard", "3/2"])
    assert r.exit_code == 2 and "--shard" in r.output
    r = runner.invoke(app, ["serve", "--root", str(tmp_path), "--follow", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--follow" in r.output
