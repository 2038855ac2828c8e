"""kuka-allegro-grasp: the scene (scene.py, objects.py), the task (task.py), a scripted grasp (scripted.py)."""

from __future__ import annotations

from typing import Any

from depthbench.envs import register_task
from depthbench.envs.grasp.task import GraspTask


@register_task(
    "kuka-allegro-grasp",
    summary="iiwa 14 + Allegro hand grasps and lifts procedural objects; one workspace depth camera",
    engine="mujoco-batch",
)
def make_grasp(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> GraspTask:
    return GraspTask(cfg, num_envs=num_envs, seed=seed, device=device)
