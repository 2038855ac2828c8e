"""Isaac Lab engine tests: collected only by the .venv-isaaclab interpreter (`bash scripts/isaaclab_venv.sh`, then
`.venv-isaaclab/bin/python -m pytest tests/engine_isaaclab`). The folder is not named `isaaclab`: pytest's rootdir
imports would make it a namespace package shadowing the real one. Isaac Lab allows one simulation per process, so
every test shares the session's one environment (`ladder_env`)."""

import importlib.util

import pytest

if importlib.util.find_spec("isaaclab") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def ladder_cfg():
    from depthbench.envs import task_config

    return task_config("anymal-ladder", {"split": "test", "depth": {"width": 32, "height": 32}})


@pytest.fixture(scope="session")
def ladder_env(ladder_cfg):
    from depthbench.envs import make_task

    return make_task("anymal-ladder", num_envs=2, seed=0, engine="isaaclab", overrides=ladder_cfg)
