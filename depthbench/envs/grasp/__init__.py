"""kuka-allegro-grasp: the scene (scene.py, objects.py), the task (task.py), a scripted grasp (scripted.py)."""

from __future__ import annotations

import copy
import functools
import os
from typing import Any

from depthbench.envs import register_task
from depthbench.envs.grasp.task import GraspTask
from depthbench.envs.process_baseline import async_vector_rate


def _async_baseline(cfg: dict[str, Any], num_envs: int, steps: int, seed: int) -> tuple[str, float]:
    """One single-env, single-thread MuJoCo task per process, one process per CPU (at most `num_envs`)."""
    workers = max(1, min(num_envs, os.cpu_count() or 1))
    single = copy.deepcopy(cfg)
    single["sim"]["nthread"] = 1
    rate = async_vector_rate(functools.partial(GraspTask, single, 1, seed=seed), workers, steps, seed)
    return f"gymnasium AsyncVectorEnv, {workers} processes x 1 env", rate


@register_task(
    "kuka-allegro-grasp",
    summary="iiwa 14 + Allegro hand grasps and lifts procedural objects; one workspace depth camera",
    engine="mujoco.batch",
    baseline=_async_baseline,
)
def make_grasp(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> GraspTask:
    return GraspTask(cfg, num_envs=num_envs, seed=seed, device=device)
