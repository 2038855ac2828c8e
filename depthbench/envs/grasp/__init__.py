"""kuka-allegro-grasp: the engine-free spec (spec.py, objects.py), the MuJoCo binding (scene.py, task.py), the Isaac
Lab binding (isaaclab_task.py), a scripted grasp (scripted.py). Bindings are imported only when built."""

from __future__ import annotations

from typing import Any

from depthbench.envs import register_task

TASK = "kuka-allegro-grasp"


def _baseline(cfg: dict[str, Any], num_envs: int, steps: int, seed: int) -> tuple[str, float]:
    from depthbench.envs.mujoco_engine import async_vector_baseline

    return async_vector_baseline(TASK)(cfg, num_envs, steps, seed)


@register_task(
    TASK,
    summary="iiwa 14 + Allegro hand grasps and lifts procedural objects; one workspace depth camera",
    engine="mujoco-batch",
    baseline=_baseline,
    engine_id="mujoco",
    engines={"isaaclab": "depthbench.envs.grasp.isaaclab_task:make_isaaclab_grasp"},
)
def make_grasp(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> Any:
    from depthbench.envs.grasp.task import GraspTask

    return GraspTask(cfg, num_envs=num_envs, seed=seed, device=device)
