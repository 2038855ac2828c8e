"""The Isaac Lab user's way in: `isaaclab train --rl_library rsl_rl --task Isaac-Depthbench-AnymalLadder-Direct-v0`
finds the task through the `isaaclab.tasks` entry point and trains it with the rsl-rl config built from
configs/agents (docs/isaaclab.md, "Two ways in"). Its own process: Isaac Lab allows one simulation at a time."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_isaaclab_train_runs_the_registered_ladder_task_with_our_rsl_rl_config(tmp_path):
    isaaclab = shutil.which("isaaclab", path=str(Path(sys.executable).parent))
    assert isaaclab, "the isaaclab command is missing from .venv-isaaclab"
    result = subprocess.run(
        [isaaclab, "train", "--rl_library", "rsl_rl", "--task", "Isaac-Depthbench-AnymalLadder-Direct-v0"]
        + ["--num_envs", "2", "--max_iterations", "2", "--device", "cpu"],
        cwd=tmp_path,  # Isaac Lab writes logs/rsl_rl/<experiment>/<time>/ under the working directory
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    (run,) = (tmp_path / "logs" / "rsl_rl").glob("*/*")
    assert run.parent.name == "depthbench_anymal_ladder_teacher"
    last = torch.load(run / "model_1.pt", weights_only=True)  # the second (last) iteration's checkpoint
    assert last["iter"] == 1
    first = torch.load(run / "model_0.pt", weights_only=True)
    moved = [
        k
        for k, v in last["actor_state_dict"].items()
        if v.dtype.is_floating_point and not torch.equal(v, first["actor_state_dict"][k])
    ]
    assert any(k.startswith("mlp.") for k in moved), "two PPO updates left the actor's MLP unchanged"
    agent = (run / "params" / "agent.yaml").read_text()  # Isaac Lab dumps it with python tags: read as text
    assert "max_iterations: 2" in agent and "experiment_name: depthbench_anymal_ladder_teacher" in agent
    assert agent.count("- privileged") == 2  # actor and critic both on the privileged group (our teacher config)
