"""`depthbench train kuka-allegro-grasp --engine isaaclab` trains and checkpoints, and `--resume` continues the run
from its checkpoint: iteration counter, optimizer state, observation normalizers and policy weights carry over
(docs/isaaclab.md, "Resume"). Each run is its own process (Isaac Lab: one simulation at a time)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from depthbench.agents.training import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
ENVS, STEPS = 2, 4  # the cpu-smoke preset, made smaller still: 2 envs x 4 steps per iteration


def _depthbench(*args):
    result = subprocess.run(
        [sys.executable, "-m", "depthbench", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _progress(run):
    return [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]


@pytest.mark.timeout(1800)  # two processes that each build the scene (minutes on a loaded 2-core box)
def test_train_writes_a_checkpoint_and_resume_continues_it(tmp_path):
    run = tmp_path / "run"
    _depthbench(
        "train", "kuka-allegro-grasp", "--engine", "isaaclab", "--preset", "cpu-smoke", "--device", "cpu",
        "--iterations", "2", "--num-envs", str(ENVS), "--set", f"ppo.num_steps_per_env={STEPS}",
        "--out", str(run), "--no-progress",
    )  # fmt: skip
    first = load_checkpoint(run / "checkpoints" / "model_2.pt")
    assert first["iter"] == 2
    cfg = first["depthbench"]["config"]
    assert (cfg["task"], cfg["engine"], cfg["num_envs"]) == ("kuka-allegro-grasp", "isaaclab", ENVS)
    algorithm = first["depthbench"]["train_cfg"]["algorithm"]
    updates = algorithm["num_learning_epochs"] * algorithm["num_mini_batches"]  # optimizer steps per iteration
    steps = next(iter(first["optimizer_state_dict"]["state"].values()))["step"]
    assert float(steps) == 2 * updates
    # The observation normalizers saw every sample: iterations x steps x envs.
    assert float(first["actor_state_dict"]["obs_normalizer.count"]) == 2 * STEPS * ENVS
    assert all(torch.isfinite(v).all() for v in first["actor_state_dict"].values() if v.is_floating_point())
    assert [row["iteration"] for row in _progress(run)] == [1, 2]
    rows_before = _progress(run)

    _depthbench("train", "kuka-allegro-grasp", "--resume", "--out", str(run), "--iterations", "4", "--no-progress")
    resumed = load_checkpoint(run / "checkpoints" / "model_4.pt")
    assert resumed["iter"] == 4 and resumed["depthbench"]["config"]["engine"] == "isaaclab"
    # Optimizer state and normalizers continued from the checkpoint (a fresh start would read 2 x, not 4 x).
    assert float(next(iter(resumed["optimizer_state_dict"]["state"].values()))["step"]) == 4 * updates
    assert float(resumed["actor_state_dict"]["obs_normalizer.count"]) == 4 * STEPS * ENVS
    # The weights moved on from the checkpoint's (two more iterations of updates).
    changed = [
        k
        for k, v in resumed["actor_state_dict"].items()
        if v.is_floating_point() and not torch.equal(v, first["actor_state_dict"][k])
    ]
    assert any(k.startswith("mlp.") for k in changed)
    rows = _progress(run)
    assert [row["iteration"] for row in rows] == [1, 2, 3, 4] and rows[:2] == rows_before
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["iterations_done"] == 4
