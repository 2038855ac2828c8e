"""anymal-ladder: ANYmal C climbing procedural ladders with four depth cameras.

`spec` is the engine-free task definition; `mujoco_scene` + `task` bind it to the batched MuJoCo engine (the
default), `isaaclab_task` to Isaac Lab 3 / Newton. Bindings are imported only when built, so each engine's
environment needs only its own packages (mujoco 4 here, Isaac Lab's mujoco 3.12 there).
"""

from __future__ import annotations

from typing import Any

from depthbench.envs import register_task

TASK = "anymal-ladder"


def _baseline(cfg: dict[str, Any], num_envs: int, steps: int, seed: int) -> tuple[str, float]:
    from depthbench.envs.mujoco_engine import async_vector_baseline

    return async_vector_baseline(TASK)(cfg, num_envs, steps, seed)


@register_task(
    TASK,
    summary="ANYmal C climbs a ladder (70-90 deg, 15-45 mm rungs) onto a platform; 4 depth cameras",
    engine="mujoco-batch",
    baseline=_baseline,
    engine_id="mujoco",
    engines={"isaaclab": "depthbench.envs.ladder.isaaclab_task:make_isaaclab_ladder"},
)
def make_ladder(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> Any:
    from depthbench.envs.ladder.task import LadderTask

    return LadderTask(cfg=cfg, num_envs=num_envs, seed=seed, device=device)
