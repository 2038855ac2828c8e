"""kuka-allegro-grasp: the scene (scene.py, objects.py), the task (task.py), a scripted grasp (scripted.py)."""

from __future__ import annotations

from typing import Any

from depthbench.envs import register_task
from depthbench.envs.grasp.task import GraspTask
from depthbench.envs.mujoco_engine import async_vector_baseline

TASK = "kuka-allegro-grasp"


@register_task(
    TASK,
    summary="iiwa 14 + Allegro hand grasps and lifts procedural objects; one workspace depth camera",
    engine="mujoco-batch",
    baseline=async_vector_baseline(TASK),
)
def make_grasp(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> GraspTask:
    return GraspTask(cfg, num_envs=num_envs, seed=seed, device=device)
