"""The naive reference engine for `depthbench bench env`: gymnasium's AsyncVectorEnv with one single-env task per
worker process, the usual way to parallelize a MuJoCo env that has no batched stepping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from depthbench.envs.vector_adapter import GymVectorAdapter


class SingleEnv(gym.Env):
    """One environment of a depthbench task as a plain gymnasium Env (numpy in, numpy out)."""

    def __init__(self, make_vec_env: Callable[[], Any]) -> None:
        self.vec = GymVectorAdapter(make_vec_env())
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space

    @staticmethod
    def _first(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        obs, info = self.vec.reset(seed=seed)
        return self._first(obs), info

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        obs, reward, terminated, truncated, _ = self.vec.step(np.asarray(action)[None])
        return self._first(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}


def async_vector_rate(make_vec_env: Callable[[], Any], workers: int, steps: int, seed: int) -> float:
    """Env-steps/s of `workers` processes, each stepping one env built by `make_vec_env` (picklable), under uniform
    random actions (after 10 warm-up steps). The task resets finished episodes itself (same-step autoreset)."""
    vector = gym.vector.AsyncVectorEnv(
        [lambda: SingleEnv(make_vec_env) for _ in range(workers)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    try:
        vector.reset(seed=seed)
        generator = torch.Generator().manual_seed(seed)
        shape = vector.action_space.shape

        def random_actions() -> np.ndarray:
            return (torch.rand(shape, generator=generator) * 2 - 1).numpy()

        for _ in range(10):
            vector.step(random_actions())
        start = time.perf_counter()
        for _ in range(steps):
            vector.step(random_actions())
        return workers * steps / (time.perf_counter() - start)
    finally:
        vector.close()
