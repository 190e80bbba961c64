"""The ``[segments]`` table: passed through the pipeline config, validated there, and
used by the nightly naming step and the CLI."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from tests.segments.bases import Group, features, make_log
from typer.testing import CliRunner

from archetype.cli.main import app
from archetype.errors import UserError
from archetype.pipeline.config import RunConfig

TOML = """
[pipeline]
events = "ev"
out = "root"
k = 3

[segments]
currency = "EUR"

[segments.lifecycle]
lapsed_days = 200

[segments.names]
1 = "Gone quiet"
"""


def test_pipeline_passes_segments_table_through(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(TOML)
    cfg = RunConfig.load(p)
    assert cfg.segments_table["currency"] == "EUR"
    assert cfg.segments_table["lifecycle"] == {"lapsed_days": 200}
    # naming settings do not count as a model change
    q = tmp_path / "d.toml"
    q.write_text(TOML.replace('"EUR"', '"USD"'))
    assert RunConfig.load(q).config_hash() == cfg.config_hash()


def test_pipeline_rejects_a_bad_segments_table(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(TOML.replace("lapsed_days = 200", "lapsed_days = -1"))
    with pytest.raises(UserError, match=r"\[segments\].*lifecycle.lapsed_days"):
        RunConfig.load(p)


def test_nightly_describe_uses_the_table():
    from archetype.pipeline.steps import describe

    log, seg = make_log([Group(50, [[5, 30, 60]]), Group(50, [[300, 330]])], first_day=400)
    feats, seg, _h = features(log, seg)
    names = describe(feats, feats["customer_id"], seg, None, {"names": {"1": "Gone quiet"}})
    assert names[1] == "Gone quiet" and names[0] in ("Active repeat buyers", "Frequent regulars")
    names = describe(feats, feats["customer_id"], seg, None, {})
    assert names[1] == "Lapsed customers"


def test_cli_profile_and_report_read_the_table(tmp_path):
    from archetype.features import compute_feature_dir

    log, seg = make_log([Group(60, [[5, 30, 60]]), Group(60, [[300, 330]])], first_day=400)
    log.write_parquet(tmp_path / "ev.parquet")
    from tests.segments.bases import AS_OF

    fs = compute_feature_dir(tmp_path / "ev.parquet", AS_OF, tmp_path / "feat")
    ids = fs.ids.to_numpy()
    pl.DataFrame({"customer_id": ids, "segment_id": np.where(ids < len(seg), seg[np.minimum(
        ids, len(seg) - 1)], 0)}).write_parquet(tmp_path / "asg.parquet")  # fmt: skip
    cfg = tmp_path / "c.toml"
    cfg.write_text('[segments]\ncurrency = "€"\n[segments.names]\n1 = "Gone quiet"\n')
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--features", str(tmp_path / "feat"), "--assignments",
                              str(tmp_path / "asg.parquet"), "--config", str(cfg), "--out",
                              str(out), "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "Gone quiet" in html and "€" in html
    res = runner.invoke(app, ["profile", "--features", str(tmp_path / "feat"), "--assignments",
                              str(tmp_path / "asg.parquet"), "--currency", "USD", "--out",
                              str(tmp_path / "p.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Lapsed" in res.output
    import json

    d = json.loads((tmp_path / "p.json").read_text())
    assert d["currency"] == "USD"
    assert d["segments"][1]["name"] == "Lapsed customers" and d["segments"][1]["evidence"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[segments.naming]\nmin_defined_share = 2\n")
    res = runner.invoke(app, ["profile", "--features", str(tmp_path / "feat"), "--assignments",
                              str(tmp_path / "asg.parquet"), "--config", str(bad)])  # fmt: skip
    assert res.exit_code == 2
    assert "min_defined_share" in res.output
