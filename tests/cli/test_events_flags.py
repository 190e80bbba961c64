"""The event-reading flags on ``run`` (a custom-named log, flags only), ``--version``, and
``--help`` worked examples that Rich does not swallow."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from archetype import __version__
from archetype.cli.main import app

runner = CliRunner()


def _web_log(path, n_customers: int = 40, bad_price: bool = False) -> None:
    """A web-event export with its own names: visitor, when (ISO with offsets), what, price
    (money text), msg_id."""
    rows = []
    for c in range(n_customers):
        for d in range(1 + c % 5):
            day = 1 + (c * 7 + d * 3) % 28
            rows.append(
                (
                    f"v{c:04d}",
                    f"2026-03-{day:02d}T09:{c % 60:02d}:00+01:00",
                    "page_view",
                    "",
                    f"m{c}-{d}-a",
                )
            )
            if (c + d) % 2 == 0:
                price = f"€{10 + c % 7},{d}0" if not (bad_price and c == 3) else "ten"
                rows.append(
                    (
                        f"v{c:04d}",
                        f"2026-03-{day:02d}T10:{c % 60:02d}:00Z",
                        "order_completed",
                        price,
                        f"m{c}-{d}-b",
                    )
                )
    pl.DataFrame(
        rows, schema=["visitor", "when", "what", "price", "msg_id"], orient="row"
    ).write_csv(path)


FLAGS = [
    "--column",
    "customer_id=visitor",
    "--column",
    "ts=when",
    "--column",
    "event_type=what",
    "--column",
    "amount=price",
    "--column",
    "event_id=msg_id",
    "--event-type",
    "page_view=view",
    "--event-type",
    "order_completed=purchase",
    "--timezone",
    "Europe/Paris",
    "--decimal-comma",
]


def _run_args(log, root) -> list[str]:
    """``archetype run`` for 2026-03-31 of ``log`` into ``root`` (k=3, quiet), no event flags."""
    return [
        "run",
        "--date",
        "2026-03-31",
        "--events",
        str(log),
        "--out",
        str(root),
        "--k",
        "3",
        "-q",
    ]


@pytest.mark.slow
def test_run_with_flags_only_on_a_custom_named_log(tmp_path):
    log = tmp_path / "web.csv"
    _web_log(log)
    root = tmp_path / "root"
    r = runner.invoke(app, [*_run_args(log, root), *FLAGS])
    assert r.exit_code == 0, r.output
    rec = json.loads((root / "runs" / "2026-03-31.json").read_text())
    assert rec["status"] == "complete"
    man = json.loads((root / "features" / "date=2026-03-31" / "manifest.json").read_text())
    rep = man["report"]
    assert rep["dedupe"] == "event_id" and rep["timezone"] == "Europe/Paris"
    assert rep["unknown_event_types"] == 0 and not rep["transaction_only"]
    assert man["n_customers"] == 40
    assert man["events_config"]["columns"]["customer_id"] == "visitor"
    feats = pl.read_parquet(root / "features" / "date=2026-03-31" / "features.parquet")
    assert feats["customer_id"].dtype == pl.String and feats["total_spend"].max() > 10


def test_run_flags_errors_are_one_line_exit_2(tmp_path):
    log = tmp_path / "web.csv"
    _web_log(log, bad_price=True)
    root = tmp_path / "root"
    args = _run_args(log, root)
    r = runner.invoke(app, args)  # no maps: the hint names the flag run now has
    assert r.exit_code == 2, r.output
    assert "missing column 'customer_id'" in r.output and "--column customer_id=" in r.output
    r = runner.invoke(app, [*args, *FLAGS])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    assert "web.csv: column 'price'" in text and "first bad value 'ten'" in text
    assert not (root / "models").exists()
    r = runner.invoke(app, [*args, *FLAGS, "--on-bad-value", "sometimes"])
    assert r.exit_code == 2 and "sometimes" in r.output


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"archetype {__version__}"


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_help_has_a_worked_example():
    names = list(_commands(get_command(app)))
    assert len(names) >= 13
    for name in names:
        r = runner.invoke(app, [*name, "--help"], terminal_width=120)
        assert r.exit_code == 0, name
        assert "Example" in r.output, name
        assert f"archetype {' '.join(name)} " in " ".join(r.output.split()), name


@pytest.mark.parametrize("command", ["features", "run"])
def test_help_shows_toml_tables_rich_does_not_swallow_them(command):
    r = runner.invoke(app, [command, "--help"], terminal_width=120)
    for text in ("[events.columns]", "customer_id = ", "[events]", "event_type"):
        assert text in r.output, (command, text)
    assert "TOML with , ," not in r.output


def test_events_flags_shape_an_events_table():
    from archetype.cli._events_options import events_flags
    from archetype.events import EventsConfig
    from archetype.vocab import BadValuePolicy, DedupeMode

    flags = events_flags(
        column=["customer_id=user", "event_id=order_id,line_no"],
        event_type=["buy=purchase"],
        on_bad_value=BadValuePolicy.DROP_ROW,
        dedupe=DedupeMode.EXACT,
        decimal_comma=False,
    )
    assert flags == {
        "columns": {"customer_id": "user", "event_id": ["order_id", "line_no"]},
        "event_types": {"buy": "purchase"},
        "on_bad_value": "drop-row",
        "dedupe": "exact",
        "decimal_comma": False,
    }
    cfg = EventsConfig(timezone="Asia/Tokyo").merged(
        flags.pop("columns"), flags.pop("event_types"), **flags
    )
    assert cfg.timezone == "Asia/Tokyo" and cfg.columns["event_id"] == ["order_id", "line_no"]
    assert events_flags() == {}
