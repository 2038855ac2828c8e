"""Env-steps/s of a task under random actions from its own action space: the loop behind `depthbench bench env` and
the tasks' naive baselines (one loop, so batched engine and baseline are timed alike)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium.vector.utils import batch_space

from depthbench.envs.vector_adapter import as_action_tensor, single_action_space

WARMUP_STEPS = 10


def describe_actions(env: Any, counts: np.ndarray | None = None) -> str:
    """What was timed, e.g. 'uniform over Discrete(4): STOP 25%, MOVE_FORWARD 25%, ...' or 'uniform in [-1, 1]^12'."""
    space = single_action_space(env)
    if counts is None or not hasattr(space, "n"):
        return f"uniform over {space}" if hasattr(space, "n") else f"uniform in [-1, 1]^{space.shape[0]}"
    names = getattr(env, "action_names", [str(i) for i in range(int(space.n))])
    shares = ", ".join(f"{name} {share:.0%}" for name, share in zip(names, counts / counts.sum(), strict=True))
    return f"uniform over {space}: {shares}"


def time_vec_env(env: Any, steps: int, seed: int) -> dict[str, Any]:
    """Env-steps/s of an rsl-rl VecEnv under uniform random actions from the task's action space.

    After WARMUP_STEPS untimed steps. Also returns the share of env-steps that ended an episode (and so reset the env
    inside `step`: resets cost more than steps) and, for discrete tasks, how often each action was drawn.
    """
    space = batch_space(single_action_space(env), env.num_envs)
    space.seed(seed)
    discrete = hasattr(single_action_space(env), "n")
    env.get_observations()
    for _ in range(WARMUP_STEPS):
        env.step(as_action_tensor(space.sample(), env.num_envs, env.device))
    samples = [space.sample() for _ in range(steps)]  # drawn before the clock starts
    dones = 0
    start = time.perf_counter()
    for actions in samples:
        _, _, done, _ = env.step(as_action_tensor(actions, env.num_envs, env.device))
        dones += int(done.sum())
    elapsed = time.perf_counter() - start
    counts = np.bincount(np.concatenate(samples), minlength=int(single_action_space(env).n)) if discrete else None
    return {
        "env_steps_per_s": env.num_envs * steps / elapsed,
        "reset_fraction": dones / (env.num_envs * steps),
        "actions": describe_actions(env, counts),
    }
