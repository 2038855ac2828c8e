"""Isaac Lab engine tests: collected only by the .venv-isaaclab interpreter (`bash scripts/isaaclab_venv.sh`, then
`.venv-isaaclab/bin/python -m pytest tests/engine_isaaclab`). The folder is not named `isaaclab`: pytest's rootdir
imports would make it a namespace package shadowing the real one. Isaac Lab runs one simulation at a time per
process, so each task's tests share one module-scoped environment, closed before the next module builds its own."""

import importlib.util

import pytest

if importlib.util.find_spec("isaaclab") is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="module")
def ladder_cfg():
    from depthbench.envs import task_config

    return task_config("anymal-ladder", {"split": "test", "depth": {"width": 32, "height": 32}})


@pytest.fixture(scope="module")
def ladder_env(ladder_cfg):
    from depthbench.envs import make_task

    env = make_task("anymal-ladder", num_envs=2, seed=0, engine="isaaclab", overrides=ladder_cfg)
    yield env
    env.close()


@pytest.fixture(scope="module")
def grasp_cfg():
    from depthbench.envs.grasp.parity import parity_config

    # A one-step hold, so that a scripted state can succeed in one step (the parity images do not depend on it).
    cfg = parity_config(32)
    cfg["success"]["hold_time_s"] = 0.02
    return cfg


@pytest.fixture(scope="module")
def grasp_env(grasp_cfg):
    from depthbench.envs import make_task

    env = make_task("kuka-allegro-grasp", num_envs=2, seed=0, engine="isaaclab", overrides=grasp_cfg)
    yield env
    env.close()
