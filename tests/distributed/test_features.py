"""Features on Ray equal the local engine's, file by file."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from archetype.distributed.features import file_groups, prune_hive_files, ray_feature_dir
from archetype.features import compute_feature_dir
from archetype.features.testing import random_events

AS_OF = dt.date(2026, 3, 31)


@pytest.fixture(scope="module")
def hive_log(tmp_path_factory):
    """A hive-partitioned log: 8 weekly folders, 2 files each, duplicates across files."""
    root = tmp_path_factory.mktemp("events")
    ev = random_events(6_000, 400, seed=4, start=dt.date(2026, 2, 1), days=70)
    ev = pl.concat([ev, ev.sample(300, seed=1)])  # exact duplicates, in other files
    ev = ev.with_columns(week=(pl.col("ts").dt.date() - dt.date(2026, 2, 1)).dt.total_days() // 7)
    for (w,), part in ev.partition_by("week", as_dict=True).items():
        day = dt.date(2026, 2, 1) + dt.timedelta(days=7 * int(w))
        d = root / f"date={day.isoformat()}"
        d.mkdir()
        part = part.drop("week")
        half = part.height // 2
        part[:half].write_parquet(d / "part-0.parquet")
        part[half:].write_parquet(d / "part-1.parquet")
    return root


def test_file_groups_and_hive_pruning(tmp_path):
    assert file_groups(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    files = [str(tmp_path / f"date=2026-01-0{i}" / "p.parquet") for i in (1, 2, 3, 4)]
    for f in files:
        (tmp_path / f.split("/")[-2]).mkdir()
    got = prune_hive_files(files, str(tmp_path), dt.date(2026, 1, 3), dt.date(2026, 1, 2))
    assert got == files[1:3]
    assert prune_hive_files(files, str(tmp_path), dt.date(2026, 1, 3), None) == files[:3]


def _assert_close(a, b, path="transform"):
    """Equal structure; floats equal up to summation order (relative 1e-12)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and a and isinstance(a[0], float):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=path)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    else:
        assert a == b, path


@pytest.mark.ray
@pytest.mark.parametrize("window_days", [None, 30])
def test_ray_features_equal_local(ray_local, hive_log, tmp_path, window_days):
    """Same customers, same order, same columns; values equal up to the order of float sums.

    Bit-for-bit equality is not a property of the local engine either: Polars sums a
    customer's amounts in an order that depends on how the log was partitioned (the local
    engine's own ``partition_rows`` changes the last bit of a few sums the same way).
    """
    local = compute_feature_dir(hive_log, AS_OF, tmp_path / "local", window_days=window_days)
    ray_fs = ray_feature_dir(hive_log, AS_OF, tmp_path / "ray", window_days=window_days,
                             n_groups=3, files_per_task=3)
    for name in ("features.parquet", "ids.parquet"):
        a = pl.read_parquet(tmp_path / "ray" / name)
        b = pl.read_parquet(tmp_path / "local" / name)
        assert a.schema == b.schema
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    np.testing.assert_array_equal(ray_fs.ids.to_numpy(), local.ids.to_numpy())
    np.testing.assert_allclose(ray_fs.embedding, local.embedding, rtol=1e-6, atol=1e-6)
    _assert_close(ray_fs.transform.to_dict(), local.transform.to_dict())
    skip = {"created", "partitions", "engine"}
    m_ray = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    m_loc = json.loads((tmp_path / "local" / "manifest.json").read_text())
    _assert_close({k: v for k, v in m_ray.items() if k not in skip},
                  {k: v for k, v in m_loc.items() if k not in skip}, "manifest")
    # identical rows across files were found (and kept: no event id, see docs/features.md)
    assert m_ray["report"]["identical_rows"] > 0
    if window_days is not None:
        # the nightly path: re-apply a saved transform on a later day
        later = AS_OF + dt.timedelta(days=7)
        loc2 = compute_feature_dir(hive_log, later, tmp_path / "local2", window_days=window_days,
                                   transform=local.transform.to_dict())
        ray2 = ray_feature_dir(hive_log, later, tmp_path / "ray2", window_days=window_days,
                               transform=local.transform.to_dict(), n_groups=2)
        assert_frame_equal(ray2.features, loc2.features, check_exact=False,
                           rel_tol=1e-12, abs_tol=1e-12)
        np.testing.assert_allclose(ray2.embedding, loc2.embedding, rtol=1e-6, atol=1e-6)
        assert ray2.transform.to_dict() == local.transform.to_dict()


@pytest.mark.ray
def test_features_cli_engine_ray_equals_local(ray_local, hive_log, tmp_path):
    from typer.testing import CliRunner

    from archetype.cli.main import app
    from archetype.features import load_feature_dir

    runner = CliRunner()
    base = ["features", "--events", str(hive_log), "--as-of", AS_OF.isoformat(), "--no-progress"]
    r_local = runner.invoke(app, [*base, "--out", str(tmp_path / "local")])
    r_ray = runner.invoke(app, [*base, "--out", str(tmp_path / "ray"), "--engine", "ray"])
    assert r_local.exit_code == 0, r_local.output
    assert r_ray.exit_code == 0, r_ray.output
    local = load_feature_dir(tmp_path / "local")
    ray_fs = load_feature_dir(tmp_path / "ray")
    assert_frame_equal(ray_fs.features, local.features, rel_tol=1e-12)
    np.testing.assert_allclose(ray_fs.embedding, local.embedding, rtol=1e-5, atol=1e-6)
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "x"), "--engine", "spark"])
    assert bad.exit_code == 2
    assert not (tmp_path / "x").exists()


@pytest.mark.ray
def test_fit_assign_cli_engine_ray(ray_local, hive_log, tmp_path):
    """fit/assign --engine ray: a valid model, and assignments equal to the local engine's."""
    from typer.testing import CliRunner

    from archetype.cli.main import app

    runner = CliRunner()
    feat = tmp_path / "feat"
    r = runner.invoke(app, ["features", "--events", str(hive_log), "--as-of", AS_OF.isoformat(),
                            "--no-progress", "--out", str(feat)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["fit", "--features", str(feat), "--k", "4", "--out",
                            str(tmp_path / "m"), "--engine", "ray", "-q"])
    assert r.exit_code == 0, r.output
    model = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert model["k"] == 4 and model["metrics"]["engine"] == "ray"
    n_customers = pl.read_parquet(feat / "ids.parquet").height
    assert sum(model["metrics"]["sizes"]) == n_customers
    assert model["metrics"]["n_samples"] == n_customers
    outs = {}
    for eng in ("local", "ray"):
        out = tmp_path / f"a_{eng}.parquet"
        r = runner.invoke(app, ["assign", "--model", str(tmp_path / "m"), "--features", str(feat),
                                "--out", str(out), "--engine", eng, "-q"])
        assert r.exit_code == 0, r.output
        outs[eng] = pl.read_parquet(out)
    assert_frame_equal(outs["ray"].select("customer_id", "segment_id"),
                       outs["local"].select("customer_id", "segment_id"))
