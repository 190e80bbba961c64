from typer.testing import CliRunner

from archetype.cli.main import app

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Behavioral customer segmentation" in result.output
