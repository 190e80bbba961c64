from pathlib import Path

import pytest

from archetype.errors import UserError
from archetype.pipeline.config import RunConfig

TOML = """
[pipeline]
events = "ev"
out = "root"
k = 7
window_days = 90

[cluster]
backend = "numba"
seed = 3
refit = true

[matching]
max_cost = 0.4

[privacy]
pseudonymize = true
key_env = "MY_KEY"

[events.columns]
customer_id = "user"

[features]
max_channels = 4
"""


def test_load_file_then_flags_override(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(TOML)
    cfg = RunConfig.load(p)
    assert (cfg.k, cfg.window_days, cfg.backend, cfg.seed, cfg.refit) == (7, 90, "numba", 3, True)
    assert cfg.max_cost == 0.4 and cfg.pseudonymize and cfg.key_env == "MY_KEY"
    assert cfg.events_table == {"columns": {"customer_id": "user"}}
    assert cfg.features_table == {"max_channels": 4}
    # relative paths in the file are relative to the file's folder
    assert cfg.events == tmp_path / "ev" and cfg.out == tmp_path / "root"
    cfg2 = RunConfig.load(p, {"k": 12, "backend": "torch", "refit": False, "seed": None})
    assert (cfg2.k, cfg2.backend, cfg2.refit, cfg2.seed) == (12, "torch", False, 3)


def test_flags_alone():
    cfg = RunConfig.load(None, {"events": "e", "out": "o", "k": 3})
    assert str(cfg.events) == "e" and cfg.engine == "local" and cfg.max_iter == 50


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"k": 0}, "--k 0: expected a value >= 1"),
        ({"backend": "gpu"}, "--backend 'gpu': expected one of 'auto', 'torch'"),
        ({"max_cost": 1.5}, "--max-cost 1.5: expected a value <= 1"),
        ({"k": None, "events": "e", "out": "o"}, "missing setting 'k'"),
        ({"engine": "spark"}, "--engine 'spark': expected one of 'local' or 'ray'"),
    ],
)
def test_bad_values_are_user_errors(overrides, match):
    base = {"events": "e", "out": "o", "k": 3}
    base.update(overrides)
    if overrides.get("k", 1) is None:
        base.pop("k")
    with pytest.raises(UserError, match=match):
        RunConfig.load(None, base)


def test_unknown_key_and_bad_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[pipeline]\nkk = 3\n")
    with pytest.raises(UserError, match="unknown key 'kk' in \\[pipeline\\]"):
        RunConfig.load(p)
    p.write_text("[pipeline\n")
    with pytest.raises(UserError, match="not valid TOML"):
        RunConfig.load(p)
    with pytest.raises(UserError, match="config file not found"):
        RunConfig.load(tmp_path / "nope.toml")


def test_ray_address_from_env(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    cfg = RunConfig.load(None, {"events": "e", "out": "o", "k": 3})
    assert cfg.ray_address == "ray://head:10001"


def test_config_hash_ignores_paths_and_engine():
    a = RunConfig.load(None, {"events": "e", "out": "o", "k": 3})
    b = RunConfig.load(None, {"events": "x", "out": "y", "k": 3, "engine": "ray"})
    c = RunConfig.load(None, {"events": "e", "out": "o", "k": 4})
    assert a.config_hash() == b.config_hash() != c.config_hash()


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ('[pipeline]\nk = "twelve"', r"c.toml: \[pipeline\] k = 'twelve': expected an integer$"),
        ("[cluster]\nmetric = 'l1'", r"\[cluster\] metric = 'l1': expected one of 'l2' or"),
        ("[matching]\nmax_cost = true", r"\[matching\] max_cost = True: expected a number"),
        ("[privacy]\npseudonymize = 'maybe'", r"\[privacy\] pseudonymize = 'maybe': expected true"),
        ("[events]\ntimezone = 'Mars/Base'", r"\[events\] timezone = 'Mars/Base': not an IANA"),
        ("[events.columns]\nuser = 'x'", r"\[events.columns\] key 'user' is not allowed"),
        ("[features]\nwinsorize = 'x'", r"\[features\] winsorize = 'x': expected a list"),
        ("[features]\nfamilies = ['rfm']", r"\[features\] has unknown key 'families'"),
    ],
)
def test_typed_errors_name_table_key_and_type(tmp_path, toml, match):
    """One line: file, table, key, value and the expected type (pydantic, no hand checks)."""
    p = tmp_path / "c.toml"
    base = '[pipeline]\nevents = "e"\nout = "o"\n'
    if toml.startswith("[pipeline]"):
        p.write_text(base + toml.split("\n", 1)[1])
    else:
        p.write_text(base + "k = 3\n" + toml)
    with pytest.raises(UserError, match=match) as e:
        RunConfig.load(p)
    assert "\n" not in str(e.value)


def test_relative_paths_resolve_from_the_config_folder(tmp_path, monkeypatch):
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "c.toml").write_text(
        '[pipeline]\nevents = "../data/*.parquet"\nout = "/abs/root"\nk = 2\n'
    )
    monkeypatch.chdir("/")
    cfg = RunConfig.load(conf / "c.toml")
    assert cfg.events == conf / "../data/*.parquet" and cfg.out == Path("/abs/root")
    flags = RunConfig.load(conf / "c.toml", {"events": "rel/ev"})
    assert flags.events == Path("rel/ev")  # a flag is relative to the current directory


def test_events_flags_merge_into_the_events_table(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(TOML)
    cfg = RunConfig.load(
        p, events={"columns": {"ts": "when"}, "timezone": "Europe/Paris", "dedupe": None}
    )
    assert cfg.events_table == {
        "columns": {"customer_id": "user", "ts": "when"}, "timezone": "Europe/Paris"
    }
    with pytest.raises(UserError, match=r"\[events\] on_bad_value = 'skip': expected one of"):
        RunConfig.load(p, events={"on_bad_value": "skip"})


def test_dataclasses_replace_still_validates():
    import dataclasses

    cfg = RunConfig.load(None, {"events": "e", "out": "o", "k": 3})
    assert dataclasses.replace(cfg, k=5).k == 5
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        dataclasses.replace(cfg, k=0)
