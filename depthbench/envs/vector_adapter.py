"""Any depthbench task (an rsl-rl VecEnv) seen through gymnasium's VectorEnv API.

rsl-rl envs reset finished environments inside `step`, so the adapter declares gymnasium's SAME_STEP autoreset mode:
the observation returned for a finished env is already the first one of its next episode. Like Isaac Lab's rsl-rl
wrapper, the terminal observation itself is not kept; the finished episodes' metrics are in
`infos["finished_episodes"]`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from depthbench.errors import DepthbenchError


def single_action_space(env: Any) -> gym.Space:
    """One env's gymnasium action space for a depthbench task.

    Discrete tasks declare it (`single_action_space = gym.spaces.Discrete(4)` for PointNav: `step` takes the action
    index as a float, one column); every other task takes `num_actions` continuous actions in [-1, 1], which it clips.
    """
    declared = getattr(env, "single_action_space", None)
    if declared is not None:
        return declared
    return gym.spaces.Box(-1.0, 1.0, shape=(env.num_actions,), dtype=np.float32)


def as_action_tensor(actions: np.ndarray, num_envs: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """(num_envs, A) float32 actions for a task's `step` from a batch of gymnasium samples (MultiDiscrete or Box)."""
    return torch.as_tensor(np.asarray(actions, dtype=np.float32), device=device).reshape(num_envs, -1)


class GymVectorAdapter(gym.vector.VectorEnv):
    """Wrap a depthbench VecEnv: numpy in, numpy out, observation groups as a Dict space.

    The action space is the task's (`single_action_space`): Discrete(4) per env for PointNav, MultiDiscrete batched;
    Box(-1, 1, (num_actions,)) for continuous tasks.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env: Any) -> None:
        self.env = env
        self.num_envs = env.num_envs
        obs = env.get_observations()
        self.single_observation_space = gym.spaces.Dict(
            {
                key: gym.spaces.Box(-np.inf, np.inf, shape=tuple(value.shape[1:]), dtype=np.float32)
                for key, value in obs.items()
            }
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = single_action_space(env)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    @staticmethod
    def _to_numpy(obs: Any) -> dict[str, np.ndarray]:
        return {key: value.detach().cpu().numpy() for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if hasattr(self.env, "reset"):
            obs = self.env.reset(seed=seed)
        elif seed is None:
            obs = self.env.get_observations()
        else:
            raise DepthbenchError(f"{type(self.env).__name__} cannot be re-seeded; build it with the seed instead")
        return self._to_numpy(obs), {}

    def step(self, actions: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, rewards, dones, extras = self.env.step(as_action_tensor(actions, self.num_envs, self.env.device))
        time_outs = extras.get("time_outs", torch.zeros_like(dones, dtype=torch.bool)).bool()
        dones = dones.bool()
        infos = {"finished_episodes": extras.get("finished_episodes", [])}
        return (
            self._to_numpy(obs),
            rewards.detach().cpu().numpy(),
            (dones & ~time_outs).cpu().numpy(),
            time_outs.cpu().numpy(),
            infos,
        )
