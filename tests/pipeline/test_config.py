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
families = ["rfm"]
"""


def test_load_file_then_flags_override(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(TOML)
    cfg = RunConfig.load(p)
    assert (cfg.k, cfg.window_days, cfg.backend, cfg.seed, cfg.refit) == (7, 90, "numba", 3, True)
    assert cfg.max_cost == 0.4 and cfg.pseudonymize and cfg.key_env == "MY_KEY"
    assert cfg.events_table == {"columns": {"customer_id": "user"}}
    assert cfg.features_table == {"families": ["rfm"]}
    cfg2 = RunConfig.load(p, {"k": 12, "backend": "torch", "refit": False, "seed": None})
    assert (cfg2.k, cfg2.backend, cfg2.refit, cfg2.seed) == (12, "torch", False, 3)


def test_flags_alone():
    cfg = RunConfig.load(None, {"events": "e", "out": "o", "k": 3})
    assert str(cfg.events) == "e" and cfg.engine == "local" and cfg.max_iter == 50


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"k": 0}, "k=0 should be an integer >= 1"),
        ({"backend": "gpu"}, "backend='gpu' should be one of"),
        ({"max_cost": 1.5}, "max_cost=1.5 should be a number in"),
        ({"k": None, "events": "e", "out": "o"}, "missing setting 'k'"),
        ({"engine": "spark"}, "engine='spark'"),
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
