import pytest

from depthbench.config import apply_overrides, load_yaml, merge, parse_override
from depthbench.errors import DepthbenchError


def test_override_parses_yaml_values_and_nests():
    assert parse_override("ppo.learning_rate=3e-4") == {"ppo": {"learning_rate": 3e-4}}
    assert parse_override("env.size=[64, 48]") == {"env": {"size": [64, 48]}}
    assert parse_override("flag=true") == {"flag": True}


def test_apply_overrides_changes_only_named_leaf():
    cfg = {"ppo": {"learning_rate": 1e-3, "gamma": 0.99}, "seed": 1}
    out = apply_overrides(cfg, ["ppo.gamma=0.95", "seed=7"])
    assert out == {"ppo": {"learning_rate": 1e-3, "gamma": 0.95}, "seed": 7}
    assert cfg["ppo"]["gamma"] == 0.99  # input untouched


def test_unknown_key_is_named_in_error():
    with pytest.raises(DepthbenchError, match=r"unknown config key 'ppo\.gama'.*gamma"):
        apply_overrides({"ppo": {"gamma": 0.99}}, ["ppo.gama=0.9"])


def test_override_without_equals_is_an_error():
    with pytest.raises(DepthbenchError, match="key.path=value"):
        apply_overrides({}, ["ppo.gamma"])


def test_non_strict_merge_accepts_new_keys():
    assert merge({"a": 1}, {"b": {"c": 2}}, strict=False) == {"a": 1, "b": {"c": 2}}


def test_load_yaml_errors(tmp_path):
    with pytest.raises(DepthbenchError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n- not a mapping\n")
    with pytest.raises(DepthbenchError, match="mapping"):
        load_yaml(bad)
