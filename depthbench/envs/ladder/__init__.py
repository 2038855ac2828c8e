"""anymal-ladder: ANYmal C climbing procedural ladders with four depth cameras (scene in `spec`, task in `task`)."""

from __future__ import annotations

from typing import Any

from depthbench.envs import register_task
from depthbench.envs.ladder.task import LadderTask
from depthbench.envs.mujoco_engine import async_vector_baseline


@register_task(
    "anymal-ladder",
    summary="ANYmal C climbs a ladder (70-90 deg, 15-45 mm rungs) onto a platform; 4 depth cameras",
    engine="mujoco-batch",
    baseline=async_vector_baseline("anymal-ladder"),
)
def make_ladder(*, cfg: dict[str, Any], num_envs: int, seed: int, device: str) -> LadderTask:
    return LadderTask(cfg=cfg, num_envs=num_envs, seed=seed, device=device)
