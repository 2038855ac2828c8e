"""cpu-smoke-sized train -> eval -> report on every registered task, with task-specific metric breakdowns."""

import json

import pytest

from depthbench.agents import training
from depthbench.agents.config import resolve_config
from depthbench.agents.evaluation import evaluate_checkpoint, validate_metrics, write_metrics
from depthbench.agents.report import build_report
from depthbench.envs import list_tasks

COMMON = ["num_envs=2", "iterations=1", "save_interval=1", "ppo.num_steps_per_env=4", "eval.num_envs=2"]
# Shorter episodes and fewer generated scenes keep each task's env build and evaluation to seconds.
PER_TASK = {
    "pointnav": ["env.scenes.num_scenes=1", "env.dataset.episodes_per_scene=4", "env.agent.max_episode_steps=40"],
    "embodied-nav": [
        "ppo.algorithm.num_mini_batches=2",
        "env.scenes_per_family=1",
        "env.episodes_per_scene=2",
        "env.eval_scenes_per_family=1",
        "env.eval_episodes=4",
        "env.max_episode_steps=40",
    ],
    "kuka-allegro-grasp": ["env.episode_length_s=0.6", "env.success.hold_time_s=0.5"],
    "anymal-ladder": ["env.episode_length_s=0.5"],
}


def test_every_registered_task_has_an_agent_config():
    assert {t.name for t in list_tasks()} <= set(PER_TASK)


@pytest.mark.parametrize("task", sorted(PER_TASK))
def test_smoke_train_eval_report(task, tmp_path):
    if task not in {t.name for t in list_tasks()}:
        pytest.fail(f"task {task} is not registered")
    cfg = resolve_config(task, preset="cpu-smoke", overrides=[*COMMON, *PER_TASK[task]])
    manifest = training.train(cfg, tmp_path / "run", show_progress=False)
    assert manifest["status"] == "finished"
    result = evaluate_checkpoint(manifest["checkpoint"], episodes=2, show_progress=False)
    records = result["episode_records"]
    assert len(records) == 2
    assert result["metrics"]["success_rate"]["mean"] == sum(r["success"] for r in records) / 2
    if cfg["eval"]["group_by"]:  # embodied-nav: per scene family; ladder: per (angle, radius) cell
        keys = {tuple(r[k] for k in cfg["eval"]["group_by"]) for r in records}
        assert len(result["groups"]) == len(keys)
        assert sum(g["episodes"] for g in result["groups"]) == 2
    path = write_metrics(result, tmp_path / "run" / "eval" / "clean.json")
    validate_metrics(json.loads(path.read_text()))
    report = build_report(tmp_path)
    assert (report["out"] / "report.md").read_text().count(f"| {task} |") == 1
    assert "learning_curves.png" in report["images"]
    if cfg["eval"]["group_by"]:
        groups_csv = (report["out"] / "groups.csv").read_text().splitlines()
        assert len(groups_csv) == 1 + len(result["groups"])
    if task == "anymal-ladder":
        assert any(name.startswith("ladder_grid_") for name in report["images"])
