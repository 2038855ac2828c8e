"""Engine selection: a task names its engines; an unknown engine, or the isaaclab engine outside its own environment
(.venv-isaaclab), is one clear line that says what to do."""

import importlib.util

import pytest

from depthbench.benchmarks.cli import main
from depthbench.envs import get_task, make_task
from depthbench.errors import DepthbenchError

ISAACLAB_HERE = importlib.util.find_spec("isaaclab") is not None


@pytest.mark.parametrize("task", ["anymal-ladder", "kuka-allegro-grasp"])
def test_robot_tasks_run_on_mujoco_by_default_and_name_isaaclab(task):
    assert get_task(task).engine_ids == ("mujoco", "isaaclab")


def test_unknown_engine_names_the_tasks_engines():
    with pytest.raises(DepthbenchError, match="task 'anymal-ladder' has no engine 'physx'; its engines: mujoco, isaac"):
        make_task("anymal-ladder", num_envs=1, engine="physx")
    with pytest.raises(DepthbenchError, match="has no engine 'isaaclab'; its engines: embree"):
        make_task("pointnav", num_envs=1, engine="isaaclab")


@pytest.mark.skipif(ISAACLAB_HERE, reason="this environment has Isaac Lab: the missing-environment error cannot occur")
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "anymal-ladder", "--engine", "isaaclab", "--preset", "cpu-smoke"],
        ["bench", "env", "kuka-allegro-grasp", "--engine", "isaaclab"],
        ["ablate", "anymal-ladder", "--encoders", "scratch-cnn", "--engine", "isaaclab", "--out", "{tmp}"],
    ],
)
def test_isaaclab_outside_its_environment_is_one_line_naming_the_setup_command(argv, capsys, tmp_path):
    assert main([a.replace("{tmp}", str(tmp_path / "ablate")) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("depthbench: error: the isaaclab engine needs Isaac Lab 3")
    assert "bash scripts/isaaclab_venv.sh" in err
    assert not (tmp_path / "ablate").exists()  # nothing written before the error
